"""Attention and the ops around it in transformer blocks: Attention (opsets 23-25: GQA, masks,
causal and sliding windows, KV caches, softcap), FlexAttention (score/prob modifier graphs),
RotaryEmbedding, LinearAttention (the recurrent linear/gated/delta rules), CausalConvWithState and
SwiGLU.

The references follow the order of operations and the casts of each op's ONNX function body, so
16-bit inputs round where the specification rounds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import NoCompute, Stage, TensorArg, rounded, select, widen
from ..dtype import DType
from ..graph import Graph
from ..kernel.expr import Expr, Math
from ..types import Dim, TensorType, Type
from .gather_scatter import index_into
from .reduce import float_dtype_of
from .registry import InferCtx, RefCtx, broadcast_shapes, op
from .softmax import softmax, sum_in_type

# -- dims that may be symbols -----------------------------------------------------------------


def dim_add(c: InferCtx, a: Dim, b: Dim) -> Dim:
    return a + b if isinstance(a, int) and isinstance(b, int) else c.sym("len")


def dim_mul(c: InferCtx, a: Dim, b: Dim) -> Dim:
    return a * b if isinstance(a, int) and isinstance(b, int) else c.sym("hidden")


def dim_div(c: InferCtx, a: Dim, heads: int, what: str) -> Dim:
    if heads <= 0:
        raise c.error(f"the number of heads for {what} must be positive, got {heads}")
    if not isinstance(a, int):
        return c.sym("head")
    if a % heads:
        raise c.error(f"{what} size {a} is not a multiple of {heads} heads")
    return a // heads


def same_dim(c: InferCtx, a: Dim, b: Dim, what: str) -> None:
    if isinstance(a, int) and isinstance(b, int) and a != b:
        raise c.error(f"{what} disagree: {a} vs {b}")


def split_heads(x: np.ndarray, heads: int) -> np.ndarray:
    """(B, S, H*D) -> (B, H, S, D)."""
    b, s, hidden = x.shape
    return x.reshape(b, s, heads, hidden // heads).transpose(0, 2, 1, 3)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """(B, H, S, D) -> (B, S, H*D)."""
    b, h, s, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, s, h * d)


def matmul_as(a: np.ndarray, b: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A matmul whose result has `dtype` (numpy computes 16-bit floats in float32 and rounds)."""
    return np.matmul(a, b).astype(dtype)


# -- Attention -----------------------------------------------------------------------------

SOFTMAX_PRECISIONS = {1: DType.F32, 10: DType.F16, 11: DType.F64, 16: DType.BF16}


@dataclass(frozen=True)
class AttentionAttrs:
    is_causal: int = 0
    kv_num_heads: int | None = None
    q_num_heads: int | None = None
    qk_matmul_output_mode: int = 0
    scale: float | None = None
    softcap: float = 0.0
    softmax_precision: int | None = None
    left_window_size: int = -1
    right_window_size: int = -1


@dataclass(frozen=True)
class _AttentionDims:
    batch: Dim
    q_heads: Dim
    kv_heads: Dim
    q_len: Dim
    kv_len: Dim
    head: Dim
    v_head: Dim


def _attention_dims(c: InferCtx, q: TensorType, k: TensorType, v: TensorType) -> _AttentionDims:
    a = c.attrs
    if not q.rank == k.rank == v.rank or q.rank not in (3, 4):
        raise c.error(f"Q, K and V must all be 3-D or all 4-D, got {q}, {k}, {v}")
    if q.rank == 4:
        dims = _AttentionDims(q.shape[0], q.shape[1], k.shape[1], q.shape[2], k.shape[2],
                              q.shape[3], v.shape[3])
        same_dim(c, k.shape[3], q.shape[3], "head sizes of Q and K")
        same_dim(c, k.shape[1], v.shape[1], "head counts of K and V")
    else:
        if a.q_num_heads is None or a.kv_num_heads is None:
            raise c.error("3-D inputs need the q_num_heads and kv_num_heads attributes")
        dims = _AttentionDims(q.shape[0], a.q_num_heads, a.kv_num_heads, q.shape[1], k.shape[1],
                              dim_div(c, q.shape[2], a.q_num_heads, "Q's hidden"),
                              dim_div(c, v.shape[2], a.kv_num_heads, "V's hidden"))
        same_dim(c, dim_div(c, k.shape[2], a.kv_num_heads, "K's hidden"), dims.head,
                 "head sizes of Q and K")
    for t in (k, v):
        same_dim(c, t.shape[0], dims.batch, "batch sizes")
    same_dim(c, k.shape[-2], v.shape[-2], "sequence lengths of K and V")
    qh, kvh = dims.q_heads, dims.kv_heads
    if isinstance(qh, int) and isinstance(kvh, int) and (kvh <= 0 or qh % kvh):
        raise c.error(f"q_num_heads {qh} must be a multiple of kv_num_heads {kvh}")
    return dims


def _attention_rule(c: InferCtx) -> list[Type]:
    a = c.attrs
    q, k, v = (float_dtype_of(c, i) for i in range(3))
    if k.dtype != q.dtype:
        raise c.error(f"Q and K must have one dtype, got {q} and {k}")
    if a.qk_matmul_output_mode not in (0, 1, 2, 3):
        raise c.error(f"qk_matmul_output_mode must be 0..3, got {a.qk_matmul_output_mode}")
    if a.softmax_precision is not None and a.softmax_precision not in SOFTMAX_PRECISIONS:
        raise c.error(f"softmax_precision {a.softmax_precision} is not one of "
                      f"{sorted(SOFTMAX_PRECISIONS)}")
    if a.left_window_size < -1 or a.right_window_size < -1:
        raise c.error("window sizes must be -1 (unbounded) or non-negative")
    d = _attention_dims(c, q, k, v)
    total = d.kv_len
    if c.has(4) != c.has(5):
        raise c.error("past_key and past_value must be given together")
    if c.has(4):
        pk, pv = c.t(4), c.t(5)
        if pk.rank != 4 or pv.rank != 4:
            raise c.error(f"past_key and past_value must be 4-D, got {pk} and {pv}")
        same_dim(c, pk.shape[2], pv.shape[2], "past lengths of key and value")
        same_dim(c, pk.shape[3], d.head, "head sizes of past_key and K")
        same_dim(c, pv.shape[3], d.v_head, "head sizes of past_value and V")
        total = dim_add(c, pk.shape[2], d.kv_len)
        if c.has(6):
            raise c.error("nonpad_kv_seqlen cannot be combined with past_key/past_value")
    if c.has(6) and (c.t(6).dtype is not DType.I64 or c.t(6).rank != 1):
        raise c.error(f"nonpad_kv_seqlen must be a 1-D int64 tensor, got {c.t(6)}")
    if c.has(3):
        m = c.t(3)
        if m.dtype is DType.STRING or m.dtype.is_complex:
            raise c.error(f"attn_mask must be bool or numeric, got {m}")
        # The mask's last axis may be shorter than the key length: it is padded as masked.
        broadcast_shapes(c, [m.shape[:-1] + (1,), (d.batch, d.q_heads, d.q_len, 1)])
    if q.rank == 4:
        y = TensorType(q.dtype, (d.batch, d.q_heads, d.q_len, d.v_head))
    else:
        y = TensorType(q.dtype, (d.batch, d.q_len, dim_mul(c, d.q_heads, d.v_head)))
    present_k = TensorType(q.dtype, (d.batch, d.kv_heads, total, d.head))
    present_v = TensorType(v.dtype, (d.batch, d.kv_heads, total, d.v_head))
    qk = TensorType(q.dtype, (d.batch, d.q_heads, d.q_len, total))
    return [y, present_k, present_v, qk]


def _masked(allowed: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """An additive bias: 0 where attending is allowed, -inf where it is not."""
    return np.where(allowed, dtype.type(0), dtype.type(-np.inf))


def attention_bias(a: AttentionAttrs, dtype: np.dtype, batch: int, q_len: int, kv_len: int,
                   attn_mask: np.ndarray | None, past_len: int | None,
                   nonpad_kv_seqlen: np.ndarray | None) -> np.ndarray:
    """The additive bias of the scores: the mask (bool masks as 0/-inf, padded with -inf up to the
    key length), the causal frontier and window, and the padding of an external KV cache. Its
    shape broadcasts against (batch, heads, q_len, kv_len)."""
    bias = np.zeros((q_len, kv_len), dtype)
    if attn_mask is not None:
        short = kv_len - attn_mask.shape[-1]
        if attn_mask.dtype == np.bool_:
            mask = _masked(attn_mask, dtype)
        else:
            mask = attn_mask.astype(dtype)
        if short > 0:
            pad = [(0, 0)] * (mask.ndim - 1) + [(0, short)]
            mask = np.pad(mask, pad, constant_values=-np.inf)
        bias = bias + mask
    # Queries are aligned to the bottom right: query i sits at absolute position i + offset,
    # where offset counts the valid keys before the query block.
    q_pos = np.arange(q_len).reshape(q_len, 1)
    key = np.arange(kv_len).reshape(1, kv_len)
    if nonpad_kv_seqlen is not None and past_len is None:
        offset = (nonpad_kv_seqlen.reshape(-1, 1, 1, 1) - q_len).astype(np.int64)
    else:
        offset = np.asarray(past_len or 0, dtype=np.int64)
    distance = q_pos + offset - key  # how far key j lies before query i
    allowed = np.ones(distance.shape, bool)
    if a.is_causal:
        allowed &= distance >= 0
    if a.left_window_size >= 0:
        allowed &= distance <= a.left_window_size
    if a.right_window_size >= 0:
        allowed &= -distance <= a.right_window_size
    if a.is_causal or a.left_window_size >= 0 or a.right_window_size >= 0:
        bias = bias + _masked(allowed, dtype)
    if nonpad_kv_seqlen is not None:
        valid = key.reshape(1, 1, 1, kv_len) < nonpad_kv_seqlen.reshape(batch, 1, 1, 1)
        bias = bias + _masked(valid, dtype)
    return bias


def guarded_softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in x's type, where a row of -inf gives zeros rather than NaN."""
    big = np.max(x, axis=-1, keepdims=True)
    zero, one = np.zeros((), x.dtype), np.ones((), x.dtype)
    e = np.exp(x - np.where(np.isneginf(big), zero, big))
    total = sum_in_type(e, -1)
    return e / np.where(total == zero, one, total)


def _attention_reference(a: AttentionAttrs, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                         attn_mask: np.ndarray | None = None,
                         past_key: np.ndarray | None = None,
                         past_value: np.ndarray | None = None,
                         nonpad_kv_seqlen: np.ndarray | None = None, *,
                         ctx: RefCtx) -> tuple[np.ndarray, ...]:
    dtype = q.dtype
    packed = q.ndim == 3
    if packed:
        assert a.q_num_heads is not None and a.kv_num_heads is not None
        q = split_heads(q, a.q_num_heads)
        k = split_heads(k, a.kv_num_heads)
        v = split_heads(v, a.kv_num_heads)
    if past_key is not None and past_value is not None:
        k = np.concatenate([past_key, k], axis=2)
        v = np.concatenate([past_value, v], axis=2)
    present_k, present_v = k, v
    batch, q_heads, q_len, head = q.shape
    kv_heads, kv_len = k.shape[1], k.shape[2]
    bias = attention_bias(a, dtype, batch, q_len, kv_len, attn_mask,
                          None if past_key is None else past_key.shape[2], nonpad_kv_seqlen)
    if q_heads != kv_heads:
        # Grouped-query attention: each K/V head serves a contiguous group of query heads.
        k = np.repeat(k, q_heads // kv_heads, axis=1)
        v = np.repeat(v, q_heads // kv_heads, axis=1)
    # Q and K are each scaled by sqrt(scale) (in the input type) to keep the product in range.
    scale = a.scale if a.scale is not None else 1.0 / math.sqrt(head)
    root = dtype.type(math.sqrt(scale))
    scores = matmul_as(q * root, np.swapaxes(k * root, -1, -2), dtype)
    raw = scores
    if a.softcap > 0:
        scores = (a.softcap * np.tanh(scores / a.softcap)).astype(dtype)
    capped = scores
    scores = scores + bias
    precision = (SOFTMAX_PRECISIONS[a.softmax_precision].np if a.softmax_precision is not None
                 else dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        probs = guarded_softmax(scores.astype(precision))
    # A query whose every key is masked out attends to nothing: its row is zero, not NaN.
    fully_masked = np.isneginf(np.max(bias, axis=-1, keepdims=True))
    probs = np.where(fully_masked, np.zeros((), probs.dtype), probs).astype(dtype)
    y = matmul_as(probs, v, dtype)
    if packed:
        y = merge_heads(y)
    outputs: tuple[np.ndarray, ...] = (y, present_k, present_v)
    if ctx.num_outputs > 3:
        qk = (raw, capped, scores, probs)[a.qk_matmul_output_mode]
        shape = (batch, q_heads, q_len, kv_len)
        outputs += (np.ascontiguousarray(np.broadcast_to(qk, shape)).astype(dtype),)
    return outputs[:max(ctx.num_outputs, 1)]


op("Attention", AttentionAttrs, versions=(23, 24, 25), infer=_attention_rule,
   reference=_attention_reference)


# -- FlexAttention (domain ai.onnx.preview) -----------------------------------------------

@dataclass(frozen=True)
class FlexAttentionAttrs:
    prob_mod: Graph | None = None
    score_mod: Graph | None = None
    scale: float | None = None
    softmax_precision: int | None = None


def _flex_precision(a: FlexAttentionAttrs, dtype: DType) -> DType:
    """Scores are modified and normalized in float32 (float64 for double inputs) unless told."""
    if a.softmax_precision is not None:
        return SOFTMAX_PRECISIONS[a.softmax_precision]
    return DType.F64 if dtype is DType.F64 else DType.F32


def _flex_attention_rule(c: InferCtx) -> list[Type]:
    a = c.attrs
    q, k, v = (float_dtype_of(c, i) for i in range(3))
    if not q.rank == k.rank == v.rank == 4 or not q.dtype == k.dtype == v.dtype:
        raise c.error(f"Q, K and V must be 4-D of one dtype, got {q}, {k}, {v}")
    if a.softmax_precision is not None and a.softmax_precision not in SOFTMAX_PRECISIONS:
        raise c.error(f"softmax_precision {a.softmax_precision} is not one of "
                      f"{sorted(SOFTMAX_PRECISIONS)}")
    for name in ("score_mod", "prob_mod"):
        g = getattr(a, name)
        if g is not None and (len(g.inputs) != 1 or len(g.outputs) != 1):
            raise c.error(f"{name} must be a graph of one input and one output")
    same_dim(c, q.shape[3], k.shape[3], "head sizes of Q and K")
    same_dim(c, k.shape[2], v.shape[2], "sequence lengths of K and V")
    qh, kvh = q.shape[1], k.shape[1]
    if isinstance(qh, int) and isinstance(kvh, int) and (kvh <= 0 or qh % kvh):
        raise c.error(f"Q's {qh} heads are not a multiple of K's {kvh}")
    return [q.with_shape((q.shape[0], q.shape[1], q.shape[2], v.shape[3]))]


def _flex_attention_reference(a: FlexAttentionAttrs, q: np.ndarray, k: np.ndarray,
                              v: np.ndarray, *, ctx: RefCtx) -> np.ndarray:
    dtype = q.dtype
    precision = _flex_precision(a, DType.from_np(dtype)).np
    group = q.shape[1] // k.shape[1]
    if group > 1:
        k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    scale = np.float32(a.scale if a.scale is not None else 1 / np.sqrt(np.float32(q.shape[3])))
    root = dtype.type(np.sqrt(scale))
    scores = matmul_as(q * root, np.swapaxes(k * root, -1, -2), dtype).astype(precision)
    if a.score_mod is not None:
        assert ctx.run_subgraph is not None
        scores = np.asarray(ctx.run_subgraph(a.score_mod, [scores])[0])
    with np.errstate(invalid="ignore", over="ignore"):
        probs = softmax(scores, -1)
    if a.prob_mod is not None:
        assert ctx.run_subgraph is not None
        probs = np.asarray(ctx.run_subgraph(a.prob_mod, [probs])[0])
    return matmul_as(probs, v.astype(precision), dtype)


# Declared in its ONNX domain: the frontend uses it for ai.onnx.preview nodes only.
op("FlexAttention", FlexAttentionAttrs, versions=(1,), domain="ai.onnx.preview",
   infer=_flex_attention_rule, reference=_flex_attention_reference)


# -- RotaryEmbedding -----------------------------------------------------------------------

@dataclass(frozen=True)
class RotaryEmbeddingAttrs:
    interleaved: int = 0
    num_heads: int | None = None
    rotary_embedding_dim: int = 0


def _rotary_rule(c: InferCtx) -> list[Type]:
    x = float_dtype_of(c, 0)
    cos, sin = c.t(1), c.t(2)
    if x.rank not in (3, 4):
        raise c.error(f"the input must be 3-D or 4-D, got {x}")
    if x.rank == 3 and not c.attrs.num_heads:
        raise c.error("a 3-D input needs the num_heads attribute")
    if cos.dtype != x.dtype or sin.dtype != x.dtype or cos.shape != sin.shape:
        raise c.error(f"cos_cache {cos} and sin_cache {sin} must match each other and {x}")
    if c.has(3):
        if c.t(3).dtype is not DType.I64 or c.t(3).rank != 2 or cos.rank != 2:
            raise c.error(f"position_ids must be 2-D int64 with 2-D caches, got {c.t(3)}, {cos}")
    elif cos.rank != 3:
        raise c.error(f"without position_ids the caches must be 3-D, got {cos}")
    return [x]


def _rotary_reference(a: RotaryEmbeddingAttrs, x: np.ndarray, cos: np.ndarray,
                      sin: np.ndarray, position_ids: np.ndarray | None = None) -> np.ndarray:
    # Work in (batch, seq, heads, head_size).
    if x.ndim == 4:
        work = x.transpose(0, 2, 1, 3)
    else:
        assert a.num_heads
        work = x.reshape(x.shape[0], x.shape[1], a.num_heads, -1)
    rot = a.rotary_embedding_dim or work.shape[3]
    if position_ids is not None:
        cos, sin = cos[position_ids], sin[position_ids]
    if cos.shape[-1] != rot // 2:
        raise ValueError(f"the caches' last axis is {cos.shape[-1]}, expected {rot // 2}")
    cos, sin = cos[:, :, None, :], sin[:, :, None, :]
    turned, kept = work[..., :rot], work[..., rot:]
    if a.interleaved:
        x1, x2 = turned[..., 0::2], turned[..., 1::2]
    else:
        x1, x2 = turned[..., :rot // 2], turned[..., rot // 2:]
    real = cos * x1 - sin * x2
    imag = sin * x1 + cos * x2
    if a.interleaved:
        turned = np.stack([real, imag], axis=-1).reshape(turned.shape)
    else:
        turned = np.concatenate([real, imag], axis=-1)
    out = np.concatenate([turned, kept], axis=-1).astype(x.dtype)
    return out.transpose(0, 2, 1, 3).copy() if x.ndim == 4 else out.reshape(x.shape)


def _rotary_compute(a: RotaryEmbeddingAttrs, x: TensorArg, cos: TensorArg, sin: TensorArg,
                    position_ids: TensorArg | None = None) -> Stage:
    """Each rotated pair (x1, x2) becomes (cos x1 - sin x2, sin x1 + cos x2), every product and
    sum rounded to x's type as in the reference; dims past rotary_embedding_dim stay."""
    size = x.shape[3] if x.rank == 4 else x.shape[2] // (a.num_heads or 1)
    rot = a.rotary_embedding_dim or size
    half = rot // 2
    if cos.shape[-1] != half:
        raise NoCompute(f"the caches' last axis is {cos.shape[-1]}, expected {half}")
    dt = x.dtype

    def fn(*i: Expr) -> Expr:
        # x is (batch, heads, seq, head_size) or (batch, seq, heads * head_size)
        b, s, d = (i[0], i[2], i[3]) if x.rank == 4 else (i[0], i[1], i[2] % size)

        def at(e: Expr) -> tuple[Expr, ...]:   # element e of this head's vector
            return i[:3] + (e,) if x.rank == 4 else (i[0], i[1], i[2] - d + e)
        if a.interleaved:   # pairs (2k, 2k + 1)
            k = (d // 2).min(half - 1)
            x1, x2, is_real = x[at(k * 2)], x[at(k * 2 + 1)], (d % 2).eq(0)
        else:               # pairs (k, k + half)
            k = d % half
            x1, x2, is_real = x[at(k)], x[at(k + half)], d < half
        if position_ids is not None:
            pos = index_into(position_ids[b, s], cos.shape[0])
            c, sn = cos[pos, k], sin[pos, k]
        else:
            c, sn = cos[b, s, k], sin[b, s, k]

        def mul(u: Expr, v: Expr) -> Expr:
            return rounded(widen(u) * widen(v), dt)
        real = rounded(mul(c, x1) - mul(sn, x2), dt)
        imag = rounded(mul(sn, x1) + mul(c, x2), dt)
        return select(d < rot, select(is_real, real, imag), widen(x[i]))
    return cp.tensor(x.shape, dt, fn)


op("RotaryEmbedding", RotaryEmbeddingAttrs, versions=(23,), traits=("injective",),
   infer=_rotary_rule, reference=_rotary_reference, compute=_rotary_compute)


# -- LinearAttention -----------------------------------------------------------------------

UPDATE_RULES = ("linear", "gated", "delta", "gated_delta")


@dataclass(frozen=True)
class LinearAttentionAttrs:
    kv_num_heads: int = 0
    q_num_heads: int = 0
    chunk_size: int = 64  # a tuning hint for chunked kernels; the result does not depend on it
    scale: float = 0.0
    update_rule: str = "gated_delta"


def _linear_attention_rule(c: InferCtx) -> list[Type]:
    a = c.attrs
    q, k, v = (float_dtype_of(c, i) for i in range(3))
    if a.update_rule not in UPDATE_RULES:
        raise c.error(f"update_rule must be one of {', '.join(UPDATE_RULES)}, "
                      f"got '{a.update_rule}'")
    if a.q_num_heads <= 0 or a.kv_num_heads <= 0 or a.q_num_heads % a.kv_num_heads:
        raise c.error(f"q_num_heads ({a.q_num_heads}) must be a positive multiple of "
                      f"kv_num_heads ({a.kv_num_heads})")
    if not q.rank == k.rank == v.rank == 3:
        raise c.error(f"query, key and value must be 3-D, got {q}, {k}, {v}")
    gated, delta = a.update_rule in ("gated", "gated_delta"), a.update_rule in ("delta",
                                                                              "gated_delta")
    if gated != c.has(4) or delta != c.has(5):
        raise c.error(f"update_rule '{a.update_rule}' needs "
                      f"{'decay' if gated else 'no decay'} and {'beta' if delta else 'no beta'}")
    d_k = dim_div(c, q.shape[2], a.q_num_heads, "query's hidden")
    same_dim(c, dim_div(c, k.shape[2], a.kv_num_heads, "key's hidden"), d_k, "key sizes")
    d_v = dim_div(c, v.shape[2], a.kv_num_heads, "value's hidden")
    state_dtype = q.dtype
    if c.has(3):
        s = c.t(3)
        if s.rank != 4:
            raise c.error(f"past_state must be 4-D, got {s}")
        state_dtype = s.dtype
    out = TensorType(q.dtype, (q.shape[0], q.shape[1], dim_mul(c, a.q_num_heads, d_v)))
    return [out, TensorType(state_dtype, (q.shape[0], a.kv_num_heads, d_k, d_v))]


def _per_head(x: np.ndarray, heads: int) -> np.ndarray:
    """Decay or beta as float32 (B, H, T, n): packed per key dimension (B, T, H*d_k) gives n=d_k;
    one value per head (B, T, H) or for all heads (B, T, 1) gives n=1."""
    b, t, last = x.shape
    if last in (heads, 1):
        return x.reshape(b, t, last, 1).transpose(0, 2, 1, 3).astype(np.float32)
    return split_heads(x, heads).astype(np.float32)


def _linear_attention_reference(a: LinearAttentionAttrs, query: np.ndarray, key: np.ndarray,
                                value: np.ndarray, past_state: np.ndarray | None = None,
                                decay: np.ndarray | None = None,
                                beta: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The recurrence run token by token in float32; the state S is (B, H_kv, d_k, d_v)."""
    batch, steps, _ = query.shape
    d_k = query.shape[2] // a.q_num_heads
    d_v = value.shape[2] // a.kv_num_heads
    group = a.q_num_heads // a.kv_num_heads
    q = split_heads(query, a.q_num_heads).astype(np.float32)
    k = split_heads(key, a.kv_num_heads).astype(np.float32)
    v = split_heads(value, a.kv_num_heads).astype(np.float32)
    g = None if decay is None else _per_head(decay, a.kv_num_heads)
    rate = None if beta is None else _per_head(beta, a.kv_num_heads)
    state = (np.zeros((batch, a.kv_num_heads, d_k, d_v), np.float32) if past_state is None
             else past_state.astype(np.float32))
    scale = np.float32(a.scale if a.scale else 1.0 / math.sqrt(d_k))
    out = np.zeros((batch, a.q_num_heads, steps, d_v), np.float32)
    for t in range(steps):
        k_t, v_t = k[:, :, t], v[:, :, t]
        if g is not None:
            state = state * np.exp(g[:, :, t])[..., None]
        if rate is not None:
            # Delta rule: write only the part of v_t the (decayed) state does not yet recall.
            recalled = np.einsum("bhkv,bhk->bhv", state, k_t)
            v_t = rate[:, :, t] * (v_t - recalled)
        state = state + k_t[..., :, None] * v_t[..., None, :]
        read = np.repeat(state, group, axis=1) if group > 1 else state
        out[:, :, t] = scale * np.einsum("bhk,bhkv->bhv", q[:, :, t], read)
    state_dtype = query.dtype if past_state is None else past_state.dtype
    return merge_heads(out).astype(query.dtype), state.astype(state_dtype)


op("LinearAttention", LinearAttentionAttrs, versions=(27,), infer=_linear_attention_rule,
   reference=_linear_attention_reference)


# -- CausalConvWithState -------------------------------------------------------------------

@dataclass(frozen=True)
class CausalConvAttrs:
    activation: str = "none"


def _causal_conv_rule(c: InferCtx) -> list[Type]:
    x, w = float_dtype_of(c, 0), float_dtype_of(c, 1)
    if c.attrs.activation not in ("none", "silu", "swish"):
        raise c.error(f"activation must be none, silu or swish, got '{c.attrs.activation}'")
    if x.rank != 3 or w.rank != 3:
        raise c.error(f"input (B, C, L) and weight (C, 1, k) must be 3-D, got {x} and {w}")
    same_dim(c, w.shape[0], x.shape[1], "channels of weight and input")
    same_dim(c, w.shape[1], 1, "weight's middle axis (depthwise)")
    k = w.shape[2]
    state_len: Dim = k - 1 if isinstance(k, int) else c.sym("state")
    if c.has(3):
        same_dim(c, c.t(3).shape[2], state_len, "past_state length and kernel size - 1")
        state_len = c.t(3).shape[2]
    return [x, x.with_shape((x.shape[0], x.shape[1], state_len))]


def _causal_conv_reference(a: CausalConvAttrs, x: np.ndarray, w: np.ndarray,
                           bias: np.ndarray | None = None,
                           past_state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    batch, channels, length = x.shape
    k = w.shape[2]
    pad = (np.zeros((batch, channels, k - 1), x.dtype) if past_state is None
           else past_state.astype(x.dtype))
    padded = np.concatenate([pad, x], axis=2)
    acc = np.float64 if x.dtype == np.float64 else np.float32
    # Depthwise and causal: out[b, c, t] = sum_j w[c, 0, j] * padded[b, c, t + j].
    taps = np.lib.stride_tricks.sliding_window_view(padded.astype(acc), k, axis=2)[:, :, :length]
    out = np.einsum("bctj,cj->bct", taps, w[:, 0, :].astype(acc))
    if bias is not None:
        out = out + bias.astype(acc)[None, :, None]
    out = out.astype(x.dtype)
    if a.activation in ("silu", "swish"):
        wide = out.astype(np.float32)
        out = (wide / (1 + np.exp(-wide))).astype(x.dtype)
    return out, padded[:, :, padded.shape[2] - (k - 1):].copy()


op("CausalConvWithState", CausalConvAttrs, versions=(27,), infer=_causal_conv_rule,
   reference=_causal_conv_reference)


# -- SwiGLU --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SwiGLUAttrs:
    alpha: float = 1.0


def _swiglu_rule(c: InferCtx) -> list[Type]:
    gate, lin = float_dtype_of(c, 0), float_dtype_of(c, 1)
    if gate.dtype != lin.dtype or gate.rank != lin.rank:
        raise c.error(f"A and B must have one dtype and shape (no broadcasting), got {gate}, {lin}")
    for x, y in zip(gate.shape, lin.shape):
        same_dim(c, x, y, "shapes of A and B")
    return [gate]


def _swiglu_reference(a: SwiGLUAttrs, gate: np.ndarray, lin: np.ndarray) -> np.ndarray:
    # Swish_alpha(A) = A * sigmoid(alpha * A), the sigmoid rounded to the input type as Swish does.
    sigmoid = (1 / (1 + np.exp(-a.alpha * gate))).astype(gate.dtype)
    return ((gate * sigmoid) * lin).astype(gate.dtype)


def _swiglu_expr(a: SwiGLUAttrs, dt: DType, g: Expr, v: Expr) -> Expr:
    def r(e: Expr) -> Expr:   # each step in the input type, as the reference
        return rounded(e, dt)
    sig = r(1.0 / r(1.0 + r(Math("exp", (r(-a.alpha * g),)))))
    return r(g * sig) * v


op("SwiGLU", SwiGLUAttrs, versions=(28,), traits=("elementwise",), infer=_swiglu_rule,
   reference=_swiglu_reference,
   compute=lambda a, g, v: cp.elementwise(g.dtype, lambda u, w: _swiglu_expr(a, g.dtype, u, w),
                                          g, v))

"""cpu rule for Attention (opsets 23-25): one kernel whose parallel loop runs over the query rows
(batch x heads x queries), each computing its scores, a guarded softmax and the weighted sum of V
in a private row of the key length, rounding where the reference rounds (float16/bfloat16 steps)."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ....ir import DType, Node, TensorType, Type
from ....ir.kernel import F32, F64, I64, Buffer, Expr, Kernel, KernelBuilder, Var, const
from ....ir.kernel import intrinsics as ki
from ....ir.kernel.types import ScalarType
from ....ir.ops.attention import SOFTMAX_PRECISIONS, AttentionAttrs
from . import RULES


def rnd(e: Expr, dtype: DType) -> Expr:
    """e rounded to `dtype` and back to e's type (a step the reference takes in `dtype`)."""
    t = ScalarType(dtype)
    return e if t == e.type else e.cast(t).cast(e.type)


def nan_max(kb: KernelBuilder, m: Var, x: Expr) -> None:
    """m = max(m, x) where a NaN wins, as numpy's max (the IR's max ignores NaN)."""
    kb.assign(m, ki.select(ki.isnan(x) | (x > m), x, m))


def sum_in_type(kb: KernelBuilder, row: Buffer, lo: int, hi: int, dtype: DType,
                w: ScalarType, name: str) -> Expr:
    """The sum of row[lo:hi] as the reference's sum_in_type takes it: bfloat16 one rounded
    addition at a time in runs of fewer than 8, halved pairwise above; other types accumulate
    in the work type and round once."""
    if dtype is not DType.BF16:
        total = kb.let(name, const(0.0, w))
        with kb.for_(f"{name}_j", lo, hi, type=I64) as j:
            kb.assign(total, total + row[j])
        return rnd(total, dtype)
    n = hi - lo
    if n >= 8:
        left = sum_in_type(kb, row, lo, lo + n // 2, dtype, w, name + "l")
        right = sum_in_type(kb, row, lo + n // 2, hi, dtype, w, name + "r")
        return kb.let(name, rnd(left + right, dtype))
    total = kb.let(name, const(0.0, w))
    with kb.for_(f"{name}_j", lo, hi, type=I64) as j:
        kb.assign(total, rnd(total + row[j], dtype))
    return total


@dataclass(frozen=True)
class _Shape:
    batch: int
    q_heads: int
    kv_heads: int
    q_len: int
    new_len: int      # keys given as K/V
    past_len: int     # keys from past_key/past_value
    head: int
    v_head: int
    packed: bool      # 3-D inputs (B, S, heads * size)

    @property
    def total(self) -> int:
        return self.past_len + self.new_len


def _shape(a: AttentionAttrs, q: TensorType, k: TensorType, v: TensorType,
           past: TensorType | None) -> _Shape:
    past_len = past.static_shape[2] if past is not None else 0
    if q.rank == 4:
        b, hq, s, d = q.static_shape
        return _Shape(b, hq, k.static_shape[1], s, k.static_shape[2], past_len, d,
                      v.static_shape[3], False)
    assert a.q_num_heads is not None and a.kv_num_heads is not None
    b, s, hidden = q.static_shape
    return _Shape(b, a.q_num_heads, a.kv_num_heads, s, k.static_shape[1], past_len,
                  hidden // a.q_num_heads, v.static_shape[2] // a.kv_num_heads, True)


def _kv_reader(sh: _Shape, new: Buffer, past: Buffer | None, size: int) -> Callable[..., Expr]:
    """at(b, kv_head, key, d): the key/value row `key` of the concatenated cache (past first);
    `size` is the head size of `new`."""
    def new_at(b: Expr, h: Expr, j: Expr, d: Expr) -> Expr:
        if sh.packed:
            return new[b, j, h * size + d]
        return new[b, h, j, d]

    def at(b: Expr, h: Expr, j: Expr, d: Expr) -> Expr:
        if past is None:
            return new_at(b, h, j, d)
        # both loads stay in bounds (clamped); the select keeps the right one
        old = past[b, h, j.min(sh.past_len - 1), d]
        fresh = new_at(b, h, (j - sh.past_len).max(0), d)
        return ki.select(j < sh.past_len, old, fresh)
    return at


@RULES.register("Attention")
def lower_attention(node: Node, attrs: AttentionAttrs, types: list[Type | None]) -> Kernel | None:
    a = attrs
    ts = [t if isinstance(t, TensorType) else None for t in types] + [None] * 7
    q_t, k_t, v_t, mask_t, pk_t, pv_t, nonpad_t = ts[:7]
    assert q_t is not None and k_t is not None and v_t is not None
    sh = _shape(a, q_t, k_t, v_t, pk_t)
    total = sh.total
    if total == 0 or (mask_t is not None and (mask_t.rank > 4 or mask_t.rank == 0
                                              or mask_t.static_shape[-1] > total)):
        return None
    dt = q_t.dtype
    prec = SOFTMAX_PRECISIONS[a.softmax_precision] if a.softmax_precision is not None else dt
    # one work type for every step: float64 if any step is, else float32
    w = F64 if DType.F64 in (dt, prec) else F32
    scale = a.scale if a.scale is not None else 1.0 / math.sqrt(sh.head)
    root = float(dt.np.type(math.sqrt(scale)))
    ninf = const(float("-inf"), w)
    zero = const(0.0, w)

    kb = KernelBuilder("attention")
    q = kb.buffer("q", dt, q_t.static_shape, access="r")
    k = kb.buffer("k", k_t.dtype, k_t.static_shape, access="r")
    v = kb.buffer("v", v_t.dtype, v_t.static_shape, access="r")
    mask = kb.buffer("attn_mask", mask_t.dtype, mask_t.static_shape, access="r") \
        if mask_t is not None else None
    past_k = kb.buffer("past_key", pk_t.dtype, pk_t.static_shape, access="r") \
        if pk_t is not None else None
    past_v = kb.buffer("past_value", pv_t.dtype, pv_t.static_shape, access="r") \
        if pv_t is not None else None
    nonpad = kb.buffer("nonpad_kv_seqlen", I64, nonpad_t.static_shape, access="r") \
        if nonpad_t is not None else None
    outs = [o.type for o in node.outputs]
    assert all(isinstance(t, TensorType) for t in outs)
    y = kb.buffer("y", dt, outs[0].static_shape, access="w")  # type: ignore[union-attr]
    present = [kb.buffer(n, t.dtype, t.static_shape, access="w")  # type: ignore[union-attr]
               for n, t in zip(("present_key", "present_value"), outs[1:3])]
    qk_out = kb.buffer("qk", outs[3].dtype, outs[3].static_shape,  # type: ignore[union-attr]
                       access="w") if len(outs) > 3 else None
    key_at = _kv_reader(sh, k, past_k, sh.head)
    value_at = _kv_reader(sh, v, past_v, sh.v_head)

    rows = sh.batch * sh.q_heads * sh.q_len
    with kb.for_("r", 0, rows, kind="parallel", type=I64) as r:
        b = kb.let("b", r // (sh.q_heads * sh.q_len))
        h = kb.let("h", (r // sh.q_len) % sh.q_heads)
        i = kb.let("i", r % sh.q_len)
        kh = kb.let("kh", h // (sh.q_heads // sh.kv_heads))
        qs = kb.alloc("qs", w, (sh.head,), scope="private")
        row = kb.alloc("row", w, (total,), scope="private")
        with kb.for_("d", 0, sh.head, type=I64) as d:
            qv = q[b, i, h * sh.head + d] if sh.packed else q[b, h, i, d]
            qs[d] = rnd(qv.cast(w) * root, dt)
        # queries sit at the bottom right: query i is at absolute position i + offset
        if nonpad is not None and past_k is None:
            offset: Expr = kb.let("offset", nonpad[b] - sh.q_len)
        else:
            offset = const(sh.past_len, I64)
        big = kb.let("big", ninf)
        bias_max = kb.let("bias_max", ninf)
        with kb.for_("j", 0, total, type=I64) as j:
            dot = kb.let("dot", zero)
            with kb.for_("dk", 0, sh.head, type=I64) as dk:
                kb.assign(dot, dot + qs[dk] * rnd(key_at(b, kh, j, dk).cast(w) * root, dt))
            raw = kb.let("raw", rnd(dot, dt))
            capped: Expr = raw
            if a.softcap > 0:
                c = float(dt.np.type(a.softcap))
                capped = kb.let("capped", rnd(c * rnd(ki.tanh(rnd(raw / c, dt)), dt), dt))
            bias = kb.let("bias", zero if mask is None or mask_t is None else
                          _mask_value(mask, mask_t.static_shape, sh, dt, w, b, h, i, j))
            distance = kb.let("distance", i + offset - j)
            allowed: Expr = const(True)
            if a.is_causal:
                allowed = allowed & (distance >= 0)
            if a.left_window_size >= 0:
                allowed = allowed & (distance <= a.left_window_size)
            if a.right_window_size >= 0:
                allowed = allowed & (-distance <= a.right_window_size)
            if a.is_causal or a.left_window_size >= 0 or a.right_window_size >= 0:
                kb.assign(bias, bias + ki.select(allowed, zero, ninf))
            if nonpad is not None:
                kb.assign(bias, bias + ki.select(j < nonpad[b], zero, ninf))
            nan_max(kb, bias_max, bias)
            scores = kb.let("scores", rnd(rnd(capped + bias, dt), prec))
            row[j] = scores
            nan_max(kb, big, scores)
            if qk_out is not None and a.qk_matmul_output_mode < 3:
                qk_out[b, h, i, j] = (raw, capped, scores)[a.qk_matmul_output_mode].cast(dt)
        # a row of -inf gives zeros, not NaN
        shift = kb.let("shift", ki.select(big.eq(ninf), zero, big))
        with kb.for_("j", 0, total, type=I64) as j:
            row[j] = rnd(ki.exp(rnd(row[j] - shift, prec)), prec)
        den = kb.let("den", sum_in_type(kb, row, 0, total, prec, w, "total"))
        kb.assign(den, ki.select(den.eq(zero), const(1.0, w), den))
        fully_masked = kb.let("fully_masked", bias_max.eq(ninf))
        with kb.for_("j", 0, total, type=I64) as j:
            p = kb.let("p", ki.select(fully_masked, zero, rnd(row[j] / den, prec)))
            if qk_out is not None and a.qk_matmul_output_mode == 3:
                qk_out[b, h, i, j] = p.cast(dt)
            row[j] = rnd(p, dt)
        with kb.for_("e", 0, sh.v_head, type=I64) as e:
            acc = kb.let("acc", zero)
            with kb.for_("j", 0, total, type=I64) as j:
                kb.assign(acc, acc + row[j] * value_at(b, kh, j, e).cast(w))
            if sh.packed:
                y[b, i, h * sh.v_head + e] = acc.cast(dt)
            else:
                y[b, h, i, e] = acc.cast(dt)
    for out, at, size in zip(present, (key_at, value_at), (sh.head, sh.v_head)):
        n_rows = sh.batch * sh.kv_heads * total
        with kb.for_("pr", 0, n_rows, kind="parallel", type=I64) as pr:
            pb = kb.let("pb", pr // (sh.kv_heads * total))
            ph = kb.let("ph", (pr // total) % sh.kv_heads)
            pj = kb.let("pj", pr % total)
            with kb.for_("pd", 0, size, type=I64) as pd:
                out[pb, ph, pj, pd] = at(pb, ph, pj, pd)
    return kb.finish()


def _mask_value(mask: Buffer, shape: tuple[int, ...], sh: _Shape, dt: DType, w: ScalarType,
                b: Expr, h: Expr, i: Expr, j: Expr) -> Expr:
    """The mask's additive bias at (b, h, i, j): bool masks as 0/-inf, others in Q's type; the
    mask broadcasts from the right and keys past its last axis are masked."""
    width = shape[-1]
    coords = [b, h, i][3 - (len(shape) - 1):] if len(shape) > 1 else []
    index = [c if n != 1 else const(0, I64) for c, n in zip(coords, shape[:-1])]
    m = mask[tuple(index) + (j.min(width - 1),)]
    if mask.elem.dtype is DType.BOOL:
        val: Expr = ki.select(m, const(0.0, w), const(float("-inf"), w))
    else:
        val = m.cast(dt).cast(w) if ScalarType(dt) != w else m.cast(w)
    if width < sh.total:
        val = ki.select(j < width, val, const(float("-inf"), w))
    return val

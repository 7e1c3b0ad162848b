"""cpu rules for Attention (opsets 23-25) and FlexAttention: one kernel whose parallel loop runs
over the query rows (batch x heads x queries), each computing its scores, a softmax and the
weighted sum of V in a private row of the key length, rounding where the reference rounds."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ....ir import OPS, DType, Graph, Node, TensorType, Type, Value
from ....ir.compute import ComputeDef, NoCompute, Reduce, TensorArg, build_compute
from ....ir.kernel import (
    F32,
    F64,
    I64,
    Buffer,
    Expr,
    Kernel,
    KernelBuilder,
    Load,
    Var,
    const,
    substitute,
    transform,
    walk,
)
from ....ir.kernel import intrinsics as ki
from ....ir.kernel.types import ScalarType
from ....ir.ops.attention import (
    SOFTMAX_PRECISIONS,
    AttentionAttrs,
    FlexAttentionAttrs,
)
from ....ir.ops.registry import RefCtx
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


# -- FlexAttention -------------------------------------------------------------------------

ElementFn = Callable[[Expr, tuple[Expr, ...]], Expr]


class _NotElementwise(Exception):
    pass


def _mod_function(g: Graph, full: tuple[int, ...], dtype: DType) -> ElementFn | None:
    """A score_mod/prob_mod graph as fn(element, index) -> element, built from the compute
    definitions of its nodes. Shapes and single values it derives are evaluated now by the ops'
    references; None where a node has no compute definition, reduces, reads the input other than
    element for element, or reads a table (the node cannot pass one to its kernel)."""
    x_t = g.inputs[0].type if len(g.inputs) == 1 else None
    if not isinstance(x_t, TensorType) or x_t.dtype is not dtype or len(g.outputs) != 1:
        return None
    x_in = g.inputs[0]
    known: dict[Value, np.ndarray] = dict(g.constants)
    shapes: dict[Value, tuple[int, ...]] = {x_in: full}
    steps: dict[Value, ComputeDef] = {}
    for n in g.nodes:
        if len(n.outputs) != 1:
            return None
        out = n.outputs[0]
        present = [v for v in n.inputs if v is not None]
        if n.op == "Shape" or all(v in known for v in present):
            # a shape, or a value of constants: known now if it is a single value or a shape
            args = [None if v is None else known[v] if v in known else
                    np.broadcast_to(np.zeros((), v.type.dtype.np), shapes[v])  # type: ignore
                    for v in n.inputs]
            try:
                val = np.asarray(OPS[n.op].run_reference(n.attrs, args, RefCtx(1))[0])
            except Exception:
                return None
            if n.op == "Shape" or val.size == 1:
                known[out] = val
                continue
        targs: list[TensorArg | None] = []
        for j, v in enumerate(n.inputs):
            if v is None:
                targs.append(None)
            elif v in known:
                arr = known[v]
                targs.append(TensorArg(f"in{j}", arr.shape, DType.from_np(arr.dtype), arr))
            elif v in shapes and isinstance(v.type, TensorType):
                targs.append(TensorArg(f"in{j}", shapes[v], v.type.dtype))
            else:
                return None
        try:
            cd = build_compute(OPS[n.op], n.attrs, targs, 1)
        except NoCompute:
            return None
        st = cd.outputs[0]
        if len(cd.stages) != 1 or cd.constants or any(isinstance(e, Reduce) for e in walk(st.body)):
            return None
        shapes[out], steps[out] = st.shape, cd
    if shapes.get(g.outputs[0]) != full or g.outputs[0] not in steps:
        return None

    def element(v: Value, index: tuple[Expr, ...], top: tuple[Expr, ...], x: Expr) -> Expr:
        if v is x_in:
            # structural equality (axes of size 1 read at 0): the input read elsewhere than here
            if index != tuple(const(0, I64) if n == 1 else e for e, n in zip(top, full)):
                raise _NotElementwise(v.name)
            return x
        if v in known:
            if known[v].size != 1:
                raise _NotElementwise(v.name)
            return const(known[v].reshape(-1)[0].item(), DType.from_np(known[v].dtype))
        cd = steps[v]
        st = cd.outputs[0]
        node = next(n for n in g.nodes if n.outputs[0] is v)
        reads = {a.buffer.name: u for u, a in zip(node.inputs, cd.inputs)
                 if u is not None and a is not None}

        def read(e: object) -> Expr | None:
            if isinstance(e, Load) and e.buffer.name in reads:
                return element(reads[e.buffer.name], e.index, top, x)
            return None
        return transform(substitute(st.body, dict(zip(st.axes, index))), read)  # type: ignore

    def apply(x: Expr, index: tuple[Expr, ...]) -> Expr:
        return element(g.outputs[0], index, index, x)
    try:   # a trial on placeholders: the graph reads its input element for element
        probe = tuple(Var(f"probe{k}", I64) for k in range(len(full)))
        apply(Var("probe_x", ScalarType(dtype)), probe)
    except (_NotElementwise, NoCompute):
        return None
    return apply


@RULES.register("FlexAttention")
def lower_flex_attention(node: Node, attrs: FlexAttentionAttrs,
                         types: list[Type | None]) -> Kernel | None:
    a = attrs
    q_t, k_t, v_t = (t if isinstance(t, TensorType) else None for t in types[:3])
    assert q_t is not None and k_t is not None and v_t is not None
    batch, q_heads, q_len, head = q_t.static_shape
    kv_heads, total, v_head = k_t.static_shape[1], k_t.static_shape[2], v_t.static_shape[3]
    if total == 0:
        return None
    dt = q_t.dtype
    # scores are modified and normalized in float32 (float64 for double inputs) unless told
    prec = SOFTMAX_PRECISIONS[a.softmax_precision] if a.softmax_precision is not None \
        else DType.F64 if dt is DType.F64 else DType.F32
    full = (batch, q_heads, q_len, total)
    mods: list[ElementFn | None] = []
    for g in (a.score_mod, a.prob_mod):
        fn = _mod_function(g, full, prec) if g is not None else None
        if g is not None and fn is None:
            return None
        mods.append(fn)
    score_mod, prob_mod = mods
    w = F64 if DType.F64 in (dt, prec) else F32
    f32 = DType.F32.np.type
    scale = f32(a.scale) if a.scale is not None else f32(1 / f32(math.sqrt(f32(head))))
    root = float(dt.np.type(f32(math.sqrt(scale))))

    kb = KernelBuilder("flex_attention")
    q = kb.buffer("q", dt, q_t.static_shape, access="r")
    k = kb.buffer("k", k_t.dtype, k_t.static_shape, access="r")
    v = kb.buffer("v", v_t.dtype, v_t.static_shape, access="r")
    out_t = node.outputs[0].type
    assert isinstance(out_t, TensorType)
    y = kb.buffer("y", dt, out_t.static_shape, access="w")

    def modded(fn: ElementFn | None, x: Expr, index: tuple[Expr, ...]) -> Expr:
        if fn is None:
            return x
        pt = ScalarType(prec)
        return fn(x if x.type == pt else x.cast(pt), index).cast(w)

    with kb.for_("r", 0, batch * q_heads * q_len, kind="parallel", type=I64) as r:
        b = kb.let("b", r // (q_heads * q_len))
        h = kb.let("h", (r // q_len) % q_heads)
        i = kb.let("i", r % q_len)
        kh = kb.let("kh", h // (q_heads // kv_heads))
        row = kb.alloc("row", w, (total,), scope="private")
        big = kb.let("big", const(float("-inf"), w))
        with kb.for_("j", 0, total, type=I64) as j:
            dot = kb.let("dot", const(0.0, w))
            with kb.for_("d", 0, head, type=I64) as d:
                kb.assign(dot, dot + rnd(q[b, h, i, d].cast(w) * root, dt)
                          * rnd(k[b, kh, j, d].cast(w) * root, dt))
            s = kb.let("s", modded(score_mod, rnd(rnd(dot, dt), prec), (b, h, i, j)))
            row[j] = s
            nan_max(kb, big, s)
        with kb.for_("j", 0, total, type=I64) as j:
            row[j] = rnd(ki.exp(rnd(row[j] - big, prec)), prec)
        den = kb.let("den", sum_in_type(kb, row, 0, total, prec, w, "total"))
        with kb.for_("j", 0, total, type=I64) as j:
            row[j] = modded(prob_mod, rnd(row[j] / den, prec), (b, h, i, j))
        with kb.for_("e", 0, v_head, type=I64) as e:
            acc = kb.let("acc", const(0.0, w))
            with kb.for_("j", 0, total, type=I64) as j:
                kb.assign(acc, acc + row[j] * rnd(v[b, kh, j, e].cast(w), prec))
            y[b, h, i, e] = rnd(acc, prec).cast(dt)
    return kb.finish()

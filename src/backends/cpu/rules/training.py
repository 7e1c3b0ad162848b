"""cpu rules for training-time ops: Dropout in training mode (numpy's Mersenne twister, seeded as
the reference seeds it, so the masks are the reference's), BatchNormalization's batch statistics,
and the optimizer steps Adagrad, Adam and Momentum (float64 throughout, rounded once).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ....ir import DType, Node, TensorType, Type
from ....ir.kernel import (
    BOOL,
    F32,
    F64,
    I64,
    U32,
    Buffer,
    Expr,
    Kernel,
    KernelBuilder,
    Math,
    Select,
    Var,
    const,
)
from . import RULES
from .casts import nest, static

MT_N, MT_M = 624, 397  # MT19937's state length and shift


def _scalar(buf: Buffer | None, t: TensorType | None) -> Expr | None:
    return None if buf is None or t is None else buf[(0,) * t.rank]


# -- Dropout -------------------------------------------------------------------------------------

def _mt_seed(kb: KernelBuilder, mt: Buffer, seed: int) -> None:
    """numpy's RandomState(seed) for an integer seed (init_genrand)."""
    mt[0] = const(seed, U32)
    with kb.for_("s", 1, MT_N, type=I64) as s:
        prev = kb.let("prev", mt[s - 1])
        mt[s] = const(1812433253, U32) * (prev ^ (prev >> 30)) + s.cast(U32)


def _mt_draw(kb: KernelBuilder, mt: Buffer, pos: Var, name: str) -> Var:
    """The next 32-bit output of the generator (the state regenerated every 624 draws)."""
    with kb.if_(pos >= MT_N):
        with kb.for_("k", 0, MT_N, type=I64) as k:
            y = kb.let("mix", (mt[k] & const(0x80000000, U32)) |
                       (mt[(k + 1) % MT_N] & const(0x7FFFFFFF, U32)))
            mag = Select((y & 1).ne(0), const(0x9908B0DF, U32), const(0, U32))
            mt[k] = mt[(k + MT_M) % MT_N] ^ (y >> 1) ^ mag
        kb.assign(pos, 0)
    v = kb.let(name, mt[pos])
    kb.assign(pos, pos + 1)
    kb.assign(v, v ^ (v >> 11))
    kb.assign(v, v ^ ((v << 7) & const(0x9D2C5680, U32)))
    kb.assign(v, v ^ ((v << 15) & const(0xEFC60000, U32)))
    kb.assign(v, v ^ (v >> 18))
    return v


@RULES.register("Dropout")
def lower_dropout(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """Training mode known only at run time (or a ratio that is): the kernel reads both and
    draws uniform doubles in [0, 1) element by element as numpy's RandomState(seed).uniform
    does; an element is kept where its draw is >= ratio. Without a seed the reference's draws
    are unreproducible, so the rule declines."""
    x, out = static(types[0]), static(node.outputs[0].type)
    seed = attrs.seed
    if x is None or out is None or seed is None or not 0 <= seed < 1 << 32 or \
            x.dtype not in (DType.F16, DType.F32, DType.F64, DType.BF16):
        return None
    ratio_t = static(types[1]) if len(types) > 1 else None
    train_t = static(types[2]) if len(types) > 2 else None
    shape, w = x.static_shape, (F64 if x.dtype is DType.F64 else F32)
    kb = KernelBuilder("dropout")
    xb = kb.buffer("x", x.dtype, shape, access="r")
    rb = kb.buffer("ratio", ratio_t.dtype, ratio_t.static_shape, access="r") \
        if ratio_t is not None else None
    tb = kb.buffer("training_mode", BOOL, train_t.static_shape, access="r") \
        if train_t is not None else None
    yb = kb.buffer("y", x.dtype, shape, access="w")
    mb = kb.buffer("mask", BOOL, shape, access="w") if len(node.outputs) > 1 else None
    r = _scalar(rb, ratio_t)
    rate = kb.let("rate", r.cast(F64) if r is not None else const(0.5, F64))
    train = _scalar(tb, train_t)
    active = (train if train is not None else const(False, BOOL)) & rate.ne(0.0)
    mt = kb.alloc("mt", U32, (MT_N,), scope="private")
    idx: list[Var] = []
    with kb.if_(active):
        _mt_seed(kb, mt, seed)
        pos = kb.let("pos", MT_N, I64)
        scale = kb.let("scale", Select(rate.eq(1.0), const(0.0, F64), 1.0 / (1.0 - rate)).cast(w))
        with nest(kb, shape, idx, parallel=False):
            i = tuple(idx)
            a, b = _mt_draw(kb, mt, pos, "a"), _mt_draw(kb, mt, pos, "b")
            u = ((a >> 5).cast(F64) * 67108864.0 + (b >> 6).cast(F64)) / 9007199254740992.0
            keep = kb.let("keep", u >= rate)
            # numpy multiplies by the mask as 0/1 (a dropped NaN stays NaN), then the scale
            yb[i] = (keep.cast(w) * xb[i].cast(w) * scale).cast(x.dtype)
            if mb is not None:
                mb[i] = keep
    with kb.else_():
        idx.clear()
        with nest(kb, shape, idx):
            yb[tuple(idx)] = xb[tuple(idx)]
            if mb is not None:
                mb[tuple(idx)] = const(True, BOOL)
    return kb.finish()


# -- BatchNormalization (training mode) ----------------------------------------------------------

@RULES.register("BatchNormalization")
def lower_batch_norm_training(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """Batch statistics per channel (mean, then the mean of squared deviations, in float64),
    the normalized output and the running statistics; saved mean and variance when asked."""
    ts = [static(t) for t in types]
    x = ts[0]
    if not attrs.training_mode or x is None or len(ts) != 5 or \
            any(t is None or t.rank != 1 for t in ts[1:]):
        return None
    shape = x.static_shape
    n_ch, count = shape[1], math.prod(shape) // max(shape[1], 1)
    kb = KernelBuilder("batch_norm_training")
    ins = [kb.buffer(name, t.dtype, t.static_shape, access="r")
           for name, t in zip(("x", "scale", "bias", "mean", "var"), ts) if t is not None]
    xb, sb, bb, mb, vb = ins
    outs = [kb.buffer(f"out{j}", o.type.dtype, o.type.static_shape, access="w")  # type: ignore
            for j, o in enumerate(node.outputs)]
    rest = [d for k, d in enumerate(shape) if k != 1]
    with kb.for_("c", 0, n_ch, kind="parallel", type=I64) as c:
        def over(body: Callable[[tuple[Expr, ...]], None]) -> None:
            idx: list[Var] = []
            with nest(kb, rest, idx, parallel=False):
                body((idx[0], c, *idx[1:]))
        total = kb.let("total", 0.0, F64)
        over(lambda i: kb.assign(total, total + xb[i].cast(F64)))
        mean = kb.let("batch_mean", total / float(max(count, 1)))
        dev = kb.let("dev", 0.0, F64)
        over(lambda i: kb.assign(dev, dev + (xb[i].cast(F64) - mean) * (xb[i].cast(F64) - mean)))
        var = kb.let("batch_var", dev / float(max(count, 1)))
        root = kb.let("root", Math("sqrt", (var + attrs.epsilon,)))
        sc, bi = sb[c].cast(F64), bb[c].cast(F64)

        def normalize(i: tuple[Expr, ...]) -> None:
            outs[0][i] = ((xb[i].cast(F64) - mean) / root * sc + bi).cast(x.dtype)
        over(normalize)
        m = attrs.momentum
        stats = [mb[c].cast(F64) * m + mean * (1 - m), vb[c].cast(F64) * m + var * (1 - m),
                 mean, var]
        for ob, v in zip(outs[1:], stats):
            ob[c] = v.cast(ob.elem)
    return kb.finish()


# -- optimizers ----------------------------------------------------------------------------------

Step = Callable[[Any, Expr, Expr, list[Expr]], list[Expr]]


def _optimizer(name: str, groups: int, step: Step) -> Callable[..., Kernel | None]:
    """A rule for an optimizer of `groups` input groups: R, T, then the groups; every output is
    step(attrs, rate, t, [one element of each group]) in float64, rounded to its dtype."""
    def rule(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
        ts = [static(t) for t in types]
        if any(t is None for t in ts) or (len(ts) - 2) % groups:
            return None
        n = (len(ts) - 2) // groups
        kb = KernelBuilder(name.lower())
        bufs = [kb.buffer(f"in{k}", t.dtype, t.static_shape, access="r")  # type: ignore
                for k, t in enumerate(ts)]
        outs = [kb.buffer(f"out{j}", o.type.dtype, o.type.static_shape, access="w")  # type: ignore
                for j, o in enumerate(node.outputs)]
        rate = kb.let("rate", _scalar(bufs[0], ts[0]).cast(F64))  # type: ignore[union-attr]
        t = kb.let("t", _scalar(bufs[1], ts[1]).cast(I64))  # type: ignore[union-attr]
        per_output = len(outs) // n
        for i in range(n):
            shape = ts[2 + i].static_shape  # type: ignore[union-attr]
            idx: list[Var] = []
            with nest(kb, shape, idx):
                ix = tuple(idx)
                vals = step(attrs, rate, t, [bufs[2 + g * n + i][ix].cast(F64)
                                             for g in range(groups)])
                for g in range(per_output):
                    ob = outs[g * n + i]
                    ob[ix] = vals[g].cast(ob.elem)
        return kb.finish()
    return rule


def _adagrad(a: Any, r: Expr, t: Expr, xs: list[Expr]) -> list[Expr]:
    x, g, h = xs
    rate = r / (t.cast(F64) * a.decay_factor + 1.0)
    g = a.norm_coefficient * x + g
    h = h + g * g
    return [x - rate * g / (Math("sqrt", (h,)) + a.epsilon), h]


def _adam(a: Any, r: Expr, t: Expr, xs: list[Expr]) -> list[Expr]:
    x, g, v, h = xs
    g = a.norm_coefficient * x + g  # operand order as the reference's (rounding)
    v = a.alpha * v + (1 - a.alpha) * g
    h = a.beta * h + (1 - a.beta) * g * g
    tf = t.cast(F64)
    corrected = r * Math("sqrt", (1.0 - Math("pow", (const(a.beta, F64), tf)),)) / \
        (1.0 - Math("pow", (const(a.alpha, F64), tf)))
    rate = Select(t > 0, corrected, r)
    x = x - rate * v / (Math("sqrt", (h,)) + a.epsilon)
    return [(1 - a.norm_coefficient_post) * x, v, h]


def _momentum(a: Any, r: Expr, t: Expr, xs: list[Expr]) -> list[Expr]:
    x, g, v = xs
    g = a.norm_coefficient * x + g
    beta = Select(t > 0, const(a.beta, F64), const(1.0, F64))
    v = a.alpha * v + beta * g
    if a.mode == "nesterov":
        return [x - r * (g + a.alpha * v), v]
    return [x - r * v, v]


for _op, _groups, _step in (("Adagrad", 3, _adagrad), ("Adam", 4, _adam),
                            ("Momentum", 3, _momentum)):
    RULES.register(_op)(_optimizer(_op, _groups, _step))


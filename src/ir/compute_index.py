"""Index arithmetic for compute definitions: where broadcasting, reshaping and reductions read
their operands, as kernel-IR integer expressions. Pure functions of expressions and static
shapes; compute.py re-exports them.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .kernel.expr import Const, Expr
from .kernel.types import I64

INDEX = I64
"""The type of index expressions (a scheduling pass may narrow it where ranges allow)."""


def offset(e: Expr, k: int) -> Expr:
    """e + k, or e itself for k == 0 (index arithmetic stays readable)."""
    return e if k == 0 else e + k


def scale(e: Expr, k: int) -> Expr:
    """e * k, or e itself for k == 1."""
    return e if k == 1 else e * k


def reshape_index(index: Sequence[Expr], out_shape: Sequence[int],
                  in_shape: Sequence[int]) -> tuple[Expr, ...]:
    """Where a row-major reshape from `in_shape` to `out_shape` reads output `index`. Leading
    and trailing dims the shapes share map straight through; the rest go through the flat
    offset."""
    p = 0
    while p < min(len(out_shape), len(in_shape)) and out_shape[p] == in_shape[p]:
        p += 1
    q = 0
    while (q < min(len(out_shape), len(in_shape)) - p
           and out_shape[len(out_shape) - 1 - q] == in_shape[len(in_shape) - 1 - q]):
        q += 1
    mid_out = [(e, d) for e, d in zip(index[p:len(index) - q], out_shape[p:len(out_shape) - q])
               if d != 1]
    terms = [scale(e, int(np.prod([d for _, d in mid_out[k + 1:]], dtype=np.int64)))
             for k, (e, _) in enumerate(mid_out)]
    flat = terms[0] if terms else Const(0, INDEX)
    for t in terms[1:]:
        flat = flat + t
    picked: list[Expr] = []
    mid_in = in_shape[p:len(in_shape) - q]
    for k, d in enumerate(mid_in):
        if d == 1:
            picked.append(Const(0, INDEX))
            continue
        stride = int(np.prod(mid_in[k + 1:], dtype=np.int64))
        e = flat if stride == 1 else flat // stride
        outer = all(x == 1 for x in mid_in[:k])   # the outermost dim needs no wrap-around
        picked.append(e if outer else e % d)
    return tuple(index[:p]) + tuple(picked) + tuple(index[len(index) - q:])


def broadcast_index(index: Sequence[Expr], shape: Sequence[int]) -> tuple[Expr, ...]:
    """Where an operand of `shape` is read for the broadcast result's `index`: trailing axes
    aligned, axes of size 1 read at 0."""
    lead = len(index) - len(shape)
    return tuple(Const(0, INDEX) if d == 1 else index[lead + k] for k, d in enumerate(shape))


def reduced_index(rank: int, axes: Sequence[int], keepdims: bool, out: Sequence[Expr],
                  red: Sequence[Expr]) -> tuple[Expr, ...]:
    """The input index a reduction over `axes` reads: reduce Vars `red` on those axes, the output
    index `out` (which with keepdims has a 0 there too) on the others."""
    it_out, it_red = iter(out), iter(red)
    index: list[Expr] = []
    for k in range(rank):
        if k in axes:
            index.append(next(it_red))
            if keepdims:
                next(it_out)
        else:
            index.append(next(it_out))
    return tuple(index)


def reduced_shape(shape: Sequence[int], axes: Sequence[int], keepdims: bool) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if k in axes else d for k, d in enumerate(shape))
    return tuple(d for k, d in enumerate(shape) if k not in axes)

"""Evaluate compute definitions with numpy, vectorized over each stage's index space: the index
Vars are (sparse) np.indices grids and every expression node is one numpy operation on arrays.

Tests check every compute definition against its op's reference implementation with this; it is
also the fallback for running a compute definition where no backend is at hand. Kernel-IR
semantics are C's: integer division truncates, float min/max ignore a NaN operand, float to
integer conversion truncates and saturates. Loads out of range are errors (a compute definition
must clamp what a select may not use).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .compute import ComputeDef, NoCompute, Reduce, TensorArg, build_compute, identity
from .dtype import DType
from .kernel.expr import Binary, Bitcast, Cast, Const, Expr, Load, Math, Select, Unary, Var
from .kernel.interpret_numeric import MATH_IMPL
from .kernel.types import ScalarType

if TYPE_CHECKING:
    from .ops.registry import OpDef


def evaluate_compute(opdef: OpDef, attrs: Any, arrays: Sequence[np.ndarray | None],
                     num_outputs: int = 1,
                     known: Sequence[int] | None = None) -> list[np.ndarray]:
    """The outputs of one node computed from its compute definition. `known` lists the inputs
    whose values the definition may read at build time (default: all of them)."""
    args: list[TensorArg | None] = []
    for k, a in enumerate(arrays):
        if a is None:
            args.append(None)
            continue
        arr = np.asarray(a)
        value = arr if known is None or k in known else None
        args.append(TensorArg(f"in{k}", arr.shape, DType.from_np(arr.dtype), value))
    cd = build_compute(opdef, attrs, args, num_outputs)
    return evaluate(cd, arrays)


def evaluate(cd: ComputeDef, arrays: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """Run every stage of `cd` on the input arrays; the node's outputs, in order."""
    buffers: dict[str, np.ndarray] = {}
    for arg, a in zip(cd.inputs, arrays):
        if arg is not None:
            if a is None or tuple(np.shape(a)) != arg.shape:
                raise ValueError(f"input {arg.name} should have shape {list(arg.shape)}")
            buffers[arg.name] = np.asarray(a, dtype=arg.dtype.np)
    buffers.update((c.name, c.value) for c in cd.constants)
    with np.errstate(all="ignore"):
        for st in cd.stages:
            grids = np.indices(st.shape, dtype=np.int64, sparse=True)
            ev = _Evaluator(buffers, dict(zip(st.axes, grids)), len(st.shape))
            value = np.broadcast_to(ev.eval(st.body), st.shape)
            buffers[st.name] = np.array(value, dtype=st.dtype.np)  # (ascontiguousarray is 1-d)
    return [buffers[o.name] for o in cd.outputs]


class _Evaluator:
    """Values of expressions under one environment of index grids (each `ndim`-dimensional and
    broadcastable), memoized per node."""

    def __init__(self, buffers: dict[str, np.ndarray], env: dict[Var, np.ndarray], ndim: int):
        self.buffers, self.env, self.ndim = buffers, env, ndim
        self.memo: dict[int, tuple[Expr, np.ndarray]] = {}

    def eval(self, e: Expr) -> np.ndarray:
        hit = self.memo.get(id(e))
        if hit is not None:
            return hit[1]
        v = np.asarray(self._eval(e))
        if v.dtype != e.type.dtype.np:
            v = v.astype(e.type.dtype.np)
        self.memo[id(e)] = (e, v)  # the node is kept so its id is not reused
        return v

    def _eval(self, e: Expr) -> np.ndarray:  # noqa: C901 - one case a node kind
        if isinstance(e, Const):
            return np.asarray(e.value, dtype=e.type.dtype.np)
        if isinstance(e, Var):
            if e not in self.env:
                raise ValueError(f"free index variable %{e.name}")
            return self.env[e]
        if isinstance(e, Load):
            return self._load(e)
        if isinstance(e, Binary):
            return _binary(e.op, self.eval(e.a), self.eval(e.b), e.a.type)
        if isinstance(e, Unary):
            x = self.eval(e.x)
            return {"neg": np.negative, "not": np.logical_not, "bitnot": np.invert}[e.op](x)
        if isinstance(e, Math):
            return _math(e.fn, [self.eval(a) for a in e.args])
        if isinstance(e, Cast):
            return _cast(self.eval(e.x), e.x.type, e.type)
        if isinstance(e, Bitcast):
            return np.array(self.eval(e.x)).view(e.type.dtype.np)
        if isinstance(e, Select):
            return np.where(self.eval(e.cond), self.eval(e.a), self.eval(e.b))
        if isinstance(e, Reduce):
            return self._reduce(e)
        raise NoCompute(f"the compute evaluator does not take {type(e).__name__} expressions")

    def _load(self, e: Load) -> np.ndarray:
        if e.lanes != 1:
            raise NoCompute("vector loads are not compute-definition expressions")
        data = self.buffers[e.buffer.name]
        index = []
        for k, (i, n) in enumerate(zip(e.index, data.shape)):
            v = self.eval(i)
            if v.size and (v.min() < 0 or v.max() >= n):
                raise IndexError(f"%{e.buffer.name}: index {k} takes values in "
                                 f"[{v.min()}, {v.max()}], outside [0, {n - 1}]")
            index.append(v)
        return np.asarray(data[tuple(index)])

    def _reduce(self, e: Reduce) -> np.ndarray:
        k = len(e.extents)
        env = {v: a.reshape(a.shape + (1,) * k) for v, a in self.env.items()}
        grids = np.indices(e.extents, dtype=np.int64, sparse=True)
        env.update({v: g.reshape((1,) * self.ndim + g.shape) for v, g in zip(e.axes, grids)})
        body = _Evaluator(self.buffers, env, self.ndim + k).eval(e.body)
        full = np.broadcast_to(body, np.broadcast_shapes(body.shape,
                                                         (1,) * self.ndim + e.extents))
        axes = tuple(range(self.ndim, self.ndim + k))
        dt = body.dtype
        if e.op == "sum":
            out = np.sum(full, axis=axes, dtype=dt)
        elif e.op == "prod":
            out = np.prod(full, axis=axes, dtype=dt)
        else:
            start = identity(e.op, e.type).value
            fn = np.max if e.op == "max" else np.min
            out = fn(full, axis=axes, initial=start)  # numpy's max/min propagate NaN
        if e.init is not None:
            out = _fold(e.op, self.eval(e.init), np.asarray(out, dt))
        return np.asarray(out, dt)


def _fold(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if op == "sum":
        return a + b
    if op == "prod":
        return a * b
    return np.maximum(a, b) if op == "max" else np.minimum(a, b)


# -- scalar semantics ----------------------------------------------------------------------------

def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C division: truncates toward zero."""
    q = np.floor_divide(a, b)
    if q.dtype.kind == "u":
        return q
    fix = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
    return q + fix.astype(q.dtype)


def _shift(a: np.ndarray, count: np.ndarray, left: bool) -> np.ndarray:
    """Shifts by the bit width or more (or by a negative count) give 0, or the sign fill."""
    dt = a.dtype
    bits = dt.itemsize * 8
    c = count.astype(np.int64) if count.dtype != np.uint64 else np.minimum(count, bits)
    c = np.asarray(c, np.int64)
    ok = (c >= 0) & (c < bits)
    safe = np.where(ok, c, 0).astype(dt)
    if left:
        return np.where(ok, np.left_shift(a, safe), dt.type(0)).astype(dt)
    fill = np.where(a < 0, dt.type(-1), dt.type(0)) if dt.kind == "i" else dt.type(0)
    return np.where(ok, np.right_shift(a, safe), fill).astype(dt)


_CMP: dict[str, Callable[..., np.ndarray]] = {
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
    "ge": np.greater_equal}
_SIMPLE: dict[str, Callable[..., np.ndarray]] = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "floordiv": np.floor_divide,
    "floormod": np.remainder, "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
    "land": np.logical_and, "lor": np.logical_or, **_CMP}


def _binary(op: str, a: np.ndarray, b: np.ndarray, t: ScalarType) -> np.ndarray:
    if op in _SIMPLE:
        return _SIMPLE[op](a, b)
    if op == "div":
        return np.true_divide(a, b) if t.is_float else _int_div(a, b)
    if op == "rem":
        return np.fmod(a, b)
    if op in ("min", "max"):
        if t.is_float:
            return np.fmin(a, b) if op == "min" else np.fmax(a, b)
        return np.minimum(a, b) if op == "min" else np.maximum(a, b)
    if op in ("shl", "shr"):
        return _shift(a, b, op == "shl")
    raise NoCompute(f"binary op '{op}'")


def _cast(x: np.ndarray, src: ScalarType, dst: ScalarType) -> np.ndarray:
    dt = dst.dtype.np
    if dst.is_bool:
        return np.not_equal(x, 0)
    if src.is_float and dst.is_int:
        info = np.iinfo(dt)
        t = np.trunc(x.astype(np.float64))
        big, small = t >= float(info.max) + 1.0, t < float(info.min)
        safe = np.where(big | small | np.isnan(t), 0.0, t).astype(dt)
        return np.where(big, dt.type(info.max), np.where(small, dt.type(info.min), safe))
    if dst.dtype is DType.BF16 and not src.is_float:
        return x.astype(np.float64).astype(dt)
    return x.astype(dt)


def _math(fn: str, args: list[np.ndarray]) -> np.ndarray:
    """Math intrinsics mean what the kernel interpreter (the kernel IR's semantics) says."""
    impl = MATH_IMPL.get(fn)
    if impl is None:
        raise NoCompute(f"math function '{fn}'")
    return np.asarray(impl(*args))

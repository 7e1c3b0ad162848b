"""Compute definitions: what an op computes, as index expressions over its inputs (TVM te / Halide
style), separate from how a kernel runs it.

An op's compute definition is `compute(attrs, *inputs) -> Stage | tuple[Stage, ...]`. Each input
is a TensorArg (static shape, dtype, its value where known at compile time); indexing one
(`x[i, j]`) gives a kernel-IR Load. `tensor(shape, dtype, lambda *i: expr)` defines a stage
element-wise over index Vars, and `reduce(op, extents, lambda *r: expr)` folds an expression over
more index Vars (sum, prod, max, min) anywhere inside a body. A stage may read earlier stages, so a
softmax is three of them. Index expressions are kernel-IR integer expressions (I64). Reduce is
the one node kernels do not have: lowering turns it into a loop over an accumulator (`combine`
says how one step updates it). A compute definition may also build compile-time tables
(`constant`: interpolation weights) and read inputs through index mappings (`View`).
build_compute runs one for a node and returns a ComputeDef: inputs, stages, outputs, tables.

Where an op's attributes or inputs rule a compute definition out (a shape operand known only at
run time, a data-dependent output shape, strings), the function raises NoCompute (or returns
None) and lowering falls back to the backend's explicit rule. compute_eval.py evaluates compute
definitions with numpy.
"""
from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from .compute_index import (
    INDEX,
    broadcast_index,
    offset,
    reduced_index,
    reduced_shape,
    reshape_index,
    scale,
)
from .dtype import DType
from .kernel.expr import (
    Binary,
    Buffer,
    Cast,
    Const,
    Expr,
    Load,
    Math,
    Number,
    Select,
    Unary,
    Var,
    lift,
)
from .kernel.types import F32, ScalarType
from .kernel.visit import transform, walk

if TYPE_CHECKING:
    from .ops.registry import OpDef

KERNEL_DTYPES = frozenset({DType.F64, DType.F32, DType.F16, DType.BF16, DType.I64, DType.I32,
                           DType.I16, DType.I8, DType.U64, DType.U32, DType.U16, DType.U8,
                           DType.BOOL})
"""Element types a compute definition may read or write; others (strings, complex, float8,
sub-byte integers) have no kernel arithmetic, so ops on them raise NoCompute."""
REDUCE_OPS = ("sum", "prod", "max", "min")


class NoCompute(Exception):
    """This op, with these attributes and inputs, has no compute definition; lowering uses the
    backend's explicit rule instead."""


# -- scope: fresh names, index ranges and the stages one compute definition builds -----------

class _Scope:
    def __init__(self) -> None:
        self._counter = itertools.count()
        self.ranges: dict[Var, int] = {}
        self.stages: list[Stage] = []
        self.constants: list[Constant] = []

    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter)}"


_SCOPE: ContextVar[_Scope | None] = ContextVar("dlc_compute_scope", default=None)


def _scope() -> _Scope:
    s = _SCOPE.get()
    if s is None:  # used outside build_compute (by hand, in a REPL): one scope per context
        s = _Scope()
        _SCOPE.set(s)
    return s


@contextmanager
def compute_scope() -> Iterator[_Scope]:
    """A fresh naming scope: names and index ranges of one compute definition."""
    token = _SCOPE.set(_Scope())
    try:
        s = _SCOPE.get()
        assert s is not None
        yield s
    finally:
        _SCOPE.reset(token)


# -- tensors ---------------------------------------------------------------------------------

def index_expr(i: Expr | int) -> Expr:
    """An index as an INDEX expression (ints become constants, narrower ints are widened)."""
    if isinstance(i, Expr):
        if i.type == INDEX:
            return i
        if i.type.is_int and not i.type.is_vector:
            return Cast(i, INDEX)
        raise TypeError(f"an index must be an integer expression, got {i.type}")
    return Const(int(i), INDEX)


class Tensor:
    """A tensor a compute definition reads: static shape, dtype and the buffer loads read."""

    writable = False

    def __init__(self, name: str, shape: Sequence[int], dtype: DType):
        if dtype not in KERNEL_DTYPES:
            raise NoCompute(f"{dtype} tensors have no kernel arithmetic")
        if not all(isinstance(d, (int, np.integer)) for d in shape):
            raise NoCompute(f"shape {list(shape)} is not static (specialize symbols first)")
        self.name, self.shape, self.dtype = name, tuple(int(d) for d in shape), dtype
        self.buffer = Buffer(name, ScalarType(dtype), tuple(Const(d, INDEX) for d in self.shape),
                             read=True, write=self.writable)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def type(self) -> ScalarType:
        return ScalarType(self.dtype)

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __getitem__(self, index: Any) -> Load:
        items = index if isinstance(index, tuple) else (index,)
        if len(items) != self.rank:
            raise IndexError(f"{self.name} has rank {self.rank}, indexed with {len(items)}")
        return Load(self.buffer, tuple(index_expr(i) for i in items))

    def at(self, index: Sequence[Expr]) -> Load:
        """Numpy broadcasting: the element that output `index` reads."""
        return self[broadcast_index(index, self.shape)]

    def scalar(self) -> Load:
        """The one element of a tensor of one element (a Clip bound, a Pad value)."""
        if self.numel != 1:
            raise NoCompute(f"{self.name} {list(self.shape)} is not a single value")
        return self[(0,) * self.rank]

    def padded(self, index: Sequence[Expr | int], fill: Expr | Number) -> Expr:
        """x[index] where every index is in range, else `fill`. Out-of-range indices are clamped
        in the load (both sides of a select run); axes whose index provably stays in range
        (from the ranges of the index variables) get no check."""
        if 0 in self.shape:
            return lift(fill, self.type)
        conds: list[Expr] = []
        safe: list[Expr] = []
        for e, n in zip((index_expr(i) for i in index), self.shape):
            lo, hi = bounds(e) or (None, None)
            clamped = e
            if lo is None or lo < 0:
                conds.append(e >= 0)
                clamped = clamped.max(0)
            if hi is None or hi > n - 1:
                conds.append(e < n)
                clamped = clamped.min(n - 1)
            safe.append(clamped)
        load = self[tuple(safe)]
        if not conds:
            return load
        cond = conds[0]
        for c in conds[1:]:
            cond = cond & c
        return Select(cond, load, lift(fill, load.type))


class TensorArg(Tensor):
    """An input of a compute definition; `value` is its contents where known at compile time
    (shape operands: Reshape's shape, Slice's starts, a Reduce's axes)."""

    def __init__(self, name: str, shape: Sequence[int], dtype: DType,
                 value: np.ndarray | None = None):
        super().__init__(name, shape, dtype)
        if value is None and self.numel == 0:  # no elements: known whatever the graph feeds
            value = np.zeros(self.shape, dtype.np)
        self.value = value

    def ints(self, what: str = "operand") -> tuple[int, ...]:
        """The value as ints; NoCompute where it is known only at run time."""
        if self.value is None:
            raise NoCompute(f"{what} ({self.name}) is known only at run time")
        return tuple(int(v) for v in np.asarray(self.value).reshape(-1))


class Constant(Tensor):
    """A table a compute definition builds at compile time (interpolation weights, neighbour
    indices): read like an input, its contents travel with the compute definition."""

    def __init__(self, name: str, value: np.ndarray):
        value = np.ascontiguousarray(value)
        super().__init__(name, value.shape, DType.from_np(value.dtype))
        self.value = value


def constant(value: np.ndarray | Sequence[Any], dtype: DType | None = None,
             name: str = "c") -> Constant:
    """A compile-time table (of `dtype`, or its own), readable by the stages built after it."""
    arr = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype.np)
    s = _scope()
    c = Constant(s.fresh(name), arr)
    s.constants.append(c)
    return c


class Stage(Tensor):
    """One `tensor(...)`: out[axes] = body. A later stage reads it by indexing it."""

    writable = True

    def __init__(self, name: str, shape: Sequence[int], dtype: DType, axes: tuple[Var, ...],
                 body: Expr):
        super().__init__(name, shape, dtype)
        self.axes, self.body = axes, body

    def __repr__(self) -> str:
        return f"Stage({self})"

    def __str__(self) -> str:
        axes = ", ".join(f"%{a.name}" for a in self.axes)
        return f"%{self.name}[{axes}]: {self.dtype}{list(self.shape)} = {expr_text(self.body)}"


class View:
    """A tensor that is only an index mapping of others (x read as another shape, a channel
    regrouping): indexing it builds the expression in place, nothing is stored."""

    def __init__(self, shape: Sequence[int], dtype: DType, fn: Callable[..., Expr]):
        self.shape, self.dtype, self.fn = tuple(int(d) for d in shape), dtype, fn

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __getitem__(self, index: Any) -> Expr:
        items = index if isinstance(index, tuple) else (index,)
        if len(items) != self.rank:
            raise IndexError(f"a view of rank {self.rank} indexed with {len(items)}")
        return self.fn(*(index_expr(i) for i in items))


Readable = Tensor | View
ComputeResult = Stage | tuple[Stage, ...] | None


@dataclass(frozen=True)
class ComputeCtx:
    """What a compute function that declares a `ctx` parameter learns of its node."""

    num_outputs: int = 1


def tensor(shape: Sequence[int], dtype: DType, fn: Callable[..., Expr | Number],
           name: str = "t") -> Stage:
    """A stage of the given shape whose element at index Vars (i0, i1, ...) is fn(i0, i1, ...).
    A body of another type is converted to `dtype` (so narrow floats compute in f32 and round
    once at the store)."""
    s = _scope()
    shape = tuple(int(d) for d in shape)
    axes = tuple(Var(s.fresh("i"), INDEX) for _ in shape)
    s.ranges.update(zip(axes, shape))
    t = ScalarType(dtype)
    body = lift(fn(*axes), t)
    if body.type != t:
        body = Cast(body, t)
    stage = Stage(s.fresh(name), shape, dtype, axes, body)
    s.stages.append(stage)
    return stage


# -- reductions ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reduce(Expr):
    """`op` of `body` over the index Vars `axes` (0 <= axes[k] < extents[k]), combined with
    `init` when given. Max and min propagate NaN, as numpy and ONNX do (see `combine`)."""

    op: str
    axes: tuple[Var, ...]
    extents: tuple[int, ...]
    body: Expr
    init: Expr | None = None

    @cached_property
    def type(self) -> ScalarType:  # type: ignore[override]
        return self.body.type


def reduce(op: str, extents: int | Sequence[int], fn: Callable[..., Expr],
           init: Expr | Number | None = None) -> Expr:
    """fn(r0, r1, ...) folded by `op` (sum, prod, max, min) over 0 <= rk < extents[k]."""
    if op not in REDUCE_OPS:
        raise ValueError(f"reduction '{op}' is not one of {', '.join(REDUCE_OPS)}")
    ext = (int(extents),) if isinstance(extents, (int, np.integer)) else tuple(
        int(e) for e in extents)
    s = _scope()
    axes = tuple(Var(s.fresh("r"), INDEX) for _ in ext)
    s.ranges.update(zip(axes, ext))
    body = fn(*axes)
    start = None if init is None else lift(init, body.type)
    if not ext:
        return body if start is None else combine(op, start, body)
    return Reduce(op, axes, ext, body, start)


def identity(op: str, t: ScalarType) -> Const:
    """The value a reduction of nothing gives."""
    if op in ("sum", "prod"):
        return Const(0 if op == "sum" else 1, t)
    low = op == "max"
    if t.is_bool:
        return Const(not low, t)
    if t.is_float:
        return Const(-np.inf if low else np.inf, t)
    info = np.iinfo(t.dtype.np)
    return Const(int(info.min if low else info.max), t)


def combine(op: str, acc: Expr, x: Expr) -> Expr:
    """One step of a reduction, as a kernel updates its accumulator. Float max/min take a NaN
    (numpy's maximum/minimum); bool max/min are or/and."""
    if op == "sum":
        return acc + x
    if op == "prod":
        return acc * x
    if acc.type.is_bool:
        return (acc | x) if op == "max" else (acc & x)
    if not acc.type.is_float:
        return acc.max(x) if op == "max" else acc.min(x)
    better = (x > acc) if op == "max" else (x < acc)
    return Select(Math("isnan", (x,)) | better, x, acc)


def maximum(a: Expr, b: Expr | Number) -> Expr:
    """numpy.maximum: NaN-propagating for floats."""
    return combine("max", a, lift(b, a.type))


def minimum(a: Expr, b: Expr | Number) -> Expr:
    return combine("min", a, lift(b, a.type))


def clip(x: Expr, lo: Expr | Number, hi: Expr | Number) -> Expr:
    """numpy.clip (a NaN stays NaN; lo > hi gives hi)."""
    return minimum(maximum(x, lo), hi)


def select(cond: Expr, a: Expr | Number, b: Expr | Number) -> Expr:
    """cond ? a : b, Python numbers taking the other side's type."""
    like = a.type if isinstance(a, Expr) else b.type if isinstance(b, Expr) else None
    if like is None:
        raise TypeError("select() needs an expression on one side")
    return Select(cond, lift(a, like), lift(b, like))


def math(fn: str, *args: Expr | Number) -> Expr:
    like = next(a.type for a in args if isinstance(a, Expr))
    return Math(fn, tuple(lift(a, like) for a in args))


# -- element types ---------------------------------------------------------------------------

def work_type(t: ScalarType) -> ScalarType:
    """The type arithmetic runs in: f16 and bf16 widen to f32 (and round once at the store)."""
    return F32 if t.dtype in (DType.F16, DType.BF16) else t


def widen(e: Expr) -> Expr:
    w = work_type(e.type)
    return e if w == e.type else Cast(e, w)


def rounded(e: Expr, dtype: DType) -> Expr:
    """e rounded to `dtype` and widened back: a step the reference takes in a narrow type."""
    t = ScalarType(dtype)
    if e.type == t or work_type(t) == t:
        return e if e.type == t else widen(Cast(e, t))
    return widen(Cast(e, t))


def cast(e: Expr, dtype: DType | ScalarType) -> Expr:
    t = dtype if isinstance(dtype, ScalarType) else ScalarType(dtype)
    return e if e.type == t else Cast(e, t)


# -- broadcasting helpers --------------------------------------------------------------------

def broadcast_shape(*xs: Tensor | None) -> tuple[int, ...]:
    return tuple(np.broadcast_shapes(*(x.shape for x in xs if x is not None)))


def elementwise(dtype: DType, fn: Callable[..., Expr | Number], *xs: Tensor) -> Stage:
    """out[i] = fn(x0[i], x1[i], ...) over the broadcast shape, each operand widened to its work
    type (the body is converted to `dtype` at the store)."""
    return tensor(broadcast_shape(*xs), dtype, lambda *i: fn(*(widen(x.at(i)) for x in xs)))


def unary(fn: Callable[[Expr], Expr | Number]) -> Callable[..., Stage]:
    """The compute definition of a one-input element-wise op keeping its dtype."""
    return lambda attrs, x: elementwise(x.dtype, fn, x)


def binary(fn: Callable[[Expr, Expr], Expr | Number]) -> Callable[..., Stage]:
    """The compute definition of a broadcasting two-input op with the first input's dtype."""
    return lambda attrs, x, y: elementwise(x.dtype, fn, x, y)


# -- index ranges ----------------------------------------------------------------------------

def bounds(e: Expr) -> tuple[int, int] | None:
    """The smallest and largest value an integer index expression takes (None: not known),
    from the extents of the index Vars of the current scope."""
    if isinstance(e, Const):
        return (int(e.value), int(e.value)) if e.type.is_int else None
    if isinstance(e, Var):
        n = _scope().ranges.get(e)
        return None if n is None else (0, max(n - 1, 0))
    if isinstance(e, Cast) and e.x.type.is_int:
        return bounds(e.x)
    if isinstance(e, Unary) and e.op == "neg":
        b = bounds(e.x)
        return None if b is None else (-b[1], -b[0])
    if isinstance(e, Select):
        a, c = bounds(e.a), bounds(e.b)
        return None if a is None or c is None else (min(a[0], c[0]), max(a[1], c[1]))
    if not isinstance(e, Binary):
        return None
    a, b = bounds(e.a), bounds(e.b)
    if a is None or b is None:
        return None
    if e.op == "add":
        return a[0] + b[0], a[1] + b[1]
    if e.op == "sub":
        return a[0] - b[1], a[1] - b[0]
    if e.op == "mul":
        products = [x * y for x in a for y in b]
        return min(products), max(products)
    if e.op in ("min", "max"):
        f = min if e.op == "min" else max
        return f(a[0], b[0]), f(a[1], b[1])
    if e.op in ("floordiv", "floormod") and b[0] == b[1] and b[0] > 0:
        d = b[0]
        if e.op == "floordiv":
            return a[0] // d, a[1] // d
        return (a[0], a[1]) if 0 <= a[0] and a[1] < d else (0, d - 1)
    return None


# -- a whole compute definition --------------------------------------------------------------

@dataclass(frozen=True)
class ComputeDef:
    """What one node computes: its inputs, every stage (producers first), which stages are the
    node's outputs, and the compile-time tables the stages read."""

    op: str
    inputs: tuple[TensorArg | None, ...]
    stages: tuple[Stage, ...]
    outputs: tuple[Stage, ...]
    constants: tuple[Constant, ...] = ()

    def __str__(self) -> str:
        ins = ", ".join("-" if x is None else f"%{x.name}: {x.dtype}{list(x.shape)}"
                        for x in self.inputs)
        outs = ", ".join(f"%{o.name}" for o in self.outputs)
        consts = [f"  %{c.name}: {c.dtype}{list(c.shape)} = constant" for c in self.constants]
        return "\n".join([f"compute {self.op}({ins}) -> {outs}"] + consts
                         + [f"  {s}" for s in self.stages])


def build_compute(opdef: OpDef, attrs: Any, inputs: Sequence[TensorArg | None],
                  num_outputs: int = 1) -> ComputeDef:
    """The compute definition of one node; NoCompute where there is none."""
    if opdef.compute is None:
        raise NoCompute(f"{opdef.name} has no compute definition")
    args = list(inputs)
    while args and args[-1] is None:  # absent trailing optionals: the function's defaults
        args.pop()
    wants_ctx = "ctx" in inspect.signature(opdef.compute).parameters
    with compute_scope() as s:
        try:
            result = (opdef.compute(attrs, *args, ctx=ComputeCtx(num_outputs)) if wants_ctx
                      else opdef.compute(attrs, *args))
        except NoCompute as e:
            raise NoCompute(f"{opdef.name}: {e}") from None
    if result is None:
        raise NoCompute(f"{opdef.name}: no compute definition for these attributes and inputs")
    outs = (result,) if isinstance(result, Stage) else tuple(result)
    if len(outs) < num_outputs:
        raise NoCompute(f"{opdef.name} computes {len(outs)} output(s); the node has "
                        f"{num_outputs}")
    outs = outs[:num_outputs]
    by_name = {st.name: st for st in s.stages}
    needed: set[str] = set()
    todo = [o.name for o in outs]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        todo.extend(n.buffer.name for n in walk(by_name[name].body)
                    if isinstance(n, Load) and n.buffer.name in by_name)
    stages = tuple(st for st in s.stages if st.name in needed)
    read = {n.buffer.name for st in stages for n in walk(st.body) if isinstance(n, Load)}
    constants = tuple(c for c in s.constants if c.name in read)
    return ComputeDef(opdef.name, tuple(inputs), stages, outs, constants)


def classify(cd: ComputeDef) -> str:
    """'reduction' if any stage reduces; 'elementwise' if every stage reads only inputs, each at
    a broadcast of the stage's own index (each index an output axis, in order, or 0 on an axis
    of size 1); else 'injective'."""
    if any(isinstance(n, Reduce) for s in cd.stages for n in walk(s.body)):
        return "reduction"
    inputs = {x.name for x in cd.inputs if x is not None}
    for s in cd.stages:
        axes = list(s.axes)
        for n in walk(s.body):
            if isinstance(n, Load) and (n.buffer.name not in inputs or not _is_broadcast(n, axes)):
                return "injective"
    return "elementwise"


def _is_broadcast(load: Load, axes: list[Var]) -> bool:
    shape = load.buffer.shape or ()
    last = -1
    for e, d in zip(load.index, shape):
        if e == Const(0, INDEX) and d == Const(1, INDEX):
            continue
        if not isinstance(e, Var) or e not in axes or axes.index(e) <= last:
            return False
        last = axes.index(e)
    return True


# -- text ------------------------------------------------------------------------------------

def expr_text(e: Expr) -> str:
    """Kernel-IR text of an expression, reductions written `sum<%r0 < 4>(...)`."""
    from .text.kernel_printer import expr_text as kernel_text
    texts: dict[str, str] = {}

    def hide(n: Any) -> Any:
        if not isinstance(n, Reduce):
            return None
        key = f"__reduce{len(texts)}"
        ranges = ", ".join(f"%{a.name} < {x}" for a, x in zip(n.axes, n.extents))
        init = "" if n.init is None else f", init={kernel_text(n.init)}"
        texts[key] = f"{n.op}<{ranges}>({kernel_text(n.body)}{init})"
        return Var(key, n.type)

    text = kernel_text(transform(e, hide))
    for key in reversed(list(texts)):  # an outer reduction's text holds its inner ones' keys
        text = text.replace(f"%{key}", texts[key])
    return text


__all__ = [
    "INDEX", "KERNEL_DTYPES", "REDUCE_OPS", "ComputeCtx", "ComputeDef", "ComputeResult",
    "Constant", "NoCompute", "Readable", "Reduce", "Stage", "Tensor", "TensorArg", "View",
    "binary", "bounds", "broadcast_index", "broadcast_shape", "build_compute", "cast", "classify",
    "clip", "combine", "compute_scope", "constant", "elementwise", "expr_text", "identity",
    "index_expr", "lift", "math", "maximum", "minimum", "offset", "reduce", "reduced_index",
    "reduced_shape", "reshape_index", "rounded", "scale", "select", "tensor", "unary", "widen",
    "work_type",
]

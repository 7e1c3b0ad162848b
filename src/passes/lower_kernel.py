"""Loop nests from compute definitions: the stages of one group of nodes become Kernels.

Every stage that must be stored (an output of the group) gets a loop nest over its shape: outer
loops PARALLEL, the innermost VECTORIZED when no loop is nested in it, axes of size 1 dropped.
Every other stage is inlined where it is read: reading stage s at index e evaluates s's body at e
and binds it once, by a `let` in the outermost loop where e's variables are defined. So an
element-wise producer is computed once per element of its consumer, and a softmax's row maximum
once per row, before the loop over the row. A reduction becomes an accumulator and serial loops.

A stage with a reduction whose reader would compute one of its elements more than once gets
the reader's loops that its index does not use moved inside (a softmax along a leading axis:
column statistics first, then the loop down the column); where that cannot help (a matmul read
inside another matmul's reduction, group statistics read per channel) the stage is stored. Nests
that read a stored stage go to a later kernel, so a group becomes one kernel, or a few whose
intermediate results are new graph values; a stored stage that a nest of its shape reads at its
own index is computed and stored by that nest (co-stored), not by a nest of its own.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from ..errors import DlcError
from ..ir import Value
from ..ir.compute import INDEX, ComputeDef, Constant, NoCompute, Reduce, Stage, combine, identity
from ..ir.dtype import DType
from ..ir.kernel.expr import (
    Binary,
    Bitcast,
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
)
from ..ir.kernel.stmt import Assign, Block, For, Kernel, Let, Stmt, Store
from ..ir.kernel.types import BOOL, I32, ForKind, ScalarType
from ..ir.kernel.visit import children, walk
from ..ir.types import TensorType


@dataclass(frozen=True, eq=False)
class StageRef:
    """One stage of the compute definition of node `cd` of a group; `key` is unique in it."""

    cd: int
    stage: Stage
    key: str

    @cached_property
    def has_reduce(self) -> bool:
        return any(isinstance(n, Reduce) for n in _dag(self.stage.body))


Source = Value | StageRef | Constant
"""What a load of a compute definition reads: a graph value from outside the group, a stage of
the group, or a compile-time table of a compute definition."""


@dataclass
class GroupCompute:
    """The compute definitions of a group's nodes (in order), what each of their loads reads,
    and the stages the group must store with the graph values they become."""

    name: str
    cds: list[ComputeDef] = field(default_factory=list)
    stages: list[StageRef] = field(default_factory=list)
    reads: list[dict[str, Source]] = field(default_factory=list)
    outputs: list[tuple[StageRef, Value]] = field(default_factory=list)
    scalars: dict[Value, Number] = field(default_factory=dict)   # one-element constants


@dataclass
class LoweredKernel:
    """A kernel and what its parameters bind to: `inputs` (read buffers, in parameter order)
    then one written buffer per stage of `outputs`."""

    kernel: Kernel
    inputs: list[Source]
    outputs: list[StageRef]


@dataclass(frozen=True)
class Schedule:
    """How loop nests are marked: outer loops PARALLEL, the innermost VECTORIZED."""

    parallel: bool = True
    vectorize: bool = True


class _Materialize(Exception):
    """A stage must be stored: inlining it would compute its elements more than once."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


class _Reorder(Exception):
    """A stage with a reduction is read along loops (spatial `axes` of the nest) its index does
    not use: with those loops innermost it would be computed once per element."""

    def __init__(self, key: str, axes: list[int]):
        super().__init__(key)
        self.key, self.axes = key, axes


def _dag(e: Expr) -> Iterator[Expr]:
    """Every node of an expression once, however often it is shared."""
    seen: set[int] = set()
    stack = [e]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        yield n
        stack.extend(c for c in children(n) if isinstance(c, Expr))


def _shared(e: Expr) -> set[int]:
    """Nodes of `e` with more than one parent (bound once by a let, not copied)."""
    parents: dict[int, int] = {}
    for n in _dag(e):
        for c in children(n):
            parents[id(c)] = parents.get(id(c), 0) + 1
    return {k for k, v in parents.items() if v > 1}


def _trivial(e: Expr) -> bool:
    return isinstance(e, (Const, Var))


def identifier(name: str) -> str:
    """A plain identifier for a kernel name or parameter (graph names hold `/`, `.`, `:`)."""
    out = re.sub(r"\W+", "_", name).strip("_")
    return out if out and not out[0].isdigit() else f"t{out}"


@dataclass
class _Frame:
    """A block being filled: the kernel body or the body of a loop on `var`."""

    var: Var | None = None
    extent: int = 1
    spatial: bool = False
    stmts: list[Stmt] = field(default_factory=list)
    memo: dict[object, Expr] = field(default_factory=dict)


@dataclass
class _Cx:
    """Where an expression of a compute definition is evaluated: which node's definition, the
    kernel expressions its index variables stand for, and lets of its shared sub-expressions."""

    cd: int
    env: dict[Var, Expr]
    shared: set[int]
    memo: dict[int, Expr] = field(default_factory=dict)


class NestBuilder:
    """Generates the loop nest of each stored stage of a group (see the module docstring)."""

    def __init__(self, group: GroupCompute, stored: set[str], names: dict[object, str],
                 schedule: Schedule, co: Mapping[str, str] | None = None):
        self.group, self.stored, self.names, self.schedule = group, stored, names, schedule
        self.co = co or {}   # stored stages computed and stored by the nest reading them
        self.co_written: list[StageRef] = []
        self.computing: set[str] = set()   # stages this nest computes (and co-stores)
        self.store_index: tuple[Expr, ...] = ()
        self.frames: list[_Frame] = [_Frame()]
        self.level: dict[Var, int] = {}
        self.counter = 0
        self.inputs: dict[object, Source] = {}
        self.read_stored: dict[str, set[tuple[Expr, ...]]] = {}
        self._shared_of: dict[int, set[int]] = {}

    # -- names and parameters ----------------------------------------------------------------
    def fresh(self, base: str) -> str:
        self.counter += 1
        return f"{base}{self.counter}"

    def buffer(self, src: Source, write: bool = False) -> Buffer:
        key = source_key(src)
        if key not in self.names:
            self.names[key] = _param_name(source_name(src), set(self.names.values()))
        if not write:
            self.inputs.setdefault(key, src)
        dtype, shape = source_type(src)
        dims = tuple(Const(d, I32 if d < 2**31 else INDEX) for d in shape)
        return Buffer(self.names[key], ScalarType(dtype), dims, read=not write, write=write)

    # -- blocks ------------------------------------------------------------------------------
    def emit(self, s: Stmt) -> None:
        self.frames[-1].stmts.append(s)

    def let(self, value: Expr, base: str = "v") -> Var:
        v = Var(self.fresh(base), value.type)
        self.emit(Let(v, value))
        self.level[v] = len(self.frames) - 1
        return v

    def push(self, var: Var, extent: int, spatial: bool) -> None:
        self.frames.append(_Frame(var, extent, spatial))
        self.level[var] = len(self.frames) - 1

    def pop(self) -> None:
        """Close the innermost loop. Spatial loops are PARALLEL, and the innermost one, when no
        loop is nested in it, VECTORIZED (a nest of one loop stays PARALLEL: cores first)."""
        f = self.frames.pop()
        assert f.var is not None
        kind = ForKind.SERIAL
        if f.spatial:
            innermost = not any(isinstance(n, For) for s in f.stmts for n in walk(s))
            outermost = not any(g.spatial for g in self.frames)
            if self.schedule.vectorize and innermost and not (outermost and
                                                              self.schedule.parallel):
                kind = ForKind.VECTORIZED
            elif self.schedule.parallel:
                kind = ForKind.PARALLEL
        self.emit(For(f.var, Const(0, INDEX), Const(f.extent, INDEX), Const(1, INDEX),
                      Block(tuple(f.stmts)), kind))

    @contextmanager
    def at_level(self, level: int) -> Iterator[None]:
        """Emit into the block at `level` (an enclosing one), the deeper ones set aside."""
        hidden = self.frames[level + 1:]
        del self.frames[level + 1:]
        try:
            yield
            assert len(self.frames) == level + 1, "unbalanced loops"
        finally:
            self.frames[level + 1:] = hidden

    def level_of(self, exprs: Sequence[Expr]) -> int:
        return max((self.level.get(n, 0) for e in exprs for n in _dag(e) if isinstance(n, Var)),
                   default=0)

    # -- nests -------------------------------------------------------------------------------
    def nest(self, ref: StageRef, order: Sequence[int] | None = None) -> list[Stmt]:
        """The loop nest storing stage `ref` into its output buffer, its loops over the axes
        in `order` (default: the stage's own), outermost first."""
        st = ref.stage
        out = self.buffer(ref, write=True)
        self.frames = [_Frame()]
        self.computing = {ref.key}
        if 0 in st.shape:
            return []
        env: dict[Var, Expr] = {a: Const(0, INDEX) for a, n in zip(st.axes, st.shape) if n == 1}
        for k in order if order is not None else range(len(st.axes)):
            if st.shape[k] != 1:
                v = Var(f"i{k}", INDEX)
                env[st.axes[k]] = v
                self.push(v, st.shape[k], spatial=True)
        self.store_index = tuple(env[a] for a in st.axes)
        value = self.gen(st.body, self.context(ref.cd, st.body, env))
        self.emit(Store(out, self.store_index, value))
        while len(self.frames) > 1:
            self.pop()
        return self.frames[0].stmts

    def context(self, cd: int, body: Expr, env: dict[Var, Expr]) -> _Cx:
        shared = self._shared_of.get(id(body))
        if shared is None:
            shared = self._shared_of[id(body)] = _shared(body)
        return _Cx(cd, env, shared)

    # -- expressions -------------------------------------------------------------------------
    def gen(self, e: Expr, cx: _Cx) -> Expr:
        if id(e) in cx.memo:
            return cx.memo[id(e)]
        out = self._gen(e, cx)
        if id(e) in cx.shared and not _trivial(out):
            out = self.let(out)
            cx.memo[id(e)] = out
        return out

    def _gen(self, e: Expr, cx: _Cx) -> Expr:
        return simplify(self._rebuild(e, cx))

    def _rebuild(self, e: Expr, cx: _Cx) -> Expr:  # noqa: C901 - one case a node kind
        if isinstance(e, Const):
            return e
        if isinstance(e, Var):
            if e not in cx.env:
                raise NoCompute(f"free index variable %{e.name}")
            return cx.env[e]
        if isinstance(e, Load):
            return self.load(e, cx)
        if isinstance(e, Reduce):
            return self.reduce(e, cx)
        if isinstance(e, Binary):
            return Binary(e.op, self.gen(e.a, cx), self.gen(e.b, cx))
        if isinstance(e, Unary):
            return Unary(e.op, self.gen(e.x, cx))
        if isinstance(e, Math):
            return Math(e.fn, tuple(self.gen(a, cx) for a in e.args))
        if isinstance(e, Cast):
            return Cast(self.gen(e.x, cx), e.type)
        if isinstance(e, Bitcast):
            return Bitcast(self.gen(e.x, cx), e.type)
        if isinstance(e, Select):
            return Select(self.gen(e.cond, cx), self.gen(e.a, cx), self.gen(e.b, cx))
        raise NoCompute(f"lowering does not take {type(e).__name__} expressions")

    def load(self, e: Load, cx: _Cx) -> Expr:
        src = self.group.reads[cx.cd].get(e.buffer.name)
        if src is None:
            raise NoCompute(f"load of %{e.buffer.name}, which the compute definition does not "
                            "declare")
        if isinstance(src, Value) and src in self.group.scalars:
            return Const(self.group.scalars[src], e.type)
        index = tuple(self.gen(i, cx) for i in e.index)
        if isinstance(src, StageRef):
            if src.key not in self.stored or self.co.get(src.key) in self.computing:
                return self.inline(src, index)
            self.read_stored.setdefault(src.key, set()).add(index)
        return Load(self.buffer(src), index)

    def inline(self, src: StageRef, index: tuple[Expr, ...]) -> Expr:
        key = (src.key, index)
        for f in reversed(self.frames):
            if key in f.memo:
                return f.memo[key]
        level = self.level_of(index)
        here = self.co.get(src.key) in self.computing
        if here:
            self.computing.add(src.key)
        elif src.has_reduce:
            direct = {i for i in index if isinstance(i, Var)}
            missing = [f for f in self.frames[1:level + 1] if f.var not in direct]
            if any(not f.spatial for f in missing):
                raise _Materialize(src.key)
            if missing:   # these loops could go inside the statistic's: try that order
                raise _Reorder(src.key, [int(f.var.name[1:]) for f in missing if f.var is not None])
        st = src.stage
        with self.at_level(level):
            value = self.gen(st.body, self.context(src.cd, st.body, dict(zip(st.axes, index))))
            if not _trivial(value) and not isinstance(value, Load):
                value = self.let(value)
            self.frames[-1].memo[key] = value
            if here:
                self.emit(Store(self.buffer(src, write=True), index, value))
                self.co_written.append(src)
        return value

    def reduce(self, e: Reduce, cx: _Cx) -> Expr:
        used = [cx.env[n] for n in _dag(e.body) if isinstance(n, Var) and n in cx.env]
        with self.at_level(self.level_of(used)):
            start = identity(e.op, e.type)
            if 0 in e.extents:
                result: Expr = start
            else:
                acc = Var(self.fresh("acc"), e.type)
                self.level[acc] = len(self.frames) - 1
                env = dict(cx.env)
                pushed = 0
                for axis, n in zip(e.axes, e.extents):
                    if n == 1:
                        env[axis] = Const(0, INDEX)
                    else:
                        r = Var(self.fresh("r"), INDEX)
                        env[axis] = r
                        self.push(r, n, spatial=False)
                        pushed += 1
                x = self.gen(e.body, self.context(cx.cd, e.body, env))
                if not _trivial(x) and e.op in ("max", "min") and e.type.is_float:
                    x = self.let(x)   # the NaN-aware step reads it three times
                self.emit(Assign(acc, combine(e.op, acc, x)))
                for _ in range(pushed):
                    self.pop()
                # declared just before its loop (lets the body hoisted here come first)
                self.frames[-1].stmts.insert(len(self.frames[-1].stmts) - 1, Let(acc, start))
                result = acc
        if e.init is not None:
            result = self.let(combine(e.op, self.gen(e.init, cx), result))
        return result


def simplify(e: Expr) -> Expr:
    """Fold what compute definitions leave for constants: `isnan(0.0)`, `false | c`, a select
    on a constant (numpy's NaN-aware max with a constant bound reads this way)."""
    if isinstance(e, Math) and e.fn in _CLASSIFY and isinstance(e.args[0], Const) \
            and e.args[0].type.is_float:
        return Const(bool(_CLASSIFY[e.fn](e.args[0].value)), BOOL)
    if isinstance(e, Binary) and e.op in ("or", "lor", "and", "land") and e.type == BOOL:
        for c, x in ((e.a, e.b), (e.b, e.a)):
            if isinstance(c, Const):
                absorbing = e.op in ("or", "lor")
                return c if bool(c.value) == absorbing else x
    if isinstance(e, Unary) and e.op == "not" and isinstance(e.x, Const):
        return Const(not bool(e.x.value), BOOL)
    if isinstance(e, Select) and isinstance(e.cond, Const) and e.cond.type == BOOL:
        return e.a if bool(e.cond.value) else e.b
    return e


_CLASSIFY = {"isnan": math.isnan, "isinf": math.isinf, "isfinite": math.isfinite}


# -- sources ---------------------------------------------------------------------------------

def source_key(src: Source) -> object:
    if isinstance(src, StageRef):
        return ("stage", src.key)
    return ("value" if isinstance(src, Value) else "table", id(src))


def source_name(src: Source) -> str:
    if isinstance(src, Value):
        return src.name
    if isinstance(src, StageRef):
        return f"{src.stage.name}_{src.cd}"
    return src.name


def source_type(src: Source) -> tuple[DType, tuple[int, ...]]:
    if isinstance(src, Value):
        t = src.type
        assert isinstance(t, TensorType)
        return t.dtype, t.static_shape
    if isinstance(src, StageRef):
        return src.stage.dtype, src.stage.shape
    return src.dtype, src.shape


# -- a whole group ---------------------------------------------------------------------------

@dataclass
class _Nest:
    stage: StageRef
    stmts: list[Stmt]
    inputs: dict[object, Source]
    reads: dict[str, set[tuple[Expr, ...]]]   # stored stages read, at which indices
    index: tuple[Expr, ...]
    writes: list[StageRef]                    # its stage and those stored along with it


def lower_group(group: GroupCompute, schedule: Schedule | None = None) -> list[LoweredKernel]:
    """The kernels computing `group`'s outputs (usually one; more where a stage is stored for a
    later kernel to read)."""
    schedule = schedule or Schedule()
    stored = {ref.key for ref, _ in group.outputs}
    for _ in range(len(group.stages) + 1):
        try:
            return _kernels(group, [r for r in group.stages if r.key in stored], schedule)
        except _Materialize as m:
            if m.key in stored:
                raise DlcError(f"lowering {group.name}: stage {m.key} cannot be stored") from None
            stored.add(m.key)
    raise DlcError(f"lowering {group.name}: no schedule found")


def _nests(group: GroupCompute, stored: list[StageRef], co: dict[str, str],
           names: dict[object, str], schedule: Schedule) -> list[_Nest]:
    keys = {r.key for r in stored}
    out = []
    counter = 0
    for ref in stored:
        if ref.key in co:
            continue
        order = list(range(len(ref.stage.axes)))
        tried = {tuple(order)}
        while True:
            b = NestBuilder(group, keys, names, schedule, co)
            b.counter = counter
            try:
                stmts = b.nest(ref, order)
                break
            except _Reorder as r:   # the loops the statistic does not use go innermost
                order = [k for k in order if k not in r.axes] + [k for k in order
                                                                  if k in r.axes]
                if tuple(order) in tried:
                    raise _Materialize(r.key) from None
                tried.add(tuple(order))
        counter = b.counter
        out.append(_Nest(ref, stmts, b.inputs, b.read_stored, b.store_index,
                         [ref] + b.co_written))
    return out


def _co_stored(nests: list[_Nest]) -> dict[str, str]:
    """Stored stages that a nest of the same shape reads only at its own index: that nest
    computes them where it needs them and stores them too, for later nests to read (a matmul
    whose result a residual branch also reads is one loop nest with its epilogue; a softmax's
    row maximum is stored by the loop nest that sums the row)."""
    co: dict[str, str] = {}
    for s in nests:
        key, shape = s.stage.key, s.stage.stage.shape
        first = next((n for n in nests if key in n.reads), None)
        if first is not None and first.stage.stage.shape == shape \
                and first.reads[key] == {first.index}:
            co[key] = first.stage.key
    return co


def _levels(nests: list[_Nest]) -> dict[int, int] | None:
    """Each nest's kernel: one after those of the stages it reads (None: they read each other
    in a cycle)."""
    written = {r.key: n for n in nests for r in n.writes}
    level: dict[int, int] = {}

    def visit(n: _Nest, path: set[int]) -> int | None:
        if id(n) in level:
            return level[id(n)]
        if id(n) in path:
            return None
        path.add(id(n))
        lv = 0
        for k in n.reads:
            sub = visit(written[k], path)
            if sub is None:
                return None
            lv = max(lv, sub + 1)
        path.discard(id(n))
        level[id(n)] = lv
        return lv

    return level if all(visit(n, set()) is not None for n in nests) else None


def _kernels(group: GroupCompute, stored: list[StageRef],
             schedule: Schedule) -> list[LoweredKernel]:
    names: dict[object, str] = {}
    for ref, value in group.outputs:   # outputs take their value's name
        names[source_key(ref)] = _param_name(value.name, set(names.values()))
    nests = _nests(group, stored, {}, names, schedule)
    level = _levels(nests)
    co = _co_stored(nests)
    if co:
        merged = _nests(group, stored, co, names, schedule)
        merged_level = _levels(merged)
        if merged_level is not None:
            nests, level = merged, merged_level
    assert level is not None, "nests in stage order cannot read each other in a cycle"
    kernels = []
    top = max(level.values(), default=0)
    order = {r.key: k for k, r in enumerate(group.stages)}
    for lv in range(top + 1):
        mine = [n for n in nests if level[id(n)] == lv]
        inputs: dict[object, Source] = {}
        body: list[Stmt] = []
        for n in mine:
            inputs.update(n.inputs)
            body.extend(n.stmts)
        outs = sorted((r for n in mine for r in n.writes), key=lambda r: order[r.key])
        b = NestBuilder(group, set(), names, schedule)
        params = [b.buffer(s) for s in inputs.values()] + [b.buffer(r, write=True) for r in outs]
        name = identifier(group.name) + (f"_{lv}" if top else "")
        kernels.append(LoweredKernel(Kernel(name, tuple(params), Block(tuple(body))),
                                     list(inputs.values()), outs))
    return kernels


_INTERNAL = re.compile(r"(i|r|v|acc)\d+")


def _param_name(name: str, taken: set[str]) -> str:
    """A parameter name: the value's, made an identifier, kept apart from the names of loop
    variables and lets (i0, r2, v5, acc1) and from the other parameters."""
    base = identifier(name)
    if _INTERNAL.fullmatch(base):
        base += "_"
    out, k = base, 0
    while out in taken:
        k += 1
        out = f"{base}_{k}"
    return out


def check_outputs(group: GroupCompute, types: Mapping[Value, TensorType]) -> None:
    """Each stored output stage has exactly the type of the value it becomes."""
    for ref, v in group.outputs:
        t = types[v]
        if (ref.stage.dtype, ref.stage.shape) != (t.dtype, t.static_shape):
            raise NoCompute(f"the compute definition gives {ref.stage.dtype}"
                            f"{list(ref.stage.shape)} for %{v.name}: {t}")

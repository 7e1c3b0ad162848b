"""cpu rules for indexed, scanned and selected data: CumSum/CumProd, TopK, the Scatter family,
MaxUnpool, Col2Im, Det, OneHot, Compress and BitCast of bool. Shape operands the rule cannot see
are read from their buffers at run time; sizes come from the node's static output types."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from ....ir import DType, Node, TensorType, Type
from ....ir.compute import combine, identity
from ....ir.kernel import I64, Buffer, Expr, Kernel, KernelBuilder, Math, Select, Var, const
from ....ir.kernel.types import F64, ScalarType, as_type
from ....ir.ops.text_features import ngram_table
from ....passes.lower import LoweringRule, static_problem
from . import RULES

Index = Sequence[Expr | int]


# -- helpers ----------------------------------------------------------------------------------

def register(*ops: str) -> Callable[[LoweringRule], LoweringRule]:
    """Register a rule for `ops`; it sees only nodes whose types are all static tensors (others
    are declined, so lowering names them in an UnsupportedOp)."""
    def add(fn: LoweringRule) -> LoweringRule:
        def checked(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
            return None if static_problem(node) is not None else fn(node, attrs, types)
        for op in ops:
            RULES.register(op)(checked)
        return fn
    return add


def tensor(t: Type | None) -> TensorType:
    assert isinstance(t, TensorType) and t.is_static, t
    return t


def shape_of(t: Type | None) -> tuple[int, ...]:
    return tuple(tensor(t).static_shape)


def as_(e: Expr, t: ScalarType | DType) -> Expr:
    """`e` cast to `t` (no cast where it already is one)."""
    t = as_type(t)
    return e if e.type == t else e.cast(t)


def accumulator(dtype: DType) -> ScalarType:
    """What a scan accumulates in: 16-bit floats lose too much when summed as such."""
    return as_type(DType.F32 if dtype in (DType.F16, DType.BF16) else dtype)


def first(buf: Buffer, rank: int) -> Expr:
    """The one element of a rank-0 or 1-element operand buffer, as an i64."""
    return as_(buf[(0,) * rank], I64)


def wrap(i: Expr, n: int) -> Expr:
    """A run-time index into an axis of size n: negative ones count from the end, and it is
    clamped into range so a bad index touches a wrong element, never memory outside the buffer
    (the reference raises)."""
    i = as_(i, I64)
    return Select(i < 0, i + n, i).max(0).min(max(n - 1, 0))


@contextmanager
def nest(kb: KernelBuilder, shape: Sequence[int], name: str,
         kind: str = "parallel") -> Iterator[tuple[Var, ...]]:
    """Loops over every index of `shape` (outermost first), their variables i64."""
    with ExitStack() as stack:
        yield tuple(stack.enter_context(kb.for_(f"{name}{d}", 0, n, kind=kind, type=I64))
                    for d, n in enumerate(shape))


def operand(kb: KernelBuilder, name: str, t: Type | None) -> Buffer:
    tt = tensor(t)
    return kb.buffer(name, tt.dtype, shape_of(tt), access="r")


def result(kb: KernelBuilder, name: str, t: Type) -> Buffer:
    tt = tensor(t)
    return kb.buffer(name, tt.dtype, shape_of(tt), access="w")


def copy(kb: KernelBuilder, src: Buffer, dst: Buffer, shape: Sequence[int]) -> None:
    with nest(kb, shape, "c") as i:
        dst[i] = src[i]


# -- CumSum / CumProd ---------------------------------------------------------------------------

def _scan(op: str) -> Any:
    def rule(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
        x_t, axis_t = tensor(types[0]), tensor(types[1])
        shape, rank = shape_of(x_t), x_t.rank
        if rank == 0:
            return None
        acc_t = accumulator(x_t.dtype)
        kb = KernelBuilder(op.lower())
        x = operand(kb, "x", x_t)
        axis = operand(kb, "axis", axis_t)
        y = result(kb, "y", node.outputs[0].type)
        a = kb.let("a", first(axis, axis_t.rank))
        a = kb.let("ax", Select(a < 0, a + rank, a))
        # the axis is a value the rule cannot see: one loop nest per axis it may name
        for d in range(rank):
            n = shape[d]
            with kb.if_(a.eq(d)), nest(kb, shape[:d] + shape[d + 1:], f"i{d}_") as outer:
                acc = kb.let(f"acc{d}", identity("sum" if op == "CumSum" else "prod", acc_t))
                with kb.for_(f"j{d}", 0, n, type=I64) as j:
                    at = tuple(outer[:d]) + ((n - 1 - j) if attrs.reverse else j,) \
                        + tuple(outer[d:])
                    step = combine("sum" if op == "CumSum" else "prod", acc, as_(x[at], acc_t))
                    if attrs.exclusive:
                        y[at] = as_(acc, x_t.dtype)
                        kb.assign(acc, step)
                    else:
                        kb.assign(acc, step)
                        y[at] = as_(acc, x_t.dtype)
        return kb.finish()
    return rule


register("CumSum")(_scan("CumSum"))
register("CumProd")(_scan("CumProd"))


# -- TopK ---------------------------------------------------------------------------------------

def beats(a: Expr, b: Expr, largest: bool) -> Expr:
    """Whether `a` sorts before `b`; NaN is above every number (numpy's sort order)."""
    if not a.type.is_float:
        return (a > b) if largest else (a < b)
    a_nan, b_nan = Math("isnan", (a,)), Math("isnan", (b,))
    if largest:
        return (a_nan & ~b_nan) | (a > b)
    return (b_nan & ~a_nan) | (a < b)


def same(a: Expr, b: Expr) -> Expr:
    if not a.type.is_float:
        return a.eq(b)
    return a.eq(b) | (Math("isnan", (a,)) & Math("isnan", (b,)))


@register("TopK")
def lower_topk(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """Each element's place is how many elements of its row sort before it (ties: the lower
    index first), so every element is stored by its own iteration; places below k are kept.
    k is the output's size along the axis (its value is a shape operand the rule cannot see)."""
    x_t = tensor(types[0])
    shape = shape_of(x_t)
    if x_t.rank == 0:
        return None
    axis = attrs.axis % x_t.rank
    n, k = shape[axis], shape_of(node.outputs[0].type)[axis]
    kb = KernelBuilder("topk")
    x = operand(kb, "x", x_t)
    operand(kb, "k", types[1])
    values = result(kb, "values", node.outputs[0].type)
    indices = result(kb, "indices", node.outputs[1].type)
    with nest(kb, shape[:axis] + shape[axis + 1:] + (n,), "i") as iv:
        outer, i = iv[:-1], iv[-1]

        def at(j: Expr) -> tuple[Expr, ...]:
            return (*outer[:axis], j, *outer[axis:])
        v = kb.let("v", x[at(i)])
        place = kb.let("place", 0, I64)
        with kb.for_("m", 0, n, type=I64) as m:
            w = x[at(m)]
            ahead = beats(w, v, bool(attrs.largest)) | (same(w, v) & (m < i))
            kb.assign(place, place + Select(ahead, const(1, I64), const(0, I64)))
        with kb.if_(place < k):
            values[at(place)] = v
            indices[at(place)] = i
    return kb.finish()


# -- ScatterElements / Scatter / ScatterND --------------------------------------------------------

REDUCE = {"add": "sum", "mul": "prod", "max": "max", "min": "min"}


def _scatter_elements(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """Without a reduction: the data copied, then each update stored where its index says, the
    updates of one line along the axis in order (a repeated index: the last wins). With one:
    each output element combines its data with the updates aimed at it, in order (the output
    cannot be read back, so the scatter is turned around into a gather)."""
    data_t, idx_t = tensor(types[0]), tensor(types[1])
    reduction = getattr(attrs, "reduction", "none")
    if reduction not in ("none", *REDUCE):
        return None
    shape, ishape = shape_of(data_t), shape_of(idx_t)
    axis = attrs.axis % data_t.rank
    n = shape[axis]
    kb = KernelBuilder("scatter_elements")
    data, indices = operand(kb, "data", data_t), operand(kb, "indices", idx_t)
    updates = operand(kb, "updates", types[2])
    out = result(kb, "y", node.outputs[0].type)
    if reduction == "none":
        copy(kb, data, out, shape)
        lines = ishape[:axis] + ishape[axis + 1:]
        with nest(kb, lines, "i") as outer, kb.for_("j", 0, ishape[axis], type=I64) as j:
            at = (*outer[:axis], j, *outer[axis:])
            out[(*outer[:axis], wrap(indices[at], n), *outer[axis:])] = updates[at]
        return kb.finish()
    with nest(kb, shape, "p") as p:
        acc = kb.let("acc", data[p])
        # elements past the indices' extent along another axis receive no update
        inside = [p[d] < ishape[d] for d in range(len(shape)) if d != axis and ishape[d] < shape[d]]
        with ExitStack() as stack:
            if inside:
                cond = inside[0]
                for c in inside[1:]:
                    cond = cond & c
                stack.enter_context(kb.if_(cond))
            with kb.for_("j", 0, ishape[axis], type=I64) as j:
                at = (*p[:axis], j, *p[axis + 1:])
                with kb.if_(wrap(indices[at], n).eq(p[axis])):
                    kb.assign(acc, combine(REDUCE[reduction], acc, updates[at]))
        out[p] = acc
    return kb.finish()


register("ScatterElements", "Scatter")(_scatter_elements)


@register("ScatterND")
def lower_scatter_nd(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """As ScatterElements: stores in order without a reduction (parallel over the slice each
    index tuple addresses, in order over the tuples), a gather with one."""
    data_t, idx_t = tensor(types[0]), tensor(types[1])
    if attrs.reduction not in ("none", *REDUCE):
        return None
    shape, ishape = shape_of(data_t), shape_of(idx_t)
    k = ishape[-1]
    tuples, rest = ishape[:-1], shape[k:]
    kb = KernelBuilder("scatter_nd")
    data, indices = operand(kb, "data", data_t), operand(kb, "indices", idx_t)
    updates = operand(kb, "updates", types[2])
    out = result(kb, "y", node.outputs[0].type)
    if attrs.reduction == "none":
        copy(kb, data, out, shape)
        with nest(kb, rest, "r") as r, nest(kb, tuples, "t", "serial") as t:
            target = tuple(wrap(indices[(*t, j)], shape[j]) for j in range(k))
            out[(*target, *r)] = updates[(*t, *r)]
        return kb.finish()
    with nest(kb, shape, "p") as p:
        acc = kb.let("acc", data[p])
        with nest(kb, tuples, "t", "serial") as t:
            hit: Expr = const(True)
            for j in range(k):
                hit = hit & wrap(indices[(*t, j)], shape[j]).eq(p[j])
            with kb.if_(hit):
                kb.assign(acc, combine(REDUCE[attrs.reduction], acc, updates[(*t, *p[k:])]))
        out[p] = acc
    return kb.finish()


# -- TfIdfVectorizer ----------------------------------------------------------------------------

@register("TfIdfVectorizer")
def lower_tfidf(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """The pool is known when lowering: each output column counts its own n-grams, tested
    against the row at every start and skip, in straight-line code (numbers only: strings have
    no kernel form)."""
    x_t = tensor(types[0])
    if x_t.dtype not in (DType.I32, DType.I64) or x_t.rank not in (1, 2):
        return None
    table = ngram_table(attrs)
    width = max(attrs.ngram_indexes) + 1
    weights = list(attrs.weights) if attrs.weights else [1.0] * width
    rows, n = (1, shape_of(x_t)[0]) if x_t.rank == 1 else shape_of(x_t)
    kb = KernelBuilder("tfidf")
    x = kb.buffer("x", x_t.dtype, (rows, n), access="r")
    y = kb.buffer("y", DType.F32, (rows, width) if x_t.rank == 2 else (width,), access="w")
    grams: dict[int, list[tuple[object, ...]]] = {}
    for gram, column in table.items():
        grams.setdefault(column, []).append(gram)
    loops = itertools.count()
    with kb.for_("r", 0, rows, kind="parallel", type=I64) as r:
        for column in range(width):
            count = kb.let(f"count{column}", 0, I64)
            for gram in grams.get(column, []):
                size = len(gram)
                # a unigram is the same whatever the skip: counted once
                for skip in range(attrs.max_skip_count + 1 if size > 1 else 1):
                    stride = skip + 1
                    starts = n - stride * (size - 1)
                    if starts <= 0:
                        break
                    with kb.for_(f"s{next(loops)}", 0, starts, type=I64) as s:
                        hit: Expr = const(True)
                        for k, token in enumerate(gram):
                            assert isinstance(token, int)
                            hit = hit & as_(x[r, s + k * stride], I64).eq(token)
                        kb.assign(count, count + Select(hit, const(1, I64), const(0, I64)))
            c = as_(count, DType.F64)
            w = const(float(weights[column]), F64)
            if attrs.mode == "IDF":
                value: Expr = Select(count > 0, w, const(0.0, F64))
            elif attrs.mode == "TFIDF":
                value = c * w
            else:
                value = c
            y[(r, column) if x_t.rank == 2 else (column,)] = as_(value, DType.F32)
    return kb.finish()

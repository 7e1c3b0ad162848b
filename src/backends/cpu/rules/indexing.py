"""cpu rules for indexed, scanned and selected data: CumSum/CumProd, TopK, the Scatter family,
MaxUnpool, Col2Im, Det, OneHot, Compress, TfIdfVectorizer and BitCast of bool (the ai.onnx.ml ops
are in indexing_ml.py). Shape operands a rule cannot see are read from their buffers at run
time; sizes come from the node's static output types."""
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
        def checked(node: Node, attrs: Any, types: list[Type | None]) -> Any:
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


def all_of(conds: Sequence[Expr]) -> Expr:
    out: Expr = const(True)
    for c in conds:
        out = out & c
    return out


def all_product(es: Sequence[Expr]) -> Expr:
    out: Expr = const(1, I64)
    for e in es:
        out = out * e
    return out


def flatten(index: Sequence[Expr], sizes: Sequence[Expr | int]) -> Expr:
    """The row-major position of `index` in an array of `sizes`."""
    out: Expr = const(0, I64)
    for i, n in zip(index, sizes):
        out = out * n + i
    return out


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
        with kb.if_(all_of(inside)), kb.for_("j", 0, ishape[axis], type=I64) as j:
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
            with kb.if_(all_of([wrap(indices[(*t, j)], shape[j]).eq(p[j]) for j in range(k)])):
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


# -- Col2Im, MaxUnpool ----------------------------------------------------------------------------

@register("Col2Im")
def lower_col2im(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """Each image pixel sums the column entries that land on it (a gather, so pixels are
    independent). The block shape is read at run time; the image shape is the output's."""
    x_t, out_t = tensor(types[0]), tensor(node.outputs[0].type)
    out_shape = shape_of(out_t)
    image = out_shape[2:]
    rank = len(image)
    strides = attrs.strides or (1,) * rank
    dilations = attrs.dilations or (1,) * rank
    pads = attrs.pads or (0,) * (2 * rank)
    _, rows, length = shape_of(x_t)
    kb = KernelBuilder("col2im")
    x = operand(kb, "x", x_t)
    operand(kb, "image_shape", types[1])
    block = kb.buffer("block_shape", tensor(types[2]).dtype, (rank,), access="r")
    y = result(kb, "y", out_t)
    acc_t = accumulator(x_t.dtype)
    ks = [kb.let(f"k{d}", as_(block[d], I64)) for d in range(rank)]
    taps = kb.let("taps", all_product(ks))
    blocks = [kb.let(f"b{d}", (image[d] + pads[d] + pads[d + rank]
                               - (dilations[d] * (ks[d] - 1) + 1)) // strides[d] + 1)
              for d in range(rank)]
    with nest(kb, out_shape, "p") as p:
        n, c, pos = p[0], p[1], p[2:]
        acc = kb.let("acc", identity("sum", acc_t))
        with ExitStack() as stack:
            t = [stack.enter_context(kb.for_(f"t{d}", 0, ks[d], type=I64)) for d in range(rank)]
            q = [pos[d] + pads[d] - t[d] * dilations[d] for d in range(rank)]
            b = [q[d] // strides[d] for d in range(rank)]
            row = c * taps + flatten(t, ks)
            col = flatten(b, blocks)
            ok = all_of([*(q[d] >= 0 for d in range(rank)),
                         *((q[d] % strides[d]).eq(0) for d in range(rank)),
                         *(b[d] < blocks[d] for d in range(rank)), row < rows, col < length])
            with kb.if_(ok):
                kb.assign(acc, acc + as_(x[n, row, col], acc_t))
        y[p] = as_(acc, x_t.dtype)
    return kb.finish()


@register("MaxUnpool")
def lower_max_unpool(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """Zeros, then each value stored at the position its index names in the tensor MaxPool saw
    (in order: a repeated index keeps the last value)."""
    x_t, out_t = tensor(types[0]), tensor(node.outputs[0].type)
    shape, out_shape = shape_of(x_t), shape_of(out_t)
    rank = x_t.rank - 2
    if len(attrs.kernel_shape) != rank:
        return None
    strides = attrs.strides or (1,) * rank
    pads = attrs.pads or (0,) * (2 * rank)
    pooled = shape[:2] + tuple((d - 1) * strides[k] + attrs.kernel_shape[k] - pads[k]
                               - pads[k + rank] for k, d in enumerate(shape[2:]))
    kb = KernelBuilder("max_unpool")
    x, indices = operand(kb, "x", x_t), operand(kb, "indices", types[1])
    if len(types) > 2 and types[2] is not None:
        operand(kb, "output_shape", types[2])
    y = result(kb, "y", out_t)
    with nest(kb, out_shape, "z") as z:
        y[z] = const(0.0, as_type(x_t.dtype))
    total = 1
    for d in pooled:
        total *= d
    with nest(kb, shape, "q", "serial") as q:
        f = kb.let("f", as_(indices[q], I64).max(0).min(max(total - 1, 0)))
        at = []
        for d in range(x_t.rank):
            inner = 1
            for s in pooled[d + 1:]:
                inner *= s
            at.append(((f // inner) % pooled[d]).min(out_shape[d] - 1))
        y[tuple(at)] = x[q]
    return kb.finish()


# -- Compress, OneHot ---------------------------------------------------------------------------

@register("Compress")
def lower_compress(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """The kept slices copied in order; how many are kept is the output's size (the condition
    is a value read at run time, so the count is also capped by it)."""
    x_t, cond_t, out_t = tensor(types[0]), tensor(types[1]), tensor(node.outputs[0].type)
    shape = shape_of(x_t)
    if attrs.axis is None:
        numel = 1
        for d in shape:
            numel *= d
        shape, axis = (numel,), 0
    else:
        axis = attrs.axis % x_t.rank
    kept = shape_of(out_t)[axis]
    kb = KernelBuilder("compress")
    x = kb.buffer("x", x_t.dtype, shape, access="r")
    cond = operand(kb, "condition", cond_t)
    y = kb.buffer("y", out_t.dtype, shape[:axis] + (kept,) + shape[axis + 1:], access="w") \
        if attrs.axis is not None else result(kb, "y", out_t)
    with nest(kb, shape[:axis], "o") as o:
        pos = kb.let("pos", 0, I64)
        with kb.for_("i", 0, min(shape_of(cond_t)[0], shape[axis]), type=I64) as i, \
                kb.if_(cond[i] & (pos < kept)):
            with nest(kb, shape[axis + 1:], "r") as r:
                y[(*o, pos, *r)] = x[(*o, i, *r)]
            kb.assign(pos, pos + 1)
    return kb.finish()


@register("OneHot")
def lower_one_hot(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """For a depth known only at run time (a constant one has a compute definition): the depth
    is the output's size along the axis."""
    idx_t, out_t = tensor(types[0]), tensor(node.outputs[0].type)
    out_shape = shape_of(out_t)
    axis = attrs.axis % out_t.rank
    n = out_shape[axis]
    kb = KernelBuilder("one_hot")
    indices = operand(kb, "indices", idx_t)
    operand(kb, "depth", types[1])
    values = operand(kb, "values", types[2])
    y = result(kb, "y", out_t)
    with nest(kb, out_shape, "p") as p:
        i = as_(indices[p[:axis] + p[axis + 1:]], I64)   # floats truncate
        hot = Select(i < 0, i + n, i).eq(p[axis])        # out of range: all "off"
        y[p] = Select(hot, values[1], values[0])
    return kb.finish()


# -- Det ----------------------------------------------------------------------------------------

MAX_DET_SIZE = 128  # the working copy of one matrix lives on the stack


@register("Det")
def lower_det(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """LU factorization with partial pivoting, one matrix per iteration, in f64 (the
    reference's precision); the determinant is the pivots' product, signed by the swaps."""
    x_t, out_t = tensor(types[0]), tensor(node.outputs[0].type)
    shape = shape_of(x_t)
    n = shape[-1]
    if n > MAX_DET_SIZE:
        return None
    kb = KernelBuilder("det")
    x = operand(kb, "x", x_t)
    y = result(kb, "y", out_t)
    with nest(kb, shape[:-2], "b") as b:
        a = kb.alloc("a", F64, (n, n), scope="private")
        with kb.for_("i", 0, n, type=I64) as i, kb.for_("j", 0, n, type=I64) as j:
            a[i, j] = as_(x[(*b, i, j)], F64)
        det = kb.let("det", 1.0, F64)
        with kb.for_("c", 0, n, type=I64) as c:
            piv = kb.let("piv", c)
            best = kb.let("best", abs(a[c, c]))
            with kb.for_("r", c + 1, n, type=I64) as r, kb.if_(abs(a[r, c]) > best):
                kb.assign(piv, r)
                kb.assign(best, abs(a[r, c]))
            with kb.if_(best.eq(0.0)):
                kb.assign(det, 0.0)
            with kb.else_():
                with kb.if_(piv.ne(c)):
                    kb.assign(det, -det)
                    with kb.for_("s", 0, n, type=I64) as s:
                        t = kb.let("t", a[c, s])
                        a[c, s] = a[piv, s]
                        a[piv, s] = t
                kb.assign(det, det * a[c, c])
                with kb.for_("r2", c + 1, n, type=I64) as r2:
                    f = kb.let("f", a[r2, c] / a[c, c])
                    with kb.for_("s2", c + 1, n, type=I64) as s2:
                        a[r2, s2] = a[r2, s2] - f * a[c, s2]
        y[b] = as_(det, x_t.dtype)
    return kb.finish()


# -- BitCast of bool ----------------------------------------------------------------------------

@register("BitCast")
def lower_bitcast_bool(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """bool <-> an 8-bit integer (other bitcasts have a compute definition): a bool is one byte
    holding 0 or 1, and any nonzero byte reads as true."""
    x_t, to = tensor(types[0]), attrs.to
    kinds = {x_t.dtype, to}
    if DType.BOOL not in kinds or not kinds <= {DType.BOOL, DType.I8, DType.U8}:
        return None
    kb = KernelBuilder("bitcast_bool")
    x, y = operand(kb, "x", x_t), result(kb, "y", node.outputs[0].type)
    with nest(kb, shape_of(x_t), "i") as i:
        if x_t.dtype is to:
            y[i] = x[i]
        elif to is DType.BOOL:
            y[i] = x[i].ne(0)
        else:
            y[i] = Select(x[i], const(1, as_type(to)), const(0, as_type(to)))
    return kb.finish()

"""cpu rules for indexed, scanned and selected data: CumSum/CumProd, TopK, the Scatter family,
MaxUnpool, Col2Im, Det, OneHot, Compress and BitCast of bool. Shape operands the rule cannot see
are read from their buffers at run time; sizes come from the node's static output types."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from ....ir import DType, Node, TensorType, Type
from ....ir.compute import combine, identity
from ....ir.kernel import I64, Buffer, Expr, Kernel, KernelBuilder, Select, Var
from ....ir.kernel.types import ScalarType, as_type
from . import RULES

Index = Sequence[Expr | int]


# -- helpers ----------------------------------------------------------------------------------

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
         kind: str = "parallel") -> Iterator[list[Var]]:
    """Loops over every index of `shape` (outermost first), their variables i64."""
    with ExitStack() as stack:
        yield [stack.enter_context(kb.for_(f"{name}{d}", 0, n, kind=kind, type=I64))
               for d, n in enumerate(shape)]


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


RULES.register("CumSum")(_scan("CumSum"))
RULES.register("CumProd")(_scan("CumProd"))

"""cpu rules for sampling-grid ops without a compute definition: AffineGrid (each output point
is theta times the point's normalized homogeneous coordinates). One kernel, parallel over the
batch, computing in float64 as the reference does."""
from __future__ import annotations

from contextlib import ExitStack

from ....ir import Node, TensorType, Type
from ....ir.kernel import F64, I64, Expr, Kernel, KernelBuilder, Var, const
from ....ir.ops.nn_sample import AffineGridAttrs
from . import RULES


def _coord(i: Var, size: int, align_corners: bool) -> Expr:
    """Index i of an axis of `size` points in [-1, 1], as the reference spaces them."""
    f = i.cast(F64)
    if align_corners:
        return const(-1.0, F64) + f * 2.0 / float(size - 1) if size > 1 else const(-1.0, F64)
    return const(-1.0, F64) + (f * 2.0 + 1.0) / float(size)


@RULES.register("AffineGrid")
def lower_affine_grid(node: Node, a: AffineGridAttrs, types: list[Type | None]) -> Kernel | None:
    theta_t, size_t, out_t = types[0], types[1], node.outputs[0].type
    if not all(isinstance(t, TensorType) and t.is_static for t in (theta_t, size_t, out_t)):
        return None
    assert isinstance(theta_t, TensorType) and isinstance(size_t, TensorType)
    assert isinstance(out_t, TensorType)
    batch, *sizes, rank = out_t.static_shape
    if theta_t.static_shape != (batch, rank, rank + 1) or len(sizes) != rank:
        return None
    kb = KernelBuilder("affine_grid")
    theta = kb.buffer("theta", theta_t.dtype, theta_t.static_shape, access="r")
    # the output's static shape already holds the sizes: the operand is bound but not read
    kb.buffer("size", size_t.dtype, size_t.static_shape, access="r")
    grid = kb.buffer("grid", out_t.dtype, out_t.static_shape, access="w")
    with kb.for_("n", 0, batch, kind="parallel", type=I64) as n:
        stack = ExitStack()
        pos = [stack.enter_context(kb.for_(f"p{d}", 0, s, type=I64))
               for d, s in enumerate(sizes)]
        # the homogeneous point lists x (the last axis) first, then y [, z], then 1
        point = [kb.let(f"u{k}", _coord(pos[rank - 1 - k], sizes[rank - 1 - k],
                                          bool(a.align_corners))) for k in range(rank)]
        for d in range(rank):
            acc: Expr = theta[n, d, 0].cast(F64) * point[0]
            for k in range(1, rank):
                acc = acc + theta[n, d, k].cast(F64) * point[k]
            acc = acc + theta[n, d, rank].cast(F64)
            grid[(n, *pos, d)] = acc.cast(grid.elem)
        stack.close()
    return kb.finish()

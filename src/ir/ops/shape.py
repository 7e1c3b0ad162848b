"""Shape ops that move no data or only permute it: Reshape, Flatten, Squeeze, Unsqueeze, Transpose,
Expand, DepthToSpace, SpaceToDepth, Identity, and the shape queries Shape and Size.

Also the helpers the other shape-family modules share: reading a shape operand (static dims when
its value is known at compile time, fresh symbols of the right rank when it is not) and merging
dims that may be symbols.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import INDEX, Stage, TensorArg, reshape_index
from ..dtype import DType
from ..kernel.expr import Const, Expr
from ..types import Dim, Sym, TensorType, Type
from .registry import InferCtx, as_ints, broadcast_shapes, norm_axis, op

# Every ONNX version of the ops that only grew their type lists since they took today's form.
DATA_MOVEMENT_VERSIONS = (1, 13, 21, 23, 24, 25)


# -- helpers shared by the shape family -------------------------------------------------------

def operand_length(c: InferCtx, i: int, what: str) -> int:
    """The static length of 1-D operand i (a shape, pads, axes, ...), needed for the output rank."""
    t = c.t(i)
    if t.rank > 1:
        raise c.error(f"{what} must be a 1-D tensor, got {t}")
    n = t.shape[0] if t.rank == 1 else 1
    if not isinstance(n, int):
        raise c.error(f"{what} has a length ({n}) only known at run time, so the rank of the "
                      "output is unknown; dlc needs it at compile time")
    return n


def shape_operand(c: InferCtx, i: int, what: str = "shape") -> tuple[Dim, ...]:
    """Dims given by 1-D int operand i: its values if known, else fresh symbols of its length."""
    v = as_ints(c.value(i))
    if v is not None:
        if any(d < 0 for d in v):
            raise c.error(f"{what} {list(v)} has a negative dimension")
        return v
    return tuple(c.sym(what[:1]) for _ in range(operand_length(c, i, what)))


def check_int_operand(c: InferCtx, i: int, what: str) -> None:
    t = c.t(i)
    if t.dtype not in (DType.I64, DType.I32):
        raise c.error(f"{what} must be int64 or int32, got {t}")


def dims_product(dims: Sequence[Dim]) -> Dim | None:
    """The product of dims: an int, the one symbol among 1s, or None when not expressible."""
    syms = [d for d in dims if isinstance(d, Sym)]
    n = math.prod(d for d in dims if isinstance(d, int))
    if not syms:
        return n
    if len(syms) == 1 and n == 1:
        return syms[0]
    return None


def merge_dim(a: Dim, b: Dim) -> Dim:
    """Two dims known to be equal: prefer the int. (Callers check int/int conflicts.)"""
    return a if isinstance(a, int) else b


def axes_operand(c: InferCtx, i: int, rank: int) -> tuple[int, ...] | None:
    """Normalized axes from operand i (None if absent: all axes; raises on duplicates)."""
    if not c.has(i):
        return None
    v = as_ints(c.value(i))
    if v is None:
        return None
    axes = tuple(norm_axis(c, a, rank) for a in v)
    if len(set(axes)) != len(axes):
        raise c.error(f"axes {list(v)} repeat an axis")
    return axes


def fresh_like(c: InferCtx, dims: Sequence[Dim]) -> tuple[Dim, ...]:
    """Dims with every symbol replaced by a fresh one (for per-element symbols of a sequence)."""
    return tuple(c.sym("s") if isinstance(d, Sym) else d for d in dims)


# -- Reshape, Flatten ---------------------------------------------------------------------

@dataclass(frozen=True)
class ReshapeAttrs:
    allowzero: int = 0


def reshaped(x: TensorArg, shape: Sequence[int]) -> Stage:
    """The compute definition of every reshape (Reshape, Flatten, Squeeze, Unsqueeze)."""
    return cp.tensor(shape, x.dtype, lambda *i: x[reshape_index(i, shape, x.shape)])


def _infer_minus_one(in_dims: Sequence[Dim], out_known: Sequence[Dim]) -> Dim | None:
    """The dim that -1 stands for, cancelling symbols common to input and output."""
    in_syms = Counter(d for d in in_dims if isinstance(d, Sym))
    out_syms = Counter(d for d in out_known if isinstance(d, Sym))
    if out_syms - in_syms:
        return None
    in_int = math.prod(d for d in in_dims if isinstance(d, int))
    out_int = math.prod(d for d in out_known if isinstance(d, int))
    rest = list((in_syms - out_syms).elements())
    if out_int == 0 or in_int % out_int:
        return None
    q = in_int // out_int
    if not rest:
        return q
    if len(rest) == 1 and q == 1:
        return rest[0]
    return None


def _reshape_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    check_int_operand(c, 1, "shape")
    given = as_ints(c.value(1))
    if given is None:
        return [x.with_shape(tuple(c.sym("r") for _ in range(operand_length(c, 1, "shape"))))]
    if given.count(-1) > 1:
        raise c.error(f"shape {list(given)} has more than one -1")
    if any(d < -1 for d in given):
        raise c.error(f"shape {list(given)} has a negative dimension other than -1")
    if c.attrs.allowzero and 0 in given and -1 in given:
        raise c.error(f"shape {list(given)} has both 0 and -1, which allowzero=1 forbids")
    dims: list[Dim | None] = []
    for k, d in enumerate(given):
        if d == 0 and not c.attrs.allowzero:
            if k >= x.rank:
                raise c.error(f"shape {list(given)} copies dimension {k} (a 0), but the input "
                              f"{x} has rank {x.rank}")
            dims.append(x.shape[k])
        else:
            dims.append(None if d == -1 else d)
    known = [d for d in dims if d is not None]
    if None in dims:
        missing = _infer_minus_one(x.shape, known)
        if missing is None and x.is_static:
            raise c.error(f"cannot reshape {x} to {list(given)}")
        dims[dims.index(None)] = missing if missing is not None else c.sym("r")
    out = tuple(d for d in dims if d is not None)
    if x.is_static and all(isinstance(d, int) for d in out):
        if math.prod(out) != x.numel:  # type: ignore[arg-type]
            raise c.error(f"cannot reshape {x} ({x.numel} elements) to {list(given)}")
    return [x.with_shape(out)]


def _reshape(a: ReshapeAttrs, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
    target = [int(d) for d in shape.reshape(-1)]
    if not a.allowzero:
        target = [x.shape[k] if d == 0 else d for k, d in enumerate(target)]
    return x.reshape(target)


def _reshape_compute(a: ReshapeAttrs, x: TensorArg, shape: TensorArg) -> Stage:
    target = [x.shape[k] if d == 0 and not a.allowzero else d
              for k, d in enumerate(shape.ints("shape"))]
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
        target[target.index(-1)] = x.numel // known if known else 0
    return reshaped(x, target)


op("Reshape", ReshapeAttrs, versions=(1, 5, 13, 14, 19, 21, 23, 24, 25), traits=("injective",),
   infer=_reshape_rule, reference=_reshape, compute=_reshape_compute)


@dataclass(frozen=True)
class FlattenAttrs:
    axis: int = 1


def _flatten_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    axis = c.attrs.axis + x.rank if c.attrs.axis < 0 else c.attrs.axis
    if not 0 <= axis <= x.rank:
        raise c.error(f"axis {c.attrs.axis} is out of range for rank {x.rank}")
    outer, inner = dims_product(x.shape[:axis]), dims_product(x.shape[axis:])
    return [x.with_shape((c.sym("f") if outer is None else outer,
                          c.sym("f") if inner is None else inner))]


def _flatten(a: FlattenAttrs, x: np.ndarray) -> np.ndarray:
    axis = a.axis + x.ndim if a.axis < 0 else a.axis
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


def _flatten_compute(a: FlattenAttrs, x: TensorArg) -> Stage:
    axis = a.axis + x.rank if a.axis < 0 else a.axis
    return reshaped(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))


op("Flatten", FlattenAttrs, versions=(1, 9, 11, 13, 21, 23, 24, 25), traits=("injective",),
   infer=_flatten_rule, reference=_flatten, compute=_flatten_compute)


# -- Squeeze, Unsqueeze -------------------------------------------------------------------

def _squeeze_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    if c.has(1):
        axes = axes_operand(c, 1, x.rank)
        if axes is None:  # which axes go is known only at run time
            k = operand_length(c, 1, "axes")
            ones = [i for i, d in enumerate(x.shape) if not (isinstance(d, int) and d != 1)]
            if len(ones) < k:
                raise c.error(f"cannot squeeze {k} axes of {x}")
            if len(ones) == k:
                axes = tuple(ones)
            else:
                return [x.with_shape(tuple(c.sym("q") for _ in range(x.rank - k)))]
    else:
        # Without axes every dim of size 1 goes; symbolic dims are taken to be other than 1
        # (running checks this: an input that has 1 there fails with a shape mismatch).
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    for i in axes:
        if isinstance(x.shape[i], int) and x.shape[i] != 1:
            raise c.error(f"cannot squeeze axis {i} of {x}: its size is not 1")
    return [x.with_shape(tuple(d for i, d in enumerate(x.shape) if i not in axes))]


def _squeeze(a: None, x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    if axes is None:
        return np.squeeze(x)
    return np.squeeze(x, axis=tuple(int(i) for i in axes.reshape(-1)))


def _squeeze_compute(a: None, x: TensorArg, axes: TensorArg | None = None) -> Stage:
    gone = ({k % x.rank for k in axes.ints("axes")} if axes is not None
            else {k for k, d in enumerate(x.shape) if d == 1})
    return reshaped(x, [d for k, d in enumerate(x.shape) if k not in gone])


op("Squeeze", versions=(1, 11, 13, 21, 23, 24, 25), traits=("injective",),
   infer=_squeeze_rule, reference=_squeeze, compute=_squeeze_compute)


def _unsqueeze_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    k = operand_length(c, 1, "axes")
    out_rank = x.rank + k
    axes = axes_operand(c, 1, out_rank)
    if axes is None:
        return [x.with_shape(tuple(c.sym("u") for _ in range(out_rank)))]
    rest = iter(x.shape)
    return [x.with_shape(tuple(1 if i in axes else next(rest) for i in range(out_rank)))]


def _unsqueeze(a: None, x: np.ndarray, axes: np.ndarray) -> np.ndarray:
    out_rank = x.ndim + axes.size
    return np.expand_dims(x, tuple(int(i) % out_rank for i in axes.reshape(-1)))


def _unsqueeze_compute(a: None, x: TensorArg, axes: TensorArg) -> Stage:
    given = axes.ints("axes")
    rank = x.rank + len(given)
    new = {k % rank for k in given}
    rest = iter(x.shape)
    return reshaped(x, [1 if k in new else next(rest) for k in range(rank)])


op("Unsqueeze", versions=(1, 11, 13, 21, 23, 24, 25), traits=("injective",),
   infer=_unsqueeze_rule, reference=_unsqueeze, compute=_unsqueeze_compute)


# -- Transpose, Expand --------------------------------------------------------------------

@dataclass(frozen=True)
class TransposeAttrs:
    perm: tuple[int, ...] | None = None


def _perm(perm: tuple[int, ...] | None, rank: int) -> tuple[int, ...]:
    return tuple(range(rank))[::-1] if perm is None else tuple(p % rank for p in perm)


def _transpose_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    if c.attrs.perm is not None and sorted(p + x.rank if p < 0 else p for p in c.attrs.perm) \
            != list(range(x.rank)):
        raise c.error(f"perm {list(c.attrs.perm)} is not a permutation of the {x.rank} axes")
    return [x.with_shape(tuple(x.shape[p] for p in _perm(c.attrs.perm, x.rank)))]


def _transpose_compute(a: TransposeAttrs, x: TensorArg) -> Stage:
    perm = _perm(a.perm, x.rank)

    def fn(*i: Expr) -> Expr:   # output axis k is input axis perm[k]
        index: list[Expr] = [Const(0, INDEX)] * x.rank
        for k, p in enumerate(perm):
            index[p] = i[k]
        return x[tuple(index)]
    return cp.tensor([x.shape[p] for p in perm], x.dtype, fn)


op("Transpose", TransposeAttrs, versions=DATA_MOVEMENT_VERSIONS, traits=("injective",),
   infer=_transpose_rule,
   reference=lambda a, x: np.transpose(x, _perm(a.perm, x.ndim)), compute=_transpose_compute)


def _expand_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    check_int_operand(c, 1, "shape")
    target = as_ints(c.value(1))
    if target is not None:
        return [x.with_shape(broadcast_shapes(c, [x.shape, target]))]
    # Unknown target: where the input has a size other than 1 the output has it too.
    rank = max(x.rank, operand_length(c, 1, "shape"))
    padded = (1,) * (rank - x.rank) + x.shape
    return [x.with_shape(tuple(d if isinstance(d, int) and d != 1 else c.sym("e")
                               for d in padded))]


def _expand(a: None, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
    out = np.broadcast_shapes(x.shape, tuple(int(d) for d in shape.reshape(-1)))
    return np.array(np.broadcast_to(x, out))


def _expand_compute(a: None, x: TensorArg, shape: TensorArg) -> Stage:
    out = np.broadcast_shapes(x.shape, shape.ints("shape"))
    return cp.tensor(out, x.dtype, lambda *i: x.at(i))


op("Expand", versions=(8, 13), traits=("injective",), infer=_expand_rule, reference=_expand,
   compute=_expand_compute)


# -- DepthToSpace, SpaceToDepth -----------------------------------------------------------

@dataclass(frozen=True)
class BlockAttrs:
    blocksize: int = 0
    mode: str = "DCR"


def _check_block(c: InferCtx) -> tuple[TensorType, int]:
    x = c.t(0)
    b = c.attrs.blocksize
    if x.rank != 4:
        raise c.error(f"input must be 4-D (N, C, H, W), got {x}")
    if b <= 0:
        raise c.error(f"blocksize must be positive, got {b}")
    if c.attrs.mode not in ("DCR", "CRD"):
        raise c.error(f"mode must be DCR or CRD, got '{c.attrs.mode}'")
    return x, b


def _scaled(c: InferCtx, d: Dim, mul: int, div: int, what: str) -> Dim:
    if not isinstance(d, int):
        return d if mul == div == 1 else c.sym("b")
    if (d * mul) % div:
        raise c.error(f"{what} {d} is not divisible by {div}")
    return d * mul // div


def _depth_to_space_rule(c: InferCtx) -> list[Type]:
    x, b = _check_block(c)
    n, ch, h, w = x.shape
    return [x.with_shape((n, _scaled(c, ch, 1, b * b, "channel count"),
                          _scaled(c, h, b, 1, "height"), _scaled(c, w, b, 1, "width")))]


def _depth_to_space(a: BlockAttrs, x: np.ndarray) -> np.ndarray:
    n, ch, h, w = x.shape
    b = a.blocksize
    if a.mode == "DCR":
        t = x.reshape(n, b, b, ch // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, ch // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return t.reshape(n, ch // (b * b), h * b, w * b)


def _depth_to_space_compute(a: BlockAttrs, x: TensorArg) -> Stage:
    n, ch, h, w = x.shape
    b, c2 = a.blocksize, ch // (a.blocksize * a.blocksize)

    def fn(i: Expr, c: Expr, y: Expr, z: Expr) -> Expr:
        by, bz = y % b, z % b   # the position inside the block picks the input channel
        depth = (by * b + bz) * c2 + c if a.mode == "DCR" else (c * b + by) * b + bz
        return x[i, depth, y // b, z // b]
    return cp.tensor((n, c2, h * b, w * b), x.dtype, fn)


op("DepthToSpace", BlockAttrs, versions=(1, 11, 13, 28), traits=("injective",),
   infer=_depth_to_space_rule, reference=_depth_to_space, compute=_depth_to_space_compute)


def _space_to_depth_rule(c: InferCtx) -> list[Type]:
    x, b = _check_block(c)
    n, ch, h, w = x.shape
    return [x.with_shape((n, _scaled(c, ch, b * b, 1, "channel count"),
                          _scaled(c, h, 1, b, "height"), _scaled(c, w, 1, b, "width")))]


def _space_to_depth(a: BlockAttrs, x: np.ndarray) -> np.ndarray:
    n, ch, h, w = x.shape
    b = a.blocksize
    t = x.reshape(n, ch, h // b, b, w // b, b)
    t = t.transpose(0, 3, 5, 1, 2, 4) if a.mode == "DCR" else t.transpose(0, 1, 3, 5, 2, 4)
    return t.reshape(n, ch * b * b, h // b, w // b)


def _space_to_depth_compute(a: BlockAttrs, x: TensorArg) -> Stage:
    n, ch, h, w = x.shape
    b = a.blocksize

    def fn(i: Expr, oc: Expr, y: Expr, z: Expr) -> Expr:
        if a.mode == "DCR":   # channel (by * b + bz) * ch + c
            c, by, bz = oc % ch, oc // (ch * b), oc // ch % b
        else:                 # channel (c * b + by) * b + bz
            c, by, bz = oc // (b * b), oc // b % b, oc % b
        return x[i, c, y * b + by, z * b + bz]
    return cp.tensor((n, ch * b * b, h // b, w // b), x.dtype, fn)


op("SpaceToDepth", BlockAttrs, versions=(1, 13, 28), traits=("injective",),
   infer=_space_to_depth_rule, reference=_space_to_depth, compute=_space_to_depth_compute)


# -- Identity, Shape, Size ----------------------------------------------------------------

def _identity_rule(c: InferCtx) -> list[Type]:
    t = c.types[0] if c.types else None
    if t is None:
        raise c.error("needs an input")
    return [t]


op("Identity", versions=(1, 13, 14, 16, 19, 21, 23, 24, 25), traits=("injective",),
   infer=_identity_rule, reference=lambda a, x: x,
   compute=lambda a, x: cp.tensor(x.shape, x.dtype, lambda *i: x[i]))


@dataclass(frozen=True)
class ShapeAttrs:
    start: int = 0
    end: int | None = None


def _shape_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    dims = x.shape[c.attrs.start:c.attrs.end]  # Python slicing clamps just as ONNX says
    if all(isinstance(d, int) for d in dims):
        c.set_output_value(0, np.array(dims, dtype=np.int64))
    return [TensorType(DType.I64, (len(dims),))]


op("Shape", ShapeAttrs, versions=(1, 13, 15, 19, 21, 23, 24, 25),
   infer=_shape_rule,
   reference=lambda a, x: np.array(x.shape[a.start:a.end], dtype=np.int64))


def _size_rule(c: InferCtx) -> list[Type]:
    n = c.t(0).numel
    if n is not None:
        c.set_output_value(0, np.array(n, dtype=np.int64))
    return [TensorType(DType.I64, ())]


op("Size", versions=(1, 13, 19, 21, 23, 24, 25), infer=_size_rule,
   reference=lambda a, x: np.array(x.size, dtype=np.int64))

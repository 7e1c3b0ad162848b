"""Shape ops that cut tensors apart, join them, or grow and shrink them at the edges: Concat,
Split, Slice, Tile, Pad, CenterCropPad, ReverseSequence, Trilu."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import INDEX, ComputeCtx, NoCompute, Stage, TensorArg, offset, select
from ..kernel.expr import Const, Expr
from ..types import Dim, TensorType, Type
from .registry import InferCtx, RefCtx, as_ints, norm_axis, op
from .shape import axes_operand, check_int_operand, operand_length, shape_operand

# -- Concat, Split ------------------------------------------------------------------------


@dataclass(frozen=True)
class ConcatAttrs:
    axis: int = 0


def concat_types(c: InferCtx, ts: Sequence[TensorType], axis: int) -> TensorType:
    """The type of ts joined along `axis` (already normalized)."""
    first = ts[0]
    for t in ts[1:]:
        if t.dtype != first.dtype or t.rank != first.rank:
            raise c.error(f"cannot concatenate {first} and {t}")
    dims: list[Dim] = []
    for k in range(first.rank):
        col = [t.shape[k] for t in ts]
        if k == axis:
            sizes = [d for d in col if isinstance(d, int)]
            dims.append(sum(sizes) if len(sizes) == len(col) else c.sym("c"))
            continue
        ints = {d for d in col if isinstance(d, int)}
        if len(ints) > 1:
            raise c.error(f"cannot concatenate {', '.join(map(str, ts))} along axis {axis}: "
                          f"dimension {k} differs")
        dims.append(ints.pop() if ints else col[0])
    return first.with_shape(tuple(dims))


def _concat_rule(c: InferCtx) -> list[Type]:
    ts = [c.t(i) for i in range(len(c.types)) if c.has(i)]
    if not ts:
        raise c.error("needs at least one input")
    return [concat_types(c, ts, norm_axis(c, c.attrs.axis, ts[0].rank))]


def _concat(a: ConcatAttrs, *xs: np.ndarray | None) -> np.ndarray:
    arrays = [x for x in xs if x is not None]
    return np.concatenate(arrays, axis=a.axis).astype(arrays[0].dtype, copy=False)


def _concat_compute(a: ConcatAttrs, *xs: TensorArg | None) -> Stage:
    """Input j where the index along the axis falls in its range: a chain of selects, each
    reading its input at a clamped index (a select evaluates both sides)."""
    parts = [x for x in xs if x is not None]
    axis = a.axis % parts[0].rank
    starts = np.cumsum([0] + [x.shape[axis] for x in parts]).tolist()
    shape = parts[0].shape[:axis] + (starts[-1],) + parts[0].shape[axis + 1:]

    def fn(*i: Expr) -> Expr:
        out: Expr | None = None
        for x, lo, hi in reversed(list(zip(parts, starts, starts[1:]))):
            if hi == lo:
                continue
            at = offset(i[axis], -lo)
            if out is not None:
                at = at.min(hi - lo - 1)
            if lo > 0:
                at = at.max(0)
            v = x[i[:axis] + (at,) + i[axis + 1:]]
            out = v if out is None else select(i[axis] < hi, v, out)
        assert out is not None
        return out
    return cp.tensor(shape, parts[0].dtype, fn)


op("Concat", ConcatAttrs, versions=(1, 4, 11, 13), traits=("injective",),
   infer=_concat_rule, reference=_concat, compute=_concat_compute)


@dataclass(frozen=True)
class SplitAttrs:
    axis: int = 0
    num_outputs: int | None = None


def split_sizes(dim: int, parts: int, uneven: bool) -> list[int] | None:
    """Sizes of `parts` chunks of `dim`: equal ones, or (uneven) all but the last of ceil size.
    None when `dim` cannot be split like that."""
    if parts <= 0:
        return None
    if not uneven:
        return [dim // parts] * parts if dim % parts == 0 else None
    chunk = -(-dim // parts)
    last = dim - chunk * (parts - 1)
    return [chunk] * (parts - 1) + [last] if last >= 0 else None


def _split_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    axis = norm_axis(c, c.attrs.axis, x.rank)
    dim = x.shape[axis]
    n = c.num_outputs
    if c.attrs.num_outputs is not None and c.attrs.num_outputs != n:
        raise c.error(f"num_outputs is {c.attrs.num_outputs} but the node has {n} outputs")
    sizes: Sequence[Dim] | None
    if c.has(1):
        check_int_operand(c, 1, "split")
        sizes = as_ints(c.value(1))
        if sizes is None:
            sizes = [c.sym("s") for _ in range(operand_length(c, 1, "split"))]
        if len(sizes) != n:
            raise c.error(f"split has {len(sizes)} sizes but the node has {n} outputs")
        if isinstance(dim, int) and all(isinstance(s, int) for s in sizes) \
                and sum(sizes) != dim:  # type: ignore[arg-type]
            raise c.error(f"split sizes {list(sizes)} do not add up to {dim} (axis {axis} of {x})")
    elif isinstance(dim, int):
        sizes = split_sizes(dim, n, uneven=c.attrs.num_outputs is not None)
        if sizes is None:
            how = (f"parts of {-(-dim // max(n, 1))} (num_outputs={n}, the last smaller)"
                   if c.attrs.num_outputs is not None else "equal parts")
            raise c.error(f"axis {axis} of {x} cannot be split into {n} {how}")
    else:
        sizes = [c.sym("s") for _ in range(n)]
    return [x.with_shape(x.shape[:axis] + (s,) + x.shape[axis + 1:]) for s in sizes]


def _split(a: SplitAttrs, x: np.ndarray, split: np.ndarray | None = None, *,
           ctx: RefCtx) -> tuple[np.ndarray, ...]:
    axis = a.axis % x.ndim
    if split is not None:
        sizes = [int(s) for s in split.reshape(-1)]
    else:
        found = split_sizes(x.shape[axis], ctx.num_outputs, uneven=a.num_outputs is not None)
        if found is None:
            raise ValueError(f"axis {axis} of size {x.shape[axis]} cannot be split into "
                             f"{ctx.num_outputs} equal parts")
        sizes = found
    if sum(sizes) != x.shape[axis] or min(sizes, default=0) < 0:
        raise ValueError(f"split sizes {sizes} do not add up to {x.shape[axis]}")
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def _split_compute(a: SplitAttrs, x: TensorArg, split: TensorArg | None = None, *,
                   ctx: ComputeCtx) -> tuple[Stage, ...]:
    axis = a.axis % x.rank
    if split is not None:
        sizes: list[int] | None = list(split.ints("split"))
    else:
        sizes = split_sizes(x.shape[axis], ctx.num_outputs, uneven=a.num_outputs is not None)
    if sizes is None or sum(sizes) != x.shape[axis]:
        raise NoCompute(f"axis {axis} of size {x.shape[axis]} does not split into {sizes}")
    starts = np.cumsum([0] + sizes).tolist()

    def part(lo: int, n: int) -> Stage:
        shape = x.shape[:axis] + (n,) + x.shape[axis + 1:]
        return cp.tensor(shape, x.dtype, lambda *i: x[
            i[:axis] + (offset(i[axis], lo),) + i[axis + 1:]])
    return tuple(part(lo, n) for lo, n in zip(starts, sizes))


op("Split", SplitAttrs, versions=(1, 2, 11, 13, 18), traits=("injective",),
   infer=_split_rule, reference=_split, compute=_split_compute)


# -- Slice --------------------------------------------------------------------------------

def slice_bounds(dim: int, start: int, end: int, step: int) -> tuple[int, int, int]:
    """ONNX's clamping of one axis's slice: (first index, stop, count). A stop of -1 (negative
    steps only) means "past index 0"."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        count = max(0, -(-(end - start) // step))
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
        count = max(0, -(-(start - end) // -step))
    return start, end, count


def _slice_params(c: InferCtx, rank: int) -> list[tuple[int, int, int, int]] | None:
    """(axis, start, end, step) per sliced axis, or None when not known at compile time."""
    starts, ends = as_ints(c.value(1)), as_ints(c.value(2))
    steps = as_ints(c.value(4)) if c.has(4) else None
    if starts is None or ends is None or (c.has(4) and steps is None):
        return None
    axes = axes_operand(c, 3, rank) if c.has(3) else tuple(range(len(starts)))
    if axes is None:
        return None
    steps = steps or (1,) * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise c.error(f"starts, ends, axes and steps have different lengths: {len(starts)}, "
                      f"{len(ends)}, {len(axes)}, {len(steps)}")
    if 0 in steps:
        raise c.error("a step is 0")
    return list(zip(axes, starts, ends, steps))


def _slice_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    for i, what in ((1, "starts"), (2, "ends"), (3, "axes"), (4, "steps")):
        if c.has(i):
            check_int_operand(c, i, what)
    params = _slice_params(c, x.rank)
    if params is None:
        # Which axes change is known only at run time, unless the axes themselves are known.
        axes = axes_operand(c, 3, x.rank) if c.has(3) else None
        if c.has(3) and axes is not None:
            return [x.with_shape(tuple(c.sym("l") if k in axes else d
                                       for k, d in enumerate(x.shape)))]
        return [x.with_shape(tuple(c.sym("l") for _ in x.shape))]
    dims = list(x.shape)
    for axis, start, end, step in params:
        d = dims[axis]
        if isinstance(d, int):
            dims[axis] = slice_bounds(d, start, end, step)[2]
        elif not (start == 0 and step == 1 and end >= 2**31 - 1):  # [0:INT_MAX] keeps it
            dims[axis] = c.sym("l")
    return [x.with_shape(tuple(dims))]


def _slice(a: None, x: np.ndarray, starts: np.ndarray, ends: np.ndarray,
           axes: np.ndarray | None = None, steps: np.ndarray | None = None) -> np.ndarray:
    st, en = starts.reshape(-1).tolist(), ends.reshape(-1).tolist()
    ax = axes.reshape(-1).tolist() if axes is not None else list(range(len(st)))
    sp = steps.reshape(-1).tolist() if steps is not None else [1] * len(st)
    index = [slice(None)] * x.ndim
    for axis, start, end, step in zip(ax, st, en, sp):
        if step == 0:
            raise ValueError("a step is 0")
        b, e, _ = slice_bounds(x.shape[axis], start, end, step)
        index[axis % x.ndim] = slice(b, None if e < 0 else e, step)
    return x[tuple(index)]


def _slice_compute(a: None, x: TensorArg, starts: TensorArg, ends: TensorArg,
                   axes: TensorArg | None = None, steps: TensorArg | None = None) -> Stage:
    st, en = starts.ints("starts"), ends.ints("ends")
    ax = axes.ints("axes") if axes is not None else tuple(range(len(st)))
    sp = steps.ints("steps") if steps is not None else (1,) * len(st)
    first, step, shape = [0] * x.rank, [1] * x.rank, list(x.shape)
    for axis, start, end, stride in zip(ax, st, en, sp):
        if stride == 0:
            raise NoCompute("a step is 0")
        k = axis % x.rank
        first[k], _, shape[k] = slice_bounds(x.shape[k], start, end, stride)
        step[k] = stride
    return cp.tensor(shape, x.dtype, lambda *i: x[tuple(
        offset(cp.scale(e, s), b) for e, s, b in zip(i, step, first))])


op("Slice", versions=(1, 10, 11, 13), traits=("injective",),
   infer=_slice_rule, reference=_slice, compute=_slice_compute)


# -- Tile ---------------------------------------------------------------------------------

def _tile_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    check_int_operand(c, 1, "repeats")
    if operand_length(c, 1, "repeats") != x.rank:
        raise c.error(f"repeats must have one entry per axis of {x}")
    reps = as_ints(c.value(1))
    if reps is None:
        return [x.with_shape(tuple(c.sym("t") for _ in x.shape))]
    if any(r < 0 for r in reps):
        raise c.error(f"repeats {list(reps)} has a negative entry")
    return [x.with_shape(tuple(d * r if isinstance(d, int) else (d if r == 1 else c.sym("t"))
                               for d, r in zip(x.shape, reps)))]


def _tile_compute(a: None, x: TensorArg, repeats: TensorArg) -> Stage:
    reps = repeats.ints("repeats")
    return cp.tensor([d * r for d, r in zip(x.shape, reps)], x.dtype, lambda *i: x[tuple(
        e if r == 1 else e % d for e, d, r in zip(i, x.shape, reps))])


op("Tile", versions=(6, 13), traits=("injective",), infer=_tile_rule,
   reference=lambda a, x, reps: np.tile(x, [int(r) for r in reps.reshape(-1)]),
   compute=_tile_compute)


# -- Pad, CenterCropPad -------------------------------------------------------------------

@dataclass(frozen=True)
class PadAttrs:
    mode: str = "constant"


PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _pad_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    if c.attrs.mode not in PAD_MODES:
        raise c.error(f"mode must be one of {', '.join(PAD_MODES)}, got '{c.attrs.mode}'")
    check_int_operand(c, 1, "pads")
    if c.has(2) and c.t(2).dtype != x.dtype:
        raise c.error(f"constant_value {c.t(2)} must have the data's dtype {x.dtype}")
    axes = axes_operand(c, 3, x.rank) if c.has(3) else tuple(range(x.rank))
    n_axes = len(axes) if axes is not None else operand_length(c, 3, "axes")
    if operand_length(c, 1, "pads") != 2 * n_axes:
        raise c.error(f"pads must have 2 entries per padded axis ({2 * n_axes})")
    pads = as_ints(c.value(1))
    if axes is None:
        return [x.with_shape(tuple(c.sym("p") for _ in x.shape))]
    dims = list(x.shape)
    for k, axis in enumerate(axes):
        if pads is None:
            dims[axis] = c.sym("p")
            continue
        total = pads[k] + pads[k + n_axes]
        d = dims[axis]
        if isinstance(d, int):
            if d + total < 0:
                raise c.error(f"pads {list(pads)} crop axis {axis} of {x} below size 0")
            dims[axis] = d + total
        elif total != 0:
            dims[axis] = c.sym("p")
    return [x.with_shape(tuple(dims))]


def pad_array(x: np.ndarray, widths: Sequence[tuple[int, int]], mode: str,
              value: object = 0) -> np.ndarray:
    """numpy.pad that also takes negative widths (they crop, after padding the other side)."""
    grow = [(max(b, 0), max(e, 0)) for b, e in widths]
    if mode == "constant":
        out = np.pad(x, grow, mode="constant", constant_values=value)  # type: ignore[call-overload]
    else:
        if any(g != (0, 0) and n == 0 for g, n in zip(grow, x.shape)):
            raise ValueError(f"cannot {mode}-pad an axis of size 0")
        out = np.pad(x, grow, mode=mode)  # type: ignore[call-overload]
    crop = tuple(slice(-min(b, 0), n - (-min(e, 0))) for (b, e), n in zip(widths, out.shape))
    return out[crop].astype(x.dtype, copy=False)


def _pad(a: PadAttrs, x: np.ndarray, pads: np.ndarray, value: np.ndarray | None = None,
         axes: np.ndarray | None = None) -> np.ndarray:
    p = [int(v) for v in pads.reshape(-1)]
    ax = [int(v) % x.ndim for v in axes.reshape(-1)] if axes is not None else range(x.ndim)
    widths = [(0, 0)] * x.ndim
    for k, axis in enumerate(ax):
        widths[axis] = (p[k], p[k + len(p) // 2])
    fill = value.reshape(-1)[0] if value is not None and value.size else _zero(x.dtype)
    return pad_array(x, widths, a.mode, fill)


def _zero(dtype: np.dtype) -> object:
    return "" if dtype.kind in "OUS" else np.zeros((), dtype)[()]


def pad_read(x: TensorArg, index: Sequence[Expr], begins: Sequence[int], mode: str,
             value: Expr | float | int) -> Expr:
    """Element `index` of x padded by `begins` on each axis (negative: cropped): `value`
    outside (constant), the nearest edge, the mirror image without the edge (reflect), or x
    repeated (wrap)."""
    at = [offset(e, -b) for e, b in zip(index, begins)]
    if mode == "constant":
        return x.padded(at, value)
    if 0 in x.shape:
        raise NoCompute(f"cannot {mode}-pad an empty tensor")
    picked: list[Expr] = []
    for e, n in zip(at, x.shape):
        lo, hi = cp.bounds(e) or (-1, n)
        if (lo >= 0 and hi < n) or (mode == "edge" and n == 1):
            picked.append(e if n != 1 else Const(0, INDEX))
        elif mode == "edge":
            picked.append(e.max(0).min(n - 1))
        elif mode == "wrap":
            picked.append(e % n)
        elif n == 1:
            picked.append(Const(0, INDEX))
        else:   # reflect: a period of 2n - 2 folded at n - 1
            t = e % (2 * n - 2)
            picked.append(select(t < n, t, 2 * n - 2 - t))
    return x[tuple(picked)]


def _pad_compute(a: PadAttrs, x: TensorArg, pads: TensorArg, value: TensorArg | None = None,
                 axes: TensorArg | None = None) -> Stage:
    p = pads.ints("pads")
    ax = [k % x.rank for k in axes.ints("axes")] if axes is not None else range(x.rank)
    begins, ends = [0] * x.rank, [0] * x.rank
    for k, axis in enumerate(ax):
        begins[axis], ends[axis] = p[k], p[k + len(p) // 2]
    shape = [d + b + e for d, b, e in zip(x.shape, begins, ends)]
    fill: Expr | int = value.scalar() if value is not None and value.numel else 0
    return cp.tensor(shape, x.dtype, lambda *i: pad_read(x, i, begins, a.mode, fill))


op("Pad", PadAttrs, versions=(1, 2, 11, 13, 18, 19, 21, 23, 24, 25), traits=("injective",),
   infer=_pad_rule, reference=_pad, compute=_pad_compute)


@dataclass(frozen=True)
class CenterCropPadAttrs:
    axes: tuple[int, ...] | None = None


def _center_crop_pad_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    check_int_operand(c, 1, "shape")
    axes = tuple(range(x.rank)) if c.attrs.axes is None else \
        tuple(norm_axis(c, a, x.rank) for a in c.attrs.axes)
    sizes = shape_operand(c, 1, "shape")
    if len(sizes) != len(axes):
        raise c.error(f"shape has {len(sizes)} entries for {len(axes)} axes")
    dims = list(x.shape)
    for axis, size in zip(axes, sizes):
        dims[axis] = size
    return [x.with_shape(tuple(dims))]


def _center_crop_pad(a: CenterCropPadAttrs, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
    axes = range(x.ndim) if a.axes is None else [ax % x.ndim for ax in a.axes]
    widths = [(0, 0)] * x.ndim
    for axis, size in zip(axes, shape.reshape(-1).tolist()):
        grow = size - x.shape[axis]
        if grow >= 0:  # pad: an odd extra pixel goes on the right
            widths[axis] = (grow // 2, grow - grow // 2)
        else:  # crop: the window starts at floor((in - out) / 2)
            cut = -grow
            widths[axis] = (-(cut // 2), -(cut - cut // 2))
    return pad_array(x, widths, "constant", _zero(x.dtype))


def _center_crop_pad_compute(a: CenterCropPadAttrs, x: TensorArg, shape: TensorArg) -> Stage:
    axes = range(x.rank) if a.axes is None else [ax % x.rank for ax in a.axes]
    out, begins = list(x.shape), [0] * x.rank
    for axis, size in zip(axes, shape.ints("shape")):
        grow = size - x.shape[axis]
        out[axis], begins[axis] = size, grow // 2 if grow >= 0 else -(-grow // 2)
    return cp.tensor(out, x.dtype, lambda *i: pad_read(x, i, begins, "constant", 0))


op("CenterCropPad", CenterCropPadAttrs, versions=(18,), traits=("injective",),
   infer=_center_crop_pad_rule, reference=_center_crop_pad, compute=_center_crop_pad_compute)


# -- ReverseSequence, Trilu ---------------------------------------------------------------

@dataclass(frozen=True)
class ReverseSequenceAttrs:
    batch_axis: int = 1
    time_axis: int = 0


def _reverse_sequence_rule(c: InferCtx) -> list[Type]:
    x, lens = c.t(0), c.t(1)
    if x.rank < 2 or {c.attrs.batch_axis, c.attrs.time_axis} != {0, 1}:
        raise c.error(f"batch_axis and time_axis must be 0 and 1 (in some order) of an input of "
                      f"rank 2 or more, got {c.attrs.batch_axis}, {c.attrs.time_axis} for {x}")
    batch = x.shape[c.attrs.batch_axis]
    if lens.rank != 1 or (isinstance(batch, int) and isinstance(lens.shape[0], int)
                          and lens.shape[0] != batch):
        raise c.error(f"sequence_lens must be 1-D with one length per batch entry, got {lens}")
    return [x]


def _reverse_sequence(a: ReverseSequenceAttrs, x: np.ndarray, lens: np.ndarray) -> np.ndarray:
    out = x.copy()
    for b, n in enumerate(lens.reshape(-1).tolist()):
        if not 0 <= n <= x.shape[a.time_axis]:
            raise ValueError(f"sequence length {n} is out of range [0, {x.shape[a.time_axis]}]")
        index: list[int | slice] = [slice(None)] * x.ndim
        index[a.batch_axis], index[a.time_axis] = b, slice(0, n)
        # With the batch axis indexed away, time is axis 0 whichever came first.
        out[tuple(index)] = np.flip(x[tuple(index)], axis=0)
    return out


def _reverse_sequence_compute(a: ReverseSequenceAttrs, x: TensorArg, lens: TensorArg) -> Stage:
    def fn(*i: Expr) -> Expr:
        t, n = i[a.time_axis], cp.index_expr(lens[i[a.batch_axis]])
        index = list(i)
        index[a.time_axis] = select(t < n, (n - 1 - t).max(0), t)   # n is in [0, T]
        return x[tuple(index)]
    return cp.tensor(x.shape, x.dtype, fn)


op("ReverseSequence", ReverseSequenceAttrs, versions=(10, 28), traits=("injective",),
   infer=_reverse_sequence_rule, reference=_reverse_sequence, compute=_reverse_sequence_compute)


@dataclass(frozen=True)
class TriluAttrs:
    upper: int = 1


def _trilu_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    if x.rank < 2:
        raise c.error(f"input must have rank 2 or more, got {x}")
    if c.has(1) and math.prod(d for d in c.t(1).shape if isinstance(d, int)) != 1:
        raise c.error(f"k must be a single integer, got {c.t(1)}")
    return [x]


def _trilu(a: TriluAttrs, x: np.ndarray, k: np.ndarray | None = None) -> np.ndarray:
    diag = int(k.reshape(-1)[0]) if k is not None else 0
    return np.triu(x, diag) if a.upper else np.tril(x, diag)


def _trilu_compute(a: TriluAttrs, x: TensorArg, k: TensorArg | None = None) -> Stage:
    def fn(*i: Expr) -> Expr:
        above = i[-1] - i[-2]   # how far right of the main diagonal
        diag = cp.index_expr(k.scalar()) if k is not None else Const(0, INDEX)
        keep = (above >= diag) if a.upper else (above <= diag)
        return select(keep, x[i], 0)
    return cp.tensor(x.shape, x.dtype, fn)


op("Trilu", TriluAttrs, versions=(14,), traits=("injective",), infer=_trilu_rule,
   reference=_trilu, compute=_trilu_compute)

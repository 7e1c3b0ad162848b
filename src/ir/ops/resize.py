"""Resize (nearest, linear, cubic; every coordinate transformation; antialias; axes; aspect-ratio
policies) and Upsample. Interpolation is separable: each resized axis is done on its own as a
gather of neighbour indices and a weighted sum, in float64, then cast back to the input's dtype.

Resize-10 is rewritten into Resize-19 form by frontends/onnx/legacy_misc.py; so are the older
Upsample forms whose scales are attributes.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import INDEX, NoCompute, Stage, TensorArg, constant, reduce, select
from ..dtype import DType
from ..kernel.expr import Const, Expr, Math
from ..kernel.types import F64
from ..types import Dim, TensorType, Type
from .registry import InferCtx, op


@dataclass(frozen=True)
class ResizeAttrs:
    antialias: int = 0
    axes: tuple[int, ...] | None = None
    coordinate_transformation_mode: str = "half_pixel"
    cubic_coeff_a: float = -0.75
    exclude_outside: int = 0
    extrapolation_value: float = 0.0
    keep_aspect_ratio_policy: str = "stretch"
    mode: str = "nearest"
    nearest_mode: str = "round_prefer_floor"


_COORD_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize")
_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _given(x: np.ndarray | None) -> bool:
    """Optional inputs may also be passed as empty tensors."""
    return x is not None and np.size(x) > 0


def resize_plan(shape: Sequence[int], axes: Sequence[int], scales: np.ndarray | None,
                sizes: np.ndarray | None, policy: str) -> tuple[list[int], list[float]]:
    """Output size and scale of every axis of an input of `shape` (axes not resized keep theirs)."""
    rank = len(shape)
    out, scale = list(shape), [1.0] * rank
    if _given(sizes):
        assert sizes is not None
        wanted = [int(s) for s in np.asarray(sizes).reshape(-1)]
        if len(wanted) != len(axes):
            raise ValueError(f"sizes has {len(wanted)} values for {len(axes)} axes")
        ratios = [w / shape[ax] if shape[ax] else 1.0 for ax, w in zip(axes, wanted)]
        if policy == "stretch":
            for ax, w, r in zip(axes, wanted, ratios):
                out[ax], scale[ax] = w, r
        elif policy in ("not_larger", "not_smaller"):
            common = min(ratios) if policy == "not_larger" else max(ratios)
            for ax in axes:  # round half up, as the ONNX definition says
                out[ax], scale[ax] = int(common * shape[ax] + 0.5), common
        else:
            raise ValueError(f"unknown keep_aspect_ratio_policy {policy!r}")
    elif _given(scales):
        assert scales is not None
        factors = [float(s) for s in np.asarray(scales, dtype=np.float64).reshape(-1)]
        if len(factors) != len(axes):
            raise ValueError(f"scales has {len(factors)} values for {len(axes)} axes")
        for ax, f in zip(axes, factors):
            if f <= 0:
                raise ValueError(f"scales must be positive, got {f}")
            out[ax], scale[ax] = int(math.floor(f * shape[ax])), f
    else:
        raise ValueError("one of scales and sizes must be given")
    return out, scale


def _resized_axes(a: ResizeAttrs, rank: int) -> list[int]:
    if a.axes is None:
        return list(range(rank))
    axes = [ax + rank if ax < 0 else ax for ax in a.axes]
    if any(not 0 <= ax < rank for ax in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"axes {a.axes} do not fit rank {rank}")
    return axes


def _check_modes(a: ResizeAttrs) -> None:
    if a.mode not in ("nearest", "linear", "cubic"):
        raise ValueError(f"unknown mode {a.mode!r}")
    if a.coordinate_transformation_mode not in _COORD_MODES:
        raise ValueError(f"unknown coordinate_transformation_mode "
                         f"{a.coordinate_transformation_mode!r}")
    if a.mode == "nearest" and a.nearest_mode not in _NEAREST_MODES:
        raise ValueError(f"unknown nearest_mode {a.nearest_mode!r}")
    if a.mode == "nearest" and a.antialias:
        raise ValueError("antialias is defined for linear and cubic modes only")


def _resize_infer(c: InferCtx) -> list[Type]:
    a: ResizeAttrs = c.attrs
    x = c.t(0)
    try:
        _check_modes(a)
        axes = _resized_axes(a, x.rank)
    except ValueError as e:
        raise c.error(str(e)) from None
    scales = c.value(2) if c.has(2) else None
    sizes = c.value(3) if c.has(3) else None
    if _given(scales) and _given(sizes):
        raise c.error("only one of scales and sizes may be given")
    shape: list[Dim] = list(x.shape)
    dims_static = all(isinstance(x.shape[ax], int) for ax in axes)
    if _given(sizes) and (a.keep_aspect_ratio_policy == "stretch" or dims_static):
        # Stretched sizes are the output dims whatever the input's; an aspect-ratio policy ties
        # the resized axes together, so it needs every one of them.
        static = [d if isinstance(d, int) else 1 for d in x.shape]
        try:
            out, _ = resize_plan(static, axes, None, sizes, a.keep_aspect_ratio_policy)
        except ValueError as e:
            raise c.error(str(e)) from None
        for ax in axes:
            shape[ax] = out[ax]
    elif _given(scales) and not (c.has(3) and sizes is None):
        assert scales is not None
        factors = np.asarray(scales, dtype=np.float64).reshape(-1)
        if factors.size != len(axes):
            raise c.error(f"scales has {factors.size} values for {len(axes)} axes")
        for ax, f in zip(axes, factors):
            d = x.shape[ax]
            shape[ax] = int(math.floor(f * d)) if isinstance(d, int) else (
                d if f == 1 else c.sym("rs"))
    elif (c.has(2) and scales is None) or (c.has(3) and sizes is None):
        for ax in axes:  # decided by values known only when the model runs
            shape[ax] = c.sym("rs")
    else:
        raise c.error("one of scales and sizes must be given")
    return [x.with_shape(tuple(shape))]


# -- interpolation -----------------------------------------------------------------------------

def _source_coords(a: ResizeAttrs, in_w: int, out_w: int, scale: float,
                   roi: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Each output position's coordinate in the input, and which ones lie outside a crop."""
    y = np.arange(out_w, dtype=np.float64)
    length = scale * in_w  # the un-rounded output length the coordinate modes speak of
    mode = a.coordinate_transformation_mode
    outside = None
    if mode == "align_corners":
        x = np.zeros(out_w) if length == 1 else y * (in_w - 1) / (length - 1)
    elif mode == "asymmetric":
        x = y / scale
    elif mode == "tf_half_pixel_for_nn":
        x = (y + 0.5) / scale
    elif mode == "pytorch_half_pixel":
        x = np.zeros(out_w) if out_w == 1 else (y + 0.5) / scale - 0.5
    elif mode == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    elif mode == "half_pixel_symmetric":
        offset = in_w / 2 * (1 - out_w / length)
        x = offset + (y + 0.5) / scale - 0.5
    else:  # tf_crop_and_resize
        start, end = roi if roi is not None else (0.0, 1.0)
        if length == 1:
            x = np.full(out_w, (end - start) * (in_w - 1) / 2)
        else:
            x = y * (end - start) * (in_w - 1) / (length - 1)
        x = x + start * (in_w - 1)
        outside = (x < 0) | (x > in_w - 1)
    return x, outside


def _cubic(t: np.ndarray, coeff_a: float) -> np.ndarray:
    """Keys' cubic convolution kernel at distances t."""
    t = np.abs(t)
    near = ((coeff_a + 2) * t - (coeff_a + 3)) * t * t + 1
    far = ((coeff_a * t - 5 * coeff_a) * t + 8 * coeff_a) * t - 4 * coeff_a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _nearest_index(x: np.ndarray, nearest_mode: str) -> np.ndarray:
    floor = np.floor(x)
    frac = x - floor
    if nearest_mode == "floor":
        idx = floor
    elif nearest_mode == "ceil":
        idx = np.ceil(x)
    elif nearest_mode == "round_prefer_ceil":
        idx = np.where(frac >= 0.5, floor + 1, floor)
    else:  # round_prefer_floor
        idx = np.where(frac > 0.5, floor + 1, floor)
    return idx.astype(np.int64)


def _weights(a: ResizeAttrs, x: np.ndarray, in_w: int,
             scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour indices [out, taps] (may fall outside the input) and their weights."""
    if a.mode == "nearest":
        return _nearest_index(x, a.nearest_mode)[:, None], np.ones((x.shape[0], 1))
    # base is the neighbour left of x, strictly (x integral picks x - 1 with weight 0).
    base = np.ceil(x).astype(np.int64) - 1
    ratio = x - base  # in (0, 1]
    if a.antialias and scale < 1.0:
        # The kernel is stretched by 1/scale so that downsampling averages what it skips.
        reach = 1.0 if a.mode == "linear" else 2.0
        start = int(np.floor(-reach / scale) + 1)
        offsets = np.arange(start, 2 - start)
        dist = (offsets[None, :] - ratio[:, None]) * scale
        if a.mode == "linear":
            w = np.clip(1 - np.abs(dist), 0, 1)
        else:
            w = _cubic(dist, a.cubic_coeff_a)
        w = w / w.sum(axis=1, keepdims=True)
    elif a.mode == "linear":
        offsets = np.arange(0, 2)
        w = np.stack([1 - ratio, ratio], axis=1)
    else:
        offsets = np.arange(-1, 3)
        w = _cubic(offsets[None, :] - ratio[:, None], a.cubic_coeff_a)
    idx = base[:, None] + offsets[None, :]
    if a.exclude_outside:
        w = np.where((idx < 0) | (idx >= in_w), 0.0, w)
        total = w.sum(axis=1, keepdims=True)
        w = w / np.where(total == 0, 1.0, total)
    return idx, w


def _resize_axis(data: np.ndarray, axis: int, out_w: int, scale: float, a: ResizeAttrs,
                 roi: tuple[float, float] | None) -> np.ndarray:
    in_w = data.shape[axis]
    if out_w == 0 or in_w == 0:
        shape = list(data.shape)
        shape[axis] = out_w
        return np.zeros(shape)
    x, outside = _source_coords(a, in_w, out_w, scale, roi)
    idx, w = _weights(a, x, in_w, scale)
    taken = np.take(data, np.clip(idx, 0, in_w - 1), axis=axis)  # [..., out, taps, ...]
    wshape = (1,) * axis + w.shape + (1,) * (data.ndim - axis - 1)
    result = (taken * w.reshape(wshape)).sum(axis=axis + 1)
    if outside is not None and outside.any():
        mask = outside.reshape((1,) * axis + (out_w,) + (1,) * (data.ndim - axis - 1))
        result = np.where(mask, a.extrapolation_value, result)
    return result


def _cast_back(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(y), info.min, info.max).astype(dtype)
    return y.astype(dtype)


def resize(a: ResizeAttrs, x: np.ndarray, roi: np.ndarray | None, scales: np.ndarray | None,
           sizes: np.ndarray | None) -> np.ndarray:
    _check_modes(a)
    axes = _resized_axes(a, x.ndim)
    out, scale = resize_plan(x.shape, axes, scales, sizes, a.keep_aspect_ratio_policy)
    rois: dict[int, tuple[float, float]] = {}
    if _given(roi) and a.coordinate_transformation_mode == "tf_crop_and_resize":
        assert roi is not None
        flat = np.asarray(roi, dtype=np.float64).reshape(-1)
        if flat.size == 2 * len(axes):
            pairs = zip(axes, flat[:len(axes)], flat[len(axes):])
        elif flat.size == 2 * x.ndim:
            pairs = zip(range(x.ndim), flat[:x.ndim], flat[x.ndim:])
        else:
            raise ValueError(f"roi has {flat.size} values for {len(axes)} axes")
        rois = {ax: (float(s), float(e)) for ax, s, e in pairs}
    y = np.asarray(x, dtype=np.float64)
    for ax in axes:
        roi_ax = rois.get(ax)
        if (out[ax] == y.shape[ax] and math.isclose(scale[ax], 1.0)
                and (roi_ax is None or roi_ax == (0.0, 1.0))):
            continue  # identity along this axis
        y = _resize_axis(y, ax, out[ax], scale[ax], a, roi_ax)
    return _cast_back(y, x.dtype)


def _resize_ref(a: ResizeAttrs, x: np.ndarray, roi: np.ndarray | None = None,
                scales: np.ndarray | None = None, sizes: np.ndarray | None = None) -> np.ndarray:
    return resize(a, x, roi, scales, sizes)


def _known(t: TensorArg | None, what: str) -> np.ndarray | None:
    if t is None or t.numel == 0:
        return None
    if t.value is None:
        raise NoCompute(f"{what} is known only at run time")
    return np.asarray(t.value)


@dataclass(frozen=True)
class _AxisTaps:
    """How one resized axis reads the input: for an output index o along it and a tap t, the
    input index and its weight, and whether o lies outside a crop (None: never)."""

    axis: int
    taps: int
    index: Callable[[Expr, Expr], Expr]
    weight: Callable[[Expr, Expr], Expr]
    outside: Callable[[Expr], Expr] | None


def _table_taps(a: ResizeAttrs, ax: int, in_w: int, out_w: int, scale: float,
                roi: tuple[float, float] | None, work: DType) -> _AxisTaps:
    """The reference's own tables of neighbours and weights, built at compile time."""
    coords, outside = _source_coords(a, in_w, out_w, scale, roi)
    idx, w = _weights(a, coords, in_w, scale)
    idx_c, w_c = constant(np.clip(idx, 0, in_w - 1)), constant(w, work)
    off_c = constant(outside) if outside is not None and outside.any() else None
    return _AxisTaps(ax, w.shape[1], lambda o, t: idx_c[o, t], lambda o, t: w_c[o, t],
                     None if off_c is None else (lambda o: off_c[o]))


def _f64(e: Expr | float) -> Expr:
    return cp.cast(e, DType.F64) if isinstance(e, Expr) else Const(float(e), F64)


def _roi_taps(a: ResizeAttrs, ax: int, in_w: int, out_w: int, scale: float, roi: TensorArg,
              k: int, n: int) -> _AxisTaps:
    """tf_crop_and_resize with the roi read at run time (roi[k], roi[k + n] the crop's start
    and end along this axis): the reference's coordinates and weights as expressions, in f64."""
    length = scale * in_w
    last = float(in_w - 1)

    def coord(o: Expr) -> Expr:
        start, end = _f64(roi[k]), _f64(roi[k + n])
        if length == 1:
            x = (end - start) * last / 2.0
        else:
            x = _f64(o) * (end - start) * last / (length - 1)
        return x + start * last

    def outside(o: Expr) -> Expr:
        x = coord(o)
        return (x < 0.0) | (x > last)

    def clipped(i: Expr) -> Expr:
        return cp.clip(i, 0, in_w - 1)

    if a.mode == "nearest":
        def nearest(o: Expr, t: Expr) -> Expr:
            x = coord(o)
            floor = Math("floor", (x,))
            i: Expr
            if a.nearest_mode == "floor":
                i = floor
            elif a.nearest_mode == "ceil":
                i = Math("ceil", (x,))
            else:
                frac = x - floor
                up = frac >= 0.5 if a.nearest_mode == "round_prefer_ceil" else frac > 0.5
                i = select(up, floor + 1.0, floor)
            return clipped(cp.cast(i, INDEX))
        return _AxisTaps(ax, 1, nearest, lambda o, t: Const(1.0, F64), outside)

    # as _weights: the neighbour strictly left of x, taps at offsets from it
    if a.antialias and scale < 1.0:
        reach = 1.0 if a.mode == "linear" else 2.0
        first = int(np.floor(-reach / scale) + 1)
        stretch = scale
    else:
        first, stretch = (0, 1.0) if a.mode == "linear" else (-1, 1.0)
    taps = 2 - 2 * first if a.antialias and scale < 1.0 else (2 if a.mode == "linear" else 4)

    def base(o: Expr) -> Expr:
        return cp.cast(Math("ceil", (coord(o),)), INDEX) - 1

    def raw(o: Expr, offset: Expr) -> Expr:
        """The weight of the tap `offset` (f64) from the base, before any normalization."""
        ratio = coord(o) - _f64(base(o))
        if a.mode == "linear" and stretch == 1.0:  # the reference's two weights, as it has them
            return select(offset.eq(0.0), 1.0 - ratio, ratio)
        d = (offset - ratio) * stretch
        if a.mode == "linear":
            return cp.clip(1.0 - Math("abs", (d,)), 0.0, 1.0)
        return _cubic_expr(d, a.cubic_coeff_a)

    def counted(o: Expr, offset: Expr) -> Expr:
        w = raw(o, offset)
        if a.exclude_outside:
            i = base(o) + cp.cast(offset, INDEX)
            w = select((i < 0) | (i >= in_w), 0.0, w)
        return w

    def weight(o: Expr, t: Expr) -> Expr:
        w = counted(o, _f64(t) + float(first))
        if (a.antialias and scale < 1.0) or a.exclude_outside:
            # normalized over the taps (for antialias and exclude_outside the reference
            # normalizes twice, which is once unless every counted weight is 0)
            total: Expr = counted(o, Const(float(first), F64))
            for m in range(1, taps):
                total = total + counted(o, Const(float(first + m), F64))
            w = w / select(total.eq(0.0), 1.0, total) if a.exclude_outside else w / total
        return w

    return _AxisTaps(ax, taps, lambda o, t: clipped(base(o) + t + first), weight, outside)


def _cubic_expr(d: Expr, coeff_a: float) -> Expr:
    """_cubic as an expression."""
    t = Math("abs", (d,))
    near = ((t * (coeff_a + 2) - (coeff_a + 3)) * t) * t + 1.0
    far = ((t * coeff_a - 5 * coeff_a) * t + 8 * coeff_a) * t - 4 * coeff_a
    return select(t <= 1.0, near, select(t < 2.0, far, 0.0))


def resize_compute(a: ResizeAttrs, x: TensorArg, roi: np.ndarray | TensorArg | None,
                   scales: np.ndarray | None, sizes: np.ndarray | None) -> Stage:
    """Separable interpolation: out[i] = sum over the taps t of prod_axes w[i_ax, t_ax] *
    x[idx[i_ax, t_ax]] (extrapolation where a crop leaves the input), with the reference's own
    per-axis tables built at compile time, or for a crop known only at run time (a roi
    TensorArg) the same coordinates computed in the kernel. Computed in f64 for integer and
    f64 inputs, else f32."""
    _check_modes(a)
    axes = _resized_axes(a, x.rank)
    out, scale = resize_plan(x.shape, axes, scales, sizes, a.keep_aspect_ratio_policy)
    cropping = roi is not None and a.coordinate_transformation_mode == "tf_crop_and_resize"
    n_roi = 0 if not cropping or roi is None else (
        roi.numel if isinstance(roi, TensorArg) else np.size(roi))
    if cropping and n_roi not in (2 * len(axes), 2 * x.rank):
        raise NoCompute(f"roi has {n_roi} values for {len(axes)} axes")
    ax_of = axes if n_roi == 2 * len(axes) else list(range(x.rank))
    rois: dict[int, tuple[float, float]] = {}
    if cropping and not isinstance(roi, TensorArg):
        assert roi is not None
        flat = roi.astype(np.float64).reshape(-1)
        rois = {ax: (float(flat[k]), float(flat[k + len(ax_of)])) for k, ax in enumerate(ax_of)}
    work = DType.F32 if x.dtype in (DType.F32, DType.F16, DType.BF16) else DType.F64
    tables: list[_AxisTaps] = []   # every axis that changes
    for ax in axes:
        in_w = x.shape[ax]
        if isinstance(roi, TensorArg) and cropping:
            # the reference skips an axis whose size stays and whose crop is (0, 1); the
            # coordinates are then the output indices exactly, so resampling gives it too
            if out[ax] == 0 or in_w == 0:
                raise NoCompute("resizing from or to an empty axis")
            tables.append(_roi_taps(a, ax, in_w, out[ax], scale[ax], roi, ax_of.index(ax),
                                    len(ax_of)))
            continue
        if (out[ax] == in_w and math.isclose(scale[ax], 1.0)
                and rois.get(ax, (0.0, 1.0)) == (0.0, 1.0)):
            continue
        if out[ax] == 0 or in_w == 0:
            raise NoCompute("resizing from or to an empty axis")
        tables.append(_table_taps(a, ax, in_w, out[ax], scale[ax], rois.get(ax), work))

    def fn(*i: Expr) -> Expr:
        def term(*t: Expr) -> Expr:
            index: list[Expr] = list(i)
            weight: Expr | None = None
            for axis, tk in zip(tables, t):
                ax = axis.axis
                index[ax] = axis.index(i[ax], tk)
                w = cp.cast(axis.weight(i[ax], tk), work)
                weight = w if weight is None else weight * w
            v = cp.cast(x[tuple(index)], work)
            return v if weight is None else v * weight
        taps = [axis.taps for axis in tables]
        v = reduce("sum", taps, term) if any(n > 1 for n in taps) else term(
            *(Const(0, INDEX) for _ in taps))
        outside = [axis.outside(i[axis.axis]) for axis in tables if axis.outside is not None]
        if outside:
            off: Expr = outside[0]
            for o in outside[1:]:
                off = off | o
            v = select(off, a.extrapolation_value, v)
        if x.dtype.is_int:   # rounded, saturated to the type
            info = np.iinfo(x.dtype.np)
            v = cp.clip(Math("rint", (v,)), float(info.min), float(info.max))
        return v
    return cp.tensor(out, x.dtype, fn)


def _resize_compute(a: ResizeAttrs, x: TensorArg, roi: TensorArg | None = None,
                    scales: TensorArg | None = None, sizes: TensorArg | None = None) -> Stage:
    crop: np.ndarray | TensorArg | None = None
    if a.coordinate_transformation_mode == "tf_crop_and_resize" and roi is not None \
            and roi.numel > 0:
        crop = roi if roi.value is None else np.asarray(roi.value)  # else the roi is unused
    return resize_compute(a, x, crop, _known(scales, "scales"), _known(sizes, "sizes"))


op("Resize", ResizeAttrs, versions=(10, 11, 13, 18, 19), traits=("reduction",),
   infer=_resize_infer, reference=_resize_ref, compute=_resize_compute)


# -- Upsample --------------------------------------------------------------------------------

@dataclass(frozen=True)
class UpsampleAttrs:
    mode: str = "nearest"


def _upsample_as_resize(a: UpsampleAttrs) -> ResizeAttrs:
    mode = "linear" if a.mode in ("linear", "bilinear") else a.mode
    return ResizeAttrs(mode=mode, coordinate_transformation_mode="asymmetric",
                       nearest_mode="floor")


def _upsample_infer(c: InferCtx) -> list[Type]:
    x = c.t(0)
    if c.attrs.mode not in ("nearest", "linear", "bilinear"):
        raise c.error(f"unknown mode {c.attrs.mode!r}")
    scales = c.value(1)
    if scales is None:
        return [x.with_shape(tuple(c.sym("up") for _ in x.shape))]
    factors = np.asarray(scales, dtype=np.float64).reshape(-1)
    if factors.size != x.rank:
        raise c.error(f"scales has {factors.size} values for an input of rank {x.rank}")
    shape: list[Dim] = [int(math.floor(f * d)) if isinstance(d, int) else
                        (d if f == 1 else c.sym("up")) for f, d in zip(factors, x.shape)]
    return [TensorType(x.dtype, tuple(shape))]


def _upsample_ref(a: UpsampleAttrs, x: np.ndarray, scales: np.ndarray) -> np.ndarray:
    return resize(_upsample_as_resize(a), x, None, scales, None)


# Upsample-1 and -7 (scales as attributes) are rewritten into the -9 form by legacy_misc.py.
op("Upsample", UpsampleAttrs, versions=(1, 7, 9, 10), traits=("reduction",),
   infer=_upsample_infer, reference=_upsample_ref,
   compute=lambda a, x, scales: resize_compute(_upsample_as_resize(a), x, None,
                                               _known(scales, "scales"), None))

"""Sampling ops: GridSample (N-d nearest/linear/cubic with zeros/border/reflection padding),
AffineGrid, RoiAlign and MaxRoiPool.

Interpolation gathers every tap of every output point at once (one fancy index per tap), so the
Python loops run over taps (2**d or 4**d) and regions of interest, never over pixels.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..dtype import DType
from ..types import Dim, TensorType, Type
from .registry import InferCtx, as_ints, op

FLOATS = (DType.F16, DType.F32, DType.F64, DType.BF16)


def _float(c: InferCtx, i: int) -> TensorType:
    t = c.t(i)
    if t.dtype not in FLOATS:
        raise c.error(f"{c.op} input {i} must be a float tensor, got {t}")
    return t


# -- GridSample --------------------------------------------------------------------------------

@dataclass(frozen=True)
class GridSampleAttrs:
    align_corners: int = 0
    mode: str = "linear"
    padding_mode: str = "zeros"


def _infer_grid_sample(c: InferCtx) -> list[Type]:
    x, grid = _float(c, 0), _float(c, 1)
    a: GridSampleAttrs = c.attrs
    if a.mode not in ("nearest", "linear", "cubic") or \
            a.padding_mode not in ("zeros", "border", "reflection"):
        raise c.error(f"mode '{a.mode}' / padding_mode '{a.padding_mode}' are not known")
    spatial = x.rank - 2
    if spatial < 1 or grid.rank != x.rank or (isinstance(grid.shape[-1], int)
                                               and grid.shape[-1] != spatial):
        raise c.error(f"grid {grid} does not fit input {x}")
    if a.mode == "cubic" and spatial != 2:
        raise c.error("cubic mode samples 2-D inputs only")
    return [x.with_shape(x.shape[:2] + grid.shape[1:-1])]


def reflect(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold coordinates into [lo, hi] by reflecting at the borders as often as needed."""
    span = hi - lo
    if span <= 0:
        return np.full_like(v, lo)
    below, above = v < lo, v > hi
    dist = np.where(below, lo - v, np.where(above, v - hi, 0.0))
    flips = np.floor(dist / span)
    rest = dist - flips * span
    even = flips % 2 == 0
    folded_low = np.where(even, lo + rest, hi - rest)
    folded_high = np.where(even, hi - rest, lo + rest)
    return np.where(below, folded_low, np.where(above, folded_high, v))


def cubic_weights(t: np.ndarray, alpha: float = -0.75) -> list[np.ndarray]:
    """Keys' cubic convolution weights of taps -1, 0, 1, 2 at fraction t."""
    def near(d: np.ndarray) -> np.ndarray:
        return ((alpha + 2) * d - (alpha + 3)) * d * d + 1

    def far(d: np.ndarray) -> np.ndarray:
        return ((alpha * d - 5 * alpha) * d + 8 * alpha) * d - 4 * alpha
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _grid_sample(a: GridSampleAttrs, x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    n, ch = x.shape[:2]
    sizes = x.shape[2:]
    rank = len(sizes)
    g = grid.astype(np.float64)
    corners = bool(a.align_corners)
    lo_hi = [(0.0, s - 1.0) if corners else (-0.5, s - 0.5) for s in sizes]
    coords = []
    for d, size in enumerate(sizes):    # grid's last axis lists x (innermost) first
        u = g[..., rank - 1 - d]
        v = (u + 1) / 2 * (size - 1) if corners else ((u + 1) * size - 1) / 2
        if a.mode == "nearest":
            v = np.rint(v)
        lo, hi = lo_hi[d]
        if a.padding_mode == "border":
            v = np.where((v < lo) | (v > hi), np.clip(v, 0, size - 1), v)
        elif a.padding_mode == "reflection":
            v = reflect(v, lo, hi)
        coords.append(v)
    xt = np.moveaxis(x, 1, 0)                         # (C, N, *S)
    n_idx = np.arange(n).reshape((n,) + (1,) * (grid.ndim - 2))

    def fetch(idx: list[np.ndarray]) -> np.ndarray:
        """Pixels at integer positions, padded by padding_mode -> (C, N, *out)."""
        valid = np.ones(idx[0].shape, dtype=bool)
        where = []
        for d, (i, size) in enumerate(zip(idx, sizes)):
            if a.padding_mode == "reflection":
                i = np.trunc(reflect(i.astype(np.float64), *lo_hi[d])).astype(np.int64)
            elif a.padding_mode == "zeros":
                valid &= (i >= 0) & (i < size)
            where.append(np.clip(i, 0, size - 1))
        return xt[(slice(None), n_idx) + tuple(where)] * valid

    if a.mode == "nearest":
        out = fetch([v.astype(np.int64) for v in coords]).astype(np.float64)
    else:
        base = [np.floor(v) for v in coords]
        frac = [v - b for v, b in zip(coords, base)]
        taps: tuple[int, ...] = (0, 1) if a.mode == "linear" else (-1, 0, 1, 2)
        weights = ([[1 - f, f] for f in frac] if a.mode == "linear"
                   else [cubic_weights(f) for f in frac])
        out = np.zeros((ch,) + grid.shape[:-1], dtype=np.float64)
        for combo in itertools.product(range(len(taps)), repeat=rank):
            w = np.ones(grid.shape[:-1])
            for d, k in enumerate(combo):
                w = w * weights[d][k]
            out += fetch([(b + taps[k]).astype(np.int64) for b, k in zip(base, combo)]) * w
    return np.moveaxis(out, 0, 1).astype(x.dtype)


op("GridSample", GridSampleAttrs, versions=(16, 20, 22), infer=_infer_grid_sample,
   reference=_grid_sample)


# -- AffineGrid --------------------------------------------------------------------------------

@dataclass(frozen=True)
class AffineGridAttrs:
    align_corners: int = 0


def _infer_affine_grid(c: InferCtx) -> list[Type]:
    theta = _float(c, 0)
    size_t = c.t(1)
    if theta.rank != 3 or size_t.rank != 1:
        raise c.error(f"AffineGrid takes theta (N, 2, 3) or (N, 3, 4) and a 1-D size, got "
                      f"{theta} and {size_t}")
    size = as_ints(c.value(1))
    length = len(size) if size is not None else size_t.shape[0]
    if length not in (4, 5):
        raise c.error(f"size must list (N, C, H, W) or (N, C, D, H, W), got {size_t}")
    spatial: tuple[Dim, ...] = tuple(size[2:]) if size is not None else tuple(
        c.sym("grid") for _ in range(length - 2))
    return [theta.with_shape((theta.shape[0],) + spatial + (length - 2,))]


def _affine_grid(a: AffineGridAttrs, theta: np.ndarray, size: np.ndarray) -> np.ndarray:
    sizes = [int(s) for s in size[2:]]
    axes = []
    for s in sizes:
        i = np.arange(s, dtype=np.float64)
        if a.align_corners:
            axes.append(-1 + 2 * i / (s - 1) if s > 1 else np.full(s, -1.0))
        else:
            axes.append(-1 + (2 * i + 1) / s)
    mesh = np.meshgrid(*axes, indexing="ij")
    # homogeneous points (x, y[, z], 1): x runs along the last (width) axis
    points = np.stack([m.reshape(-1) for m in reversed(mesh)] + [np.ones(mesh[0].size)])
    grid = np.matmul(theta.astype(np.float64), points)          # (N, rank, pixels)
    grid = grid.transpose(0, 2, 1).reshape((theta.shape[0],) + tuple(sizes) + (len(sizes),))
    return grid.astype(theta.dtype)


op("AffineGrid", AffineGridAttrs, versions=(20,), infer=_infer_affine_grid,
   reference=_affine_grid)


# -- RoiAlign ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoiAlignAttrs:
    coordinate_transformation_mode: str = "half_pixel"
    mode: str = "avg"
    output_height: int = 1
    output_width: int = 1
    sampling_ratio: int = 0
    spatial_scale: float = 1.0


def _infer_roi_align(c: InferCtx) -> list[Type]:
    x, rois = _float(c, 0), c.t(1)
    a: RoiAlignAttrs = c.attrs
    if x.rank != 4 or rois.rank != 2 or c.t(2).rank != 1 or rois.dtype != x.dtype:
        raise c.error(f"RoiAlign takes X (N, C, H, W), rois (R, 4) of X's dtype and batch "
                      f"indices (R), got {x}, {rois}, {c.t(2)}")
    if a.mode not in ("avg", "max") or a.coordinate_transformation_mode not in (
            "half_pixel", "output_half_pixel"):
        raise c.error(f"mode '{a.mode}' / coordinate_transformation_mode "
                      f"'{a.coordinate_transformation_mode}' are not known")
    return [x.with_shape((rois.shape[0], x.shape[1], a.output_height, a.output_width))]


def _roi_samples(start: float, length: float, bins: int, grid: int,
                 size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Along one axis, for bins*grid sample points: low and high pixel, their weights, and
    whether the point is near enough to the image to count."""
    k = np.arange(bins)[:, None] * (length / bins) + (np.arange(grid)[None, :] + 0.5) * (
        length / bins / grid)
    v = (start + k).reshape(-1)
    inside = (v >= -1.0) & (v <= size)
    v = np.maximum(v, 0)
    low = np.floor(v).astype(np.int64)
    last = low >= size - 1
    low = np.where(last, size - 1, low)
    high = np.where(last, size - 1, low + 1)
    v = np.where(last, low, v)
    frac = v - low
    return low, high, np.where(inside, 1 - frac, 0), np.where(inside, frac, 0)


def _roi_align(a: RoiAlignAttrs, x: np.ndarray, rois: np.ndarray,
               batch_indices: np.ndarray) -> np.ndarray:
    height, width = x.shape[2:]
    oh, ow = a.output_height, a.output_width
    half = a.coordinate_transformation_mode == "half_pixel"
    out = np.zeros((rois.shape[0], x.shape[1], oh, ow), dtype=np.float64)
    for r, (box, b) in enumerate(zip(rois.astype(np.float64), batch_indices.reshape(-1))):
        x0, y0, x1, y1 = box * a.spatial_scale - (0.5 if half else 0.0)
        rw, rh = x1 - x0, y1 - y0
        if not half:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        gh = a.sampling_ratio if a.sampling_ratio > 0 else int(np.ceil(rh / oh))
        gw = a.sampling_ratio if a.sampling_ratio > 0 else int(np.ceil(rw / ow))
        ys = _roi_samples(y0, rh, oh, gh, height)
        xs = _roi_samples(x0, rw, ow, gw, width)
        img = x[int(b)].astype(np.float64)                 # (C, H, W)
        if a.mode == "avg":
            # bilinear sampling is separable: interpolation matrices along each axis
            ay = np.zeros((oh * gh, height))
            ax = np.zeros((ow * gw, width))
            for m, (low, high, wl, wh) in ((ay, ys), (ax, xs)):
                rows = np.arange(m.shape[0])
                np.add.at(m, (rows, low), wl)
                np.add.at(m, (rows, high), wh)
            ay = ay.reshape(oh, gh, height).sum(axis=1)
            ax = ax.reshape(ow, gw, width).sum(axis=1)
            out[r] = np.einsum("ph,chw,qw->cpq", ay, img, ax) / max(gh * gw, 1)
        else:
            best = None
            for yi, wy in ((ys[0], ys[2]), (ys[1], ys[3])):
                for xi, wx in ((xs[0], xs[2]), (xs[1], xs[3])):
                    v = img[:, yi[:, None], xi[None, :]] * (wy[:, None] * wx[None, :])
                    best = v if best is None else np.maximum(best, v)
            assert best is not None
            out[r] = best.reshape(-1, oh, gh, ow, gw).max(axis=(2, 4))
    return out.astype(x.dtype)


op("RoiAlign", RoiAlignAttrs, versions=(10, 16, 22), infer=_infer_roi_align,
   reference=_roi_align)


# -- MaxRoiPool --------------------------------------------------------------------------------

@dataclass(frozen=True)
class MaxRoiPoolAttrs:
    pooled_shape: tuple[int, ...] = ()
    spatial_scale: float = 1.0


def _infer_max_roi_pool(c: InferCtx) -> list[Type]:
    x, rois = _float(c, 0), c.t(1)
    shape = c.attrs.pooled_shape
    if x.rank != 4 or rois.rank != 2 or len(shape) != 2:
        raise c.error(f"MaxRoiPool takes X (N, C, H, W), rois (R, 5) and a 2-D pooled_shape, "
                      f"got {x}, {rois}, {list(shape)}")
    return [x.with_shape((rois.shape[0], x.shape[1]) + tuple(shape))]


def _bin_masks(start: int, end: int, bins: int, size: int) -> np.ndarray:
    """(bins, size): which pixels each bin covers (Caffe's ROI pooling rule)."""
    extent = max(end - start + 1, 1)
    k = np.arange(bins)
    lo = np.clip(np.floor(k * extent / bins).astype(np.int64) + start, 0, size)
    hi = np.clip(np.ceil((k + 1) * extent / bins).astype(np.int64) + start, 0, size)
    pixels = np.arange(size)
    return (pixels[None, :] >= lo[:, None]) & (pixels[None, :] < hi[:, None])


def _max_roi_pool(a: MaxRoiPoolAttrs, x: np.ndarray, rois: np.ndarray) -> np.ndarray:
    ph, pw = a.pooled_shape
    height, width = x.shape[2:]
    out = np.zeros((rois.shape[0], x.shape[1], ph, pw), dtype=x.dtype)
    for r, (b, *box) in enumerate(rois.astype(np.float64)):
        # round half away from zero, as C's round()
        x0, y0, x1, y1 = (int(np.sign(v) * np.floor(abs(v) + 0.5))
                          for v in np.asarray(box) * a.spatial_scale)
        my, mx = _bin_masks(y0, y1, ph, height), _bin_masks(x0, x1, pw, width)
        img = x[int(b)]
        low = np.asarray(-np.inf, dtype=img.dtype)
        cols = np.where(mx[None, None, :, :], img[:, :, None, :], low).max(axis=3)  # (C, H, pw)
        cells = np.where(my[None, :, :, None], cols[:, None, :, :], low).max(axis=2)
        empty = ~(np.any(my, axis=1)[:, None] & np.any(mx, axis=1)[None, :])
        out[r] = np.where(empty[None], 0, cells)
    return out


op("MaxRoiPool", MaxRoiPoolAttrs, versions=(1, 22), infer=_infer_max_roi_pool,
   reference=_max_roi_pool)

"""Convolutions: Conv, ConvInteger, ConvTranspose, DeformConv and Col2Im, N-d (1D/2D/3D and more).

One convolution is written here (`conv_nd`: im2col through a strided window view, then one batched
matmul over the groups) and reused by ConvInteger, QLinearConv (quant.py) and DeformConv (whose
columns are bilinear samples instead of a view). ConvTranspose and Col2Im share `col2im`.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import NoCompute, Stage, TensorArg, offset, reduce, scale, select
from ..dtype import DType
from ..kernel.expr import Expr
from ..types import Dim, TensorType, Type
from .nn_window import (
    Geometry,
    col2im,
    geometry,
    out_dims,
    pad_spatial,
    resolve,
    window_index,
    windows,
)
from .registry import InferCtx, as_ints, op

FLOAT_TYPES = (DType.F16, DType.F32, DType.F64, DType.BF16)


@dataclass(frozen=True)
class ConvAttrs:
    auto_pad: str = "NOTSET"
    dilations: tuple[int, ...] = ()
    group: int = 1
    kernel_shape: tuple[int, ...] = ()
    pads: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()


# -- shape rules -------------------------------------------------------------------------------

def kernel_of(c: InferCtx, a: ConvAttrs, w: TensorType, spatial: int) -> tuple[int, ...] | None:
    """The kernel's spatial sizes: the attribute, else the weight's static dims (None: unknown)."""
    if a.kernel_shape:
        if len(a.kernel_shape) != spatial:
            raise c.error(f"kernel_shape {list(a.kernel_shape)} does not fit {spatial} spatial "
                          "dims")
        return tuple(a.kernel_shape)
    dims = [d for d in w.shape[2:] if isinstance(d, int)]
    return tuple(dims) if len(dims) == w.rank - 2 else None


def conv_out_shape(c: InferCtx, a: ConvAttrs, x: TensorType, w: TensorType,
                   x_index: int = 0) -> tuple[Dim, ...]:
    """(N, M, *spatial) of a convolution of x by w, checking ranks and channel counts."""
    if x.rank < 3 or w.rank != x.rank:
        raise c.error(f"input {x} and weight {w} must both be rank >= 3 and of equal rank")
    if a.group < 1:
        raise c.error(f"group must be positive, got {a.group}")
    cin, wc = x.shape[1], w.shape[1]
    if isinstance(cin, int) and isinstance(wc, int) and cin != wc * a.group:
        raise c.error(f"input {x_index} has {cin} channels; weight {w} with group {a.group} "
                      f"expects {wc * a.group}")
    if isinstance(w.shape[0], int) and w.shape[0] % a.group:
        raise c.error(f"weight {w} has {w.shape[0]} output channels, not a multiple of group "
                      f"{a.group}")
    kernel = kernel_of(c, a, w, x.rank - 2)
    if kernel is None:
        return (x.shape[0], w.shape[0]) + tuple(c.sym("conv_out") for _ in x.shape[2:])
    g = geometry(c, kernel, a.strides, a.dilations, a.pads, a.auto_pad)
    return (x.shape[0], w.shape[0]) + out_dims(c, g, x.shape[2:])


def _infer_conv(c: InferCtx) -> list[Type]:
    x, w = c.t(0), c.t(1)
    if x.dtype not in FLOAT_TYPES or w.dtype != x.dtype:
        raise c.error(f"Conv takes float inputs of one dtype, got {x} and {w}")
    if c.has(2) and c.t(2).rank != 1:
        raise c.error(f"bias must be 1-D, got {c.t(2)}")
    return [TensorType(x.dtype, conv_out_shape(c, c.attrs, x, w))]


# -- the convolution -------------------------------------------------------------------------

def conv_geometry(a: ConvAttrs, w_shape: Sequence[int]) -> Geometry:
    return geometry(None, a.kernel_shape or tuple(w_shape[2:]), a.strides, a.dilations, a.pads,
                    a.auto_pad)


def columns_matmul(cols: np.ndarray, w: np.ndarray, group: int) -> np.ndarray:
    """cols (N, C, *out, *kernel) times weights (M, C/group, *kernel) -> (N, M, *out): one batched
    matmul over the groups (depthwise convolutions included)."""
    rank = w.ndim - 2
    n, ch = cols.shape[:2]
    outs = cols.shape[2:2 + rank]
    m, cg = w.shape[:2]
    if ch != cg * group or m % group:
        raise ValueError(f"{ch} input channels, weight {list(w.shape)} and group {group} "
                         "do not fit")
    mg, taps, pixels = m // group, int(np.prod(w.shape[2:], dtype=np.int64)), int(np.prod(outs))
    grouped = cols.reshape((n, group, cg) + cols.shape[2:])
    # (group, cg * taps, n * pixels): the weights multiply from the left, so that the product
    # comes out channel-major, as the output wants it (for a batch of one, without a copy)
    order = (1, 2) + tuple(range(3 + rank, 3 + 2 * rank)) + (0,) + tuple(range(3, 3 + rank))
    rhs = grouped.transpose(order).reshape(group, cg * taps, n * pixels)
    y = np.matmul(w.reshape(group, mg, cg * taps), rhs)      # (group, mg, n * pixels)
    y = y.reshape((m, n) + tuple(outs))
    return y.transpose((1, 0) + tuple(range(2, 2 + rank))) if n > 1 else y.reshape(
        (n, m) + tuple(outs))


def conv_nd(x: np.ndarray, w: np.ndarray, g: Geometry, group: int,
            pad_value: object = 0) -> np.ndarray:
    """Convolution (cross-correlation, as ONNX) of x (N, C, *S) by w (M, C/group, *K), in x's
    dtype."""
    if tuple(w.shape[2:]) != g.kernel:
        raise ValueError(f"weight {list(w.shape)} does not match kernel_shape {list(g.kernel)}")
    outs, begins, ends = resolve(g, x.shape[2:])
    view = windows(x, g, outs, begins, ends, pad_value)
    return columns_matmul(view, w, group)


def compute_dtype(dt: np.dtype) -> np.dtype:
    """Half-precision floats accumulate in float32 (as every serious backend does)."""
    return np.dtype(np.float64) if dt == np.float64 else np.dtype(np.float32)


def _conv(a: ConvAttrs, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    cd = compute_dtype(x.dtype)
    y = conv_nd(x.astype(cd, copy=False), w.astype(cd, copy=False), conv_geometry(a, w.shape),
                a.group)
    if b is not None:
        y = y + b.astype(cd).reshape((1, -1) + (1,) * (x.ndim - 2))
    return y.astype(x.dtype, copy=False)


Tap = Callable[[Expr, Expr, Expr], Expr]


def conv_stage(a: ConvAttrs, x: TensorArg, w: TensorArg, dtype: DType, tap: Tap,
               fill: Expr | float | int = 0.0,
               post: Callable[[Expr, Expr], Expr] | None = None) -> Stage:
    """The compute definition of every convolution: y[n, m, o] = post(acc, m) where acc sums,
    over the channels c of m's group and the taps k, tap(x[n, c, o * s - pad + k * d] (`fill`
    outside x), w[m, c, k], m)."""
    g = conv_geometry(a, w.shape)
    if tuple(w.shape[2:]) != g.kernel:
        raise NoCompute(f"weight {list(w.shape)} does not match kernel_shape {list(g.kernel)}")
    outs, begins, _ = resolve(g, x.shape[2:])
    m, cg = w.shape[:2]

    def fn(n: Expr, mo: Expr, *o: Expr) -> Expr:
        def term(c: Expr, *k: Expr) -> Expr:
            ch = c if a.group == 1 else mo // (m // a.group) * cg + c   # in m's group
            v = x.padded((n, ch) + window_index(g, begins, o, k), fill)
            return tap(v, w[(mo, c) + k], mo)
        acc = reduce("sum", (cg,) + g.kernel, term)
        return acc if post is None else post(acc, mo)
    return cp.tensor((x.shape[0], m) + tuple(outs), dtype, fn)


def _conv_compute(a: ConvAttrs, x: TensorArg, w: TensorArg, b: TensorArg | None = None) -> Stage:
    """Products accumulated in f32 (f64 for f64), as the reference does."""
    cd = DType.from_np(compute_dtype(x.dtype.np))
    return conv_stage(a, x, w, x.dtype, lambda v, u, m: cp.cast(v, cd) * cp.cast(u, cd), 0.0,
                      None if b is None else lambda acc, m: acc + cp.cast(b[m], cd))


op("Conv", ConvAttrs, versions=(1, 11, 22), traits=("reduction", "contraction"),
   infer=_infer_conv, reference=_conv, compute=_conv_compute)


# -- ConvInteger ------------------------------------------------------------------------------

def _infer_conv_integer(c: InferCtx) -> list[Type]:
    x, w = c.t(0), c.t(1)
    if x.dtype not in (DType.U8, DType.I8) or w.dtype not in (DType.U8, DType.I8):
        raise c.error(f"ConvInteger takes 8-bit integer inputs, got {x} and {w}")
    return [TensorType(DType.I32, conv_out_shape(c, c.attrs, x, w))]


def integer_conv(a: ConvAttrs, x: np.ndarray, w: np.ndarray, x_zero: np.ndarray | None,
                 w_zero: np.ndarray | None) -> np.ndarray:
    """Exact integer convolution of (x - x_zero) by (w - w_zero), as float64 (every partial sum of
    8-bit products fits its 53-bit mantissa), returned as int64."""
    shift = 0.0 if x_zero is None else float(np.asarray(x_zero).reshape(-1)[0])
    xs = x.astype(np.float64) - shift
    ws = w.astype(np.float64)
    if w_zero is not None:
        wz = np.asarray(w_zero, dtype=np.float64).reshape(-1)
        ws = ws - (wz.reshape((-1,) + (1,) * (w.ndim - 1)) if wz.size > 1 else wz[0])
    y = conv_nd(xs, ws, conv_geometry(a, w.shape), a.group)
    return np.rint(y).astype(np.int64)


def _conv_integer(a: ConvAttrs, x: np.ndarray, w: np.ndarray, x_zero: np.ndarray | None = None,
                  w_zero: np.ndarray | None = None) -> np.ndarray:
    return integer_conv(a, x, w, x_zero, w_zero).astype(np.int32)


def zero_point(p: TensorArg | None, i: Expr) -> Expr | int:
    """A zero point as an int32 expression: per tensor, or entry i of a per-channel one."""
    if p is None:
        return 0
    return cp.cast(p.scalar() if p.numel == 1 else p[i], DType.I32)


def integer_conv_stage(a: ConvAttrs, x: TensorArg, w: TensorArg, x_zero: TensorArg | None,
                       w_zero: TensorArg | None,
                       post: Callable[[Expr, Expr], Expr] | None = None,
                       dtype: DType = DType.I32) -> Stage:
    """(x - x_zero) convolved with (w - w_zero), exact in int32 (the padding is x_zero: it
    contributes nothing)."""
    fill = x_zero.scalar() if x_zero is not None else 0

    def tap(v: Expr, u: Expr, m: Expr) -> Expr:
        return ((cp.cast(v, DType.I32) - zero_point(x_zero, m))
                * (cp.cast(u, DType.I32) - zero_point(w_zero, m)))
    return conv_stage(a, x, w, dtype, tap, fill, post)


op("ConvInteger", ConvAttrs, versions=(10,), traits=("reduction", "contraction"),
   infer=_infer_conv_integer, reference=_conv_integer,
   compute=lambda a, x, w, xz=None, wz=None: integer_conv_stage(a, x, w, xz, wz))


# -- ConvTranspose ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvTransposeAttrs:
    auto_pad: str = "NOTSET"
    dilations: tuple[int, ...] = ()
    group: int = 1
    kernel_shape: tuple[int, ...] = ()
    output_padding: tuple[int, ...] = ()
    output_shape: tuple[int, ...] = ()
    pads: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()


def transpose_plan(a: ConvTransposeAttrs, kernel: Sequence[int], sizes: Sequence[Dim],
                   ) -> tuple[Geometry, list[Dim], list[int], list[int]]:
    """Geometry, output sizes and (begin, end) pads of a transposed convolution. With output_shape
    or SAME_* the pads follow from the output size (the odd one at the end for SAME_UPPER, at the
    beginning otherwise); a negative pad extends the output with zeros."""
    rank = len(kernel)
    g = geometry(None, kernel, a.strides, a.dilations, a.pads, a.auto_pad)
    extra = tuple(a.output_padding) or (0,) * rank
    given = tuple(a.output_shape)[-rank:] if a.output_shape else ()
    outs: list[Dim] = []
    begins, ends = [], []
    for i, size in enumerate(sizes):
        s, ext = g.strides[i], g.extent(i)
        natural = None if not isinstance(size, int) else s * (size - 1) + extra[i] + ext
        if given or g.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out: Dim | None = given[i] if given else (size * s if isinstance(size, int) else None)
            if natural is None or out is None:
                outs.append(out if out is not None else size)
                begins.append(0)
                ends.append(0)
                continue
            assert isinstance(out, int)
            total = natural - out
            begin = total // 2 if g.auto_pad == "SAME_UPPER" else total - total // 2
            outs.append(out)
            begins.append(begin)
            ends.append(total - begin)
        else:
            begin, end = g.pads[i], g.pads[i + rank]
            begins.append(begin)
            ends.append(end)
            outs.append(size if natural is None else natural - begin - end)
    return g, outs, begins, ends


def _infer_conv_transpose(c: InferCtx) -> list[Type]:
    x, w = c.t(0), c.t(1)
    a: ConvTransposeAttrs = c.attrs
    if x.dtype not in FLOAT_TYPES or w.dtype != x.dtype:
        raise c.error(f"ConvTranspose takes float inputs of one dtype, got {x} and {w}")
    if x.rank < 3 or w.rank != x.rank:
        raise c.error(f"input {x} and weight {w} must both be rank >= 3 and of equal rank")
    if isinstance(x.shape[1], int) and isinstance(w.shape[0], int) and x.shape[1] != w.shape[0]:
        raise c.error(f"input {x} has {x.shape[1]} channels, weight {w} expects {w.shape[0]}")
    m: Dim = w.shape[1] * a.group if isinstance(w.shape[1], int) else c.sym("convt_m")
    kernel = a.kernel_shape or tuple(d for d in w.shape[2:] if isinstance(d, int))
    if len(kernel) != x.rank - 2:
        return [TensorType(x.dtype, (x.shape[0], m) + tuple(c.sym("convt") for _ in x.shape[2:]))]
    g, outs, begins, ends = transpose_plan(a, kernel, x.shape[2:])
    spatial: list[Dim] = []
    for i, (o, d) in enumerate(zip(outs, x.shape[2:])):
        if isinstance(d, int) or a.output_shape:
            if isinstance(o, int) and o < 1:
                raise c.error(f"output size {o} of spatial axis {i} is not positive")
            spatial.append(o)
        else:   # the size is a symbol's: it stays that symbol only where the op keeps sizes
            keeps = (g.strides[i] == 1 and not (a.output_padding and a.output_padding[i])
                     and (g.auto_pad.startswith("SAME")
                          or g.pads[i] + g.pads[i + g.rank] == g.extent(i) - 1))
            spatial.append(d if keeps else c.sym(f"{d}_t"))
    return [TensorType(x.dtype, (x.shape[0], m) + tuple(spatial))]


def _conv_transpose(a: ConvTransposeAttrs, x: np.ndarray, w: np.ndarray,
                    b: np.ndarray | None = None) -> np.ndarray:
    cd = compute_dtype(x.dtype)
    rank = x.ndim - 2
    n, ch = x.shape[:2]
    kernel = tuple(w.shape[2:])
    g, outs, begins, _ = transpose_plan(a, kernel, x.shape[2:])
    group, mg = a.group, w.shape[1]
    cg, taps = ch // group, int(np.prod(kernel, dtype=np.int64))
    pixels = int(np.prod(x.shape[2:], dtype=np.int64))
    xg = x.astype(cd, copy=False).reshape(n, group, cg, pixels)
    wg = w.astype(cd, copy=False).reshape(group, cg, mg * taps).transpose(0, 2, 1)
    cols = np.matmul(wg, xg)                                  # (n, group, mg * taps, pixels)
    cols = cols.reshape((n, group * mg) + kernel + tuple(x.shape[2:]))
    natural = [(i - 1) * s + g.extent(k) for k, (i, s) in enumerate(zip(x.shape[2:], g.strides))]
    y = col2im(cols, g, natural)
    # the output is the natural image from `begin` on; a negative pad extends it with zeros
    sizes = [o for o in outs if isinstance(o, int)]    # all of them, for concrete inputs
    out = pad_spatial(y, [-bgn for bgn in begins],
                      [bgn + o - nat for bgn, o, nat in zip(begins, sizes, natural)])
    if b is not None:
        out += b.astype(cd).reshape((1, -1) + (1,) * rank)
    return out.astype(x.dtype, copy=False)


def _conv_transpose_compute(a: ConvTransposeAttrs, x: TensorArg, w: TensorArg,
                            b: TensorArg | None = None) -> Stage:
    """The gather form of the scatter: y[n, m, o] sums x[n, c, i] * w[c, m, k] over the taps k
    and input positions i with i * stride + k * dilation = o + begin."""
    kernel = tuple(w.shape[2:])
    g, outs, begins, _ = transpose_plan(a, kernel, x.shape[2:])
    cg, mg = x.shape[1] // a.group, w.shape[1]
    cd = DType.from_np(compute_dtype(x.dtype.np))

    def fn(n: Expr, mo: Expr, *o: Expr) -> Expr:
        m_in = mo if a.group == 1 else mo % mg

        def tap(c: Expr, *k: Expr) -> Expr:
            ch = c if a.group == 1 else mo // mg * cg + c   # in mo's group
            t = [offset(oi, bg) - scale(ki, d) for oi, ki, bg, d in zip(o, k, begins, g.dilations)]
            pos = tuple(ti if s == 1 else ti // s for ti, s in zip(t, g.strides))
            v = cp.cast(x.padded((n, ch) + pos, 0.0), cd) * cp.cast(w[(ch, m_in) + k], cd)
            hits = [(ti % s).eq(0) for ti, s in zip(t, g.strides) if s != 1]
            for h in hits[1:]:
                hits[0] = hits[0] & h
            return select(hits[0], v, 0.0) if hits else v
        acc = reduce("sum", (cg,) + kernel, tap)
        return acc if b is None else acc + cp.cast(b[mo], cd)
    sizes = tuple(d for d in outs if isinstance(d, int))  # all of them: x's shape is concrete
    return cp.tensor((x.shape[0], mg * a.group) + sizes, x.dtype, fn)


op("ConvTranspose", ConvTransposeAttrs, versions=(1, 11, 22), traits=("reduction", "contraction"),
   infer=_infer_conv_transpose, reference=_conv_transpose, compute=_conv_transpose_compute)


# -- DeformConv ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeformConvAttrs:
    dilations: tuple[int, ...] = ()
    group: int = 1
    kernel_shape: tuple[int, ...] = ()
    offset_group: int = 1
    pads: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()


def _infer_deform_conv(c: InferCtx) -> list[Type]:
    x, w, off = c.t(0), c.t(1), c.t(2)
    if x.dtype not in FLOAT_TYPES or w.dtype != x.dtype or off.dtype != x.dtype:
        raise c.error(f"DeformConv takes float inputs of one dtype, got {x}, {w}, {off}")
    if x.rank < 3 or w.rank != x.rank or off.rank != x.rank:
        raise c.error(f"input {x}, weight {w} and offset {off} must have equal rank >= 3")
    return [TensorType(x.dtype, (x.shape[0], w.shape[0]) + tuple(off.shape[2:]))]


def bilinear_columns(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Sample x (N, G, Cg, *S) at real positions (rank, N, G, *rest) by (multi)linear
    interpolation with zeros outside -> (N, G, Cg, *rest)."""
    rank = positions.shape[0]
    n, groups, cg = x.shape[:3]
    sizes = x.shape[3:]
    rest = positions.shape[3:]
    xt = np.moveaxis(x, 2, 0)                                   # (Cg, N, G, *S)
    n_idx = np.arange(n).reshape((n, 1) + (1,) * len(rest))
    g_idx = np.arange(groups).reshape((1, groups) + (1,) * len(rest))
    base = np.floor(positions)
    frac = positions - base
    base = base.astype(np.int64)
    out = np.zeros((cg, n, groups) + rest, dtype=x.dtype)
    for corner in itertools.product((0, 1), repeat=rank):
        weight = np.ones((n, groups) + rest, dtype=x.dtype)
        idx = []
        valid = np.ones((n, groups) + rest, dtype=bool)
        for d, bit in enumerate(corner):
            i = base[d] + bit
            weight = weight * (frac[d] if bit else 1 - frac[d])
            valid &= (i >= 0) & (i < sizes[d])
            idx.append(np.clip(i, 0, sizes[d] - 1))
        vals = xt[(slice(None), n_idx, g_idx) + tuple(idx)]
        out += vals * (weight * valid)
    return np.moveaxis(out, 0, 2)


def _deform_conv(a: DeformConvAttrs, x: np.ndarray, w: np.ndarray, offset: np.ndarray,
                 b: np.ndarray | None = None, mask: np.ndarray | None = None) -> np.ndarray:
    cd = compute_dtype(x.dtype)
    rank = x.ndim - 2
    n, ch = x.shape[:2]
    kernel = tuple(a.kernel_shape) or tuple(w.shape[2:])
    g = geometry(None, kernel, a.strides, a.dilations, a.pads)
    outs = tuple(offset.shape[2:])
    og = a.offset_group
    off = offset.astype(cd).reshape((n, og) + kernel + (rank,) + outs)
    # position of tap k of output pixel o along axis d: o*stride - pad + k*dilation + offset
    pos = np.empty((rank, n, og) + kernel + outs, dtype=cd)
    for d in range(rank):
        o_shape = [1] * (2 + 2 * rank)
        o_shape[2 + rank + d] = outs[d]
        k_shape = [1] * (2 + 2 * rank)
        k_shape[2 + d] = kernel[d]
        start = (np.arange(outs[d]) * g.strides[d] - g.pads[d]).reshape(o_shape)
        tap = (np.arange(kernel[d]) * g.dilations[d]).reshape(k_shape)
        pos[d] = start + tap + off[(Ellipsis, d) + (slice(None),) * rank]
    xs = x.astype(cd, copy=False).reshape((n, og, ch // og) + x.shape[2:])
    samples = bilinear_columns(xs, pos)                  # (N, og, C/og, *kernel, *outs)
    if mask is not None:
        m = mask.astype(cd).reshape((n, og, 1) + kernel + outs)
        samples = samples * m
    samples = samples.reshape((n, ch) + kernel + outs)
    order = (0, 1) + tuple(range(2 + rank, 2 + 2 * rank)) + tuple(range(2, 2 + rank))
    y = columns_matmul(samples.transpose(order), w.astype(cd, copy=False), a.group)
    if b is not None:
        y = y + b.astype(cd).reshape((1, -1) + (1,) * rank)
    return y.astype(x.dtype, copy=False)


op("DeformConv", DeformConvAttrs, versions=(19, 22), infer=_infer_deform_conv,
   reference=_deform_conv)


# -- Col2Im ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Col2ImAttrs:
    dilations: tuple[int, ...] = ()
    pads: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()


def _infer_col2im(c: InferCtx) -> list[Type]:
    x = c.t(0)
    if x.rank != 3:
        raise c.error(f"Col2Im takes a rank-3 input (N, C*prod(block_shape), L), got {x}")
    image, block = as_ints(c.value(1)), as_ints(c.value(2))
    ranks = [t.shape[0] for t in (c.t(1), c.t(2)) if t.rank == 1 and isinstance(t.shape[0], int)]
    rank = len(image) if image is not None else (ranks[0] if ranks else None)
    if rank is None:
        raise c.error("the length of image_shape must be known")
    ch: Dim = c.sym("col2im_c")
    if block is not None and isinstance(x.shape[1], int):
        taps = int(np.prod(block, dtype=np.int64))
        if x.shape[1] % taps:
            raise c.error(f"{x.shape[1]} rows are not a multiple of the block size {taps}")
        ch = x.shape[1] // taps
    spatial = tuple(image) if image is not None else tuple(c.sym("col2im") for _ in range(rank))
    return [TensorType(x.dtype, (x.shape[0], ch) + spatial)]


def _col2im(a: Col2ImAttrs, x: np.ndarray, image_shape: np.ndarray,
            block_shape: np.ndarray) -> np.ndarray:
    image = [int(v) for v in image_shape]
    kernel = [int(v) for v in block_shape]
    g = geometry(None, kernel, a.strides, a.dilations, a.pads)
    rank = len(image)
    begins, ends = list(g.pads[:rank]), list(g.pads[rank:])
    padded = [i + b + e for i, b, e in zip(image, begins, ends)]
    blocks = [(p - g.extent(k)) // g.strides[k] + 1 for k, p in enumerate(padded)]
    n, rows, length = x.shape
    taps = int(np.prod(kernel, dtype=np.int64))
    if rows % taps or length != int(np.prod(blocks, dtype=np.int64)):
        raise ValueError(f"input {list(x.shape)} does not fit image {image}, block {kernel}")
    cols = x.reshape((n, rows // taps) + tuple(kernel) + tuple(blocks))
    full = col2im(cols, g, padded)
    crop = tuple(slice(b, b + i) for b, i in zip(begins, image))
    return np.ascontiguousarray(full[(Ellipsis,) + crop]).astype(x.dtype, copy=False)


op("Col2Im", Col2ImAttrs, versions=(18,), infer=_infer_col2im, reference=_col2im)

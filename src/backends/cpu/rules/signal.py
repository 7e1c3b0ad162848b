"""cpu rules for signal and sampling ops: DFT and STFT (direct O(n^2) transforms),
MelWeightMatrix, GridSample, RoiAlign and DeformConv (interpolating gathers). Each is one kernel,
parallel over output points, computing in float64 as the references do; shape operands are read
from their buffers."""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

from ....ir import Node, TensorType, Type
from ....ir.kernel import F64, I64, Buffer, Expr, Kernel, KernelBuilder, Var, const, intrinsics
from ....ir.ops.nn_conv import DeformConvAttrs
from ....ir.ops.nn_sample import GridSampleAttrs, RoiAlignAttrs
from ....ir.ops.signal import DFTAttrs, MelWeightMatrixAttrs, STFTAttrs
from . import RULES

sel = intrinsics.select


class _Kernel:
    """A KernelBuilder with fresh names for temporaries and nests of loops."""

    def __init__(self, name: str):
        self.kb = KernelBuilder(name)
        self.count = 0

    def let(self, value: Expr, prefix: str = "v") -> Var:
        self.count += 1
        return self.kb.let(f"{prefix}{self.count}", value)

    def f64(self, value: Expr | float, prefix: str = "f") -> Var:
        return self.let(value if isinstance(value, Expr) else const(value, F64), prefix)

    def param(self, name: str, t: Type | None, access: str = "r") -> Buffer:
        assert isinstance(t, TensorType)
        return self.kb.buffer(name, t.dtype, t.static_shape, access=access)

    @contextmanager
    def nest(self, sizes: Sequence[int | Expr], prefix: str,
             kind: str = "parallel") -> Iterator[list[Var]]:
        """Loops over `sizes`, outermost first."""
        with ExitStack() as stack:
            yield [stack.enter_context(self.kb.for_(f"{prefix}{k}", 0, s, kind=kind, type=I64))
                   for k, s in enumerate(sizes)]


def _static(*ts: Type | None) -> bool:
    return all(isinstance(t, TensorType) and t.is_static for t in ts)


def _pick(which: Expr, values: Sequence[Expr | int]) -> Expr:
    """values[which] for a runtime index (the last value where none matches)."""
    out = values[-1]
    out_e = out if isinstance(out, Expr) else const(out, I64)
    for j in range(len(values) - 2, -1, -1):
        out_e = sel(which.eq(j), values[j], out_e)
    return out_e


def _indicator(cond: Expr) -> Expr:
    """1.0 where cond holds, else 0.0 (a factor, so NaN * 0 stays NaN as in the references)."""
    return sel(cond, const(1.0, F64), 0.0)


def _first(b: Buffer) -> Expr:
    """The one element of a scalar operand."""
    return b[(0,) * b.rank if b.shape else ()]


def _scalar(b: Buffer) -> Expr:
    """The one integer of a shape operand, as i64."""
    return _first(b).cast(I64)


# -- DFT / STFT ----------------------------------------------------------------------------------

@RULES.register("DFT")
def lower_dft(node: Node, a: DFTAttrs, types: list[Type | None]) -> Kernel | None:
    x_t, y_t = types[0], node.outputs[0].type
    if not _static(x_t, y_t):
        return None
    assert isinstance(x_t, TensorType) and isinstance(y_t, TensorType)
    rank, ins, outs = x_t.rank, x_t.static_shape, y_t.static_shape
    complex_in = ins[-1] == 2
    K = _Kernel("dft")
    kb = K.kb
    x = K.param("x", x_t)
    length = K.param("dft_length", types[1]) if types[1] is not None else None
    axis_b = K.param("axis", types[2]) if len(types) > 2 and types[2] is not None else None
    y = K.param("y", y_t, "w")
    ax0 = _scalar(axis_b) if axis_b is not None else const(-2, I64)
    ax = K.let(sel(ax0 < 0, ax0 + rank, ax0), "axis")
    size = K.let(_pick(ax, ins[:-1]), "size")            # the signal's length along the axis
    n: Expr
    if length is not None:
        n = K.let(_scalar(length), "n")
    else:
        n = K.let(size * 2 - 2 if a.inverse and a.onesided else size, "n")
    n_f = K.f64(n.cast(F64), "nf")
    with K.nest(outs[:-1], "o") as o:
        f = K.let(_pick(ax, o), "freq")
        re, im = K.f64(0.0, "re"), K.f64(0.0, "im")
        real_out = a.inverse and a.onesided
        # irfft reads the half spectrum and its mirror image (conjugated) past n // 2
        stop = n if real_out else n.min(size)
        with kb.for_("k", 0, stop, type=I64) as k:
            src: Expr = k
            if real_out:
                low = K.let(k <= n // 2, "low")
                src = K.let(sel(low, k, n - k).min(size - 1), "src")
            idx = [sel(ax.eq(j), src, o[j]) for j in range(rank - 1)]
            xr = K.f64(x[(*idx, 0)].cast(F64), "xr")
            xi = K.f64(x[(*idx, 1)].cast(F64) if complex_in else const(0.0, F64), "xi")
            ang = K.f64(((k * f) % n).cast(F64) * (2 * math.pi) / n_f, "ang")
            c, s = K.f64(intrinsics.cos(ang), "c"), K.f64(intrinsics.sin(ang), "s")
            if real_out:
                keep = _indicator(sel(low, k, n - k) < size)
                kb.assign(re, re + keep * (xr * c - sel(low, xi, -xi) * s))
            elif a.inverse:
                kb.assign(re, re + xr * c - xi * s)
                kb.assign(im, im + xi * c + xr * s)
            else:
                kb.assign(re, re + xr * c + xi * s)
                kb.assign(im, im + xi * c - xr * s)
        if a.inverse:
            kb.assign(re, re / n_f)
            kb.assign(im, im / n_f)
        y[(*o, 0)] = re.cast(y.elem)
        if not real_out:
            y[(*o, 1)] = im.cast(y.elem)
    return kb.finish()


@RULES.register("STFT")
def lower_stft(node: Node, a: STFTAttrs, types: list[Type | None]) -> Kernel | None:
    x_t, y_t = types[0], node.outputs[0].type
    if not _static(x_t, y_t):
        return None
    assert isinstance(x_t, TensorType) and isinstance(y_t, TensorType)
    K = _Kernel("stft")
    kb = K.kb
    x = K.param("signal", x_t)
    step_b = K.param("frame_step", types[1])
    window_t = types[2] if len(types) > 2 else None
    window = K.param("window", window_t) if window_t is not None else None
    frame_b = K.param("frame_length", types[3]) if len(types) > 3 and types[3] is not None \
        else None
    y = K.param("y", y_t, "w")
    step = K.let(_scalar(step_b), "step")
    if frame_b is not None:
        frame: Expr = K.let(_scalar(frame_b), "frame")
    else:
        frame = const(window_t.static_shape[0] if isinstance(window_t, TensorType)
                      else x_t.static_shape[1], I64)
    frame_f = K.f64(frame.cast(F64), "frame_f")
    complex_in = x_t.static_shape[2] == 2
    with K.nest(y_t.static_shape[:3], "o") as (b, t, f):
        re, im = K.f64(0.0, "re"), K.f64(0.0, "im")
        # a frame_length or frame_step other than the shapes were inferred from (which the
        # reference rejects) must not read out of bounds: indices are clamped
        stop = frame.min(window_t.static_shape[0]) if isinstance(window_t, TensorType) else frame
        with kb.for_("m", 0, stop, type=I64) as m:
            at = K.let((t * step + m).min(x_t.static_shape[1] - 1), "at")
            w: Expr = window[m].cast(F64) if window is not None else const(1.0, F64)
            xr = K.f64(x[b, at, 0].cast(F64) * w, "xr")
            xi = K.f64(x[b, at, 1].cast(F64) * w if complex_in else const(0.0, F64), "xi")
            ang = K.f64(((m * f) % frame).cast(F64) * (2 * math.pi) / frame_f, "ang")
            c, s = K.f64(intrinsics.cos(ang), "c"), K.f64(intrinsics.sin(ang), "s")
            kb.assign(re, re + xr * c + xi * s)
            kb.assign(im, im + xi * c - xr * s)
        y[b, t, f, 0] = re.cast(y.elem)
        y[b, t, f, 1] = im.cast(y.elem)
    return kb.finish()


# -- MelWeightMatrix ------------------------------------------------------------------------------

def _floor_divide(a: Expr, b: Expr) -> Expr:
    """numpy's float floor division (through fmod, so a // b is exact where a / b rounds up
    to an integer); a and b non-negative."""
    mod = intrinsics.math("fmod", a, b)
    div = (a - mod) / b
    low = intrinsics.floor(div)
    return sel(div - low > 0.5, low + 1.0, low)


@RULES.register("MelWeightMatrix")
def lower_mel_weight_matrix(node: Node, a: MelWeightMatrixAttrs,
                            types: list[Type | None]) -> Kernel | None:
    """Triangular filters between mel points evenly spaced from the lower to the upper edge,
    each mapped to its spectrum bin, as the reference: the sample rate and the edges are read
    at run time (specialization binds only the sizes, which the output's shape holds)."""
    y_t = node.outputs[0].type
    if not _static(*types, y_t):
        return None
    assert isinstance(y_t, TensorType)
    bins, mels = y_t.static_shape
    K = _Kernel("mel_weight_matrix")
    kb = K.kb
    K.param("num_mel_bins", types[0])
    dft_b, rate_b = K.param("dft_length", types[1]), K.param("sample_rate", types[2])
    low_b, high_b = K.param("lower_edge_hertz", types[3]), K.param("upper_edge_hertz", types[4])
    y = K.param("y", y_t, "w")

    def hz_to_mel(hz: Expr) -> Expr:
        return intrinsics.math("log10", 1.0 + hz / 700.0) * 2595.0

    dft = K.f64(_scalar(dft_b).cast(F64), "dft")
    rate = K.f64(_scalar(rate_b).cast(F64), "rate")
    low = K.f64(hz_to_mel(_first(low_b).cast(F64)), "low")
    high = K.f64(hz_to_mel(_first(high_b).cast(F64)), "high")
    with K.nest([mels], "m") as (m,):
        edges = []
        for k in range(3):     # the filter's left, center and right bins
            mel = low + ((m + k).cast(F64) * (high - low)) / float(mels + 2)
            hz = K.f64((intrinsics.pow(10.0, mel / 2595.0) - 1.0) * 700.0, "hz")
            edges.append(K.let(_floor_divide((dft + 1.0) * hz, rate).cast(I64), "edge"))
        left, center, right = edges
        with kb.for_("j", 0, bins, type=I64) as j:
            jf = j.cast(F64)
            rising = sel(center.eq(left), _indicator(j.eq(center)),
                         sel((j >= left) & (j <= center),
                             (jf - left.cast(F64)) / (center - left).cast(F64), 0.0))
            falling = (right > center) & (j >= center) & (j < right)
            w = sel(falling, (right.cast(F64) - jf) / (right - center).cast(F64), rising)
            y[j, m] = w.cast(y.elem)
    return kb.finish()


# -- GridSample ------------------------------------------------------------------------------------

def _reflect(K: _Kernel, v: Expr, lo: float, hi: float) -> Expr:
    """Fold v into [lo, hi] by reflecting at the borders as often as needed."""
    span = hi - lo
    if span <= 0:
        return const(lo, F64)
    below, above = K.let(v < lo, "below"), K.let(v > hi, "above")
    dist = K.f64(sel(below, lo - v, sel(above, v - hi, 0.0)), "dist")
    flips = K.f64(intrinsics.floor(dist / span), "flips")
    rest = K.f64(dist - flips * span, "rest")
    even = K.let(intrinsics.math("fmod", flips, 2.0).eq(0.0), "even")
    up, down = rest + lo, hi - rest
    return sel(below, sel(even, up, down), sel(above, sel(even, down, up), v))


def _cubic_weights(t: Expr, alpha: float = -0.75) -> list[Expr]:
    """Keys' cubic convolution weights of taps -1, 0, 1, 2 at fraction t."""
    def near(d: Expr) -> Expr:
        return ((d * (alpha + 2) - (alpha + 3)) * d) * d + 1.0

    def far(d: Expr) -> Expr:
        return ((d * alpha - 5 * alpha) * d + 8 * alpha) * d - 4 * alpha
    return [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]


@RULES.register("GridSample")
def lower_grid_sample(node: Node, a: GridSampleAttrs, types: list[Type | None]) -> Kernel | None:
    x_t, g_t, y_t = types[0], types[1], node.outputs[0].type
    if not _static(x_t, g_t, y_t):
        return None
    assert isinstance(x_t, TensorType) and isinstance(g_t, TensorType)
    batch, channels, *sizes = x_t.static_shape
    rank = len(sizes)
    corners = bool(a.align_corners)
    K = _Kernel("grid_sample")
    kb = K.kb
    x, grid, y = K.param("x", x_t), K.param("grid", g_t), K.param("y", y_t, "w")
    lo_hi = [(0.0, s - 1.0) if corners else (-0.5, s - 0.5) for s in sizes]
    with K.nest([batch, *g_t.static_shape[1:-1]], "o") as (n, *o):
        coords = []
        for d, size in enumerate(sizes):   # the grid's last axis lists x (innermost) first
            u = grid[(n, *o, rank - 1 - d)].cast(F64)
            v = K.f64((u + 1.0) / 2.0 * (size - 1.0) if corners
                      else ((u + 1.0) * size - 1.0) / 2.0, "u")
            if a.mode == "nearest":
                v = K.f64(intrinsics.math("rint", v), "u")
            lo, hi = lo_hi[d]
            if a.padding_mode == "border":
                v = K.f64(sel((v < lo) | (v > hi), v.max(0.0).min(size - 1.0), v), "u")
            elif a.padding_mode == "reflection":
                v = K.f64(_reflect(K, v, lo, hi), "u")
            coords.append(v)

        def fetch(d: int, i: Expr) -> tuple[Expr, Expr | None]:
            """Where tap index i of axis d reads (clamped), and whether it counts (zeros)."""
            size = sizes[d]
            valid = None
            if a.padding_mode == "reflection":
                i = _reflect(K, i.cast(F64), *lo_hi[d]).cast(I64)
            elif a.padding_mode == "zeros":
                valid = (i >= 0) & (i < size)
            return K.let(i.max(0).min(size - 1), "i"), valid

        # each tap: its weight (zero outside for zeros padding) and where it reads
        axes: list[list[tuple[int, Expr | None]]]
        if a.mode == "nearest":
            base, axes = [v.cast(I64) for v in coords], [[(0, None)] for _ in coords]
        else:
            base = [K.let(intrinsics.floor(v).cast(I64), "b") for v in coords]
            fracs = [K.f64(v - intrinsics.floor(v), "t") for v in coords]
            axes = ([[(0, 1.0 - t), (1, t)] for t in fracs] if a.mode == "linear" else
                    [list(zip((-1, 0, 1, 2), _cubic_weights(t))) for t in fracs])
        per_axis = [[(*fetch(d, base[d] + off), w) for off, w in choices]
                    for d, choices in enumerate(axes)]
        taps: list[tuple[list[Expr], Var]] = []
        for combo in _product([len(t) for t in per_axis]):
            weight: Expr = const(1.0, F64)
            where = []
            for d, k in enumerate(combo):
                i, valid, w = per_axis[d][k]
                if w is not None:
                    weight = weight * w
                if valid is not None:
                    weight = weight * _indicator(valid)
                where.append(i)
            taps.append((where, K.f64(weight, "w")))
        with kb.for_("c", 0, channels, type=I64) as c:
            acc: Expr = const(0.0, F64)
            for where, w in taps:
                acc = acc + x[(n, c, *where)].cast(F64) * w
            y[(n, c, *o)] = acc.cast(y.elem)
    return kb.finish()


def _product(counts: list[int]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for m in counts:
        out = [p + (k,) for p in out for k in range(m)]
    return out


# -- RoiAlign --------------------------------------------------------------------------------------

@RULES.register("RoiAlign")
def lower_roi_align(node: Node, a: RoiAlignAttrs, types: list[Type | None]) -> Kernel | None:
    x_t, r_t, b_t, y_t = types[0], types[1], types[2], node.outputs[0].type
    if not _static(x_t, r_t, b_t, y_t):
        return None
    assert isinstance(x_t, TensorType) and isinstance(r_t, TensorType)
    _, channels, height, width = x_t.static_shape
    oh, ow = a.output_height, a.output_width
    half = a.coordinate_transformation_mode == "half_pixel"
    K = _Kernel("roi_align")
    kb = K.kb
    x, rois, idx = K.param("x", x_t), K.param("rois", r_t), K.param("batch_indices", b_t)
    y = K.param("y", y_t, "w")
    with K.nest([r_t.static_shape[0], channels, oh, ow], "o") as (r, c, p, q):
        box = [K.f64(rois[r, k].cast(F64) * a.spatial_scale - (0.5 if half else 0.0), "box")
               for k in range(4)]
        x0, y0 = box[0], box[1]
        rw, rh = K.f64(box[2] - x0, "rw"), K.f64(box[3] - y0, "rh")
        if not half:
            rw, rh = K.f64(rw.max(1.0), "rw"), K.f64(rh.max(1.0), "rh")

        def count(extent: Expr, bins: int) -> Expr:
            if a.sampling_ratio > 0:
                return const(a.sampling_ratio, I64)
            return K.let(intrinsics.ceil(extent / float(bins)).cast(I64), "g")
        gh, gw = count(rh, oh), count(rw, ow)
        img = K.let(idx[r].cast(I64).max(0).min(x_t.static_shape[0] - 1), "img")
        mode_max = a.mode == "max"
        acc = K.f64(-math.inf if mode_max else 0.0, "acc")

        def sample(start: Expr, extent: Expr, bins: int, grid: Expr, bin_: Expr, k: Expr,
                   size: int) -> tuple[Var, Var, Var, Var]:
            """Along one axis: the low and high pixel of sample k of the bin and their
            weights (zero where the point is too far outside the image)."""
            step = extent / float(bins)
            v0 = K.f64(start + bin_.cast(F64) * step
                       + (k.cast(F64) + 0.5) * (step / grid.cast(F64)), "s")
            inside = K.let((v0 >= -1.0) & (v0 <= float(size)), "inside")
            v = K.f64(v0.max(0.0), "s")
            low0 = K.let(intrinsics.floor(v).cast(I64), "lo")
            last = K.let(low0 >= size - 1, "last")
            low = K.let(sel(last, const(size - 1, I64), low0), "lo")
            high = K.let(sel(last, const(size - 1, I64), low0 + 1), "hi")
            frac = K.f64(sel(last, low.cast(F64), v) - low.cast(F64), "fr")
            return (low, high, K.f64(sel(inside, 1.0 - frac, 0.0), "wl"),
                    K.f64(sel(inside, frac, 0.0), "wh"))
        with kb.for_("iy", 0, gh, type=I64) as iy:
            ly, hy, wly, why = sample(y0, rh, oh, gh, p, iy, height)
            with kb.for_("ix", 0, gw, type=I64) as ix:
                lx, hx, wlx, whx = sample(x0, rw, ow, gw, q, ix, width)
                terms = [x[img, c, yy, xx].cast(F64) * (wy * wx)
                         for yy, wy in ((ly, wly), (hy, why)) for xx, wx in ((lx, wlx), (hx, whx))]
                if mode_max:
                    for term in terms:
                        kb.assign(acc, acc.max(term))
                else:
                    kb.assign(acc, acc + terms[0] + terms[1] + terms[2] + terms[3])
        if not mode_max:
            kb.assign(acc, acc / (gh * gw).max(1).cast(F64))
        y[r, c, p, q] = acc.cast(y.elem)
    return kb.finish()


# -- DeformConv ------------------------------------------------------------------------------------

@RULES.register("DeformConv")
def lower_deform_conv(node: Node, a: DeformConvAttrs, types: list[Type | None]) -> Kernel | None:
    x_t, w_t, off_t, y_t = types[0], types[1], types[2], node.outputs[0].type
    b_t = types[3] if len(types) > 3 else None
    m_t = types[4] if len(types) > 4 else None
    if not _static(x_t, w_t, off_t, y_t):
        return None
    assert isinstance(x_t, TensorType) and isinstance(w_t, TensorType)
    assert isinstance(y_t, TensorType)
    batch, ch, *sizes = x_t.static_shape
    rank = len(sizes)
    kernel = tuple(a.kernel_shape) or tuple(w_t.static_shape[2:])
    strides = tuple(a.strides) or (1,) * rank
    dilations = tuple(a.dilations) or (1,) * rank
    pads = tuple(a.pads) or (0,) * (2 * rank)
    m_out = w_t.static_shape[0]
    cg, mg = ch // a.group, m_out // a.group
    taps = math.prod(kernel)
    per_og = ch // a.offset_group
    K = _Kernel("deform_conv")
    kb = K.kb
    x, w, off = K.param("x", x_t), K.param("w", w_t), K.param("offset", off_t)
    bias = K.param("b", b_t) if b_t is not None else None
    mask = K.param("mask", m_t) if m_t is not None else None
    y = K.param("y", y_t, "w")
    with K.nest([batch, m_out, *y_t.static_shape[2:]], "o") as (n, m, *o):
        acc = K.f64(0.0 if bias is None else bias[m].cast(F64), "acc")
        with kb.for_("ci", 0, cg, type=I64) as ci, kb.for_("tap", 0, taps, type=I64) as tap:
            c = K.let(m // mg * cg + ci, "c")
            og = K.let(c // per_og, "og")
            ks: list[Expr] = []       # the tap's position in the kernel, row-major
            rest: Expr = tap
            for d in range(rank - 1, -1, -1):
                ks.insert(0, K.let(rest % kernel[d], "kk"))
                rest = rest // kernel[d]
            pos = [K.f64((o[d] * strides[d] - pads[d] + ks[d] * dilations[d]).cast(F64)
                         + off[(n, (og * taps + tap) * rank + d, *o)].cast(F64), "pos")
                   for d in range(rank)]
            base = [K.let(intrinsics.floor(v).cast(I64), "b") for v in pos]
            frac = [K.f64(v - intrinsics.floor(v), "t") for v in pos]
            sample: Expr = const(0.0, F64)
            for corner in _product([2] * rank):
                weight: Expr = const(1.0, F64)
                where = []
                for d, bit in enumerate(corner):
                    i = base[d] + bit
                    weight = weight * (frac[d] if bit else 1.0 - frac[d])
                    weight = weight * _indicator((i >= 0) & (i < sizes[d]))
                    where.append(i.max(0).min(sizes[d] - 1))
                sample = sample + x[(n, c, *where)].cast(F64) * weight
            if mask is not None:
                sample = sample * mask[(n, og * taps + tap, *o)].cast(F64)
            kb.assign(acc, acc + sample * w[(m, ci, *ks)].cast(F64))
        y[(n, m, *o)] = acc.cast(y.elem)
    return kb.finish()

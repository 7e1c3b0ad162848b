"""Sliding-window geometry shared by convolution and pooling: resolving auto_pad into pads, output
sizes (for concrete and symbolic dims), strided window views (im2col) and their inverse (col2im).

Declares no ops; nn_conv, nn_pool and quant build on it so that every windowed op agrees on what
SAME_UPPER, ceil_mode or a dilation means.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..compute import offset, scale
from ..dtype import DType
from ..kernel.expr import Expr
from ..types import Dim, Sym
from .registry import InferCtx

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


@dataclass(frozen=True)
class Geometry:
    """Per spatial axis: kernel, strides, dilations and explicit pads (begin, end) of a windowed op,
    with omitted attributes already filled with their defaults."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple[int, ...]   # ONNX order: all begins, then all ends
    auto_pad: str = "NOTSET"
    ceil_mode: bool = False

    @property
    def rank(self) -> int:
        return len(self.kernel)

    def extent(self, i: int) -> int:
        """How far one window reaches along axis i (dilated kernel size)."""
        return (self.kernel[i] - 1) * self.dilations[i] + 1


def geometry(c: InferCtx | None, kernel: Sequence[int], strides: Sequence[int],
             dilations: Sequence[int], pads: Sequence[int], auto_pad: str = "NOTSET",
             ceil_mode: int = 0) -> Geometry:
    """Fill defaults and check that the attribute lengths agree with the kernel's rank."""
    n = len(kernel)

    def fail(message: str) -> Exception:
        return c.error(message) if c is not None else ValueError(message)

    strides = tuple(strides) or (1,) * n
    dilations = tuple(dilations) or (1,) * n
    pads = tuple(pads) or (0,) * (2 * n)
    if auto_pad not in AUTO_PADS:
        raise fail(f"auto_pad '{auto_pad}' is not one of {', '.join(AUTO_PADS)}")
    if len(strides) != n or len(dilations) != n or len(pads) != 2 * n:
        raise fail(f"strides {list(strides)}, dilations {list(dilations)} and pads {list(pads)} "
                   f"do not fit a kernel of rank {n}")
    if min(strides, default=1) < 1 or min(dilations, default=1) < 1 or min(kernel, default=1) < 1:
        raise fail("kernel sizes, strides and dilations must be positive")
    return Geometry(tuple(int(k) for k in kernel), strides, dilations, pads, auto_pad,
                    bool(ceil_mode))


def resolve(g: Geometry, sizes: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
    """Output sizes and the (begin, end) pads actually applied, for concrete input sizes.

    SAME_* pads so that out = ceil(in / stride) (the odd pixel goes to the end for SAME_UPPER, to
    the beginning for SAME_LOWER); VALID pads nothing; explicit pads with ceil_mode may let the
    last window hang past the end padding, but never start inside it (as PyTorch)."""
    outs, begins, ends = [], [], []
    for i, size in enumerate(sizes):
        s, ext = g.strides[i], g.extent(i)
        if g.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out = -(-size // s)
            total = max(0, (out - 1) * s + ext - size)
            small = total // 2
            begin = small if g.auto_pad == "SAME_UPPER" else total - small
            end = total - begin
        elif g.auto_pad == "VALID":
            out, begin, end = max(0, (size - ext) // s + 1), 0, 0
        else:
            begin, end = g.pads[i], g.pads[i + g.rank]
            span = size + begin + end - ext
            if g.ceil_mode:
                out = -(-span // s) + 1
                if (out - 1) * s >= size + begin:
                    out -= 1
            else:
                out = span // s + 1
            out = max(out, 0)
        outs.append(out)
        begins.append(begin)
        ends.append(end)
    return outs, begins, ends


def out_dims(c: InferCtx, g: Geometry, dims: Sequence[Dim]) -> tuple[Dim, ...]:
    """Output spatial dims for input dims that may be symbols: a symbol stays the same symbol where
    the window keeps the size (stride 1 and padding that makes up for the kernel), else a fresh
    symbol stands for the size that only concrete inputs decide."""
    out: list[Dim] = []
    for i, d in enumerate(dims):
        if isinstance(d, int):
            got = resolve(Geometry(g.kernel[i:i + 1], g.strides[i:i + 1], g.dilations[i:i + 1],
                                   (g.pads[i], g.pads[i + g.rank]), g.auto_pad, g.ceil_mode),
                          [d])[0][0]
            if got < 1:
                raise c.error(f"the window ({g.extent(i)} wide, pads {g.pads[i]}+"
                              f"{g.pads[i + g.rank]}) does not fit spatial size {d} of axis {i}")
            out.append(got)
            continue
        keeps = g.strides[i] == 1 and (
            g.auto_pad in ("SAME_UPPER", "SAME_LOWER")
            or (g.auto_pad == "VALID" and g.extent(i) == 1)
            or (g.auto_pad == "NOTSET" and g.pads[i] + g.pads[i + g.rank] == g.extent(i) - 1))
        out.append(d if keeps else c.sym(f"{d}_w"))
    return tuple(out)


def pad_spatial(x: np.ndarray, begins: Sequence[int], ends: Sequence[int],
                value: object = 0) -> np.ndarray:
    """Pad the trailing spatial axes of x (begin/end may be negative: that crops)."""
    lead = x.ndim - len(begins)
    if any(b < 0 for b in begins) or any(e < 0 for e in ends):
        crop = tuple(slice(max(0, -b), x.shape[lead + i] - max(0, -e))
                     for i, (b, e) in enumerate(zip(begins, ends)))
        x = x[(slice(None),) * lead + crop]
        begins = [max(0, b) for b in begins]
        ends = [max(0, e) for e in ends]
    if not any(begins) and not any(ends):
        return x
    widths = [(0, 0)] * lead + [(int(b), int(e)) for b, e in zip(begins, ends)]
    return np.pad(x, widths, mode="constant", constant_values=value)  # type: ignore[call-overload]


def windows(x: np.ndarray, g: Geometry, outs: Sequence[int], begins: Sequence[int],
            ends: Sequence[int], value: object = 0) -> np.ndarray:
    """A read-only view (lead..., *outs, *kernel) of every window of x's trailing spatial axes,
    after padding with `value` (and enough extra at the end for the last ceil_mode window)."""
    lead = x.ndim - g.rank
    need = [(o - 1) * s + g.extent(i) if o > 0 else 0
            for i, (o, s) in enumerate(zip(outs, g.strides))]
    ends = [max(e, n - x.shape[lead + i] - b)
            for i, (b, e, n) in enumerate(zip(begins, ends, need))]
    xp = np.ascontiguousarray(pad_spatial(x, begins, ends, value))
    st = xp.strides
    shape = xp.shape[:lead] + tuple(outs) + g.kernel
    strides = (st[:lead] + tuple(st[lead + i] * g.strides[i] for i in range(g.rank))
               + tuple(st[lead + i] * g.dilations[i] for i in range(g.rank)))
    return np.lib.stride_tricks.as_strided(xp, shape, strides, writeable=False)


def col2im(cols: np.ndarray, g: Geometry, full: Sequence[int]) -> np.ndarray:
    """Sum window contributions back into an image: cols is (lead..., *kernel, *blocks); block b
    of kernel tap k lands at b * stride + k * dilation of an image of sizes `full` (which must
    hold every window). One vectorized add per kernel tap, never a loop over pixels."""
    lead = cols.ndim - 2 * g.rank
    blocks = cols.shape[lead + g.rank:]
    out = np.zeros(cols.shape[:lead] + tuple(full), dtype=cols.dtype)
    for tap in itertools.product(*(range(k) for k in g.kernel)):
        where = tuple(slice(t * d, t * d + (b - 1) * s + 1, s)
                      for t, d, s, b in zip(tap, g.dilations, g.strides, blocks))
        out[(Ellipsis,) + where] += cols[(Ellipsis,) + tap + (slice(None),) * g.rank]
    return out


def window_index(g: Geometry, begins: Sequence[int], out: Sequence[Expr],
                 taps: Sequence[Expr]) -> tuple[Expr, ...]:
    """For compute definitions: the input positions that tap `taps` of the window at output
    position `out` reads (out * stride - begin + tap * dilation, per spatial axis)."""
    return tuple(offset(scale(o, s) + scale(k, d), -b)
                 for o, k, s, d, b in zip(out, taps, g.strides, g.dilations, begins))


def is_float(dt: np.dtype) -> bool:
    """numpy's float kinds and ml_dtypes' (bfloat16, float8, ...: numpy kind 'V')."""
    return dt.kind == "f" or (dt.kind == "V" and DType.from_np(dt).is_float)


def widened(x: np.ndarray) -> np.ndarray:
    """Floats narrower than float32 computed in float32 (and rounded once at the end)."""
    return x.astype(np.float32) if is_float(x.dtype) and x.dtype.itemsize < 4 else x


def spatial_sym(c: InferCtx, hint: str, n: int) -> tuple[Sym, ...]:
    return tuple(c.sym(hint) for _ in range(n))

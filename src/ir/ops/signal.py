"""Signal processing: DFT, STFT, the Blackman/Hamming/Hann windows and MelWeightMatrix.

Complex tensors travel as real ones with a trailing dim of 2 (real, imaginary); a trailing dim of
1 is a real signal. DFT-17 (axis as an attribute) is rewritten by frontends/onnx/legacy_misc.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dtype import DType
from ..types import Dim, TensorType, Type
from .registry import InferCtx, as_ints, op


def _scalar(c: InferCtx, i: int) -> int | None:
    v = as_ints(c.value(i))
    return v[0] if v else None


def _to_complex(x: np.ndarray) -> np.ndarray:
    """[..., 1] real or [..., 2] (re, im) -> complex [...]: complex128 for float64 input, else
    complex64 (transforms then round as single-precision FFTs do)."""
    ctype = np.complex128 if x.dtype == np.float64 else np.complex64
    if x.shape[-1] == 1:
        return x[..., 0].astype(ctype)
    z = np.empty(x.shape[:-1], dtype=ctype)
    z.real, z.imag = x[..., 0], x[..., 1]
    return z


def _from_complex(z: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.stack([z.real, z.imag], axis=-1).astype(dtype)


# -- DFT -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DFTAttrs:
    inverse: int = 0
    onesided: int = 0


def _dft_axis(rank: int, axis: int) -> int:
    """The signal axis; the trailing (re, im) dim is never one."""
    if not -rank <= axis <= rank - 2:
        raise ValueError(f"axis {axis} is out of range for a signal of rank {rank}")
    return axis + rank if axis < 0 else axis


def _dft_infer(c: InferCtx) -> list[Type]:
    a: DFTAttrs = c.attrs
    x = c.t(0)
    if x.rank < 2 or x.shape[-1] not in (1, 2) and isinstance(x.shape[-1], int):
        raise c.error(f"input must end in a dim of 1 (real) or 2 (complex), got {x}")
    if not x.dtype.is_float:
        raise c.error(f"input must be floating point, got {x}")
    axis_known = _scalar(c, 2) if c.has(2) else -2
    if axis_known is None:
        # Which axis is transformed is unknown: only a full-length transform keeps every dim.
        last = 1 if a.inverse and a.onesided else 2
        if not c.has(1) and not a.onesided:
            return [x.with_shape((*x.shape[:-1], last))]
        return [x.with_shape((*(c.sym("dft") for _ in x.shape[:-1]), last))]
    try:
        axis = _dft_axis(x.rank, axis_known)
    except ValueError as e:
        raise c.error(str(e)) from None
    n: Dim | None = _scalar(c, 1) if c.has(1) else None
    if c.has(1) and n is None:
        n = c.sym("dft_len")
    dims = list(x.shape)
    if a.inverse and a.onesided:  # complex half spectrum -> real signal
        if n is None:
            half = dims[axis]
            n = 2 * (half - 1) if isinstance(half, int) else c.sym("dft_len")
        dims[axis], dims[-1] = n, 1
    else:
        if n is None:
            n = dims[axis]
        if a.onesided:
            dims[axis] = n // 2 + 1 if isinstance(n, int) else c.sym("dft_bins")
        else:
            dims[axis] = n
        dims[-1] = 2
    return [x.with_shape(tuple(dims))]


def _dft_ref(a: DFTAttrs, x: np.ndarray, dft_length: np.ndarray | None = None,
             axis: np.ndarray | None = None) -> np.ndarray:
    ax = _dft_axis(x.ndim, -2 if axis is None else int(np.asarray(axis).reshape(-1)[0]))
    z = _to_complex(x)
    n = None if dft_length is None else int(np.asarray(dft_length).reshape(-1)[0])
    if a.inverse and a.onesided:
        n = 2 * (z.shape[ax] - 1) if n is None else n
        return np.fft.irfft(z, n=n, axis=ax)[..., None].astype(x.dtype)
    n = z.shape[ax] if n is None else n
    out = np.fft.ifft(z, n=n, axis=ax) if a.inverse else np.fft.fft(z, n=n, axis=ax)
    if a.onesided:
        out = np.take(out, np.arange(n // 2 + 1), axis=ax)
    return _from_complex(out, x.dtype)


op("DFT", DFTAttrs, versions=(17, 20), infer=_dft_infer, reference=_dft_ref)


# -- STFT ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class STFTAttrs:
    onesided: int = 1


def _stft_infer(c: InferCtx) -> list[Type]:
    a: STFTAttrs = c.attrs
    x = c.t(0)
    if x.rank != 3 or not x.dtype.is_float:
        raise c.error(f"signal must be [batch, length, 1 or 2] floats, got {x}")
    step = _scalar(c, 1)
    frame: Dim | None = _scalar(c, 3) if c.has(3) else None
    if frame is None and c.has(2):
        frame = c.t(2).shape[0]
    if frame is None:
        frame = x.shape[1] if not c.has(3) else c.sym("frame_len")
    length = x.shape[1]
    frames: Dim = (1 + (length - frame) // step
                   if isinstance(length, int) and isinstance(frame, int) and step
                   else c.sym("frames"))
    real = x.shape[2] == 1 and (not c.has(2) or c.t(2).rank == 1)
    bins: Dim = frame
    if a.onesided and real:
        bins = frame // 2 + 1 if isinstance(frame, int) else c.sym("bins")
    return [x.with_shape((x.shape[0], frames, bins, 2))]


def _stft_ref(a: STFTAttrs, x: np.ndarray, frame_step: np.ndarray,
              window: np.ndarray | None = None,
              frame_length: np.ndarray | None = None) -> np.ndarray:
    step = int(np.asarray(frame_step).reshape(-1)[0])
    if frame_length is not None:
        frame = int(np.asarray(frame_length).reshape(-1)[0])
    else:
        frame = x.shape[1] if window is None else window.shape[0]
    win = np.ones(frame) if window is None else np.asarray(window, dtype=np.float64)
    if win.shape[0] != frame:
        raise ValueError(f"window has {win.shape[0]} samples, frame_length is {frame}")
    z = _to_complex(x)  # [batch, length]
    n_frames = 1 + (z.shape[1] - frame) // step
    starts = np.arange(n_frames) * step
    frames = z[:, starts[:, None] + np.arange(frame)[None, :]] * win  # [batch, frames, frame]
    spectrum = np.fft.fft(frames, axis=-1)
    if a.onesided and x.shape[-1] == 1:
        spectrum = spectrum[..., :frame // 2 + 1]
    return _from_complex(spectrum, x.dtype)


op("STFT", STFTAttrs, versions=(17,), infer=_stft_infer, reference=_stft_ref)


# -- windows -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WindowAttrs:
    output_datatype: DType = DType.F32  # the ONNX attribute's code, read by legacy_misc.py
    periodic: int = 1


def _window_infer(c: InferCtx) -> list[Type]:
    size = c.t(0)
    if size.numel not in (1, None) or not size.dtype.is_int:
        raise c.error(f"size must be one integer, got {size}")
    n = _scalar(c, 0)
    return [TensorType(c.attrs.output_datatype, (n if n is not None else c.sym("window"),))]


def _cosine_window(coeffs: tuple[float, ...]):  # type: ignore[no-untyped-def]
    """sum_k (-1)^k a_k cos(2 pi k n / N), N = size (periodic) or size - 1 (symmetric)."""
    def ref(a: WindowAttrs, size: np.ndarray) -> np.ndarray:
        count = int(np.asarray(size).reshape(-1)[0])
        period = count if a.periodic else count - 1
        n = np.arange(count, dtype=np.float64)
        if period == 0:  # a symmetric window of one sample is that sample, at full weight
            return np.ones(count, dtype=a.output_datatype.np)
        angle = 2.0 * np.pi * n / period
        w = sum(((-1) ** k) * ak * np.cos(k * angle) for k, ak in enumerate(coeffs))
        return np.asarray(w, dtype=np.float64).astype(a.output_datatype.np)
    return ref


op("HannWindow", WindowAttrs, versions=(17,), infer=_window_infer,
   reference=_cosine_window((0.5, 0.5)))
op("HammingWindow", WindowAttrs, versions=(17,), infer=_window_infer,
   reference=_cosine_window((25.0 / 46.0, 21.0 / 46.0)))
op("BlackmanWindow", WindowAttrs, versions=(17,), infer=_window_infer,
   reference=_cosine_window((0.42, 0.5, 0.08)))


# -- MelWeightMatrix -----------------------------------------------------------------------------

@dataclass(frozen=True)
class MelWeightMatrixAttrs:
    output_datatype: DType = DType.F32  # the ONNX attribute's code, read by legacy_misc.py


def _mel_infer(c: InferCtx) -> list[Type]:
    for i in range(5):
        if c.t(i).numel not in (1, None):
            raise c.error(f"input {i} must be a scalar, got {c.t(i)}")
    mels, dft = _scalar(c, 0), _scalar(c, 1)
    return [TensorType(c.attrs.output_datatype,
                       (dft // 2 + 1 if dft is not None else c.sym("spectrum_bins"),
                        mels if mels is not None else c.sym("mel_bins")))]


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return np.asarray(2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0))


def _mel_ref(a: MelWeightMatrixAttrs, num_mel_bins: np.ndarray, dft_length: np.ndarray,
             sample_rate: np.ndarray, lower_edge_hertz: np.ndarray,
             upper_edge_hertz: np.ndarray) -> np.ndarray:
    mels, dft = int(num_mel_bins), int(dft_length)
    rate = int(sample_rate)
    bins = dft // 2 + 1
    low, high = _hz_to_mel(float(lower_edge_hertz)), _hz_to_mel(float(upper_edge_hertz))
    # num_mel_bins + 2 points evenly spaced in mel, each mapped to its spectrum bin.
    mel_points = low + np.arange(mels + 2) * (high - low) / (mels + 2)
    hz_points = 700.0 * (10.0 ** (mel_points / 2595.0) - 1.0)
    edges = ((dft + 1) * hz_points // rate).astype(np.int64)
    out = np.zeros((bins, mels))
    for m in range(mels):
        left, center, right = edges[m], edges[m + 1], edges[m + 2]
        if center == left:
            out[center, m] = 1.0
        else:
            j = np.arange(left, center + 1)
            out[j, m] = (j - left) / (center - left)
        if right > center:
            j = np.arange(center, right)
            out[j, m] = (right - j) / (right - center)
    return out.astype(a.output_datatype.np)


op("MelWeightMatrix", MelWeightMatrixAttrs, versions=(17,), infer=_mel_infer,
   reference=_mel_ref)

"""DFT (real/complex, onesided, inverse, dft_length, axis as input or DFT-17 attribute), STFT,
the window functions and MelWeightMatrix, against numpy's FFT, the window formulas and
onnx.reference."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper
from onnx.reference import ReferenceEvaluator

import dlc
from dlc.frontends.onnx.importer import import_onnx
from dlc.ir import DType, Sym

RNG = np.random.default_rng(11)


def one_node(op: str, inputs: dict[str, np.ndarray | None], opset: int,
             out_type: int = T.FLOAT, **attrs: object) -> onnx.ModelProto:
    names = list(inputs)
    while inputs[names[-1]] is None:
        names.pop()
    node = helper.make_node(op, [n if inputs[n] is not None else "" for n in names], ["y"],
                            **attrs)
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype),
                                         list(v.shape)) for n, v in inputs.items()
           if v is not None]
    g = helper.make_graph([node], op, ins, [helper.make_tensor_value_info("y", out_type, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(m: onnx.ModelProto, inputs: dict[str, np.ndarray | None]) -> np.ndarray:
    return dlc.compile(m, target="reference")(*[v for v in inputs.values() if v is not None])


def as_complex(y: np.ndarray) -> np.ndarray:
    return y[..., 0] + 1j * y[..., 1]


@pytest.mark.parametrize("axis", [1, 2, -2, -3])
@pytest.mark.parametrize("length", [None, 4, 9])
def test_dft_of_a_real_signal_pads_or_truncates_to_dft_length(axis: int,
                                                              length: int | None) -> None:
    x = RNG.standard_normal((2, 6, 5, 1)).astype(np.float32)
    inputs = {"x": x, "n": None if length is None else np.array(length, np.int64),
              "axis": np.array(axis, np.int64)}
    y = run(one_node("DFT", inputs, 20), inputs)
    want = np.fft.fft(x[..., 0].astype(np.float64), n=length, axis=axis % 4)
    assert y.dtype == np.float32 and y.shape == (*want.shape, 2)
    np.testing.assert_allclose(as_complex(y), want, rtol=1e-4, atol=1e-4)


def test_dft_onesided_inverse_round_trips() -> None:
    x = RNG.standard_normal((3, 10, 1)).astype(np.float32)
    half = {"x": x, "n": None, "axis": np.array(1, np.int64)}
    spectrum = run(one_node("DFT", half, 20, onesided=1), half)
    assert spectrum.shape == (3, 6, 2)
    np.testing.assert_allclose(as_complex(spectrum), np.fft.rfft(x[..., 0], axis=1), atol=1e-4)
    back_in = {"x": spectrum, "n": None, "axis": np.array(-2, np.int64)}
    back = run(one_node("DFT", back_in, 20, inverse=1, onesided=1), back_in)
    assert back.shape == (3, 10, 1)
    np.testing.assert_allclose(back, x, atol=1e-5)


def test_dft_inverse_of_complex_input() -> None:
    x = RNG.standard_normal((4, 7, 2)).astype(np.float64)
    inputs = {"x": x, "n": None, "axis": np.array(0, np.int64)}
    y = run(one_node("DFT", inputs, 20, inverse=1), inputs)
    assert y.dtype == np.float64
    np.testing.assert_allclose(as_complex(y), np.fft.ifft(as_complex(x), axis=0), atol=1e-12)


def test_dft17_axis_attribute_defaults_to_1() -> None:
    x = RNG.standard_normal((2, 8, 3, 1)).astype(np.float32)
    y = run(one_node("DFT", {"x": x}, 17), {"x": x})
    np.testing.assert_allclose(as_complex(y), np.fft.fft(x[..., 0], axis=1), atol=1e-4)
    y2 = run(one_node("DFT", {"x": x}, 17, axis=2, onesided=1), {"x": x})
    np.testing.assert_allclose(as_complex(y2), np.fft.rfft(x[..., 0], axis=2), atol=1e-4)


@pytest.mark.parametrize("onesided", [0, 1])
def test_stft_frames_a_windowed_signal(onesided: int) -> None:
    signal = RNG.standard_normal((2, 40, 1)).astype(np.float32)
    window = np.hanning(10).astype(np.float32)
    inputs = {"s": signal, "step": np.array(3, np.int64), "w": window}
    y = run(one_node("STFT", inputs, 17, onesided=onesided), inputs)
    frames = np.stack([signal[:, t:t + 10, 0] * window for t in range(0, 31, 3)], axis=1)
    want = np.fft.fft(frames, axis=-1)
    if onesided:
        want = want[..., :6]
    assert y.shape == (*want.shape, 2)
    np.testing.assert_allclose(as_complex(y), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op,coeffs", [("HannWindow", (0.5, 0.5)),
                                       ("HammingWindow", (25 / 46, 21 / 46)),
                                       ("BlackmanWindow", (0.42, 0.5, 0.08))])
@pytest.mark.parametrize("periodic", [0, 1])
def test_windows(op: str, coeffs: tuple, periodic: int) -> None:
    size = np.array(9, np.int32)
    y = run(one_node(op, {"n": size}, 17, out_type=T.DOUBLE, periodic=periodic,
                     output_datatype=T.DOUBLE), {"n": size})
    n = np.arange(9)
    angle = 2 * np.pi * n / (9 if periodic else 8)
    want = sum((-1) ** k * a * np.cos(k * angle) for k, a in enumerate(coeffs))
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, want, atol=1e-12)


def test_window_length_is_symbolic_until_the_size_is_known() -> None:
    m = one_node("HannWindow", {"n": np.array(5, np.int64)}, 17)
    (out,) = import_onnx(m).outputs
    assert out.type.dtype is DType.F32 and isinstance(out.type.shape[0], Sym)
    assert run(m, {"n": np.array(5, np.int64)}).shape == (5,)


@pytest.mark.parametrize("args", [(8, 16, 8192, 0.0, 4096.0), (5, 64, 16000, 20.0, 7000.0)])
def test_mel_weight_matrix_matches_onnx_reference(args: tuple) -> None:
    names = ["mels", "dft", "rate", "low", "high"]
    inputs = {k: np.array(v, np.int64 if i < 3 else np.float32)
              for i, (k, v) in enumerate(zip(names, args))}
    m = one_node("MelWeightMatrix", inputs, 17)
    want = ReferenceEvaluator(m).run(None, inputs)[0]
    got = run(m, inputs)
    assert got.shape == (args[1] // 2 + 1, args[0]) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-6)

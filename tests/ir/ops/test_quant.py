"""Quantization: round-half-to-even and saturation, per-axis and blocked scales (with a partial last
block), int4/float8 encodings with and without saturate, output_dtype and precision attributes,
DequantizeLinear's output dtype, DynamicQuantizeLinear, and the integer kernels with per-row,
per-column and per-channel parameters. Expected values are hand-worked or plain numpy."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import dlc

RNG = np.random.default_rng(4)


def model(op: str, inputs: dict[str, np.ndarray], opset: int = 25,
          inits: dict[str, np.ndarray] | None = None, n_out: int = 1,
          **attrs: object) -> onnx.ModelProto:
    outs = [f"out{i}" for i in range(n_out)]
    node = helper.make_node(op, list(inputs) + list(inits or {}), outs, **attrs)
    g = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype),
                                       list(v.shape)) for n, v in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs],
        [numpy_helper.from_array(v, n) for n, v in (inits or {}).items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(m: onnx.ModelProto, *xs: np.ndarray) -> np.ndarray | tuple:
    return dlc.compile(m, target="reference")(*xs)


def test_quantize_rounds_half_to_even_and_saturates() -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 300, -300], np.float32)
    y = run(model("QuantizeLinear", {"x": x}, 10, {"s": np.array(1, np.float32),
                                                   "z": np.array(10, np.uint8)}), x)
    np.testing.assert_array_equal(y, [10, 12, 12, 10, 8, 255, 0])
    y = run(model("QuantizeLinear", {"x": x}, 13, {"s": np.array(1, np.float32),
                                                   "z": np.array(0, np.int8)}), x)
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, [0, 2, 2, 0, -2, 127, -128])
    # no zero point and no output_dtype: uint8
    assert run(model("QuantizeLinear", {"x": x}, 21, {"s": np.array(2, np.float32)}),
               x).dtype == np.uint8


def test_per_axis_and_blocked_scales() -> None:
    x = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5], np.float32)
    z = np.array([0, 1, 2, 3, 4], np.int8)
    y = run(model("QuantizeLinear", {"x": x}, 13, {"s": s, "z": z}, axis=-2), x)
    want = np.clip(np.rint(x / s.reshape(1, 5, 1)) + z.reshape(1, 5, 1), -128, 127)
    np.testing.assert_array_equal(y, want)
    back = run(model("DequantizeLinear", {"q": y}, 13, {"s": s, "z": z}, axis=1), y)
    np.testing.assert_allclose(back, (want - z.reshape(1, 5, 1)) * s.reshape(1, 5, 1),
                               rtol=1e-6)
    # blocks of 2 along axis 1: 5 = 2 + 2 + 1 (a partial last block)
    sb = np.abs(RNG.standard_normal((2, 3, 3))).astype(np.float32) + 0.1
    y = run(model("QuantizeLinear", {"x": x}, 21, {"s": sb}, axis=1, block_size=2,
                  output_dtype=TensorProto.INT4), x)
    full = np.repeat(sb, 2, axis=1)[:, :5]
    assert y.dtype == ml_dtypes.int4
    np.testing.assert_array_equal(y.astype(np.int8), np.clip(np.rint(x / full), -8, 7))
    back = run(model("DequantizeLinear", {"q": y}, 21, {"s": sb}, axis=1, block_size=2), y)
    np.testing.assert_allclose(back, y.astype(np.float32) * full, rtol=1e-6)


def test_float8_saturate_and_not() -> None:
    x = np.array([1.0, 500.0, -1e6, 0.3], np.float32)
    zero = np.zeros((), ml_dtypes.float8_e4m3fn)
    s = np.array(1, np.float32)
    y = run(model("QuantizeLinear", {"x": x}, 19, {"s": s, "z": zero}), x)
    assert y.dtype == ml_dtypes.float8_e4m3fn
    np.testing.assert_array_equal(y.astype(np.float32), [1, 448, -448, 0.3125])
    y = run(model("QuantizeLinear", {"x": x}, 19, {"s": s, "z": zero}, saturate=0), x)
    assert np.isnan(y.astype(np.float32)[1:3]).all()   # e4m3fn has no inf: overflow is NaN


def test_output_dtype_and_precision_attributes() -> None:
    x = np.array([1.0, 2.0, 3.0], np.float32)
    s = np.array(3.0, np.float32)
    y = run(model("QuantizeLinear", {"x": x}, 23, {"s": s}, output_dtype=TensorProto.INT16,
                  precision=TensorProto.FLOAT16), x)
    assert y.dtype == np.int16
    np.testing.assert_array_equal(y, [0, 1, 1])
    q = np.array([1, 2], np.uint8)
    out = run(model("DequantizeLinear", {"q": q}, 23, {"s": np.array(0.5, np.float32)},
                    output_dtype=TensorProto.FLOAT16), q)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, [0.5, 1.0])
    out = run(model("DequantizeLinear", {"q": q}, 19, {"s": np.array(0.5, np.float16)}), q)
    assert out.dtype == np.float16


def test_dynamic_quantize_linear() -> None:
    x = np.array([-1.0, 0.0, 2.0, 3.0], np.float32)
    y, scale, zero = run(model("DynamicQuantizeLinear", {"x": x}, 11, n_out=3), x)
    assert scale.dtype == np.float32 and zero.dtype == np.uint8 and scale.shape == ()
    np.testing.assert_allclose(scale, 4 / 255, rtol=1e-6)
    assert zero == 64   # rint(1 / (4/255)) = rint(63.75)
    np.testing.assert_array_equal(y, np.clip(np.rint(x / scale) + 64, 0, 255))
    y, scale, zero = run(model("DynamicQuantizeLinear", {"x": x + 5}, 11, n_out=3), x + 5)
    assert zero == 0   # the range always holds 0


def test_matmul_integer_per_row_and_column_zero_points() -> None:
    a = RNG.integers(0, 256, (3, 4), dtype=np.uint8)
    b = RNG.integers(-128, 128, (4, 2), dtype=np.int8)
    az, bz = np.array([1, 2, 3], np.uint8), np.array([-1, 5], np.int8)
    got = run(model("MatMulInteger", {"a": a, "b": b, "az": az, "bz": bz}, 10), a, b, az, bz)
    want = (a.astype(np.int64) - az.reshape(3, 1)) @ (b.astype(np.int64) - bz)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


def test_qlinear_matmul_requantizes() -> None:
    a = RNG.integers(0, 256, (2, 3, 4), dtype=np.uint8)
    b = RNG.integers(0, 256, (4, 5), dtype=np.uint8)
    p = {"as": np.array(0.02, np.float32), "az": np.array(100, np.uint8),
         "bs": np.array(0.03, np.float32), "bz": np.array(120, np.uint8),
         "ys": np.array(0.5, np.float32), "yz": np.array(10, np.int8)}
    ins = {"a": a, "as": p["as"], "az": p["az"], "b": b, "bs": p["bs"], "bz": p["bz"],
           "ys": p["ys"], "yz": p["yz"]}
    got = run(model("QLinearMatMul", ins, 21), *ins.values())
    acc = (a.astype(np.int64) - 100) @ (b.astype(np.int64) - 120)
    want = np.clip(np.rint(acc * (np.float32(0.02) * np.float32(0.03) / np.float32(0.5))
                           + 10), -128, 127)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, want)


def test_qlinear_conv_per_channel_matches_float_conv() -> None:
    x = RNG.integers(0, 256, (1, 2, 5, 5), dtype=np.uint8)
    w = RNG.integers(-100, 100, (3, 2, 3, 3), dtype=np.int8)
    ws = np.array([0.01, 0.02, 0.03], np.float32)
    bias = np.array([100, -200, 0], np.int32)
    ins = {"x": x, "xs": np.array(0.05, np.float32), "xz": np.array(128, np.uint8), "w": w,
           "ws": ws, "wz": np.zeros(3, np.int8), "ys": np.array(0.25, np.float32),
           "yz": np.array(128, np.uint8), "b": bias}
    got = run(model("QLinearConv", ins, 10, pads=[1, 1, 1, 1]), *ins.values())
    xf = (x.astype(np.float32) - 128)
    conv = dlc.compile(model("Conv", {"x": xf, "w": w.astype(np.float32)}, 11,
                             pads=[1, 1, 1, 1]), target="reference")(xf, w.astype(np.float32))
    acc = conv + bias.reshape(1, 3, 1, 1)
    want = np.clip(np.rint(acc * (0.05 * ws / 0.25).reshape(1, 3, 1, 1) + 128), 0, 255)
    assert got.dtype == np.uint8
    assert np.abs(got.astype(int) - want).max() <= 1   # float32 rounding of the multiplier

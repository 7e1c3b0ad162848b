"""Cast, CastLike and BitCast: float8 rounding and saturation tables, float8e8m0 round modes,
float4 / sub-byte integers, strings, and the 'to' attribute of every Cast version. Expected
values are the ONNX spec's tables worked by hand; a sweep checks float8 against onnx.reference."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import dlc
from dlc.errors import ShapeError
from dlc.ir.dtype import DType
from dlc.ir.ops.cast import bitcast_array, cast_array

inf, nan = np.inf, np.nan


def cast_model(src: int, to: int | str, shape: list, opset: int = 28,
               **attrs: object) -> onnx.ModelProto:
    g = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=to, **attrs)], "cast",
        [helper.make_tensor_value_info("x", src, shape)],
        [helper.make_tensor_value_info("y", to if isinstance(to, int) else 0, shape)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def cast(x: np.ndarray, to: int, opset: int = 28, **attrs: object) -> np.ndarray:
    src = helper.np_dtype_to_tensor_dtype(x.dtype) if x.dtype != object else TensorProto.STRING
    return dlc.compile(cast_model(src, to, list(x.shape), opset, **attrs),
                       target="reference")(x)


def as_f32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32)


SPECIAL = np.array([0.0, -0.0, nan, inf, -inf, 1e6, -1e6, 0.3], dtype=np.float32)


@pytest.mark.parametrize(("to", "top"), [(TensorProto.FLOAT8E4M3FN, 448.0),
                                          (TensorProto.FLOAT8E4M3FNUZ, 240.0),
                                          (TensorProto.FLOAT8E5M2, 57344.0),
                                          (TensorProto.FLOAT8E5M2FNUZ, 57344.0)])
def test_float8_saturate(to: int, top: float) -> None:
    got = as_f32(cast(SPECIAL, to))
    np.testing.assert_array_equal(got[[0, 1, 3, 4, 5, 6]], [0, 0, top, -top, top, -top])
    assert np.isnan(got[2])
    fnuz = to in (TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2FNUZ)
    assert np.signbit(got[1]) != fnuz  # -0 exists only in the non-fnuz types


def test_float8_no_saturate_table() -> None:
    rows = {  # x: 0 -0 NaN Inf -Inf 1e6 -1e6
        TensorProto.FLOAT8E4M3FN: [0, -0.0, nan, nan, nan, nan, nan],
        TensorProto.FLOAT8E4M3FNUZ: [0, 0, nan, nan, nan, nan, nan],
        TensorProto.FLOAT8E5M2: [0, -0.0, nan, inf, -inf, inf, -inf],
        TensorProto.FLOAT8E5M2FNUZ: [0, 0, nan, nan, nan, nan, nan],
    }
    for to, expected in rows.items():
        got = as_f32(cast(SPECIAL, to, saturate=0))[:7]
        np.testing.assert_array_equal(got, expected)
        numbers = ~np.isnan(got)  # (a NaN's sign carries no meaning)
        np.testing.assert_array_equal(np.signbit(got[numbers]),
                                      np.signbit(np.array(expected)[numbers]))


def test_float8_rounds_to_nearest_even() -> None:
    # e4m3fn around 1: spacing 1/8; 1 + 1/16 is a tie (-> 1), 1 + 3/16 a tie (-> 1.25)
    x = np.array([1 + 1 / 16, 1 + 3 / 16, 1 + 1 / 16 + 1e-3, 464.0, 465.0], np.float32)
    got = as_f32(cast(x, TensorProto.FLOAT8E4M3FN, saturate=0))
    np.testing.assert_array_equal(got[:3], [1.0, 1.25, 1.125])
    assert got[3] == 448.0 and np.isnan(got[4])  # 464 rounds down to max; above it is NaN


def test_float8_sweep_matches_onnx_reference() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(300) * 100, rng.standard_normal(300) * 1e-3,
                        SPECIAL]).astype(np.float32)
    for to in (TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2,
               TensorProto.FLOAT8E5M2FNUZ):
        for saturate in (0, 1):
            m = cast_model(TensorProto.FLOAT, to, [x.size], saturate=saturate)
            expected = ReferenceEvaluator(m).run(None, {"x": x})[0]
            got = dlc.compile(m, target="reference")(x)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(as_f32(got), as_f32(expected))


@pytest.mark.parametrize(("mode", "saturate", "expected"), [
    # x:                 0    1.0  1.1  1.5  1.75 3.0  2^-130  2^130 inf  nan
    ("up", 1, [2.0**-127, 1.0, 2.0, 2.0, 2.0, 4.0, 2.0**-127, 2.0**127, 2.0**127, nan]),
    ("down", 1, [2.0**-127, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0**-127, 2.0**127, 2.0**127, nan]),
    ("nearest", 1, [2.0**-127, 1.0, 1.0, 2.0, 2.0, 4.0, 2.0**-127, 2.0**127, 2.0**127, nan]),
    ("nearest", 0, [nan, 1.0, 1.0, 2.0, 2.0, 4.0, nan, nan, nan, nan]),
])
def test_e8m0_round_modes(mode: str, saturate: int, expected: list) -> None:
    x = np.array([0, 1.0, 1.1, 1.5, 1.75, 3.0, 2.0**-130, 2.0**130, inf, nan], np.float64)
    got = cast(x, TensorProto.FLOAT8E8M0, round_mode=mode, saturate=saturate)
    assert got.dtype == ml_dtypes.float8_e8m0fnu
    np.testing.assert_array_equal(got.astype(np.float64), expected)


def test_float4_rounds_even_and_saturates() -> None:
    x = np.array([0.25, 0.75, 1.25, -3.5, 5.0, 9.0, -inf, 1e6], np.float32)
    got = as_f32(cast(x, TensorProto.FLOAT4E2M1))
    np.testing.assert_array_equal(got, [0.0, 1.0, 1.0, -4.0, 4.0, 6.0, -6.0, 6.0])


@pytest.mark.parametrize(("to", "expected"), [
    (TensorProto.INT4, [7, -8, -1, 0, 7, -8, -7]),
    (TensorProto.UINT4, [7, 8, 15, 0, 7, 8, 9]),
    (TensorProto.INT2, [-1, 0, -1, 0, -1, 0, 1]),
    (TensorProto.UINT2, [3, 0, 3, 0, 3, 0, 1]),
])
def test_sub_byte_ints_keep_low_bits(to: int, expected: list) -> None:
    x = np.array([-9, -8, -1, 0, 7, 8, 9.9], np.float32)  # floats truncate first: 9.9 -> 9
    got = cast(x, to)
    np.testing.assert_array_equal(got.astype(np.int64), expected)


def test_int_narrowing_wraps_and_bool() -> None:
    x = np.array([200, -1, 256], np.int16)
    np.testing.assert_array_equal(cast(x, TensorProto.INT8), [-56, -1, 0])
    np.testing.assert_array_equal(cast(x, TensorProto.BOOL), [True, True, True])
    f = np.array([0.0, -0.0, nan, 0.1], np.float32)
    np.testing.assert_array_equal(cast(f, TensorProto.BOOL), [False, False, True, True])
    np.testing.assert_array_equal(cast(np.array([-2.7, 2.7], np.float32), TensorProto.INT32),
                                  [-2, 2])


def test_bfloat16_round_to_nearest_even() -> None:
    x = np.array([1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20], np.float32)
    got = as_f32(cast(x, TensorProto.BFLOAT16))
    np.testing.assert_array_equal(got, [1.0, 1 + 2**-6, 1 + 2**-7])


def test_strings_parse_and_print() -> None:
    s = np.array(["1e-5", "+INF", "-inf", "NaN", "3.5", " 2 "], dtype=object)
    got = cast(s, TensorProto.FLOAT)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array([1e-5, inf, -inf, nan, 3.5, 2], np.float32))
    np.testing.assert_array_equal(cast(np.array(["100", "-7"], dtype=object), TensorProto.INT64),
                                  [100, -7])
    text = cast(np.array([1.5, -inf], np.float32), TensorProto.STRING)
    assert text.dtype == object and text.tolist() == ["1.5", "-inf"]
    back = cast(cast(np.array([0.1, 123456.7], np.float32), TensorProto.STRING),
                TensorProto.FLOAT)
    np.testing.assert_array_equal(back, np.array([0.1, 123456.7], np.float32))


@pytest.mark.parametrize("opset", [1, 6, 9, 13, 19, 21, 23, 24, 25, 28])
def test_every_cast_version(opset: int) -> None:
    to: int | str = "INT32" if opset == 1 else TensorProto.INT32
    m = cast_model(TensorProto.FLOAT, to, [2], opset)
    got = dlc.compile(m, target="reference")(np.array([1.9, -1.9], np.float32))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [1, -1])


def test_castlike_takes_dtype_of_second_input() -> None:
    g = helper.make_graph(
        [helper.make_node("CastLike", ["x", "like"], ["y"], saturate=0)], "castlike",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info("like", TensorProto.FLOAT8E4M3FN, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT8E4M3FN, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 25)])
    got = dlc.compile(m, target="reference")(np.array([0.3, 1e6], np.float32),
                                             np.zeros(1, ml_dtypes.float8_e4m3fn))
    assert got.dtype == ml_dtypes.float8_e4m3fn
    assert as_f32(got)[0] == 0.3125 and np.isnan(as_f32(got)[1])


def test_bitcast() -> None:
    assert bitcast_array(np.array(1.0, np.float32), DType.I32) == 1065353216
    assert bitcast_array(np.array(1.0, np.float32), DType.I32).shape == ()
    four = np.array([-1, 7, -8], ml_dtypes.int4)
    np.testing.assert_array_equal(bitcast_array(four, DType.U4).astype(np.int64), [15, 7, 8])
    back = bitcast_array(bitcast_array(four, DType.U4), DType.I4)
    np.testing.assert_array_equal(back.astype(np.int64), [-1, 7, -8])
    f4 = bitcast_array(np.array([7, 8], ml_dtypes.uint4), DType.F4E2M1)
    np.testing.assert_array_equal(as_f32(f4), [6.0, -0.0])
    np.testing.assert_array_equal(bitcast_array(np.array([True, False]), DType.U8), [1, 0])


def test_bitcast_needs_equal_widths() -> None:
    g = helper.make_graph(
        [helper.make_node("BitCast", ["x"], ["y"], to=TensorProto.INT64)], "bitcast",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 26)])
    with pytest.raises(ShapeError, match="32 bits"):
        dlc.compile(m, target="reference")


def test_cast_array_matches_between_widths() -> None:
    # f16 and f64 sources take the same path to float8 as f32 ones
    x = np.array([0.3, -100.0, 500.0], np.float32)
    for src in (np.float16, np.float64):
        np.testing.assert_array_equal(as_f32(cast_array(x.astype(src), DType.F8E4M3FN)),
                                      as_f32(cast_array(x, DType.F8E4M3FN)))


@pytest.mark.parametrize("to", [TensorProto.INT64, TensorProto.BOOL, TensorProto.INT4,
                                TensorProto.FLOAT8E8M0, TensorProto.FLOAT8E5M2,
                                TensorProto.STRING])
def test_scalar_cast_gives_array(to: int) -> None:
    got = cast(np.array(2.5, np.float32), to)
    assert isinstance(got, np.ndarray) and got.shape == ()
    assert isinstance(bitcast_array(np.array(3, ml_dtypes.uint4), DType.I4), np.ndarray)

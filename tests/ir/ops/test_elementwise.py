"""Element-wise ops: the semantics that numpy does not give for free (C integer division, Mod's
two modes, Pow across dtypes, rounding, shifts), broadcasting with symbolic dims, and the adapters
that rewrite old op versions. Expected values are worked by hand or come from onnx.reference."""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import dlc
from dlc.errors import ShapeError
from dlc.frontends.onnx.importer import import_onnx
from dlc.ir import OPS, Sym, TensorType
from dlc.ir.dtype import DType

F32 = TensorProto.FLOAT


def model(op: str, inputs: list[tuple[str, int, list]], out_type: int, opset: int = 22,
          inits: list[np.ndarray] | None = None, **attrs: object) -> onnx.ModelProto:
    """A one-node model; `inits` are named c0, c1, ... and follow the graph inputs."""
    init_names = [f"c{i}" for i in range(len(inits or []))]
    node = helper.make_node(op, [n for n, _, _ in inputs] + init_names, ["out"], **attrs)
    g = helper.make_graph(
        [node], op, [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info("out", out_type, None)],
        [numpy_helper.from_array(v, n) for n, v in zip(init_names, inits or [])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(m: onnx.ModelProto, *xs: np.ndarray) -> np.ndarray:
    return dlc.compile(m, target="reference")(*xs)


def binary(op: str, x: np.ndarray, y: np.ndarray, opset: int = 22, **attrs: object) -> np.ndarray:
    tx = helper.np_dtype_to_tensor_dtype(x.dtype)
    ty = helper.np_dtype_to_tensor_dtype(y.dtype)
    m = model(op, [("x", tx, list(x.shape)), ("y", ty, list(y.shape))], tx, opset, **attrs)
    return run(m, x, y)


def unary(op: str, x: np.ndarray, opset: int = 22, **attrs: object) -> np.ndarray:
    tx = helper.np_dtype_to_tensor_dtype(x.dtype)
    return run(model(op, [("x", tx, list(x.shape))], tx, opset, **attrs), x)


# -- integer arithmetic ------------------------------------------------------------------------

def test_integer_div_truncates_toward_zero() -> None:
    x = np.array([-7, 7, -7, 7, -6, 0], dtype=np.int32)
    y = np.array([2, 2, -2, -2, 3, -5], dtype=np.int32)
    out = binary("Div", x, y)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [-3, 3, 3, -3, -2, 0])


def test_unsigned_div_and_wrapping_sub() -> None:
    x = np.array([7, 1], dtype=np.uint8)
    y = np.array([2, 3], dtype=np.uint8)
    np.testing.assert_array_equal(binary("Div", x, y), [3, 0])
    np.testing.assert_array_equal(binary("Sub", x, y), [5, 254])


@pytest.mark.parametrize(("fmod", "expected"), [(0, [0, -2, 5, 0, 2, 3]),
                                                 (1, [0, 1, 5, 0, -1, 3])])
def test_integer_mod_sign_follows_divisor_or_dividend(fmod: int, expected: list[int]) -> None:
    x = np.array([-4, 7, 5, 4, -7, 8], dtype=np.int64)
    y = np.array([2, -3, 8, -2, 3, 5], dtype=np.int64)
    np.testing.assert_array_equal(binary("Mod", x, y, fmod=fmod), expected)


def test_float_mod_edge_cases_of_mod_28() -> None:
    inf, nan = np.inf, np.nan
    x = np.array([-3.0, 3.0, -1.0, 1.0, inf, 1.0, 0.0, -4.3], dtype=np.float32)
    y = np.array([inf, inf, -inf, -inf, 2.0, 0.0, -2.0, 2.1], dtype=np.float32)
    got = binary("Mod", x, y, opset=28, fmod=0)
    np.testing.assert_allclose(got, [inf, 3.0, -1.0, -inf, nan, nan, -0.0, 2.0], rtol=1e-5)
    assert np.signbit(got[6])  # 0 mod -2 is -0 (sign of the divisor)
    got = binary("Mod", x, y, opset=28, fmod=1)
    np.testing.assert_allclose(got, [-3.0, 3.0, -1.0, 1.0, nan, nan, 0.0, -0.1], rtol=1e-5)


def test_pow_keeps_base_dtype_across_exponent_dtypes() -> None:
    ints = np.array([1, 2, 3, 2], dtype=np.int32)
    floats = np.array([4.0, 5.0, 0.5, -1.0], dtype=np.float32)
    got = binary("Pow", ints, floats)  # C pow in double, truncated: 3^0.5 -> 1, 2^-1 -> 0
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [1, 32, 1, 0])
    got = binary("Pow", floats, np.array([2, 3, 2, 3], dtype=np.int64))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [16.0, 125.0, 0.25, -1.0])
    got = binary("Pow", np.array([3, -2], dtype=np.int64), np.array([39, 63], dtype=np.int64))
    np.testing.assert_array_equal(got, [3**39, -(2**63)])  # exact in 64 bits, not via double


def test_round_half_to_even_and_narrow_floats() -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6], dtype=np.float32)
    np.testing.assert_array_equal(unary("Round", x), [0, 2, 2, -0, -2, -2, 2, 3])
    bf = x.astype(ml_dtypes.bfloat16)
    got = unary("Round", bf)
    assert got.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(got.astype(np.float32), [0, 2, 2, -0, -2, -2, 2, 3])


def test_abs_neg_on_integers_wrap_like_two_complement() -> None:
    x = np.array([-128, -3, 5], dtype=np.int8)
    np.testing.assert_array_equal(unary("Abs", x), [-128, 3, 5])
    np.testing.assert_array_equal(unary("Neg", x), [-128, 3, -5])


# -- activations -------------------------------------------------------------------------------

def test_gelu_exact_and_tanh() -> None:
    x = np.array([-3.0, -1.0, 0.0, 0.5, 2.0], dtype=np.float32)
    exact = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()]
    np.testing.assert_allclose(unary("Gelu", x), exact, rtol=1e-6, atol=1e-7)
    approx = [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
              for v in x.tolist()]
    np.testing.assert_allclose(unary("Gelu", x, approximate="tanh"), approx, rtol=1e-6,
                               atol=1e-7)
    np.testing.assert_allclose(unary("Gelu", x, approximate="tanh")[1], -0.158808, rtol=1e-5)


@pytest.mark.parametrize(("op", "attrs"), [
    ("Elu", {"alpha": 0.7}), ("Celu", {"alpha": 2.0}), ("Selu", {}), ("HardSigmoid", {}),
    ("HardSwish", {}), ("Softplus", {}), ("Softsign", {}), ("Mish", {}),
    ("ThresholdedRelu", {"alpha": 0.5}), ("Shrink", {"lambd": 0.4, "bias": 0.1}),
    ("LeakyRelu", {"alpha": 0.2}), ("Sigmoid", {}), ("Erf", {}), ("Swish", {"alpha": 1.5}),
])
def test_activations_match_onnx_reference(op: str, attrs: dict) -> None:
    x = np.linspace(-4, 4, 33, dtype=np.float32)
    opset = 24 if op == "Swish" else 22
    m = model(op, [("x", F32, [33])], F32, opset, **attrs)
    expected = ReferenceEvaluator(m).run(None, {"x": x})[0]
    np.testing.assert_allclose(run(m, x), expected, rtol=1e-5, atol=1e-6)


def test_sigmoid_and_softplus_do_not_overflow() -> None:
    x = np.array([-1000.0, 1000.0], dtype=np.float32)
    np.testing.assert_array_equal(unary("Sigmoid", x), [0.0, 1.0])
    np.testing.assert_array_equal(unary("Softplus", x), [0.0, 1000.0])


def test_float16_activation_keeps_dtype() -> None:
    x = np.array([-2.0, 0.5], dtype=np.float16)
    got = unary("Celu", x, opset=28)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, [math.expm1(-2.0), 0.5], rtol=1e-3)


def test_prelu_slope_broadcasts_to_x_only() -> None:
    x = np.array([[-1.0, 2.0], [-3.0, -4.0]], dtype=np.float32)
    slope = np.array([0.5, 0.25], dtype=np.float32)
    np.testing.assert_allclose(binary("PRelu", x, slope), [[-0.5, 2.0], [-1.5, -1.0]])
    with pytest.raises(ShapeError):
        binary("PRelu", slope, x)  # slope of higher rank than X


# -- comparisons, logic, bits ------------------------------------------------------------------

@pytest.mark.parametrize(("direction", "x", "y", "expected"), [
    ("RIGHT", [-8, -1, -128], [1, 1, 1], [-4, -1, -64]),  # arithmetic shift
    ("LEFT", [64, 1, -64], [1, 7, 1], [-128, -128, -128]),  # bits past the sign drop
    ("RIGHT", [-8, 4, -1], [8, 9, -1], [-1, 0, -1]),  # out of range: the sign fill
    ("LEFT", [-8, 4, -1], [8, -9, 127], [0, 0, 0]),
])
def test_bitshift_signed(direction: str, x: list, y: list, expected: list) -> None:
    got = binary("BitShift", np.array(x, np.int8), np.array(y, np.int8), opset=28,
                 direction=direction)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, expected)


def test_bitshift_unsigned_large_shift() -> None:
    got = binary("BitShift", np.array([1, 2], np.uint64), np.array([63, 64], np.uint64),
                 opset=11, direction="LEFT")
    np.testing.assert_array_equal(got, np.array([2**63, 0], np.uint64))


def test_comparisons_broadcast_to_bool() -> None:
    x = np.array([[1], [5]], dtype=np.int16)
    y = np.array([0, 1, 6], dtype=np.int16)
    m = model("GreaterOrEqual", [("x", TensorProto.INT16, [2, 1]),
                                 ("y", TensorProto.INT16, [3])], TensorProto.BOOL, 16)
    got = run(m, x, y)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, [[True, True, False], [True, True, False]])


def test_equal_on_strings() -> None:
    x = np.array(["a", "b", "c"], dtype=object)
    y = np.array(["a", "x", "c"], dtype=object)
    m = model("Equal", [("x", TensorProto.STRING, [3]), ("y", TensorProto.STRING, [3])],
              TensorProto.BOOL, 19)
    np.testing.assert_array_equal(run(m, x, y), [True, False, True])


def test_isinf_detect_flags() -> None:
    x = np.array([np.inf, -np.inf, 1.0, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(
        run(model("IsInf", [("x", F32, [4])], TensorProto.BOOL, 20, detect_positive=0), x),
        [False, True, False, False])


# -- variadic, Clip, Where ---------------------------------------------------------------------

@pytest.mark.parametrize(("op", "fn"), [
    ("Max", lambda a, b, c: np.maximum(np.maximum(a, b), c)),
    ("Min", lambda a, b, c: np.minimum(np.minimum(a, b), c)),
    ("Sum", lambda a, b, c: a + b + c),
    ("Mean", lambda a, b, c: (a + b + c) / 3),
])
def test_variadic_broadcast(op: str, fn) -> None:
    a = np.array([[1.0], [-2.0]], dtype=np.float32)
    b = np.array([0.5, 3.0, -1.0], dtype=np.float32)
    c = np.array(2.0, dtype=np.float32)
    m = model(op, [("a", F32, [2, 1]), ("b", F32, [3]), ("c", F32, [])], F32, 13)
    got = run(m, a, b, c)
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, fn(a, b, c), rtol=1e-6)


def test_max_propagates_nan() -> None:
    a = np.array([np.nan, 1.0], dtype=np.float32)
    b = np.array([1.0, np.nan], dtype=np.float32)
    assert np.isnan(binary("Max", a, b, opset=13)).all()


def test_clip_bounds() -> None:
    x = np.array([-5, 0, 5], dtype=np.int8)
    lo, hi = np.array(2, np.int8), np.array(1, np.int8)
    m = model("Clip", [("x", TensorProto.INT8, [3])], TensorProto.INT8, 13, inits=[lo, hi])
    np.testing.assert_array_equal(run(m, x), [1, 1, 1])  # min > max: everything is max
    only_max = helper.make_graph(
        [helper.make_node("Clip", ["x", "", "hi"], ["out"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.INT8, [3])],
        [helper.make_tensor_value_info("out", TensorProto.INT8, [3])],
        [numpy_helper.from_array(np.array(3, np.int8), "hi")])
    m = helper.make_model(only_max, opset_imports=[helper.make_opsetid("", 13)])
    np.testing.assert_array_equal(run(m, x), [-5, 0, 3])


def test_where_broadcasts_three_ways() -> None:
    cond = np.array([[True], [False]])
    m = model("Where", [("c", TensorProto.BOOL, [2, 1]), ("x", F32, [3]), ("y", F32, [])],
              F32, 16)
    got = run(m, cond, np.array([1.0, 2.0, 3.0], np.float32), np.array(9.0, np.float32))
    np.testing.assert_array_equal(got, [[1, 2, 3], [9, 9, 9]])


# -- shapes ------------------------------------------------------------------------------------

def test_symbolic_dims_broadcast() -> None:
    m = model("Add", [("x", F32, ["N", 1]), ("y", F32, [4])], F32, 14)
    g = import_onnx(m)
    assert g.outputs[0].type == TensorType(DType.F32, (Sym("N"), 4))
    compiled = dlc.compile(m, target="reference")
    for n in (1, 3):
        got = compiled(np.ones((n, 1), np.float32), np.arange(4, dtype=np.float32))
        np.testing.assert_array_equal(got, np.ones((n, 1)) + np.arange(4))


def test_mismatched_shapes_and_dtypes_are_shape_errors() -> None:
    with pytest.raises(ShapeError, match="do not broadcast"):
        dlc.compile(model("Add", [("x", F32, [2, 3]), ("y", F32, [4])], F32, 14),
                    target="reference")
    with pytest.raises(ShapeError, match="different dtypes"):
        dlc.compile(model("Mul", [("x", F32, [2]), ("y", TensorProto.DOUBLE, [2])], F32, 14),
                    target="reference")
    with pytest.raises(ShapeError, match="float"):
        dlc.compile(model("Sqrt", [("x", TensorProto.INT32, [2])], TensorProto.INT32),
                    target="reference")


# -- old versions ------------------------------------------------------------------------------

needs_reshape = pytest.mark.skipif("Reshape" not in OPS, reason="Reshape (shape family) absent")


@needs_reshape
@pytest.mark.parametrize("axis", [1, -3])
def test_add_6_broadcast_axis(axis: int) -> None:
    a = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)
    m = model("Add", [("a", F32, [2, 3, 4, 5]), ("b", F32, [3, 4])], F32, 6, broadcast=1,
              axis=axis)
    np.testing.assert_array_equal(run(m, a, b), a + b[:, :, None])


@needs_reshape
def test_sub_1_broadcast_axis_0_with_constant_b() -> None:
    a = np.ones((2, 3), np.float32)
    b = np.array([1.0, 2.0], np.float32)
    m = model("Sub", [("a", F32, [2, 3])], F32, 1, inits=[b], broadcast=1, axis=0)
    np.testing.assert_array_equal(run(m, a), [[0, 0, 0], [-1, -1, -1]])


def test_add_1_suffix_broadcast_and_consumed_inputs() -> None:
    a = np.ones((2, 3), np.float32)
    b = np.array([1.0, 2.0, 3.0], np.float32)
    m = model("Add", [("a", F32, [2, 3]), ("b", F32, [3])], F32, 1, broadcast=1,
              consumed_inputs=[0, 0])
    np.testing.assert_array_equal(run(m, a, b), a + b)
    m = model("Relu", [("x", F32, [2])], F32, 1, consumed_inputs=[0])
    np.testing.assert_array_equal(run(m, np.array([-1.0, 1.0], np.float32)), [0, 1])


def test_clip_6_attributes_become_inputs() -> None:
    x = np.array([-3.0, 0.2, 3.0], np.float32)
    m = model("Clip", [("x", F32, [3])], F32, 6, min=-1.0, max=1.0)
    np.testing.assert_allclose(run(m, x), [-1.0, 0.2, 1.0])
    m = model("Clip", [("x", F32, [3])], F32, 6, max=0.0)  # min keeps its default (none)
    np.testing.assert_allclose(run(m, x), [-3.0, 0.0, 0.0])


@needs_reshape
def test_prelu_6_per_channel_slope() -> None:
    x = -np.ones((1, 2, 2, 3), np.float32)
    slope = np.array([0.5, 2.0], np.float32)
    m = model("PRelu", [("x", F32, [1, 2, 2, 3]), ("s", F32, [2])], F32, 6)
    got = run(m, x, slope)
    np.testing.assert_array_equal(got[0, 0], -0.5 * np.ones((2, 3)))
    np.testing.assert_array_equal(got[0, 1], -2.0 * np.ones((2, 3)))


@pytest.mark.parametrize("op", ["Abs", "Exp", "Round", "Relu", "Gelu", "Not", "BitwiseNot",
                                "IsNaN", "IsInf", "Sign", "Shrink"])
def test_scalar_inputs_give_arrays(op: str) -> None:
    # numpy ufuncs return scalars for 0-d arrays; the interpreter checks every result is a tensor
    x = {"Not": np.array(True), "BitwiseNot": np.array(5, np.int32)}.get(op, np.array(-1.5,
                                                                                      np.float32))
    tx = helper.np_dtype_to_tensor_dtype(x.dtype)
    out_t = TensorProto.BOOL if op in ("IsNaN", "IsInf") else tx
    got = run(model(op, [("x", tx, [])], out_t, 20), x)
    assert isinstance(got, np.ndarray) and got.shape == ()

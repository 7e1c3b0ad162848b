"""Every compute definition in the op table agrees with its op's reference implementation.

Cases come from the table: element-wise ops get inputs of every dtype their shape rule accepts,
over broadcasting shapes; the other ops get the small hand-picked cases of compute_cases.py and
compute_cases_more.py.
evaluate_compute must equal the reference (exactly for integers and bools, to a few units in the
last place of the output's float type), and the op's traits must name what its compute is.
"""
from __future__ import annotations

import inspect
import itertools
from collections.abc import Sequence

import compute_cases_more  # noqa: F401 - registers its cases
import numpy as np
import pytest
from compute_cases import CASES, Case

from dlc.errors import DlcError
from dlc.ir.compute import (
    ComputeDef,
    NoCompute,
    TensorArg,
    build_compute,
    classify,
    compute_scope,
    reduce,
    tensor,
)
from dlc.ir.compute_eval import evaluate, evaluate_compute
from dlc.ir.dtype import DType
from dlc.ir.ops import OPS, InferCtx, OpDef, RefCtx
from dlc.ir.types import TensorType

WITH_COMPUTE = sorted(name for name, d in OPS.items() if d.compute is not None)

# the ops with compute definitions, listed so that the coverage is visible (and kept up to date)
COVERED = """
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization BitCast
BitShift BitwiseAnd BitwiseNot BitwiseOr BitwiseXor Cast CastLike Ceil Celu CenterCropPad Clip
Concat ConstantOfShape Conv ConvInteger ConvTranspose Cos Cosh DepthToSpace DequantizeLinear Div
Dropout DynamicQuantizeLinear Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather
GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool Greater
GreaterOrEqual GroupNormalization HardSigmoid HardSwish Hardmax Identity InstanceNormalization
IsInf IsNaN LRN LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax LpNormalization LpPool
MatMul MatMulInteger Max MaxPool Mean MeanVarianceNormalization Min Mish Mod Mul Neg
NegativeLogLikelihoodLoss Not OneHot Or PRelu Pad Pow QLinearConv QLinearMatMul QuantizeLinear
RMSNormalization Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax
ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize ReverseSequence
RotaryEmbedding Round Selu Shrink Sigmoid Sign Sin Sinh Slice Softmax SoftmaxCrossEntropyLoss
Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum SwiGLU Swish Tan Tanh TensorScatter
ThresholdedRelu Tile Transpose Trilu Unsqueeze Upsample Where Xor
""".split()

ELEMENTWISE_SHAPES: list[list[tuple[int, ...]]] = [
    [(2, 3, 4)], [(2, 3, 4), (4,)], [(3, 1), (1, 4)], [(), (2, 3)], [(5,), (1,)]]
DTYPES = [DType.F32, DType.F64, DType.F16, DType.BF16, DType.I32, DType.I64, DType.I8, DType.U8,
          DType.BOOL]
# attributes an element-wise op needs (beyond its defaults), one case each
ATTRS: dict[str, list[dict[str, object]]] = {
    "BitShift": [{"direction": "LEFT"}, {"direction": "RIGHT"}],
    "Mod": [{"fmod": 0}, {"fmod": 1}],
    "Gelu": [{"approximate": "none"}, {"approximate": "tanh"}],
    "IsInf": [{}, {"detect_negative": 0}, {"detect_positive": 0}],
    "LeakyRelu": [{"alpha": 0.3}], "Elu": [{"alpha": 0.7}], "Celu": [{"alpha": 1.5}],
    "Shrink": [{"bias": 0.5, "lambd": 1.0}], "HardSigmoid": [{"alpha": 0.3, "beta": 0.4}],
    "ThresholdedRelu": [{"alpha": 0.5}], "Swish": [{"alpha": 0.8}],
}


def random_array(rng: np.random.Generator, shape: Sequence[int], dtype: DType,
                 lo: float = -4.0, hi: float = 4.0) -> np.ndarray:
    if dtype is DType.BOOL:
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.is_int:
        low = 0 if not dtype.is_signed else int(lo) * 5
        return rng.integers(low, int(hi) * 5 + 1, size=shape).astype(dtype.np)
    return rng.uniform(lo, hi, size=shape).astype(dtype.np)


def _arity(d: OpDef) -> int:
    params = list(inspect.signature(d.reference).parameters.values())[1:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 3
    return sum(p.default is p.empty for p in params if p.name != "ctx")


def _accepts(d: OpDef, attrs: object, types: list[TensorType]) -> bool:
    try:
        d.infer(InferCtx(d.name, attrs, types, [None] * len(types), 1))
    except DlcError:
        return False
    return True


def _builds(d: OpDef, attrs: object, xs: list[np.ndarray]) -> bool:
    args = [TensorArg(f"in{k}", x.shape, DType.from_np(x.dtype), x) for k, x in enumerate(xs)]
    try:
        build_compute(d, attrs, args)
    except NoCompute:
        return False
    return True


def elementwise_cases(d: OpDef, rng: np.random.Generator) -> list[Case]:
    n = _arity(d)
    cases: list[Case] = []
    for k, attrs in enumerate(ATTRS.get(d.name, [{}])):
        a = d.make_attrs(**attrs)
        for dtype, j in itertools.product(DTYPES, range(2)):
            shape_set = ELEMENTWISE_SHAPES[(k + DTYPES.index(dtype) + j) % len(ELEMENTWISE_SHAPES)]
            full = [shape_set[i % len(shape_set)] for i in range(n)]
            if not _accepts(d, a, [TensorType(dtype, s) for s in full]):
                continue
            xs = [random_array(rng, s, dtype) for s in full]
            if dtype is DType.BOOL and not _builds(d, a, xs):
                continue  # bools have no kernel arithmetic: such ops refuse them
            if d.name in ("Div", "Mod") and dtype.is_int:
                xs[1] = np.where(xs[1] == 0, 3, xs[1]).astype(dtype.np)
            if d.name == "BitShift":
                xs[1] = rng.integers(0, dtype.bits + 3, size=full[1]).astype(dtype.np)
            cases.append(Case(attrs, xs))
    return cases


def cases_of(name: str) -> list[Case]:
    rng = np.random.default_rng(sum(map(ord, name)))
    d = OPS[name]
    if name in CASES:
        return CASES[name](rng)
    assert "elementwise" in d.traits, f"{name} has a compute definition but no test cases"
    return elementwise_cases(d, rng)


def tolerance(dtype: np.dtype) -> float:
    return {DType.F64: 1e-10, DType.F32: 1e-5, DType.F16: 2e-3, DType.BF16: 1.6e-2}[
        DType.from_np(dtype)]


def check_equal(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {got.shape}, reference {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, reference {want.dtype}"
    if DType.from_np(want.dtype).is_float:
        rtol = tolerance(want.dtype)
        g, w = got.astype(np.float64), want.astype(np.float64)
        finite = w[np.isfinite(w)]
        scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * scale, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


@pytest.mark.parametrize("name", WITH_COMPUTE)
def test_compute_matches_reference(name: str) -> None:
    d = OPS[name]
    cases = cases_of(name)
    assert len(cases) >= 2, f"{name}: too few cases"
    for case in cases:
        attrs = d.make_attrs(**case.attrs)
        what = f"{name}({case.attrs}) on " + ", ".join(
            "-" if x is None else f"{x.dtype}{list(x.shape)}" for x in case.inputs)
        want = d.run_reference(attrs, case.inputs, RefCtx(case.outputs))[:case.outputs]
        got = evaluate_compute(d, attrs, case.inputs, case.outputs, known=case.known)
        assert len(got) == len(want)
        for k, (g, w) in enumerate(zip(got, want)):
            check_equal(g, np.asarray(w), f"{what}, output {k}")


@pytest.mark.parametrize("name", WITH_COMPUTE)
def test_traits_name_the_compute(name: str) -> None:
    """An op's traits say what kind of compute it has (fusion reads them)."""
    d = OPS[name]
    case = cases_of(name)[0]
    args = [None if x is None else TensorArg(f"in{k}", x.shape, DType.from_np(x.dtype), x)
            for k, x in enumerate(case.inputs)]
    kind = classify(build_compute(d, d.make_attrs(**case.attrs), args, case.outputs))
    allowed = {"elementwise": ("elementwise", "injective"), "injective": ("injective",),
               "reduction": ("reduction",)}[kind]
    assert any(t in d.traits for t in allowed), f"{name} computes a {kind} but has {d.traits}"


def test_covered_ops_are_listed() -> None:
    assert WITH_COMPUTE == sorted(COVERED)


# -- the DSL itself ------------------------------------------------------------------------------

def test_matmul_by_hand_and_text() -> None:
    with compute_scope():
        a = TensorArg("a", (3, 4), DType.F32)
        b = TensorArg("b", (4, 5), DType.F32)
        c = tensor((3, 5), DType.F32, lambda i, j: reduce("sum", 4, lambda k: a[i, k] * b[k, j]))
    assert str(c) == "%t3[%i0, %i1]: f32[3, 5] = sum<%r2 < 4>(%a[%i0, %r2] * %b[%r2, %i1])"


def test_padded_checks_only_what_can_leave_the_range() -> None:
    with compute_scope():
        x = TensorArg("x", (5,), DType.F32)
        inside = tensor((3,), DType.F32, lambda i: x.padded((i + 2,), 0.0))
        outside = tensor((3,), DType.F32, lambda i: x.padded((i + 3,), 0.0))
    assert "select" not in str(inside)
    assert "select" in str(outside) and "min" in str(outside)
    xs = np.arange(5, dtype=np.float32)
    out = evaluate(ComputeDef("t", (x,), (inside, outside), (inside, outside)), [xs])
    np.testing.assert_array_equal(out[0], [2, 3, 4])
    np.testing.assert_array_equal(out[1], [3, 4, 0])


def test_no_compute_for_strings_and_unknown_operands() -> None:
    with pytest.raises(NoCompute):
        TensorArg("s", (2,), DType.STRING)
    with pytest.raises(NoCompute):
        TensorArg("s", (2,), DType.F8E4M3FN)


def test_out_of_range_loads_are_errors() -> None:
    with compute_scope():
        x = TensorArg("x", (3,), DType.F32)
        y = tensor((4,), DType.F32, lambda i: x[i])
    with pytest.raises(IndexError, match="outside"):
        evaluate(ComputeDef("t", (x,), (y,), (y,)), [np.zeros(3, np.float32)])


def _args(arrays: Sequence[np.ndarray | None], known: Sequence[int]) -> list[TensorArg | None]:
    return [None if x is None else TensorArg(f"in{k}", x.shape, DType.from_np(x.dtype),
                                            x if k in known else None)
            for k, x in enumerate(arrays)]


@pytest.mark.parametrize(("name", "attrs", "arrays", "known", "outputs"), [
    ("Reshape", {}, [np.zeros((2, 3)), np.array([3, 2])], (), 1),   # shape known only at run time
    ("Add", {}, [np.zeros(2, bool), np.zeros(2, bool)], (), 1),      # no bool arithmetic
    ("Pow", {}, [np.zeros(2, np.int32), np.zeros(2, np.int32)], (), 1),
    ("BatchNormalization", {"training_mode": 1}, [np.zeros((2, 3))] + [np.ones(3)] * 4, (), 1),
    ("BatchNormalization", {}, [np.zeros((2, 3))] + [np.ones(3)] * 4, (), 5),  # 5 outputs
    ("Dropout", {}, [np.zeros(3), np.array(0.5), np.array(True)], (1, 2), 1),  # random
    ("Cast", {"to": DType.F8E4M3FN}, [np.zeros(3, np.float32)], (), 1),
    ("NonZero", {}, [np.zeros(3, np.float32)], (), 1),   # data-dependent shape: no definition
])
def test_no_compute(name: str, attrs: dict[str, object], arrays: list[np.ndarray],
                    known: tuple[int, ...], outputs: int) -> None:
    d = OPS[name]
    with pytest.raises(NoCompute, match=name):
        build_compute(d, d.make_attrs(**attrs), _args(arrays, known), outputs)


def test_strings_have_no_compute() -> None:
    with pytest.raises(NoCompute):
        evaluate_compute(OPS["Equal"], None, [np.array(["a"], object), np.array(["b"], object)])


def test_nested_reductions_print() -> None:
    with compute_scope():
        x = TensorArg("x", (3, 4), DType.F32)
        t = tensor((3,), DType.F32, lambda i: reduce(
            "sum", 4, lambda k: x[i, k] - reduce("max", 4, lambda j: x[i, j])))
    assert str(t) == ("%t3[%i0]: f32[3] = sum<%r1 < 4>(%x[%i0, %r1] - "
                      "max<%r2 < 4>(%x[%i0, %r2]))")
    cd = ComputeDef("t", (x,), (t,), (t,))
    xs = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(evaluate(cd, [xs])[0], (xs - xs.max(1, keepdims=True)).sum(1))


def test_stages_not_needed_by_the_outputs_are_dropped() -> None:
    d = OPS["MaxPool"]
    x = np.zeros((1, 1, 4, 4), np.float32)
    one = build_compute(d, d.make_attrs(kernel_shape=(2, 2)), _args([x], ()), 1)
    two = build_compute(d, d.make_attrs(kernel_shape=(2, 2)), _args([x], ()), 2)
    assert len(one.stages) == 1 and len(two.stages) == 3
    assert classify(one) == "reduction"


def test_reshape_index_keeps_shared_dims() -> None:
    d = OPS["Unsqueeze"]
    cd = build_compute(d, None, _args([np.zeros((2, 3)), np.array([1])], (1,)))
    assert str(cd.stages[0]).endswith("= %in0[%i0, %i2]")
    assert classify(cd) == "elementwise"

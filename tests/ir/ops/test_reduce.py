"""Reductions: axes as an attribute (old versions) or an input known only at run time,
noop_with_empty_axes, the identities of empty reductions, bool Max/Min, ArgMax's last index,
exclusive/reverse scans, TopK's order of ties and its old k attribute, Det. Expected values are
worked by hand or come from onnx.reference."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import dlc
from dlc.errors import ShapeError
from dlc.frontends.onnx.importer import import_onnx
from dlc.ir import Sym

F32, I64 = TensorProto.FLOAT, TensorProto.INT64


def model(op: str, inputs: list[tuple[str, int, list | None]], opset: int,
          inits: dict[str, np.ndarray] | None = None, n_out: int = 1,
          **attrs: object) -> onnx.ModelProto:
    """A one-node model; `inits` become initializers named after the node's extra inputs."""
    names = [n for n, _, _ in inputs] + list(inits or {})
    outs = [f"out{i}" for i in range(n_out)]
    node = helper.make_node(op, names, outs, **attrs)
    g = helper.make_graph(
        [node], op, [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs],
        [numpy_helper.from_array(v, n) for n, v in (inits or {}).items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(m: onnx.ModelProto, *xs: np.ndarray) -> np.ndarray:
    return dlc.compile(m, target="reference")(*xs)


def oracle(m: onnx.ModelProto, *xs: np.ndarray) -> list[np.ndarray]:
    names = [i.name for i in m.graph.input]
    return ReferenceEvaluator(m).run(None, dict(zip(names, xs)))


def tensor_type(x: np.ndarray) -> int:
    return helper.np_dtype_to_tensor_dtype(x.dtype)


def reduce(op: str, x: np.ndarray, axes: list[int] | None, opset: int = 18,
           axes_as_input: bool = False, **attrs: object) -> np.ndarray:
    """Run `op` with axes as an attribute (opset < 18), an initializer, or a graph input."""
    inputs: list[tuple[str, int, list | None]] = [("x", tensor_type(x), list(x.shape))]
    args = [x]
    inits = {}
    if axes is not None and (opset < 18 and op != "ReduceSum" or opset < 13):
        attrs["axes"] = axes
    elif axes is not None and axes_as_input:
        inputs.append(("axes", I64, [len(axes)]))
        args.append(np.array(axes, np.int64))
    elif axes is not None:
        inits["axes"] = np.array(axes, np.int64)
    return run(model(op, inputs, opset, inits, **attrs), *args)


X = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7 - 1


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                                "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp"])
@pytest.mark.parametrize("opset", [11, 13, 18])
def test_every_version_agrees_with_onnx_reference(op: str, opset: int) -> None:
    got = reduce(op, X, [0, -1], opset, keepdims=0)
    attrs = {"keepdims": 0}
    inits = {}
    if opset < 18 and op != "ReduceSum" or opset < 13:
        attrs["axes"] = [0, -1]
    else:
        inits["axes"] = np.array([0, -1], np.int64)
    want = oracle(model(op, [("x", F32, [2, 3, 4])], opset, inits, **attrs), X)[0]
    assert got.shape == (3,) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_axes_known_only_at_run_time_give_symbolic_dims() -> None:
    m = model("ReduceMax", [("x", F32, [2, 3, 4]), ("axes", I64, [1])], 18, keepdims=1)
    out = import_onnx(m).outputs[0].type
    assert out.rank == 3 and all(isinstance(d, Sym) for d in out.shape)
    np.testing.assert_array_equal(run(m, X, np.array([1], np.int64)), X.max(axis=1, keepdims=True))
    m0 = model("ReduceSum", [("x", F32, [2, 3, 4]), ("axes", I64, [2])], 13, keepdims=0)
    got = run(m0, X, np.array([2, 0], np.int64))
    np.testing.assert_allclose(got, X.sum(axis=(0, 2)), rtol=1e-6)


def test_keepdims_0_with_axes_of_unknown_count_is_rejected() -> None:
    m = model("ReduceSum", [("x", F32, [2, 3]), ("axes", I64, ["n"])], 13, keepdims=0)
    with pytest.raises(ShapeError, match="static length"):
        import_onnx(m)


def test_noop_with_empty_axes_still_applies_the_elementwise_part() -> None:
    x = np.array([[1.0, -2.0], [3.0, 4.0]], np.float32)
    empty: list[int] = []
    np.testing.assert_array_equal(reduce("ReduceSum", x, empty, noop_with_empty_axes=1), x)
    np.testing.assert_array_equal(reduce("ReduceSumSquare", x, empty, noop_with_empty_axes=1),
                                  x * x)
    np.testing.assert_array_equal(reduce("ReduceL1", x, empty, noop_with_empty_axes=1), abs(x))
    # Empty axes without the flag reduce everything.
    np.testing.assert_array_equal(reduce("ReduceSum", x, empty), [[6.0]])
    # No axes input at all, with the flag: the identity, too.
    m = model("ReduceMax", [("x", F32, [2, 2])], 18, noop_with_empty_axes=1)
    np.testing.assert_array_equal(run(m, x), x)


def test_empty_reductions_give_the_identity_elements() -> None:
    x = np.zeros((2, 0, 3), np.float32)
    xi = np.zeros((2, 0), np.int32)
    assert (reduce("ReduceSum", x, [1]) == 0).all()
    assert (reduce("ReduceProd", x, [1]) == 1).all()
    assert (reduce("ReduceMax", x, [1], 20) == -np.inf).all()
    assert (reduce("ReduceMin", x, [1], 20) == np.inf).all()
    assert (reduce("ReduceLogSum", x, [1]) == -np.inf).all()
    assert (reduce("ReduceLogSumExp", x, [1]) == -np.inf).all()
    assert (reduce("ReduceL2", x, [1]) == 0).all()
    assert reduce("ReduceMin", xi, [1], 20).tolist() == [[2**31 - 1]] * 2
    assert reduce("ReduceMax", xi, [1], 20).tolist() == [[-(2**31)]] * 2
    assert reduce("ReduceMax", np.zeros((2, 0), bool), [1], 20).tolist() == [[False]] * 2


def test_bool_max_and_min_are_any_and_all() -> None:
    x = np.array([[True, False], [False, False], [True, True]])
    assert reduce("ReduceMax", x, [1], 20, keepdims=0).tolist() == [True, False, True]
    assert reduce("ReduceMin", x, [1], 20, keepdims=0).tolist() == [False, False, True]


def test_integer_mean_truncates_and_keeps_the_dtype() -> None:
    x = np.array([[1, 2], [-3, -4]], np.int32)
    out = reduce("ReduceMean", x, [1], keepdims=0)
    assert out.dtype == np.int32 and out.tolist() == [1, -3]


def test_log_sum_exp_is_stable_for_large_values() -> None:
    x = np.array([[1000.0, 1000.0], [-np.inf, -np.inf]], np.float32)
    out = reduce("ReduceLogSumExp", x, [1], 28, keepdims=0)
    np.testing.assert_allclose(out[0], 1000 + np.log(2), rtol=1e-6)
    assert out[1] == -np.inf


def test_16_bit_sums_accumulate_wider() -> None:
    x = np.full(4096, 1.0, np.float16)
    assert reduce("ReduceSum", x, [0], 13, keepdims=0) == 4096


@pytest.mark.parametrize("op,last,want", [("ArgMax", 0, [1, 0]), ("ArgMax", 1, [2, 2]),
                                          ("ArgMin", 0, [0, 1]), ("ArgMin", 1, [0, 1])])
def test_arg_reductions_pick_first_or_last_of_ties(op: str, last: int, want: list[int]) -> None:
    x = np.array([[1, 5, 5], [2, 1, 2]], np.float32)
    m = model(op, [("x", F32, [2, 3])], 13, axis=-1, keepdims=0, select_last_index=last)
    out = run(m, x)
    assert out.dtype == np.int64 and out.tolist() == want


@pytest.mark.parametrize("exclusive,reverse,want", [(0, 0, [1, 3, 6, 10]), (1, 0, [0, 1, 3, 6]),
                                                    (0, 1, [10, 9, 7, 4]), (1, 1, [9, 7, 4, 0])])
def test_cumsum_exclusive_and_reverse(exclusive: int, reverse: int, want: list[int]) -> None:
    x = np.array([1, 2, 3, 4], np.int32)
    m = model("CumSum", [("x", TensorProto.INT32, [4])], 14, {"axis": np.array(0, np.int32)},
              exclusive=exclusive, reverse=reverse)
    out = run(m, x)
    assert out.dtype == np.int32 and out.tolist() == want


def test_cumprod_along_a_runtime_negative_axis() -> None:
    x = np.array([[1, 2, 3], [4, 5, 6]], np.int64)
    m = model("CumProd", [("x", I64, [2, 3]), ("axis", TensorProto.INT32, [])], 26, exclusive=1)
    out = run(m, x, np.array(-1, np.int32))
    assert out.tolist() == [[1, 1, 2], [1, 4, 20]]


@pytest.mark.parametrize("largest,want_idx", [(1, [1, 3, 0]), (0, [2, 4, 0])])
def test_topk_keeps_lower_index_first_among_ties(largest: int, want_idx: list[int]) -> None:
    x = np.array([3, 5, 1, 5, 1], np.int64)
    m = model("TopK", [("x", I64, [5])], 24, {"k": np.array([3], np.int64)}, n_out=2,
              axis=0, largest=largest)
    values, idx = run(m, x)
    assert idx.dtype == np.int64 and idx.tolist() == want_idx
    assert values.tolist() == x[want_idx].tolist()


def test_topk_on_uint64_and_a_runtime_k() -> None:
    x = np.array([[2**63, 1, 2**64 - 1]], np.uint64)
    m = model("TopK", [("x", TensorProto.UINT64, [1, 3]), ("k", I64, [1])], 24, n_out=2)
    assert isinstance(import_onnx(m).outputs[0].type.shape[1], Sym)
    values, idx = run(m, x, np.array([2], np.int64))
    assert values.dtype == np.uint64 and values.tolist() == [[2**64 - 1, 2**63]]
    assert idx.tolist() == [[2, 0]]


def test_topk_version_1_takes_k_as_an_attribute() -> None:
    x = np.array([[0.5, 2.0, 1.0]], np.float32)
    m = model("TopK", [("x", F32, [1, 3])], 1, n_out=2, k=2)
    assert import_onnx(m).outputs[0].type.shape == (1, 2)
    values, idx = run(m, x)
    assert values.tolist() == [[2.0, 1.0]] and idx.tolist() == [[1, 2]]


def test_det_of_a_batch_of_matrices() -> None:
    x = np.array([[[1, 2], [3, 4]], [[2, 0], [0, 3]]], np.float16)
    out = run(model("Det", [("x", TensorProto.FLOAT16, [2, 2, 2])], 22), x)
    assert out.dtype == np.float16 and out.tolist() == [-2.0, 6.0]

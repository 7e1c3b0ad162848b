"""Gather and scatter ops: negative indices normalized, out-of-range indices rejected with the
index and the axis size (at compile time when the indices are known then), batch_dims, the
scatter reductions with repeated indices, TensorScatter's linear and circular writes. Expected
values are worked by hand or come from onnx.reference."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import dlc
from dlc.errors import ExecutionError, ShapeError
from dlc.frontends.onnx.importer import import_onnx


def one(op: str, xs: dict[str, np.ndarray], opset: int = 18,
        consts: dict[str, np.ndarray] | None = None, **attrs: object) -> onnx.ModelProto:
    """One node reading graph inputs `xs` then initializers `consts` (known at compile time)."""
    names = list(xs) + list(consts or {})
    g = helper.make_graph(
        [helper.make_node(op, names, ["y"], **attrs)], op,
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for k, v in xs.items()],
        [helper.make_tensor_value_info("y", 0, None)],
        [numpy_helper.from_array(v, k) for k, v in (consts or {}).items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(m: onnx.ModelProto, *xs: np.ndarray) -> np.ndarray:
    return dlc.compile(m, target="reference")(*xs)


def check_against_oracle(m: onnx.ModelProto, *xs: np.ndarray) -> np.ndarray:
    got = run(m, *xs)
    want = ReferenceEvaluator(m).run(None, dict(zip([i.name for i in m.graph.input], xs)))[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    return got


DATA = np.arange(12, dtype=np.float32).reshape(3, 4)


# -- Gather family ------------------------------------------------------------------------

def test_gather_negative_indices_count_from_the_end() -> None:
    idx = np.array([[-1, 0], [1, -4]], np.int64)
    got = run(one("Gather", {"d": DATA, "i": idx}, axis=1), DATA, idx)
    assert got.shape == (3, 2, 2)
    np.testing.assert_array_equal(got, DATA[:, [[3, 0], [1, 0]]])


def test_gather_out_of_range_at_run_time_names_index_and_size() -> None:
    m = one("Gather", {"d": DATA, "i": np.zeros(2, np.int64)})
    with pytest.raises(ExecutionError, match=r"index 3 .*size 3: valid indices are -3 to 2"):
        run(m, DATA, np.array([0, 3], np.int64))
    with pytest.raises(ExecutionError, match="index -4"):
        run(m, DATA, np.array([-4, 0], np.int64))


def test_gather_out_of_range_known_at_compile_time_is_a_shape_error() -> None:
    m = one("Gather", {"d": DATA}, consts={"i": np.array([4], np.int64)}, axis=-1)
    with pytest.raises(ShapeError, match="Gather node 'y': index 4"):
        import_onnx(m)


def test_gather_elements_indices_smaller_than_data() -> None:
    idx = np.array([[2, -1], [0, 1]], np.int32)  # 2 x 2 picks from a 3 x 4
    got = run(one("GatherElements", {"d": DATA, "i": idx}, axis=0), DATA, idx)
    np.testing.assert_array_equal(got, [[DATA[2, 0], DATA[2, 1]], [DATA[0, 0], DATA[1, 1]]])


@pytest.mark.parametrize("batch_dims,idx", [
    (0, np.array([[1, -1], [0, 2]], np.int64)),
    (0, np.array([[[2]], [[-3]]], np.int64)),
    (1, np.array([[1], [0], [-1]], np.int64)),
    (1, np.array([[[0], [3]], [[1], [2]], [[-1], [0]]], np.int64)),
])
def test_gather_nd(batch_dims: int, idx: np.ndarray) -> None:
    m = one("GatherND", {"d": DATA, "i": idx}, opset=13, batch_dims=batch_dims)
    got = run(m, DATA, idx)
    positive = np.where(idx < 0, idx + np.array(DATA.shape[batch_dims:batch_dims
                                                            + idx.shape[-1]]), idx)
    want = ReferenceEvaluator(m).run(None, {"d": DATA, "i": positive})[0]
    np.testing.assert_array_equal(got, want)


def test_gather_nd_out_of_range() -> None:
    m = one("GatherND", {"d": DATA, "i": np.zeros((1, 2), np.int64)}, opset=13)
    with pytest.raises(ExecutionError, match="index 4 .*size 4"):
        run(m, DATA, np.array([[0, 4]], np.int64))


# -- Scatter family -----------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_scatter_elements_reductions_with_repeated_indices(reduction: str) -> None:
    data = np.array([[1, 2, 3, 4, 5]], np.float32)
    idx = np.array([[1, 1, -1, 1]], np.int64)
    upd = np.array([[1.5, -2.0, 10.0, 3.0]], np.float32)
    m = one("ScatterElements", {"d": data, "i": idx, "u": upd}, axis=1, reduction=reduction)
    got = run(m, data, idx, upd)
    combine = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[reduction]
    want = data.copy()
    for i, u in zip([1, 1, 4, 1], upd[0]):
        want[0, i] = combine(want[0, i], u)
    np.testing.assert_array_equal(got, want)


def test_scatter_elements_none_and_deprecated_scatter() -> None:
    data = np.zeros((3, 3), np.float32)
    idx = np.array([[1, 0, -1], [0, 2, 1]], np.int64)
    upd = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    got = run(one("ScatterElements", {"d": data, "i": idx, "u": upd}, opset=13), data, idx, upd)
    np.testing.assert_array_equal(got, [[4, 2, 0], [1, 0, 6], [0, 5, 3]])
    old = run(one("Scatter", {"d": data, "i": idx, "u": upd}, opset=10), data, idx, upd)
    np.testing.assert_array_equal(old, got)


def test_scatter_elements_out_of_range() -> None:
    data = np.zeros((2, 2), np.float32)
    m = one("ScatterElements", {"d": data, "i": np.zeros((1, 1), np.int64),
                                "u": np.zeros((1, 1), np.float32)}, axis=1)
    with pytest.raises(ExecutionError, match="index 2 .*size 2"):
        run(m, data, np.array([[2]], np.int64), np.ones((1, 1), np.float32))


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd_reductions(reduction: str) -> None:
    data = np.arange(16, dtype=np.float32).reshape(4, 4)
    idx = np.array([[0], [2], [0]], np.int64)
    upd = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    if reduction == "none":
        idx = np.array([[0], [-2], [3]], np.int64)  # no repeats: "none" leaves their order open
    m = one("ScatterND", {"d": data, "i": idx, "u": upd}, reduction=reduction)
    positive = np.where(idx < 0, idx + 4, idx)
    want = ReferenceEvaluator(m).run(None, {"d": data, "i": positive, "u": upd})[0]
    np.testing.assert_array_equal(run(m, data, idx, upd), want)


def test_scatter_nd_element_tuples_and_shape_check() -> None:
    data = np.zeros((2, 3), np.int32)
    idx = np.array([[1, -1], [0, 0]], np.int64)
    upd = np.array([7, 8], np.int32)
    got = run(one("ScatterND", {"d": data, "i": idx, "u": upd}), data, idx, upd)
    np.testing.assert_array_equal(got, [[8, 0, 0], [0, 0, 7]])
    with pytest.raises(ShapeError, match="updates must have shape"):
        import_onnx(one("ScatterND", {"d": data, "i": idx, "u": np.zeros(3, np.int32)}))


# -- TensorScatter ------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["linear", "circular"])
def test_tensor_scatter_writes_at_each_batch_entry(mode: str) -> None:
    cache = np.zeros((2, 1, 4, 2), np.float32)
    update = np.arange(1, 2 * 1 * 3 * 2 + 1, dtype=np.float32).reshape(2, 1, 3, 2)
    starts = np.array([1, 3 if mode == "circular" else 0], np.int64)
    got = run(one("TensorScatter", {"c": cache, "u": update, "w": starts}, opset=24, mode=mode),
              cache, update, starts)
    want = cache.copy()
    for b, s in enumerate(starts):
        for t in range(3):
            want[b, :, (s + t) % 4] = update[b, :, t]
    np.testing.assert_array_equal(got, want)


def test_tensor_scatter_linear_overrun_is_an_error() -> None:
    cache, update = np.zeros((1, 4, 2), np.float32), np.ones((1, 2, 2), np.float32)
    m = one("TensorScatter", {"c": cache, "u": update, "w": np.zeros(1, np.int64)}, opset=24,
            axis=1)
    with pytest.raises(ExecutionError, match="overruns"):
        run(m, cache, update, np.array([3], np.int64))


def test_gather_with_a_scalar_index_known_at_compile_time() -> None:
    m = one("Gather", {"d": DATA}, consts={"i": np.array(-1, np.int64)})
    np.testing.assert_array_equal(run(m, DATA), DATA[-1])
    flat = DATA.reshape(-1)
    scalar = run(one("Gather", {"d": flat, "i": np.array(0, np.int64)}), flat, np.array(-2))
    assert isinstance(scalar, np.ndarray) and scalar.shape == () and scalar == 10
    with pytest.raises(ShapeError, match="index 3"):
        import_onnx(one("Gather", {"d": DATA}, consts={"i": np.array(3, np.int64)}))

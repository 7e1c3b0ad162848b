"""Softmax, LogSoftmax and Hardmax: the pre-13 semantics (the input flattened to 2-D at `axis`,
default axis 1) against ONNX Runtime, the opset-13 per-axis form, ties and large values."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import dlc
from dlc.frontends.onnx.importer import import_onnx

F32 = TensorProto.FLOAT
X = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) % 5) / 3


def model(op: str, shape: list, opset: int, dtype: int = F32, **attrs: object) -> onnx.ModelProto:
    g = helper.make_graph([helper.make_node(op, ["x"], ["y"], **attrs)], op,
                          [helper.make_tensor_value_info("x", dtype, shape)],
                          [helper.make_tensor_value_info("y", dtype, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(m: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return dlc.compile(m, target="reference")(x)


def ort_run(m: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    m.ir_version = 8
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(11, None), (11, 2), (11, 0), (11, -2), (1, 1),
                                        (13, None), (13, 1), (13, -3)])
def test_matches_onnx_runtime_in_each_version(op: str, opset: int, axis: int | None) -> None:
    attrs = {} if axis is None else {"axis": axis}
    m = model(op, [2, 3, 4], opset, **attrs)
    got = run(m, X)
    assert got.dtype == np.float32 and got.shape == X.shape
    np.testing.assert_allclose(got, ort_run(m, X), rtol=1e-5, atol=1e-6)


def test_version_11_normalizes_over_everything_after_axis() -> None:
    got = run(model("Softmax", [2, 3, 4], 11), X)  # default axis 1: rows of 12
    assert np.allclose(got.reshape(2, 12).sum(axis=1), 1)
    assert not np.allclose(got.sum(axis=1), 1)
    graph = import_onnx(model("Softmax", [2, 3, 4], 11))
    assert graph.nodes[0].attrs.coerce_2d == 1 and graph.nodes[0].attrs.axis == 1


def test_hardmax_marks_only_the_first_of_equal_maxima() -> None:
    x = np.array([[1, 3, 3, 0], [2, 2, 2, 2]], np.float32)
    np.testing.assert_array_equal(run(model("Hardmax", [2, 4], 13), x),
                                  [[0, 1, 0, 0], [1, 0, 0, 0]])


def test_large_inputs_do_not_overflow() -> None:
    x = np.array([[10000.0, 10001.0, 10002.0]], np.float32)
    soft = run(model("Softmax", [1, 3], 13), x)
    log = run(model("LogSoftmax", [1, 3], 13), x)
    want = np.exp([-2, -1, 0]) / np.exp([-2, -1, 0]).sum()
    np.testing.assert_allclose(soft[0], want, rtol=1e-6)
    np.testing.assert_allclose(log[0], np.log(want), rtol=1e-6)


@pytest.mark.parametrize("dtype", [TensorProto.FLOAT16, TensorProto.BFLOAT16])
def test_16_bit_softmax_over_long_rows_stays_normalized(dtype: int) -> None:
    # Summed one rounded bfloat16 addition at a time, 4096 ones would stop at 256.
    np_type = helper.tensor_dtype_to_np_dtype(dtype)
    x = np.zeros((1, 4096), np_type)
    got = run(model("Softmax", [1, 4096], 13, dtype), x)
    assert got.dtype == np_type
    np.testing.assert_allclose(got.astype(np.float32), 1 / 4096, rtol=1e-2)


def test_bfloat16_rows_shorter_than_8_are_summed_in_order() -> None:
    from dlc.ir.ops.softmax import sum_in_type
    x = np.array([[1.0, 2.0**-8, 2.0**-8, 2.0**-8]], ml_dtypes.bfloat16)
    # 1 + 2^-8 rounds back to 1 (ties to even) at every step.
    assert sum_in_type(x, 1).item() == 1.0
    assert sum_in_type(np.ones((3, 16), ml_dtypes.bfloat16), 1).tolist() == [[16.0]] * 3

"""Random generators: shapes and dtypes (dtype attributes as ONNX codes), seeds that repeat,
unseeded draws that differ, and the distributions' ranges."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper

import dlc
from dlc.frontends.onnx.importer import import_onnx
from dlc.ir import DType, TensorType


def one_node(op: str, inputs: dict[str, np.ndarray], opset: int = 22,
             **attrs: object) -> onnx.ModelProto:
    node = helper.make_node(op, list(inputs), ["y"], **attrs)
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype),
                                         list(v.shape)) for n, v in inputs.items()]
    g = helper.make_graph([node], op, ins, [helper.make_tensor_value_info("y", T.UNDEFINED,
                                                                          None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def draw(op: str, inputs: dict[str, np.ndarray], **attrs: object) -> np.ndarray:
    return dlc.compile(one_node(op, inputs, **attrs), target="reference")(*inputs.values())


def test_seeded_normal_repeats_and_has_the_asked_type() -> None:
    a = draw("RandomNormal", {}, shape=[3, 4], seed=5.0, mean=10.0, scale=0.01, dtype=T.DOUBLE)
    b = draw("RandomNormal", {}, shape=[3, 4], seed=5.0, mean=10.0, scale=0.01, dtype=T.DOUBLE)
    assert a.dtype == np.float64 and a.shape == (3, 4)
    np.testing.assert_array_equal(a, b)
    assert np.all(np.abs(a - 10.0) < 0.1)


def test_unseeded_uniform_like_differs_between_runs_and_stays_in_range() -> None:
    x = np.zeros((50,), np.float16)
    m = dlc.compile(one_node("RandomUniformLike", {"x": x}, low=-2.0, high=-1.0),
                    target="reference")
    a, b = m(x), m(x)
    assert a.dtype == np.float16 and not np.array_equal(a, b)
    assert np.all((a >= -2.0) & (a <= -1.0))


def test_bernoulli_of_certain_probabilities() -> None:
    p = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
    got = draw("Bernoulli", {"p": p}, dtype=T.INT32)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [0, 1, 1, 0])
    t = import_onnx(one_node("Bernoulli", {"p": p})).outputs[0].type
    assert t == TensorType(DType.F32, (4,))


def test_multinomial_samples_the_only_likely_class() -> None:
    logits = np.array([[0.0, 50.0, 0.0], [50.0, 0.0, 0.0]], np.float32)
    got = draw("Multinomial", {"logits": logits}, sample_size=5, dtype=T.INT64, seed=1.0)
    assert got.dtype == np.int64 and got.shape == (2, 5)
    np.testing.assert_array_equal(got, [[1] * 5, [0] * 5])

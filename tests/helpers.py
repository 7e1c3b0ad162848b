"""Small ONNX models built with onnx.helper, shared by tests."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def add_relu_model(opset: int = 17, shape: tuple = (2, 3)) -> onnx.ModelProto:
    g = helper.make_graph(
        [helper.make_node("Add", ["x", "y"], ["z"]), helper.make_node("Relu", ["z"], ["w"])],
        "add_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape)),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape[-1]])],
        [helper.make_tensor_value_info("w", TensorProto.FLOAT, list(shape))])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def model_with_initializer(name: str = "bias", data: np.ndarray | None = None) -> onnx.ModelProto:
    data = np.arange(3, dtype=np.float32) if data is None else data
    g = helper.make_graph(
        [helper.make_node("Add", ["x", name], ["z"])], "with_init",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [3])],
        [numpy_helper.from_array(data, name)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

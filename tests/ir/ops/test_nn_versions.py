"""Every ONNX version the nn and quantization ops declare imports and means the same as the newest
form on inputs all versions accept (older forms reach the op table through legacy adapters)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import dlc
from dlc.ir import OPS

RNG = np.random.default_rng(6)
F = np.float32


def arr(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(F)


# op: (inputs by name, attributes every version reads the same way)
CASES: dict[str, tuple[dict[str, np.ndarray], dict[str, object]]] = {
    "Conv": ({"x": arr(1, 2, 5, 5), "w": arr(3, 2, 3, 3)}, {"pads": [1, 1, 0, 0]}),
    "ConvTranspose": ({"x": arr(1, 2, 3, 3), "w": arr(2, 3, 2, 2)}, {"strides": [2, 2]}),
    "AveragePool": ({"x": arr(1, 2, 5, 5)}, {"kernel_shape": [2, 2], "strides": [2, 1]}),
    "MaxPool": ({"x": arr(1, 2, 5, 5)}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    "LpPool": ({"x": arr(1, 2, 4, 4)}, {"kernel_shape": [2, 2]}),
    "GlobalAveragePool": ({"x": arr(1, 2, 3, 3)}, {}),
    "GlobalMaxPool": ({"x": arr(1, 2, 3, 3)}, {}),
    "GlobalLpPool": ({"x": arr(1, 2, 3, 3)}, {}),
    "MaxUnpool": ({"x": arr(1, 1, 2, 2), "i": np.array([[[[0, 3], [9, 14]]]], np.int64)},
                  {"kernel_shape": [2, 2], "strides": [2, 2]}),
    "MaxRoiPool": ({"x": arr(1, 2, 6, 6), "rois": np.array([[0, 0, 0, 4, 5]], F)},
                   {"pooled_shape": [2, 2]}),
    "RoiAlign": ({"x": arr(1, 2, 6, 6), "rois": np.array([[0.5, 0, 4, 5]], F),
                  "b": np.array([0], np.int64)},
                 {"output_height": 2, "output_width": 2,
                  "coordinate_transformation_mode": "output_half_pixel"}),
    "BatchNormalization": ({"x": arr(2, 3, 4), "s": arr(3), "b": arr(3), "m": arr(3),
                            "v": np.abs(arr(3)) + 1}, {"is_test": 1}),
    "InstanceNormalization": ({"x": arr(2, 3, 4), "s": arr(3), "b": arr(3)}, {}),
    "LpNormalization": ({"x": arr(2, 3)}, {}),
    "MeanVarianceNormalization": ({"x": arr(2, 3, 2, 2)}, {}),
    "LRN": ({"x": arr(1, 5, 2, 2)}, {"size": 3}),
    "Dropout": ({"x": arr(2, 3)}, {"is_test": 1}),
    "Gemm": ({"a": arr(2, 3), "b": arr(3, 4), "c": arr(2, 4)}, {}),
    "MatMul": ({"a": arr(2, 3), "b": arr(3, 4)}, {}),
    "Einsum": ({"a": arr(2, 3), "b": arr(3, 4)}, {"equation": "ij,jk->ik"}),
    "QuantizeLinear": ({"x": arr(2, 3), "s": np.array(0.1, F), "z": np.array(3, np.uint8)}, {}),
    "DequantizeLinear": ({"x": np.arange(6, dtype=np.uint8).reshape(2, 3),
                          "s": np.array(0.1, F), "z": np.array(3, np.uint8)}, {}),
    "QLinearMatMul": ({"a": np.arange(6, dtype=np.uint8).reshape(2, 3), "as": np.array(0.1, F),
                       "az": np.array(1, np.uint8), "b": np.ones((3, 2), np.uint8),
                       "bs": np.array(0.2, F), "bz": np.array(0, np.uint8),
                       "ys": np.array(0.05, F), "yz": np.array(5, np.uint8)}, {}),
    "GridSample": ({"x": arr(1, 1, 3, 3), "g": RNG.uniform(-1, 1, (1, 2, 2, 2)).astype(F)}, {}),
    "DeformConv": ({"x": arr(1, 2, 4, 4), "w": arr(2, 2, 2, 2), "o": arr(1, 8, 3, 3)}, {}),
}
# attributes a version does not have
ONLY_FROM = {("BatchNormalization", "is_test"): (1, 6), ("Dropout", "is_test"): (1, 6),
             ("RoiAlign", "coordinate_transformation_mode"): (16, 22)}


def versions() -> list[tuple[str, int]]:
    return [(name, v) for name in CASES for v in OPS[name].versions]


def run(op: str, opset: int) -> list[np.ndarray]:
    inputs, attrs = CASES[op]
    attrs = {k: v for k, v in attrs.items()
             if opset in ONLY_FROM.get((op, k), (opset,))}
    if op == "RoiAlign" and opset < 16:
        attrs.pop("coordinate_transformation_mode", None)   # its only behaviour then
    feeds = dict(inputs)
    if op == "BatchNormalization" and opset == 1:
        attrs["consumed_inputs"] = [0, 0, 0, 1, 1]
    node = helper.make_node(op, list(feeds), ["y"], **attrs)
    g = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype),
                                       list(v.shape)) for n, v in feeds.items()],
        [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    out = dlc.compile(m, target="reference")(*feeds.values())
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("op,version", versions())
def test_every_declared_version_means_the_newest(op: str, version: int) -> None:
    newest = max(OPS[op].versions)
    got, want = run(op, version), run(op, newest)
    assert got[0].dtype == want[0].dtype and got[0].shape == want[0].shape
    np.testing.assert_allclose(got[0].astype(np.float64), want[0].astype(np.float64),
                               rtol=1e-6)


def test_every_op_of_the_family_is_covered() -> None:
    family = {"Conv", "ConvTranspose", "ConvInteger", "DeformConv", "Col2Im", "AveragePool",
              "MaxPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "LpPool",
              "MaxUnpool", "MaxRoiPool", "RoiAlign", "BatchNormalization",
              "InstanceNormalization", "LayerNormalization", "GroupNormalization",
              "RMSNormalization", "LpNormalization", "MeanVarianceNormalization", "LRN",
              "Dropout", "Gemm", "MatMul", "Einsum", "QuantizeLinear", "DequantizeLinear",
              "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger",
              "GridSample", "AffineGrid"}
    multi = {name for name in family if len(OPS[name].versions) > 1}
    assert multi - set(CASES) <= {"GroupNormalization"}   # 18 vs 21: test_nn_norm
    history = {s.name: set() for s in onnx.defs.get_all_schemas_with_history()}
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain == "" and s.name in family:
            history[s.name].add(s.since_version)
    for name in family:
        assert set(OPS[name].versions) == history[name], name

"""Resize and Upsample: every coordinate transformation with nearest/linear/cubic, rounding
modes, antialias, exclude_outside, crops with extrapolation, axes and aspect-ratio policies, the
shape rule on symbolic dims, and the Resize-10/Upsample adapters. onnx.reference (which generated
the conformance data) and ONNX Runtime are the oracles."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper
from onnx.reference import ReferenceEvaluator

import dlc
from dlc.frontends.onnx.importer import import_onnx
from dlc.ir import Sym

RNG = np.random.default_rng(5)
X = RNG.standard_normal((1, 2, 5, 7)).astype(np.float32)


def resize_model(inputs: dict[str, np.ndarray | None], opset: int = 19, op: str = "Resize",
                 shapes: dict[str, list] | None = None, **attrs: object) -> onnx.ModelProto:
    names = list(inputs)
    while inputs[names[-1]] is None:
        names.pop()
    node = helper.make_node(op, [n if inputs[n] is not None else "" for n in names], ["y"],
                            **attrs)
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype),
                                         (shapes or {}).get(n, list(v.shape)))
           for n, v in inputs.items() if v is not None]
    g = helper.make_graph([node], op, ins, [helper.make_tensor_value_info("y", T.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(m: onnx.ModelProto, inputs: dict[str, np.ndarray | None]) -> np.ndarray:
    return dlc.compile(m, target="reference")(*[v for v in inputs.values() if v is not None])


def reference(m: onnx.ModelProto, inputs: dict[str, np.ndarray | None]) -> np.ndarray:
    return ReferenceEvaluator(m).run(None, {k: v for k, v in inputs.items() if v is not None})[0]


def onnxruntime(m: onnx.ModelProto, inputs: dict[str, np.ndarray | None]) -> np.ndarray:
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    given = [v for v in inputs.values() if v is not None]
    return s.run(None, dict(zip([i.name for i in s.get_inputs()], given)))[0]


SCALES = [np.array([1, 1, 0.6, 1.7], np.float32), np.array([1, 1, 2.0, 0.35], np.float32)]
SIZES = [np.array([1, 2, 3, 11], np.int64), np.array([1, 2, 8, 1], np.int64)]


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("coords", ["half_pixel", "pytorch_half_pixel", "align_corners",
                                    "asymmetric", "half_pixel_symmetric"])
def test_modes_and_coordinate_transformations(mode: str, coords: str) -> None:
    for scales in SCALES:
        inputs = {"x": X, "roi": None, "scales": scales}
        m = resize_model(inputs, mode=mode, coordinate_transformation_mode=coords)
        np.testing.assert_allclose(run(m, inputs), reference(m, inputs), rtol=1e-5, atol=1e-6)
    for sizes in SIZES:
        inputs = {"x": X, "roi": None, "scales": None, "sizes": sizes}
        m = resize_model(inputs, mode=mode, coordinate_transformation_mode=coords)
        # One output pixel under pytorch_half_pixel samples x=0 (the ONNX definition, and
        # ONNX Runtime); onnx.reference samples -0.5 there.
        oracle = onnxruntime if coords == "pytorch_half_pixel" else reference
        np.testing.assert_allclose(run(m, inputs), oracle(m, inputs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor",
                                          "ceil"])
def test_nearest_rounding(nearest_mode: str) -> None:
    inputs = {"x": X, "roi": None, "scales": SCALES[0]}
    m = resize_model(inputs, mode="nearest", nearest_mode=nearest_mode)
    np.testing.assert_array_equal(run(m, inputs), reference(m, inputs))


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_antialias_and_exclude_outside(mode: str) -> None:
    for extra in ({"antialias": 1}, {"antialias": 1, "exclude_outside": 1},
                  {"exclude_outside": 1, "cubic_coeff_a": -0.5}):
        inputs = {"x": X, "roi": None, "scales": SCALES[1]}
        m = resize_model(inputs, mode=mode, **extra)
        np.testing.assert_allclose(run(m, inputs), reference(m, inputs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_crop_and_resize_extrapolates_outside_the_roi(mode: str) -> None:
    inputs = {"x": X, "roi": np.array([0.1, 0.2, 1.3, 0.9], np.float32), "scales": None,
              "sizes": np.array([6, 4], np.int64)}
    m = resize_model(inputs, mode=mode, coordinate_transformation_mode="tf_crop_and_resize",
                     axes=[3, 2], extrapolation_value=7.0)
    got = run(m, inputs)
    np.testing.assert_allclose(got, reference(m, inputs), rtol=1e-5, atol=1e-6)
    assert np.any(got == 7.0)


@pytest.mark.parametrize("policy,shape", [("not_larger", (1, 2, 3, 4)),
                                          ("not_smaller", (1, 2, 6, 9))])
def test_keep_aspect_ratio_policy(policy: str, shape: tuple) -> None:
    # axes 2, 3 asked for 3 and 9: scales 3/5 and 9/7; the policy keeps the smaller or larger
    inputs = {"x": X, "roi": None, "scales": None, "sizes": np.array([3, 9], np.int64)}
    m = resize_model(inputs, mode="linear", axes=[2, 3], keep_aspect_ratio_policy=policy)
    got = run(m, inputs)
    assert got.shape == shape
    np.testing.assert_allclose(got, reference(m, inputs), rtol=1e-5, atol=1e-6)


def test_integer_inputs_round_and_saturate() -> None:
    x = np.array([[[[0, 255], [255, 0]]]], np.uint8)
    inputs = {"x": x, "roi": None, "scales": np.array([1, 1, 2, 2], np.float32)}
    m = resize_model(inputs, mode="cubic")
    got = run(m, inputs)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, reference(m, inputs))


def test_shape_rule_on_symbolic_input_dims() -> None:
    sizes = onnx.numpy_helper.from_array(np.array([4, 6], np.int64), "sizes")
    scales = onnx.numpy_helper.from_array(np.array([1, 1, 2, 1], np.float32), "scales")
    x = helper.make_tensor_value_info("x", T.FLOAT, ["n", 3, "h", "w"])
    out = helper.make_tensor_value_info("y", T.FLOAT, None)
    by_sizes = helper.make_graph([helper.make_node("Resize", ["x", "", "", "sizes"], ["y"],
                                                   axes=[2, 3])], "g", [x], [out], [sizes])
    by_scales = helper.make_graph([helper.make_node("Resize", ["x", "", "scales"], ["y"])],
                                  "g", [x], [out], [scales])
    t1 = import_onnx(helper.make_model(by_sizes)).outputs[0].type
    assert t1.shape == (Sym("n"), 3, 4, 6)
    t2 = import_onnx(helper.make_model(by_scales)).outputs[0].type
    assert t2.shape[:2] == (Sym("n"), 3) and isinstance(t2.shape[2], Sym)
    assert t2.shape[3] == Sym("w")


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [[1, 1, 2, 3], [1, 1, 0.6, 0.5]])
def test_resize10_is_asymmetric(mode: str, scales: list) -> None:
    s = onnx.numpy_helper.from_array(np.array(scales, np.float32), "scales")
    g = helper.make_graph([helper.make_node("Resize", ["x", "scales"], ["y"], mode=mode)], "g",
                          [helper.make_tensor_value_info("x", T.FLOAT, list(X.shape))],
                          [helper.make_tensor_value_info("y", T.FLOAT, None)], [s])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 10)])
    np.testing.assert_allclose(run(m, {"x": X}), onnxruntime(m, {"x": X}), rtol=1e-5,
                               atol=1e-6)


def test_upsample_forms() -> None:
    x = np.array([[[[1, 2], [3, 4]]]], np.float32)
    scales = np.array([1, 1, 2, 3], np.float32)
    want = x.repeat(2, axis=2).repeat(3, axis=3)
    m9 = resize_model({"x": x, "scales": scales}, opset=9, op="Upsample", mode="nearest")
    np.testing.assert_array_equal(run(m9, {"x": x, "scales": scales}), want)
    m7 = resize_model({"x": x}, opset=7, op="Upsample", mode="nearest", scales=[1.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(run(m7, {"x": x}), want)
    m1 = resize_model({"x": x}, opset=6, op="Upsample", height_scale=2.0, width_scale=3.0)
    np.testing.assert_array_equal(run(m1, {"x": x}), want)
    m7l = resize_model({"x": x}, opset=7, op="Upsample", mode="linear", scales=[1.0, 1.0, 2.0, 2.0])
    np.testing.assert_allclose(run(m7l, {"x": x}), onnxruntime(m7l, {"x": x}), rtol=1e-6)

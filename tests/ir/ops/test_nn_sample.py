"""Sampling: GridSample in every mode x padding mode (grids reaching outside the image), 3-D,
GridSample-16's mode names; AffineGrid 2-D/3-D; RoiAlign avg/max in both coordinate modes and
RoiAlign-10's default; MaxRoiPool by hand. Oracle: onnx.reference."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import dlc

RNG = np.random.default_rng(5)


def model(op: str, inputs: dict[str, np.ndarray], opset: int = 22,
          **attrs: object) -> onnx.ModelProto:
    g = helper.make_graph(
        [helper.make_node(op, list(inputs), ["y"], **attrs)], op,
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype),
                                       list(v.shape)) for n, v in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def check(m: onnx.ModelProto, *xs: np.ndarray) -> np.ndarray:
    got = dlc.compile(m, target="reference")(*xs)
    want = ReferenceEvaluator(m).run(None, dict(zip([i.name for i in m.graph.input], xs)))[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    return got


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("corners", [0, 1])
def test_grid_sample_2d(mode: str, padding: str, corners: int) -> None:
    x = RNG.standard_normal((1, 2, 4, 5)).astype(np.float32)
    grid = RNG.uniform(-1.6, 1.6, (1, 3, 3, 2)).astype(np.float32)
    check(model("GridSample", {"x": x, "g": grid}, mode=mode, padding_mode=padding,
                align_corners=corners), x, grid)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_grid_sample_3d_and_opset16_names(mode: str) -> None:
    x = RNG.standard_normal((2, 1, 3, 4, 2)).astype(np.float32)
    grid = RNG.uniform(-1.2, 1.2, (2, 2, 2, 3, 3)).astype(np.float32)
    check(model("GridSample", {"x": x, "g": grid}, mode=mode, padding_mode="border"), x, grid)
    x2, g2 = x[:, :, 0], grid[:, 0, :, :, :2]
    old = model("GridSample", {"x": x2, "g": g2}, 16, mode="bilinear")
    new = model("GridSample", {"x": x2, "g": g2}, 20, mode="linear")
    np.testing.assert_array_equal(dlc.compile(old, target="reference")(x2, g2),
                                  dlc.compile(new, target="reference")(x2, g2))


@pytest.mark.parametrize("size,corners", [((2, 3, 4, 5), 0), ((2, 3, 4, 5), 1),
                                          ((2, 3, 2, 4, 3), 0), ((2, 3, 2, 4, 3), 1)])
def test_affine_grid(size: tuple, corners: int) -> None:
    rank = len(size) - 2
    theta = RNG.standard_normal((2, rank, rank + 1)).astype(np.float32)
    m = model("AffineGrid", {"theta": theta, "size": np.array(size, np.int64)}, 20,
              align_corners=corners)
    assert check(m, theta, np.array(size, np.int64)).shape == (2, *size[2:], rank)


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("transform", ["half_pixel", "output_half_pixel"])
def test_roi_align(mode: str, transform: str) -> None:
    x = RNG.standard_normal((2, 3, 8, 9)).astype(np.float32)
    rois = np.array([[0, 0, 8, 7], [1.5, 2.2, 4.1, 6.6], [-2, -1, 3, 3], [7, 6, 12, 10]],
                    np.float32)
    batch = np.array([0, 1, 1, 0], np.int64)
    for ratio in (0, 2):
        check(model("RoiAlign", {"x": x, "rois": rois, "b": batch}, mode=mode,
                    coordinate_transformation_mode=transform, output_height=3, output_width=2,
                    sampling_ratio=ratio, spatial_scale=0.9), x, rois, batch)
    old = model("RoiAlign", {"x": x, "rois": rois, "b": batch}, 10, output_height=2,
                output_width=2)
    new = model("RoiAlign", {"x": x, "rois": rois, "b": batch}, 16, output_height=2,
                output_width=2, coordinate_transformation_mode="output_half_pixel")
    np.testing.assert_array_equal(dlc.compile(old, target="reference")(x, rois, batch),
                                  dlc.compile(new, target="reference")(x, rois, batch))


def test_max_roi_pool() -> None:
    x = np.arange(2 * 6 * 6, dtype=np.float32).reshape(1, 2, 6, 6)
    rois = np.array([[0, 0, 0, 3, 3], [0, 2, 1, 5, 5]], np.float32)
    y = dlc.compile(model("MaxRoiPool", {"x": x, "rois": rois}, pooled_shape=[2, 2]),
                    target="reference")(x, rois)
    # roi 0 covers rows/cols 0..3 in 2x2 bins; roi 1 rows 1..5 (bins 1..3, 3..6), cols 2..5
    np.testing.assert_array_equal(y[0, 0], [[7, 9], [19, 21]])
    np.testing.assert_array_equal(y[1, 0], [[21, 23], [33, 35]])
    np.testing.assert_array_equal(y[:, 1], y[:, 0] + 36)

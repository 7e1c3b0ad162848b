"""Convolutions: N-d Conv with groups/dilations/asymmetric pads, auto_pad SAME_UPPER vs SAME_LOWER,
symbolic batch and spatial dims, ConvTranspose's output_shape/output_padding, ConvInteger's zero
points, DeformConv (zero offsets = Conv) and Col2Im. Oracles: onnx.reference, hand-worked sums."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import dlc
from dlc.frontends.onnx.importer import import_onnx
from dlc.ir import Sym

RNG = np.random.default_rng(0)


def model(op: str, inputs: dict[str, np.ndarray | list], opset: int = 22,
          inits: dict[str, np.ndarray] | None = None, n_out: int = 1,
          **attrs: object) -> onnx.ModelProto:
    """One node; graph inputs are given by example arrays (or a shape list with symbols)."""
    def info(name: str, v: np.ndarray | list) -> onnx.ValueInfoProto:
        if isinstance(v, list):
            return helper.make_tensor_value_info(name, TensorProto.FLOAT, v)
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype),
                                             list(v.shape))
    outs = [f"out{i}" for i in range(n_out)]
    node = helper.make_node(op, list(inputs) + list(inits or {}), outs, **attrs)
    g = helper.make_graph([node], op, [info(n, v) for n, v in inputs.items()],
                          [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None)
                           for o in outs],
                          [numpy_helper.from_array(v, n) for n, v in (inits or {}).items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def check(m: onnx.ModelProto, *xs: np.ndarray, rtol: float = 1e-5) -> None:
    got = dlc.compile(m, target="reference")(*xs)
    want = ReferenceEvaluator(m).run(None, dict(zip([i.name for i in m.graph.input], xs)))
    got = got if isinstance(got, tuple) else (got,)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-5)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("spatial,group,attrs", [
    ((9,), 1, dict(strides=[2], pads=[1, 2], dilations=[2])),
    ((6, 7), 2, dict(strides=[2, 1], pads=[0, 1, 2, 1], dilations=[1, 2])),
    ((4, 5, 3), 4, dict(pads=[1, 0, 1, 0, 1, 1])),
])
def test_conv_nd_groups_dilations_asymmetric_pads(spatial: tuple, group: int,
                                                 attrs: dict) -> None:
    x, w, b = f32(2, 4, *spatial), f32(8, 4 // group, *([3] * len(spatial))), f32(8)
    check(model("Conv", {"x": x, "w": w, "b": b}, group=group, **attrs), x, w, b)


def test_same_lower_puts_the_odd_pad_first() -> None:
    # 1-D, kernel 2, stride 1: one pad in total; SAME_UPPER pads the end, SAME_LOWER the start
    x = np.array([[[1, 2, 3]]], np.float32)
    w = np.array([[[1, 10]]], np.float32)
    upper = dlc.compile(model("Conv", {"x": x}, inits={"w": w}, auto_pad="SAME_UPPER"),
                        target="reference")(x)
    lower = dlc.compile(model("Conv", {"x": x}, inits={"w": w}, auto_pad="SAME_LOWER"),
                        target="reference")(x)
    np.testing.assert_array_equal(upper, [[[21, 32, 3]]])
    np.testing.assert_array_equal(lower, [[[10, 21, 32]]])


def test_symbolic_batch_and_spatial_dims() -> None:
    w = f32(8, 3, 3, 3)
    keep = model("Conv", {"x": ["N", 3, "H", "W"]}, inits={"w": w}, pads=[1, 1, 1, 1])
    t = import_onnx(keep).outputs[0].type
    assert t.shape == (Sym("N"), 8, Sym("H"), Sym("W"))
    strided = model("Conv", {"x": ["N", 3, "H", "W"]}, inits={"w": w}, strides=[2, 2])
    t = import_onnx(strided).outputs[0].type
    assert t.shape[:2] == (Sym("N"), 8) and all(isinstance(d, Sym) for d in t.shape[2:])
    assert t.shape[2] not in (Sym("H"), Sym("W"))
    m = dlc.compile(strided, target="reference")
    for shape in [(1, 3, 7, 9), (2, 3, 10, 5)]:
        x = f32(*shape)
        assert m(x).shape == (shape[0], 8, (shape[2] - 3) // 2 + 1, (shape[3] - 3) // 2 + 1)


@pytest.mark.parametrize("attrs", [
    dict(strides=[3, 2], output_padding=[1, 1]),
    dict(strides=[3, 2], output_shape=[10, 8]),
    dict(strides=[2, 2], pads=[1, 0, 0, 1], dilations=[2, 1]),
    dict(strides=[2, 2], auto_pad="SAME_UPPER"),
])
def test_conv_transpose(attrs: dict) -> None:
    x, w, b = f32(2, 4, 3, 4), f32(4, 3, 3, 2), f32(3)
    check(model("ConvTranspose", {"x": x, "w": w, "b": b}, **attrs), x, w, b)


def test_grouped_conv_transpose_is_per_group_conv_transposes() -> None:
    # (onnx.reference slices grouped weights wrongly, so the oracle is dlc's ungrouped op)
    x, w = f32(1, 4, 3, 4), f32(4, 3, 3, 2)
    got = dlc.compile(model("ConvTranspose", {"x": x, "w": w}, group=2, strides=[1, 2]),
                      target="reference")(x, w)
    one = dlc.compile(model("ConvTranspose", {"x": x[:, :2], "w": w[:2]}, strides=[1, 2]),
                      target="reference")
    want = np.concatenate([one(x[:, :2], w[:2]), one(x[:, 2:], w[2:])], axis=1)
    assert got.shape == (1, 6, 5, 8)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_conv_transpose_1d_and_3d() -> None:
    x, w = f32(1, 2, 5), f32(2, 3, 3)
    check(model("ConvTranspose", {"x": x, "w": w}, strides=[2]), x, w)
    x, w = f32(1, 2, 3, 2, 2), f32(2, 2, 2, 2, 2)
    check(model("ConvTranspose", {"x": x, "w": w}, strides=[2, 1, 2]), x, w)


def test_conv_integer_subtracts_zero_points_exactly() -> None:
    x = RNG.integers(0, 256, (1, 2, 4, 4), dtype=np.uint8)
    w = RNG.integers(-128, 128, (3, 2, 2, 2), dtype=np.int8)
    xz, wz = np.array(128, np.uint8), np.array([1, -2, 3], np.int8)
    m = model("ConvInteger", {"x": x, "w": w, "xz": xz, "wz": wz}, opset=10, pads=[1, 1, 0, 0])
    got = dlc.compile(m, target="reference")(x, w, xz, wz)
    xs = np.pad(x.astype(np.int64) - 128, ((0, 0), (0, 0), (1, 0), (1, 0)))
    ws = w.astype(np.int64) - wz.astype(np.int64).reshape(3, 1, 1, 1)
    want = np.zeros((1, 3, 4, 4), np.int64)
    for i in range(4):
        for j in range(4):
            want[0, :, i, j] = np.einsum("chw,mchw->m", xs[0, :, i:i + 2, j:j + 2], ws)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


def test_deform_conv_with_zero_offsets_is_conv_and_mask_scales() -> None:
    x, w, b = f32(2, 4, 5, 5), f32(6, 2, 3, 3), f32(6)
    offset = np.zeros((2, 2 * 2 * 9, 3, 3), np.float32)
    mask = np.full((2, 2 * 9, 3, 3), 0.5, np.float32)
    m = model("DeformConv", {"x": x, "w": w, "offset": offset, "b": b, "mask": mask},
              group=2, offset_group=2)
    got = dlc.compile(m, target="reference")(x, w, offset, b, mask)
    conv = dlc.compile(model("Conv", {"x": x, "w": w}, group=2), target="reference")(x, w)
    np.testing.assert_allclose(got, 0.5 * conv + b.reshape(1, 6, 1, 1), rtol=1e-5, atol=1e-5)
    offset = RNG.uniform(-1.5, 1.5, offset.shape).astype(np.float32)  # samples off the grid
    check(model("DeformConv", {"x": x, "w": w, "offset": offset}, group=2, offset_group=2,
                pads=[1, 1, 1, 1], strides=[2, 2]), x, w, offset)


def test_col2im() -> None:
    x = f32(2, 2 * 4, 12)   # 2 channels of 2x2 blocks; 3x4 block positions of a 4x5 image
    m = model("Col2Im", {"x": x}, opset=18,
              inits={"image": np.array([4, 5]), "block": np.array([2, 2])})
    check(m, x)
    m = model("Col2Im", {"x": f32(1, 3 * 2, 6)}, opset=18, strides=[2], pads=[1, 2],
              dilations=[2], inits={"image": np.array([10]), "block": np.array([2])})
    check(m, f32(1, 3 * 2, 6))

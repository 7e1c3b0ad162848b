"""Pooling: MaxPool's Indices in both storage orders, ceil_mode (and the window that would start in
the padding), count_include_pad, SAME_LOWER, int8 max, LpPool-1's float p, global pools,
MaxUnpool inverting MaxPool, and symbolic spatial dims. Oracles: onnx.reference and hand-worked."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import dlc
from dlc.frontends.onnx.importer import import_onnx
from dlc.ir import Sym

RNG = np.random.default_rng(1)


def model(op: str, x: np.ndarray | list, opset: int = 22, n_out: int = 1,
          extra: dict[str, np.ndarray] | None = None, **attrs: object) -> onnx.ModelProto:
    def info(name: str, v: np.ndarray | list) -> onnx.ValueInfoProto:
        if isinstance(v, list):
            return helper.make_tensor_value_info(name, TensorProto.FLOAT, v)
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype),
                                             list(v.shape))
    ins = {"x": x, **(extra or {})}
    outs = [f"out{i}" for i in range(n_out)]
    g = helper.make_graph([helper.make_node(op, list(ins), outs, **attrs)], op,
                          [info(n, v) for n, v in ins.items()],
                          [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None)
                           for o in outs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(m: onnx.ModelProto, *xs: np.ndarray) -> np.ndarray | tuple:
    return dlc.compile(m, target="reference")(*xs)


def oracle(m: onnx.ModelProto, *xs: np.ndarray) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator
    return ReferenceEvaluator(m).run(None, dict(zip([i.name for i in m.graph.input], xs)))


@pytest.mark.parametrize("storage_order", [0, 1])
def test_max_pool_indices_in_both_storage_orders(storage_order: int) -> None:
    x = RNG.standard_normal((2, 3, 5, 6)).astype(np.float32)
    m = model("MaxPool", x, n_out=2, kernel_shape=[2, 3], strides=[2, 2], pads=[1, 0, 0, 1],
              storage_order=storage_order)
    y, idx = run(m, x)
    want_y, want_idx = oracle(m, x)
    np.testing.assert_array_equal(y, want_y)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, want_idx)
    # the indices point at the maxima: row-major flat positions (or column-major planes)
    plane = x if storage_order == 0 else x.transpose(0, 1, 3, 2)
    np.testing.assert_array_equal(plane.reshape(-1)[idx], y)


def test_max_pool_ties_pick_the_first_maximum_and_dilations_skip() -> None:
    x = np.array([[[3, 1, 3, 2, 3]]], np.float32)
    y, idx = run(model("MaxPool", x, n_out=2, kernel_shape=[3], dilations=[2]), x)
    np.testing.assert_array_equal(y, [[[3]]])
    np.testing.assert_array_equal(idx, [[[0]]])


def test_ceil_mode_drops_a_window_that_would_start_in_the_padding() -> None:
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    # floor: (4+1-2)/2+1 = 2; ceil: 3, but window 3 starts at 4 = in + pad_begin -> dropped
    m = model("MaxPool", x, kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 0, 0],
              ceil_mode=1)
    assert run(m, x).shape == (1, 1, 3, 3)
    m = model("MaxPool", x, kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1],
              ceil_mode=1)
    np.testing.assert_array_equal(run(m, x)[0, 0], [[0, 2, 3], [8, 10, 11], [12, 14, 15]])


@pytest.mark.parametrize("include", [0, 1])
def test_average_pool_counts_pads_only_if_asked(include: int) -> None:
    x = np.ones((1, 1, 3, 3), np.float32)
    m = model("AveragePool", x, kernel_shape=[2, 2], pads=[1, 1, 1, 1],
              count_include_pad=include)
    corner = 0.25 if include else 1.0
    y = run(m, x)
    assert y.shape == (1, 1, 4, 4)
    assert y[0, 0, 0, 0] == corner and y[0, 0, 1, 1] == 1.0
    x = RNG.standard_normal((1, 2, 7, 6)).astype(np.float32)
    m = model("AveragePool", x, kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1],
              ceil_mode=1, count_include_pad=include)
    np.testing.assert_allclose(run(m, x), oracle(m, x)[0], rtol=1e-5)


def test_same_lower_and_upper_pad_different_ends() -> None:
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 4)
    up = run(model("MaxPool", x, kernel_shape=[2], strides=[1], auto_pad="SAME_UPPER"), x)
    low = run(model("AveragePool", x, kernel_shape=[2], auto_pad="SAME_LOWER"), x)
    np.testing.assert_array_equal(up, [[[1, 2, 3, 3]]])
    np.testing.assert_array_equal(low, [[[0, 0.5, 1.5, 2.5]]])


def test_int8_max_pool_pads_with_the_lowest_value() -> None:
    x = np.array([[[-100, -128, -5]]], np.int8)
    y = run(model("MaxPool", x, kernel_shape=[2], pads=[1, 1]), x)
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, [[[-100, -100, -5, -5]]])


def test_lp_pool_and_its_opset1_float_p() -> None:
    x = RNG.standard_normal((1, 2, 5, 5)).astype(np.float32)
    m = model("LpPool", x, kernel_shape=[2, 2], strides=[2, 2], p=3, pads=[0, 0, 1, 1])
    np.testing.assert_allclose(run(m, x), oracle(m, x)[0], rtol=1e-5)
    old = model("LpPool", x, opset=1, kernel_shape=[2, 2], p=2.0)
    want = np.sqrt(np.lib.stride_tricks.sliding_window_view(x ** 2, (2, 2), axis=(2, 3))
                   .sum(axis=(-1, -2)))
    np.testing.assert_allclose(run(old, x), want, rtol=1e-5)


def test_global_pools() -> None:
    x = RNG.standard_normal((2, 3, 4, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(run(model("GlobalAveragePool", x), x),
                               x.mean(axis=(2, 3, 4), keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(run(model("GlobalMaxPool", x), x),
                                  x.max(axis=(2, 3, 4), keepdims=True))
    np.testing.assert_allclose(run(model("GlobalLpPool", x, p=1), x),
                               np.abs(x).sum(axis=(2, 3, 4), keepdims=True), rtol=1e-5)


def test_max_unpool_puts_maxima_back() -> None:
    x = RNG.standard_normal((1, 2, 4, 6)).astype(np.float32)
    y, idx = run(model("MaxPool", x, n_out=2, kernel_shape=[2, 2], strides=[2, 2]), x)
    m = model("MaxUnpool", y, extra={"i": idx}, kernel_shape=[2, 2], strides=[2, 2])
    back = run(m, y, idx)
    assert back.shape == x.shape
    np.testing.assert_array_equal(back.reshape(-1)[idx.reshape(-1)], y.reshape(-1))
    assert np.count_nonzero(back) == y.size
    shape = np.array([1, 2, 5, 7], np.int64)
    m = model("MaxUnpool", y, extra={"i": idx, "shape": shape}, kernel_shape=[2, 2],
              strides=[2, 2])
    bigger = run(m, y, idx, shape)
    np.testing.assert_array_equal(bigger[:, :, :4, :6], back)


def test_symbolic_spatial_dims() -> None:
    m = model("MaxPool", ["N", 3, "H", "W"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    assert import_onnx(m).outputs[0].type.shape == (Sym("N"), 3, Sym("H"), Sym("W"))
    m = model("AveragePool", ["N", 3, "H", 8], kernel_shape=[2, 2], strides=[2, 2])
    shape = import_onnx(m).outputs[0].type.shape
    assert shape[:2] == (Sym("N"), 3) and isinstance(shape[2], Sym) and shape[3] == 4
    assert run(m, np.ones((2, 3, 9, 8), np.float32)).shape == (2, 3, 4, 4)

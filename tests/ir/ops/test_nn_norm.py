"""Normalization: BatchNormalization's training outputs and its opset-6/9 forms (is_test, the
statistics outputs, spatial=0), LayerNormalization's stash type, GroupNormalization-18's per-group
scale, RMS/Lp/MVN normalization, LRN, and Dropout (identity, seeded training masks, the old mask
dtype). Oracles: numpy written out here and onnx.reference."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import dlc

RNG = np.random.default_rng(2)


def model(op: str, inputs: dict[str, np.ndarray], opset: int,
          inits: dict[str, np.ndarray] | None = None, n_out: int = 1,
          **attrs: object) -> onnx.ModelProto:
    outs = [f"out{i}" for i in range(n_out)]
    node = helper.make_node(op, list(inputs) + list(inits or {}), outs, **attrs)
    g = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype),
                                       list(v.shape)) for n, v in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs],
        [numpy_helper.from_array(v, n) for n, v in (inits or {}).items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(m: onnx.ModelProto, *xs: np.ndarray) -> np.ndarray | tuple:
    return dlc.compile(m, target="reference")(*xs)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def bn_params(c: int) -> dict[str, np.ndarray]:
    return {"s": f32(c), "b": f32(c), "mean": f32(c), "var": np.abs(f32(c)) + 0.5}


def test_batch_norm_inference_and_training_outputs() -> None:
    x, p = f32(4, 3, 2, 5), bn_params(3)
    y = run(model("BatchNormalization", {"x": x}, 15, p, epsilon=1e-3), x)
    per = {k: v.reshape(1, 3, 1, 1) for k, v in p.items()}
    want = (x - per["mean"]) / np.sqrt(per["var"] + 1e-3) * per["s"] + per["b"]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    m = model("BatchNormalization", {"x": x}, 15, p, n_out=3, training_mode=1, momentum=0.8)
    y, running_mean, running_var = run(m, x)
    mu, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(running_mean, 0.8 * p["mean"] + 0.2 * mu, rtol=1e-5)
    np.testing.assert_allclose(running_var, 0.8 * p["var"] + 0.2 * var, rtol=1e-5)
    want = (x - mu.reshape(1, 3, 1, 1)) / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(y, want * per["s"] + per["b"], rtol=1e-4, atol=1e-5)


def test_old_batch_norm_forms() -> None:
    x, p = f32(2, 3, 4), bn_params(3)
    y15 = run(model("BatchNormalization", {"x": x}, 15, p), x)
    # opset 6: is_test=1 is inference; opset 9 with only Y is inference as well
    np.testing.assert_allclose(run(model("BatchNormalization", {"x": x}, 6, p, is_test=1), x),
                               y15, rtol=1e-6)
    np.testing.assert_allclose(run(model("BatchNormalization", {"x": x}, 9, p), x), y15,
                               rtol=1e-6)
    # opset 9 asking for the statistics trains: saved mean/var are the batch's
    outs = run(model("BatchNormalization", {"x": x}, 9, p, n_out=5), x)
    np.testing.assert_allclose(outs[3], x.mean(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(outs[4], x.var(axis=(0, 2)), rtol=1e-5)
    # spatial=0 (opset 7): one statistic per element of (C, L)
    q = {"s": f32(3, 4), "b": f32(3, 4), "mean": f32(3, 4), "var": np.abs(f32(3, 4)) + 1}
    y = run(model("BatchNormalization", {"x": x}, 7, q, spatial=0), x)
    np.testing.assert_allclose(y, (x - q["mean"]) / np.sqrt(q["var"] + 1e-5) * q["s"] + q["b"],
                               rtol=1e-5, atol=1e-6)


def test_layer_norm_half_precision_stashes_statistics_in_float32() -> None:
    x = f32(2, 3, 8).astype(np.float16)
    scale, bias = f32(3, 8).astype(np.float16), f32(8).astype(np.float16)
    m = model("LayerNormalization", {"x": x}, 17, {"w": scale, "b": bias}, n_out=3, axis=-2)
    y, mean, inv_std = run(m, x)
    assert y.dtype == np.float16 and mean.dtype == np.float32 and mean.shape == (2, 1, 1)
    xs = x.astype(np.float32)
    mu = xs.mean(axis=(1, 2), keepdims=True)
    istd = 1 / np.sqrt(xs.var(axis=(1, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(mean, mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inv_std, istd, rtol=1e-5)
    want = ((xs - mu) * istd).astype(np.float16) * scale + bias
    np.testing.assert_allclose(y.astype(np.float32), want.astype(np.float32), rtol=1e-2,
                               atol=1e-2)


def test_group_norm_18_scales_per_group_and_21_per_channel() -> None:
    x = f32(2, 6, 3, 2)
    sg, bg = f32(3), f32(3)
    y18 = run(model("GroupNormalization", {"x": x}, 18, {"s": sg, "b": bg}, num_groups=3), x)
    y21 = run(model("GroupNormalization", {"x": x}, 21,
                    {"s": np.repeat(sg, 2), "b": np.repeat(bg, 2)}, num_groups=3), x)
    np.testing.assert_allclose(y18, y21, rtol=1e-6)
    g = x.reshape(2, 3, -1)
    norm = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)
    want = norm.reshape(x.shape) * np.repeat(sg, 2).reshape(1, 6, 1, 1) + \
        np.repeat(bg, 2).reshape(1, 6, 1, 1)
    np.testing.assert_allclose(y21, want, rtol=1e-5, atol=1e-6)


def test_rms_lp_and_mean_variance_normalization() -> None:
    x, s = f32(2, 3, 4), f32(4)
    y = run(model("RMSNormalization", {"x": x}, 23, {"s": s}, epsilon=1e-3), x)
    np.testing.assert_allclose(y, x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-3) * s,
                               rtol=1e-5)
    z = x.copy()
    z[0, :, 1] = 0   # a zero vector along the axis stays zero instead of 0/0
    y = run(model("LpNormalization", {"x": z}, 22, axis=1, p=1), z)
    norm = np.abs(z).sum(axis=1, keepdims=True)
    want = z / np.where(norm == 0, 1, norm)
    np.testing.assert_allclose(y, want, rtol=1e-6)
    x = f32(2, 3, 4, 5)
    y = run(model("MeanVarianceNormalization", {"x": x}, 13, axes=[0, 2, 3]), x)
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(y, (x - mu) / (x.std(axis=(0, 2, 3), keepdims=True) + 1e-9),
                               rtol=1e-4, atol=1e-5)


def test_lrn_sums_squares_over_neighbouring_channels() -> None:
    # (onnx.reference's LRN loops over the batch instead of the channels: the spec is the oracle)
    x = f32(2, 7, 3, 3)
    for size in (2, 3, 5):
        m = model("LRN", {"x": x}, 13, size=size, alpha=0.01, beta=0.6, bias=2.0)
        sq = np.zeros_like(x)
        for c in range(7):
            lo, hi = max(0, c - (size - 1) // 2), min(6, c + int(np.ceil((size - 1) / 2)))
            sq[:, c] = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        np.testing.assert_allclose(run(m, x), x / (2.0 + 0.01 / size * sq) ** 0.6, rtol=1e-5)


def test_dropout_inference_training_and_old_forms() -> None:
    x = f32(3, 50)
    y, mask = run(model("Dropout", {"x": x}, 13, n_out=2), x)
    np.testing.assert_array_equal(y, x)
    assert mask.dtype == np.bool_ and mask.all()
    ratio, training = np.array(0.3, np.float32), np.array(True)
    m = model("Dropout", {"x": x, "r": ratio, "t": training}, 13, n_out=2, seed=7)
    y, mask = run(m, x, ratio, training)
    keep = np.random.RandomState(7).uniform(0, 1, x.shape) >= 0.3
    np.testing.assert_array_equal(mask, keep)
    np.testing.assert_allclose(y, x * keep / 0.7, rtol=1e-6)
    # opset 7: ratio is an attribute, never trains, and the mask has the data's dtype
    y, mask = run(model("Dropout", {"x": x}, 7, n_out=2, ratio=0.9), x)
    np.testing.assert_array_equal(y, x)
    assert mask.dtype == np.float32 and (mask == 1).all()

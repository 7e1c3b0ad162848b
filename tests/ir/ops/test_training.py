"""Optimizer steps of "ai.onnx.preview.training": Adagrad, Adam and Momentum with several tensors
at once (variadic inputs grouped X..., G..., state...), the first step (T = 0) without bias
correction or momentum damping, Nesterov momentum, float64 tensors, and malformed input lists.
Expected values are hand-worked from the ONNX formulas or come from onnx.reference."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import dlc
from dlc.errors import ShapeError

DOMAIN = "ai.onnx.preview.training"


def model(op: str, inputs: dict[str, np.ndarray], outputs: list[str],
          **attrs: object) -> onnx.ModelProto:
    node = helper.make_node(op, list(inputs), outputs, domain=DOMAIN, **attrs)
    g = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype),
                                       list(v.shape)) for n, v in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                               helper.make_opsetid(DOMAIN, 1)])


def both(m: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> tuple[list, list]:
    got = list(dlc.compile(m, target="reference").run(inputs).values())
    return got, ReferenceEvaluator(m).run(None, inputs)


def scalars(rate: float, step: int) -> dict[str, np.ndarray]:
    return {"R": np.array(rate, np.float32), "T": np.array(step, np.int64)}


def test_adagrad_hand_worked_step() -> None:
    x, g, h = (np.array([1.0], np.float32), np.array([-1.0], np.float32),
               np.array([2.0], np.float32))
    m = model("Adagrad", {**scalars(0.1, 1), "X": x, "G": g, "H": h}, ["X2", "H2"],
              decay_factor=1.0, epsilon=0.0, norm_coefficient=0.5)
    x2, h2 = dlc.compile(m, target="reference")(np.float32(0.1), np.int64(1), x, g, h)
    # rate 0.1 / (1 + 1 * 1) = 0.05; g + 0.5 x = -0.5; h = 2 + 0.25
    np.testing.assert_allclose(h2, [2.25], rtol=1e-6)
    np.testing.assert_allclose(x2, [1 + 0.05 * 0.5 / 1.5], rtol=1e-6)


def test_adagrad_two_tensors_match_onnx_reference() -> None:
    rng = np.random.default_rng(0)
    ins = {**scalars(0.3, 4),
           "X1": rng.standard_normal(3).astype(np.float32),
           "X2": rng.standard_normal((2, 2)).astype(np.float32),
           "G1": rng.standard_normal(3).astype(np.float32),
           "G2": rng.standard_normal((2, 2)).astype(np.float32),
           "H1": np.abs(rng.standard_normal(3)).astype(np.float32),
           "H2": np.abs(rng.standard_normal((2, 2))).astype(np.float32)}
    m = model("Adagrad", ins, ["X1n", "X2n", "H1n", "H2n"], decay_factor=0.1, epsilon=1e-5,
              norm_coefficient=0.01)
    got, want = both(m, ins)
    assert [a.shape for a in got] == [(3,), (2, 2), (3,), (2, 2)]
    for a, b in zip(got, want):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5)


@pytest.mark.parametrize("step", [0, 3])
def test_adam_bias_correction_only_after_the_first_step(step: int) -> None:
    rng = np.random.default_rng(1)
    ins = {**scalars(0.05, step),
           "X1": rng.standard_normal(4).astype(np.float32),
           "X2": rng.standard_normal(2).astype(np.float32),
           "G1": rng.standard_normal(4).astype(np.float32),
           "G2": rng.standard_normal(2).astype(np.float32),
           "V1": rng.standard_normal(4).astype(np.float32),
           "V2": rng.standard_normal(2).astype(np.float32),
           "H1": np.abs(rng.standard_normal(4)).astype(np.float32),
           "H2": np.abs(rng.standard_normal(2)).astype(np.float32)}
    m = model("Adam", ins, ["X1n", "X2n", "V1n", "V2n", "H1n", "H2n"], alpha=0.8, beta=0.9,
              epsilon=1e-4, norm_coefficient=0.01, norm_coefficient_post=0.02)
    got, want = both(m, ins)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_adam_first_step_by_hand() -> None:
    ins = {**scalars(1.0, 0), "X": np.array([2.0], np.float64),
           "G": np.array([4.0], np.float64), "V": np.array([0.0], np.float64),
           "H": np.array([0.0], np.float64)}
    m = model("Adam", ins, ["Xn", "Vn", "Hn"], alpha=0.5, beta=0.75, epsilon=0.0)
    x, v, h = dlc.compile(m, target="reference").run(ins).values()
    assert x.dtype == np.float64  # double tensors stay double
    # v = 0.5 * 4 = 2; h = 0.25 * 16 = 4; no bias correction at T = 0: x = 2 - 2 / 2
    np.testing.assert_allclose([v[0], h[0], x[0]], [2.0, 4.0, 1.0])


@pytest.mark.parametrize("mode", ["standard", "nesterov"])
@pytest.mark.parametrize("step", [0, 2])
def test_momentum_modes_and_first_step(mode: str, step: int) -> None:
    x, g, v = (np.array([1.0, -2.0], np.float32), np.array([0.5, 0.25], np.float32),
               np.array([1.0, 1.0], np.float32))
    ins = {**scalars(0.1, step), "X": x, "G": g, "V": v}
    m = model("Momentum", ins, ["Xn", "Vn"], alpha=0.9, beta=0.5, mode=mode,
              norm_coefficient=0.0)
    xn, vn = dlc.compile(m, target="reference").run(ins).values()
    beta = 0.5 if step > 0 else 1.0  # the first step takes the whole gradient
    want_v = 0.9 * v + beta * g
    want_x = x - 0.1 * (want_v if mode == "standard" else g + 0.9 * want_v)
    np.testing.assert_allclose(vn, want_v, rtol=1e-6)
    np.testing.assert_allclose(xn, want_x, rtol=1e-6)


def test_malformed_inputs_are_rejected() -> None:
    two = {**scalars(0.1, 1), "X": np.ones(2, np.float32), "G": np.ones(2, np.float32)}
    with pytest.raises(ShapeError, match="3 groups"):
        dlc.compile(model("Adagrad", two, ["Xn"]), target="reference")
    ins = {**two, "V": np.ones(2, np.float32)}
    with pytest.raises(ShapeError, match="mode"):
        dlc.compile(model("Momentum", ins, ["Xn", "Vn"], alpha=0.9, beta=0.1, mode="heavy",
                          norm_coefficient=0.0), target="reference")
    ins["T"] = np.array(1, np.int32)
    with pytest.raises(ShapeError, match="T must be an int64 scalar"):
        dlc.compile(model("Momentum", ins, ["Xn", "Vn"], alpha=0.9, beta=0.1, mode="standard",
                          norm_coefficient=0.0), target="reference")

"""NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss: class weights, ignore_index (also outside
[0, C)), the three reductions, extra spatial dims and the optional log_prob output; checked by hand
and against onnx.reference."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import dlc
from dlc.errors import ExecutionError
from dlc.frontends.onnx.importer import import_onnx

F32, I64 = TensorProto.FLOAT, TensorProto.INT64
RNG = np.random.default_rng(7)


def model(op: str, x_shape: list, t_shape: list, weight: bool, opset: int, n_out: int = 1,
          **attrs: object) -> onnx.ModelProto:
    ins = ["x", "t"] + (["w"] if weight else [])
    outs = ["loss", "log_prob"][:n_out]
    vis = [helper.make_tensor_value_info("x", F32, x_shape),
           helper.make_tensor_value_info("t", I64, t_shape)]
    if weight:
        vis.append(helper.make_tensor_value_info("w", F32, [x_shape[1]]))
    g = helper.make_graph([helper.make_node(op, ins, outs, **attrs)], op, vis,
                          [helper.make_tensor_value_info(o, F32, None) for o in outs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def both(m: onnx.ModelProto, *xs: np.ndarray) -> tuple[list, list]:
    got = dlc.compile(m, target="reference")(*xs)
    got = list(got) if isinstance(got, tuple) else [got]
    names = [i.name for i in m.graph.input]
    return got, ReferenceEvaluator(m).run(None, dict(zip(names, xs)))


CASES = [
    dict(reduction="none"),
    dict(reduction="sum", ignore_index=2),
    dict(reduction="mean"),
    dict(reduction="mean", ignore_index=-1),
    dict(reduction="mean", ignore_index=9),
]


@pytest.mark.parametrize("attrs", CASES)
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("op,opset,n_out", [("NegativeLogLikelihoodLoss", 22, 1),
                                            ("NegativeLogLikelihoodLoss", 12, 1),
                                            ("SoftmaxCrossEntropyLoss", 13, 2),
                                            ("SoftmaxCrossEntropyLoss", 12, 1)])
def test_agrees_with_onnx_reference(op: str, opset: int, n_out: int, weight: bool,
                                    attrs: dict) -> None:
    x = RNG.standard_normal((3, 5, 2, 2)).astype(np.float32)
    t = RNG.integers(0, 5, (3, 2, 2)).astype(np.int64)
    if "ignore_index" in attrs:
        t[0, 0, 1] = t[2, 1, 0] = attrs["ignore_index"]
    xs = [x, t] + ([RNG.uniform(0.5, 2, 5).astype(np.float32)] if weight else [])
    got, want = both(model(op, [3, 5, 2, 2], [3, 2, 2], weight, opset, n_out, **attrs), *xs)
    if op == "NegativeLogLikelihoodLoss" and attrs.get("ignore_index") == -1 and not weight:
        # onnx.reference takes ignore_index=-1 for "none given" here and averages over the
        # ignored targets too; with explicit unit weights it follows the specification.
        ones = np.ones(5, np.float32)
        m = model(op, [3, 5, 2, 2], [3, 2, 2], True, opset, n_out, **attrs)
        want = ReferenceEvaluator(m).run(None, {"x": x, "t": t, "w": ones})
    assert len(got) == n_out
    for g, w in zip(got, want):
        assert g.dtype == np.float32 and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_weighted_mean_divides_by_the_weights_of_kept_targets() -> None:
    log_p = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]], np.float32))
    t = np.array([0, 1, 2], np.int64)
    w = np.array([1.0, 2.0, 4.0], np.float32)
    m = model("NegativeLogLikelihoodLoss", [3, 3], [3], True, 22, ignore_index=2)
    got = dlc.compile(m, target="reference")(log_p, t, w)
    want = -(1 * np.log(0.5) + 2 * np.log(0.8)) / (1 + 2)
    assert got.shape == () and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_output_shapes_follow_the_reduction() -> None:
    m = model("SoftmaxCrossEntropyLoss", [3, 5, "d"], [3, "d"], False, 13, 2, reduction="none")
    loss, log_prob = (v.type for v in import_onnx(m).outputs)
    assert loss.shape[0] == 3 and loss.rank == 2 and log_prob.rank == 3
    m = model("SoftmaxCrossEntropyLoss", [3, 5], [3], False, 13, reduction="sum")
    assert import_onnx(m).outputs[0].type.shape == ()


def test_a_target_outside_the_classes_is_an_error_unless_ignored() -> None:
    m = model("NegativeLogLikelihoodLoss", [2, 3], [2], False, 22)
    with pytest.raises(ExecutionError, match="outside"):
        dlc.compile(m, target="reference")(np.zeros((2, 3), np.float32),
                                           np.array([0, 3], np.int64))

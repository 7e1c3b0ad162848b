"""cpu rules of training-time ops (src/backends/cpu/rules/training.py): Dropout in training mode,
BatchNormalization's batch statistics, Adagrad, Adam and Momentum on the ONNX conformance cases,
and one-node graphs for what those cases miss (float64 and float16, enough draws to regenerate
the twister's state twice, all five BatchNormalization outputs, Adam's first step), against the
op's reference, interpreted and native."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rule_testing import PIPELINE, check_case, close, run_natively

import dlc.backends.cpu  # noqa: F401 - registers the cpu rules
from dlc.api import make_options
from dlc.ir import Graph, interpret
from dlc.passes import run_passes

sys.path.insert(0, str(Path(__file__).parents[2] / "passes"))
from lowering_testing import one_node_graph  # noqa: E402

CASES = [
    "test_training_dropout_default", "test_training_dropout_default_mask",
    "test_training_dropout", "test_training_dropout_mask", "test_training_dropout_zero_ratio",
    "test_training_dropout_zero_ratio_mask",
    "test_batchnorm_example_training_mode", "test_batchnorm_epsilon_training_mode",
    "test_momentum", "test_nesterov_momentum", "test_momentum_multiple",
    "test_adagrad", "test_adagrad_multiple", "test_adam", "test_adam_multiple",
]


@pytest.mark.parametrize("name", CASES)
def test_conformance_case(name: str) -> None:
    check_case(name)


def lowered_matches_reference(g: Graph, feed: list[np.ndarray], rtol: float = 1e-6) -> None:
    want = interpret(g, feed)
    low = run_passes(g, PIPELINE, make_options(target="cpu"), verify_each=True)
    assert all(n.op == "KernelCall" for n in low.nodes)
    for how, got in (("interpreted", interpret(low, feed)), ("native", run_natively(low, feed))):
        for k, (x, w) in enumerate(zip(got, want)):
            assert close(x, w, rtol=rtol, atol=1e-12), f"output {k} differs ({how})"


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_dropout_many_draws(dtype: Any) -> None:
    """800 elements draw 1600 numbers: the state is regenerated three times."""
    x = np.random.default_rng(1).standard_normal((20, 40)).astype(dtype)
    x[0, :4] = np.nan
    g, feed = one_node_graph("Dropout", {"seed": 12345},
                             [x, np.array(0.3, np.float32), np.array(True)], known=[1, 2],
                             outputs=2)
    lowered_matches_reference(g, feed)


def test_batch_norm_training_all_outputs() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 2, 5))
    params = [rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4),
              rng.random(4) + 0.5]
    g, feed = one_node_graph("BatchNormalization", {"training_mode": 1, "momentum": 0.8},
                             [x, *params], outputs=5)
    lowered_matches_reference(g, feed)


@pytest.mark.parametrize("step", [0, 3])
def test_adam_first_step_and_post_norm(step: int) -> None:
    rng = np.random.default_rng(3)
    x, grad, v, h = (rng.standard_normal((2, 3)) for _ in range(4))
    h = np.abs(h)
    g, feed = one_node_graph("Adam", {"norm_coefficient_post": 0.01, "norm_coefficient": 0.1},
                             [np.array(0.5), np.array(step, np.int64), x, grad, v, h],
                             outputs=3)
    lowered_matches_reference(g, feed)

"""cpu rules of the recurrent family (src/backends/cpu/rules/recurrent.py): RNN, GRU and LSTM on
the ONNX conformance cases, interpreted and native against their expected outputs, and one-node
graphs for what those cases miss (activations with alpha/beta, clip, sequence lengths in both
directions, linear_before_reset, input_forget, float64), against the op's reference."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rule_testing import check_case, lowered_one_node

import dlc.backends.cpu  # noqa: F401 - registers the cpu rules

sys.path.insert(0, str(Path(__file__).parents[2] / "passes"))

CASES = [
    *(f"test_simple_rnn_{c}" for c in ("defaults", "with_initial_bias", "batchwise", "reverse",
                                       "bidirectional")),
    "test_rnn_seq_length",
    *(f"test_{op}_{c}" for op in ("gru", "lstm") for c in (
        "defaults", "with_initial_bias", "batchwise", "reverse", "bidirectional")),
    "test_gru_seq_length", "test_lstm_with_peepholes",
]


@pytest.mark.parametrize("name", CASES)
def test_conformance_case(name: str) -> None:
    check_case(name)


RNG = np.random.default_rng(0)
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def layer_inputs(op: str, seq: int, batch: int, size: int, hidden: int, dirs: int,
                 layout: int = 0, lens: list[int] | None = None, dtype: Any = np.float32,
                 peepholes: bool = False) -> list[np.ndarray | None]:
    """X, W, R, B, sequence_lens, initial_h (and initial_c, P for LSTM), random."""
    def f(*shape: int) -> np.ndarray:
        return (RNG.standard_normal(shape) * 0.5).astype(dtype)
    g = GATES[op]
    x = f(batch, seq, size) if layout else f(seq, batch, size)
    state = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    ins: list[np.ndarray | None] = [x, f(dirs, g * hidden, size), f(dirs, g * hidden, hidden),
                                    f(dirs, 2 * g * hidden),
                                    None if lens is None else np.array(lens, np.int32),
                                    f(*state)]
    if op == "LSTM":
        ins += [f(*state), f(dirs, 3 * hidden) if peepholes else None]
    return ins


# activations of each op with every alpha/beta-taking function, two directions
ACTIVATIONS = [
    ("RNN", ["Relu", "Affine"], [0.5], [0.25]),
    ("RNN", ["LeakyRelu", "ThresholdedRelu"], [0.1, 0.2], None),
    ("GRU", ["HardSigmoid", "ScaledTanh", "Sigmoid", "Elu"], [0.3, 0.7, 0.9], [0.4, 1.3]),
    ("LSTM", ["Sigmoid", "Softsign", "Softplus", "HardSigmoid", "Tanh", "Relu"], [0.25], [0.6]),
]


@pytest.mark.parametrize("op,acts,alpha,beta", ACTIVATIONS)
def test_activations_bidirectional(op: str, acts: list[str], alpha: list[float] | None,
                                   beta: list[float] | None) -> None:
    attrs = {"hidden_size": 3, "direction": "bidirectional", "activations": tuple(acts),
             "activation_alpha": None if alpha is None else tuple(alpha),
             "activation_beta": None if beta is None else tuple(beta)}
    lowered_one_node(op, attrs, layer_inputs(op, 4, 2, 3, 3, 2, peepholes=True),
                     2 if op != "LSTM" else 3)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_sequence_lens_clip_batch_first(op: str) -> None:
    """Sequences shorter than X keep their state and give zeros past their end, in both
    directions; batch-first layout; clip."""
    attrs: dict[str, Any] = {"hidden_size": 4, "direction": "bidirectional", "layout": 1,
                             "clip": 0.4}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    ins = layer_inputs(op, 5, 3, 2, 4, 2, layout=1, lens=[5, 2, 0], peepholes=True)
    lowered_one_node(op, attrs, ins, 2 if op != "LSTM" else 3)


def test_lstm_input_forget_reverse_float64() -> None:
    attrs = {"hidden_size": 3, "direction": "reverse", "input_forget": 1}
    ins = layer_inputs("LSTM", 4, 2, 3, 3, 1, lens=[3, 4], dtype=np.float64, peepholes=True)
    lowered_one_node("LSTM", attrs, ins, 3, rtol=1e-12, atol=1e-12)


def test_gru_without_bias_or_states_only_y() -> None:
    x, w, r = layer_inputs("GRU", 3, 2, 2, 3, 1)[:3]
    lowered_one_node("GRU", {"hidden_size": 3}, [x, w, r], 1)

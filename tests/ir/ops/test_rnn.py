"""RNN, GRU and LSTM: directions, sequence_lens, initial states, peepholes, input_forget,
linear_before_reset, activations with alpha/beta, clip, layout and the output_sequence of the
first versions. ONNX Runtime is the oracle (it implements every option but layout=1)."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper

import dlc
from dlc.errors import ShapeError

RNG = np.random.default_rng(7)
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def rnn_model(op: str, inputs: dict[str, np.ndarray | None], n_out: int, opset: int = 22,
              **attrs: object) -> onnx.ModelProto:
    names = list(inputs)
    while inputs[names[-1]] is None:
        names.pop()
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, [n if inputs[n] is not None else "" for n in names], outs,
                            **attrs)
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype),
                                         list(v.shape)) for n, v in inputs.items()
           if v is not None]
    g = helper.make_graph([node], op, ins, [helper.make_tensor_value_info(o, T.FLOAT, None)
                                            for o in outs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def feeds(op: str, dirs: int, seq: int = 4, batch: int = 3, size: int = 2, hidden: int = 3,
          lens: list[int] | None = None, initial: bool = False,
          peepholes: bool = False) -> dict[str, np.ndarray | None]:
    g = GATES[op]

    def rand(*shape: int) -> np.ndarray:
        return RNG.standard_normal(shape).astype(np.float32)
    out: dict[str, np.ndarray | None] = {
        "X": rand(seq, batch, size), "W": rand(dirs, g * hidden, size),
        "R": rand(dirs, g * hidden, hidden), "B": rand(dirs, 2 * g * hidden),
        "L": None if lens is None else np.array(lens, np.int32),
        "H0": rand(dirs, batch, hidden) if initial else None}
    if op == "LSTM":
        out["C0"] = rand(dirs, batch, hidden) if initial else None
        out["P"] = rand(dirs, 3 * hidden) if peepholes else None
    return out


def compare(op: str, inputs: dict[str, np.ndarray | None], n_out: int, **attrs: object) -> None:
    m = rnn_model(op, inputs, n_out, **attrs)
    given = [v for v in inputs.values() if v is not None]
    got = dlc.compile(m, target="reference")(*given)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, dict(zip([i.name for i in sess.get_inputs()], given)))
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_directions_with_sequence_lens_and_initial_states(op: str, direction: str) -> None:
    dirs = 2 if direction == "bidirectional" else 1
    inputs = feeds(op, dirs, lens=[4, 2, 1], initial=True)
    compare(op, inputs, 3 if op == "LSTM" else 2, hidden_size=3, direction=direction)


def test_gru_linear_before_reset_and_activation_parameters_in_order() -> None:
    # alpha/beta are consumed by the functions that take them, left to right, both directions
    compare("GRU", feeds("GRU", 2), 2, hidden_size=3, direction="bidirectional",
            linear_before_reset=1,
            activations=["HardSigmoid", "Tanh", "Sigmoid", "ScaledTanh"],
            activation_alpha=[0.3, 0.7], activation_beta=[0.4, 1.2])


def test_lstm_peepholes_and_input_forget() -> None:
    compare("LSTM", feeds("LSTM", 1, lens=[4, 3, 2], initial=True, peepholes=True), 3,
            hidden_size=3)
    compare("LSTM", feeds("LSTM", 2, peepholes=True), 3, hidden_size=3,
            direction="bidirectional", input_forget=1)


def test_rnn_clip_applies_to_the_activation_input() -> None:
    compare("RNN", feeds("RNN", 1), 2, hidden_size=3, clip=0.5,
            activations=["LeakyRelu"], activation_alpha=[0.2])


def test_unset_alpha_takes_the_onnx_operators_default() -> None:
    # ThresholdedRelu's alpha defaults to 1.0: one step from zero state, x*W = [0.5, 1.5]
    x = np.ones((1, 1, 1), np.float32)
    w = np.array([[[0.5], [1.5]]], np.float32)
    r = np.zeros((1, 2, 2), np.float32)
    m = rnn_model("RNN", {"X": x, "W": w, "R": r}, 2, hidden_size=2,
                  activations=["ThresholdedRelu"])
    y, _ = dlc.compile(m, target="reference")(x, w, r)
    np.testing.assert_array_equal(y.reshape(-1), [0.0, 1.5])


def test_batch_first_layout_matches_the_sequence_first_one() -> None:
    inputs = feeds("LSTM", 2, initial=True, lens=[3, 4, 1])
    m0 = rnn_model("LSTM", inputs, 3, hidden_size=3, direction="bidirectional")
    want = dlc.compile(m0, target="reference")(*[v for v in inputs.values() if v is not None])
    swapped = dict(inputs)
    swapped["X"] = inputs["X"].transpose(1, 0, 2)  # type: ignore[union-attr]
    swapped["H0"] = inputs["H0"].transpose(1, 0, 2)  # type: ignore[union-attr]
    swapped["C0"] = inputs["C0"].transpose(1, 0, 2)  # type: ignore[union-attr]
    m1 = rnn_model("LSTM", swapped, 3, hidden_size=3, direction="bidirectional", layout=1)
    got = dlc.compile(m1, target="reference")(*[v for v in swapped.values() if v is not None])
    np.testing.assert_allclose(got[0], want[0].transpose(2, 0, 1, 3), rtol=1e-6)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, w.transpose(1, 0, 2), rtol=1e-6)


def test_first_versions_drop_output_sequence() -> None:
    inputs = feeds("GRU", 1)
    compare("GRU", {k: inputs[k] for k in ("X", "W", "R")}, 2, hidden_size=3)
    m = rnn_model("GRU", {k: inputs[k] for k in ("X", "W", "R")}, 2, opset=3, hidden_size=3,
                  output_sequence=1)
    new = rnn_model("GRU", {k: inputs[k] for k in ("X", "W", "R")}, 2, hidden_size=3)
    args = [inputs["X"], inputs["W"], inputs["R"]]
    for g, w in zip(dlc.compile(m, target="reference")(*args),
                    dlc.compile(new, target="reference")(*args)):
        np.testing.assert_array_equal(g, w)


def test_weights_that_do_not_fit_hidden_size_are_rejected() -> None:
    inputs = feeds("LSTM", 1)
    with pytest.raises(ShapeError, match="W is"):
        dlc.compile(rnn_model("LSTM", inputs, 2, hidden_size=5), target="reference")

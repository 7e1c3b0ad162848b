"""Quantum ops: ApplyGate against its einsum form, Measure/Reset as deterministic functions of
their draw, conditions, bit packing, and the shape rules' messages."""
from __future__ import annotations

import numpy as np
import pytest

from dlc.errors import ShapeError
from dlc.ir import DType, Graph, TensorType, interpret
from dlc.ir.ops import InferCtx, lookup
from dlc.ir.ops.quantum import (
    ApplyGateAttrs,
    BitsEqualAttrs,
    InitStateAttrs,
    MeasureAttrs,
    acted_qubits,
    apply_gate,
    gate_einsum,
)

RNG = np.random.default_rng(5)


def random_state(n: int, dtype: type = np.complex128) -> np.ndarray:
    s = RNG.normal(size=(2,) * n) + 1j * RNG.normal(size=(2,) * n)
    return (s / np.linalg.norm(s)).astype(dtype)


def ref(op: str, attrs: object, *inputs: object) -> list:
    d = lookup(op)
    return d.run_reference(attrs, list(inputs), None)  # type: ignore[arg-type]


@pytest.mark.parametrize("qubits", [(0,), (3,), (2, 0), (0, 3), (1, 3, 0), (3, 2, 1, 0)])
def test_apply_gate_is_its_einsum(qubits):
    n, k = 4, len(qubits)
    s = random_state(n)
    g = RNG.normal(size=(2,) * (2 * k)) + 1j * RNG.normal(size=(2,) * (2 * k))
    np.testing.assert_allclose(apply_gate(s, g, qubits), np.einsum(gate_einsum(n, qubits), g, s),
                               atol=1e-12)


def test_gate_operand_order_is_qiskits():
    # CX with control = operand 0 on qubit 1, target on qubit 0: |q1 q0> = |10> -> |11>
    cx = np.eye(4)[[0, 3, 2, 1]].reshape(2, 2, 2, 2).astype(np.complex128)
    s = np.zeros((2, 2), np.complex128)
    s[1, 0] = 1  # flat index 2: qubit 1 set
    out = apply_gate(s, cx, (1, 0)).reshape(-1)
    assert out[3] == 1 and np.count_nonzero(out) == 1


def test_zero_qubit_gate_is_a_phase():
    s = random_state(2)
    np.testing.assert_allclose(apply_gate(s, np.asarray(1j), ()), 1j * s)


def test_apply_gate_keeps_dtype_and_trailing_batch():
    s = random_state(3, np.complex64)
    h = (np.array([[1, 1], [1, -1]]) / np.sqrt(2)).astype(np.complex64)
    assert apply_gate(s, h, (1,)).dtype == np.complex64
    batch = np.stack([s, 2 * s], axis=-1)
    out = apply_gate(batch, h, (1,), num_qubits=3)
    np.testing.assert_allclose(out[..., 1], 2 * apply_gate(s, h, (1,)), rtol=1e-6)


def test_init_state():
    (s,) = ref("InitState", InitStateAttrs(3, DType.C128))
    assert s.shape == (2, 2, 2) and s.dtype == np.complex128
    assert s.reshape(-1)[0] == 1 and np.count_nonzero(s) == 1


def plus_zero() -> np.ndarray:
    """|q1 q0> = |0>|+>: qubit 0 has P(1) = 1/2."""
    s = np.zeros((2, 2), np.complex64)
    s[0, 0] = s[0, 1] = 1 / np.sqrt(2)
    return s


def test_measure_outcome_is_a_threshold_on_the_draw():
    s = plus_zero()
    a = MeasureAttrs(qubit=0, draw=1)
    st1, b1 = ref("Measure", a, s, np.array([0.9, 0.49]))
    st0, b0 = ref("Measure", a, s, np.array([0.1, 0.51]))
    assert bool(b1) and not bool(b0)
    assert b1.dtype == np.bool_ and b1.shape == ()
    np.testing.assert_allclose(st1.reshape(-1), [0, 1, 0, 0], atol=1e-7)
    np.testing.assert_allclose(st0.reshape(-1), [1, 0, 0, 0], atol=1e-7)
    assert st1.dtype == np.complex64


def test_measure_never_picks_an_impossible_outcome():
    s = np.zeros((2,), np.complex128)
    s[1] = 1
    _, bit = ref("Measure", MeasureAttrs(0, 0), s, np.array([0.999999999999]))
    assert bool(bit)
    s = np.array([1, 0], np.complex128)
    _, bit = ref("Measure", MeasureAttrs(0, 0), s, np.array([0.0]))
    assert not bool(bit)


def test_conditional_measure_passes_the_old_bit_through():
    s = plus_zero()
    st, bit = ref("Measure", MeasureAttrs(0, 0), s, np.array([0.0]), np.asarray(False),
                  np.asarray(True))
    assert bool(bit) and st is s


def test_reset_moves_the_outcome_to_zero():
    s = plus_zero()
    for u in (0.1, 0.9):
        (out,) = ref("Reset", MeasureAttrs(0, 0), s, np.array([u]))
        np.testing.assert_allclose(out.reshape(-1), [1, 0, 0, 0], atol=1e-7)
    (same,) = ref("Reset", MeasureAttrs(0, 0), s, np.array([0.1]), np.asarray(False))
    assert same is s


def test_conditional_gate():
    s = plus_zero()
    x = np.array([[0, 1], [1, 0]], np.complex64)
    (kept,) = ref("ApplyGate", ApplyGateAttrs((1,)), s, x, np.asarray(False))
    (flipped,) = ref("ApplyGate", ApplyGateAttrs((1,)), s, x, np.asarray(True))
    assert kept is s
    np.testing.assert_allclose(flipped[1], s[0])


def test_bits_equal_and_pack_bits():
    t, f = np.asarray(True), np.asarray(False)
    assert bool(ref("BitsEqual", BitsEqualAttrs(1), t, f)[0])       # bit 0 is the low bit
    assert not bool(ref("BitsEqual", BitsEqualAttrs(2), t, f)[0])
    assert bool(ref("BitsEqual", BitsEqualAttrs(2, negate=True), t, f)[0])
    (packed,) = ref("PackBits", None, f, t, t)
    assert packed.tolist() == [False, True, True] and packed.dtype == np.bool_


def infer(op: str, attrs: object, *types: TensorType | None) -> list:
    return lookup(op).infer(InferCtx(op, attrs, list(types), [None] * len(types), 1, "n"))


STATE = TensorType(DType.C64, (2, 2, 2))
GATE1 = TensorType(DType.C64, (2, 2))


def test_shape_rules():
    assert infer("ApplyGate", ApplyGateAttrs((2,)), STATE, GATE1) == [STATE]
    assert infer("Measure", MeasureAttrs(0, 1), STATE, TensorType(DType.F64, (2,)))[1] == \
        TensorType(DType.BOOL, ())
    with pytest.raises(ShapeError, match="qubit 3 is out of range for a 3-qubit state"):
        infer("ApplyGate", ApplyGateAttrs((3,)), STATE, GATE1)
    with pytest.raises(ShapeError, match="repeat"):
        infer("ApplyGate", ApplyGateAttrs((1, 1)), STATE, TensorType(DType.C64, (2,) * 4))
    with pytest.raises(ShapeError, match="a gate on 2 qubit"):
        infer("ApplyGate", ApplyGateAttrs((0, 1)), STATE, GATE1)
    with pytest.raises(ShapeError, match="c64"):
        infer("ApplyGate", ApplyGateAttrs((0,)), STATE, TensorType(DType.C128, (2, 2)))
    with pytest.raises(ShapeError, match="complex tensor of shape"):
        infer("ApplyGate", ApplyGateAttrs((0,)), TensorType(DType.F32, (2,)), GATE1)
    with pytest.raises(ShapeError, match="draw 2 is out of range for 2"):
        infer("Measure", MeasureAttrs(0, 2), STATE, TensorType(DType.F64, (2,)))
    with pytest.raises(ShapeError, match="condition must be a bool scalar"):
        infer("ApplyGate", ApplyGateAttrs((0,)), STATE, GATE1, TensorType(DType.I64, ()))


def test_a_measurement_graph_runs_in_the_interpreter():
    g = Graph()
    rand = g.add_input("rand", TensorType(DType.F64, (1,)))
    s0 = g.add_node("InitState", [], [STATE], InitStateAttrs(3)).outputs[0]
    h = g.add_constant("h", (np.array([[1, 1], [1, -1]]) / np.sqrt(2)).astype(np.complex64))
    s1 = g.add_node("ApplyGate", [s0, h], [STATE], ApplyGateAttrs((2,))).outputs[0]
    s2, bit = g.add_node("Measure", [s1, rand], [STATE, TensorType(DType.BOOL, ())],
                         MeasureAttrs(2, 0)).outputs
    g.outputs = [s2, bit]
    state, b = interpret(g, [np.array([0.25])])
    assert bool(b) and abs(state.reshape(-1)[4]) == pytest.approx(1)


def test_acted_qubits():
    assert acted_qubits("ApplyGate", ApplyGateAttrs((2, 0))) == {0, 2}
    assert acted_qubits("Measure", MeasureAttrs(1, 0)) == {1}
    assert acted_qubits("BitsEqual", BitsEqualAttrs(0)) == frozenset()
    assert acted_qubits("SomethingElse", None) is None

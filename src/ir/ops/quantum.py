"""Quantum ops: a circuit's state is a (2,)*n complex tensor, qubit q on axis n-1-q (so the flat
vector has qubit 0 as its least significant bit, as in Qiskit). A gate is a small constant tensor
contracted with the state. Measure and Reset take their randomness as an input (uniform draws in
[0, 1) that the sampler supplies), so graphs stay pure and every backend can run them.

Gate tensors: a k-qubit gate is its 2^k x 2^k matrix in Qiskit's convention (gate operand j is bit j
of the matrix index) reshaped C-order to (2,)*2k: output axes first (operand k-1 first), then input
axes in the same order. A 0-qubit gate is a scalar (a global phase).
"""
from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..dtype import DType
from ..types import TensorType, Type
from .registry import InferCtx, op

# -- shared helpers (the frontend composes gate matrices with them, passes read acted_qubits) -----


def apply_gate(state: np.ndarray, gate: np.ndarray, qubits: Sequence[int],
               num_qubits: int | None = None) -> np.ndarray:
    """Contract `gate` (a (2,)*2k tensor) with the state's axes of `qubits`. The first `num_qubits`
    axes (default: all) are the qubits; trailing axes, if any, are carried along (a batch)."""
    k = len(qubits)
    if k == 0:
        return state * gate.astype(state.dtype)
    n = state.ndim if num_qubits is None else num_qubits
    axes = [n - 1 - q for q in qubits]
    m = gate.reshape(1 << k, 1 << k)

    def part(bits: int) -> tuple[slice, ...]:  # slices keep every axis, so parts are views
        idx = [slice(None)] * state.ndim
        for j, ax in enumerate(axes):
            b = (bits >> j) & 1
            idx[ax] = slice(b, b + 1)
        return tuple(idx)

    # out[r] = sum_c m[r, c] * state[c] over the 2^k slices of the gate's axes: no transposes, and
    # zero entries (controlled, diagonal, permutation gates) cost nothing
    out = np.zeros_like(state)
    for r in range(1 << k):
        o = out[part(r)]
        first = True
        for c in range(1 << k):
            v = m[r, c]
            if v == 0:
                continue
            if first:
                np.multiply(state[part(c)], v, out=o, casting="unsafe")
                first = False
            else:
                o += state[part(c)] * v
    return out


def gate_einsum(num_qubits: int, qubits: Sequence[int]) -> str:
    """The contraction ApplyGate performs, in einsum form: 'gate,state->state'."""
    k = len(qubits)
    letters = string.ascii_letters
    if num_qubits + k > len(letters):
        raise ValueError(f"einsum form needs {num_qubits + k} index letters")
    state = list(letters[:num_qubits])
    new = list(letters[num_qubits:num_qubits + k])  # new[j]: output index of operand j
    gate_out = [new[j] for j in reversed(range(k))]
    gate_in = [state[num_qubits - 1 - qubits[j]] for j in reversed(range(k))]
    out = list(state)
    for j, q in enumerate(qubits):
        out[num_qubits - 1 - q] = new[j]
    return f"{''.join(gate_out + gate_in)},{''.join(state)}->{''.join(out)}"


def _probability_one(state: np.ndarray, qubit: int) -> float:
    axis = state.ndim - 1 - qubit
    p = np.abs(state.astype(np.complex128)) ** 2
    total = float(p.sum())
    one = float(np.take(p, 1, axis=axis).sum())
    return one / total if total > 0 else 0.0


def _collapse(state: np.ndarray, qubit: int, bit: int, flip: bool) -> np.ndarray:
    """Keep the slice of `qubit` = bit, renormalized; with `flip` move it to the 0 slice."""
    axis = state.ndim - 1 - qubit
    part = np.take(state, bit, axis=axis).astype(np.complex128)
    norm = np.sqrt(float(np.sum(np.abs(part) ** 2)))
    out = np.zeros_like(state)
    idx: list[slice | int] = [slice(None)] * state.ndim
    idx[axis] = 0 if flip else bit
    out[tuple(idx)] = (part / norm).astype(state.dtype) if norm > 0 else part
    return out


def _measure_bit(state: np.ndarray, qubit: int, u: float) -> int:
    p1 = _probability_one(state, qubit)
    bit = int(u < p1)
    # never pick an outcome of probability zero (u at a rounding edge)
    if bit == 1 and p1 <= 0.0:
        return 0
    if bit == 0 and p1 >= 1.0:
        return 1
    return bit


# -- shape rules ------------------------------------------------------------------------------

def _state(c: InferCtx) -> TensorType:
    t = c.t(0)
    if not t.dtype.is_complex or any(d != 2 for d in t.shape):
        raise c.error(f"the state must be a complex tensor of shape (2,)*n, got {t}")
    return t


def _check_qubits(c: InferCtx, qubits: Sequence[int], n: int) -> None:
    if len(set(qubits)) != len(qubits):
        raise c.error(f"qubits {list(qubits)} repeat")
    for q in qubits:
        if not 0 <= q < n:
            raise c.error(f"qubit {q} is out of range for a {n}-qubit state")


def _check_cond(c: InferCtx, i: int) -> None:
    if c.has(i):
        t = c.t(i)
        if t.dtype is not DType.BOOL or t.shape != ():
            raise c.error(f"the condition must be a bool scalar, got {t}")


def _check_draw(c: InferCtx, draw: int) -> None:
    t = c.t(1)
    if t.dtype is not DType.F64 or t.rank != 1:
        raise c.error(f"the random draws must be f64[k], got {t}")
    size = t.shape[0]
    if isinstance(size, int) and not 0 <= draw < size:
        raise c.error(f"draw {draw} is out of range for {size} random draws")


# -- InitState --------------------------------------------------------------------------------

@dataclass(frozen=True)
class InitStateAttrs:
    num_qubits: int
    dtype: DType = DType.C64


def _init_infer(c: InferCtx) -> list[Type]:
    a: InitStateAttrs = c.attrs
    if not a.dtype.is_complex:
        raise c.error(f"the state dtype must be complex, got {a.dtype}")
    return [TensorType(a.dtype, (2,) * a.num_qubits)]


def _init_ref(a: InitStateAttrs) -> np.ndarray:
    out = np.zeros((2,) * a.num_qubits, a.dtype.np)
    out[(0,) * a.num_qubits] = 1
    return out


# never folded: the state chain that starts here is what a circuit target compiles (folding it
# would simulate the circuit at compile time and leave the target a constant)
op("InitState", InitStateAttrs, domain="dlc.quantum", traits=("side_effects",),
   infer=_init_infer, reference=_init_ref)


# -- ApplyGate(state, gate[, cond]) -----------------------------------------------------------

@dataclass(frozen=True)
class ApplyGateAttrs:
    qubits: tuple[int, ...]  # gate operand j acts on qubit qubits[j]


def _apply_infer(c: InferCtx) -> list[Type]:
    a: ApplyGateAttrs = c.attrs
    s, g = _state(c), c.t(1)
    _check_qubits(c, a.qubits, s.rank)
    if g.dtype is not s.dtype or g.shape != (2,) * (2 * len(a.qubits)):
        raise c.error(f"a gate on {len(a.qubits)} qubit(s) must be {s.dtype} of shape "
                      f"{(2,) * (2 * len(a.qubits))}, got {g}")
    _check_cond(c, 2)
    return [s]


def _apply_ref(a: ApplyGateAttrs, state: np.ndarray, gate: np.ndarray,
               cond: np.ndarray | None = None) -> np.ndarray:
    if cond is not None and not bool(cond):
        return state
    return apply_gate(state, gate, a.qubits)


op("ApplyGate", ApplyGateAttrs, domain="dlc.quantum", infer=_apply_infer, reference=_apply_ref)


# -- Measure(state, draws[, cond, bit_in]) -> (state, bit) -------------------------------------

@dataclass(frozen=True)
class MeasureAttrs:
    qubit: int
    draw: int  # which of the uniform draws decides the outcome (outcome 1 iff u < P(1))


def _measure_infer(c: InferCtx) -> list[Type]:
    a: MeasureAttrs = c.attrs
    s = _state(c)
    _check_qubits(c, [a.qubit], s.rank)
    _check_draw(c, a.draw)
    _check_cond(c, 2)
    if c.has(2) != c.has(3):
        raise c.error("a conditional Measure takes both the condition and the previous bit")
    if c.has(3):
        _check_cond(c, 3)
    return [s, TensorType(DType.BOOL, ())]


def _measure_ref(a: MeasureAttrs, state: np.ndarray, draws: np.ndarray,
                 cond: np.ndarray | None = None,
                 bit_in: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    if cond is not None and not bool(cond):
        return state, np.asarray(bool(bit_in))
    bit = _measure_bit(state, a.qubit, float(draws[a.draw]))
    return _collapse(state, a.qubit, bit, flip=False), np.asarray(bool(bit))


op("Measure", MeasureAttrs, domain="dlc.quantum", infer=_measure_infer, reference=_measure_ref)


# -- Reset(state, draws[, cond]) ---------------------------------------------------------------

def _reset_infer(c: InferCtx) -> list[Type]:
    a: MeasureAttrs = c.attrs
    s = _state(c)
    _check_qubits(c, [a.qubit], s.rank)
    _check_draw(c, a.draw)
    _check_cond(c, 2)
    return [s]


def _reset_ref(a: MeasureAttrs, state: np.ndarray, draws: np.ndarray,
               cond: np.ndarray | None = None) -> np.ndarray:
    if cond is not None and not bool(cond):
        return state
    bit = _measure_bit(state, a.qubit, float(draws[a.draw]))
    return _collapse(state, a.qubit, bit, flip=bit == 1)


op("Reset", MeasureAttrs, domain="dlc.quantum", infer=_reset_infer, reference=_reset_ref)


# -- classical bits ------------------------------------------------------------------------------

@dataclass(frozen=True)
class BitsEqualAttrs:
    value: int  # input i is bit i of the compared integer
    negate: bool = False


def _bits_infer(c: InferCtx) -> list[Type]:
    for i in range(len(c.types)):
        _check_cond(c, i)
    return [TensorType(DType.BOOL, ())]


def _bits_equal_ref(a: BitsEqualAttrs, *bits: np.ndarray) -> np.ndarray:
    value = sum(int(bool(b)) << i for i, b in enumerate(bits))
    return np.asarray((value == a.value) != a.negate)


op("BitsEqual", BitsEqualAttrs, domain="dlc.quantum", infer=_bits_infer,
   reference=_bits_equal_ref)


def _pack_infer(c: InferCtx) -> list[Type]:
    _bits_infer(c)
    return [TensorType(DType.BOOL, (len(c.types),))]


op("PackBits", domain="dlc.quantum", infer=_pack_infer,
   reference=lambda a, *bits: np.array([bool(b) for b in bits], dtype=bool))


# -- what a node does to the qubits ------------------------------------------------------------

STATE_OPS = frozenset({"InitState", "ApplyGate", "Measure", "Reset"})


def acted_qubits(op_name: str, attrs: object) -> frozenset[int] | None:
    """The qubits a quantum op touches; None when unknown (treat as all)."""
    if isinstance(attrs, ApplyGateAttrs):
        return frozenset(attrs.qubits)
    if isinstance(attrs, MeasureAttrs):
        return frozenset({attrs.qubit})
    if op_name in ("InitState", "BitsEqual", "PackBits"):
        return frozenset()
    return None

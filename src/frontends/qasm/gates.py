"""The built-in gate libraries: `qelib1.inc` (OpenQASM 2, as Qiskit ships it today) and
`stdgates.inc` (OpenQASM 3), as data: each gate's parameter and qubit counts and its matrix.

Matrices are those of Qiskit's gate classes, global phase included (RZ is diag(e^{-iλ/2},
e^{iλ/2}), SX is ½[[1+i, 1-i], [1-i, 1+i]], ...), which is what Qiskit's importers and simulators
use for these names. Convention: gate operand j is bit j of the matrix index, so in a controlled
gate the controls are the first operands (the low bits).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ...ir.ops.quantum import apply_gate

Matrix = np.ndarray


@dataclass(frozen=True)
class LibraryGate:
    name: str
    num_params: int
    num_qubits: int
    matrix: Callable[..., Matrix]  # params -> 2^k x 2^k complex128


# -- building blocks ---------------------------------------------------------------------------

def controlled(u: Matrix, num_ctrl: int, ctrl_state: int | None = None) -> Matrix:
    """`u` controlled on `num_ctrl` new leading operands; applied when they read `ctrl_state`
    (bit j = control j; default all ones)."""
    if num_ctrl == 0:
        return u
    state = (1 << num_ctrl) - 1 if ctrl_state is None else ctrl_state
    dim_c, dim_t = 1 << num_ctrl, u.shape[0]
    out = np.eye(dim_c * dim_t, dtype=np.complex128)
    rows = [state + dim_c * t for t in range(dim_t)]
    out[np.ix_(rows, rows)] = u
    return out


def compose(num_qubits: int, ops: Sequence[tuple[Matrix, Sequence[int]]]) -> Matrix:
    """The matrix of a sequence of gates (matrix, operand qubits) on `num_qubits` qubits."""
    dim = 1 << num_qubits
    u = np.eye(dim, dtype=np.complex128).reshape((2,) * num_qubits + (dim,))
    for m, qubits in ops:
        k = len(qubits)
        u = apply_gate(u, np.asarray(m, np.complex128).reshape((2,) * (2 * k)), qubits,
                       num_qubits)
    return u.reshape(dim, dim)


def matrix_power(u: Matrix, k: float) -> Matrix:
    """u**k; a non-integer power takes the principal branch of each eigenvalue."""
    if float(k).is_integer():
        return np.linalg.matrix_power(u, int(k)) if k >= 0 else \
            np.linalg.matrix_power(u.conj().T, -int(k))
    w, v = np.linalg.eig(u)
    return (v * np.power(w.astype(np.complex128), k)) @ np.linalg.inv(v)


def _u3(theta: float, phi: float, lam: float) -> Matrix:
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    return np.array([[c, -np.exp(1j * lam) * s],
                     [np.exp(1j * phi) * s, np.exp(1j * (phi + lam)) * c]], dtype=np.complex128)


def _phase(lam: float) -> Matrix:
    return np.diag([1, np.exp(1j * lam)]).astype(np.complex128)


def _rx(t: float) -> Matrix:
    c, s = np.cos(t / 2), np.sin(t / 2)
    return np.array([[c, -1j * s], [-1j * s, c]], dtype=np.complex128)


def _ry(t: float) -> Matrix:
    c, s = np.cos(t / 2), np.sin(t / 2)
    return np.array([[c, -s], [s, c]], dtype=np.complex128)


def _rz(t: float) -> Matrix:
    return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)]).astype(np.complex128)


I2 = np.eye(2, dtype=np.complex128)
X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
Y = np.array([[0, -1j], [1j, 0]], dtype=np.complex128)
Z = np.diag([1, -1]).astype(np.complex128)
H = np.array([[1, 1], [1, -1]], dtype=np.complex128) / np.sqrt(2)
S, SDG = _phase(np.pi / 2), _phase(-np.pi / 2)
T, TDG = _phase(np.pi / 4), _phase(-np.pi / 4)
SX = np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]], dtype=np.complex128) / 2
SWAP = np.eye(4, dtype=np.complex128)[[0, 2, 1, 3]]
CX = controlled(X, 1)


def _rxx(t: float) -> Matrix:
    xx = np.kron(X, X)
    return np.cos(t / 2) * np.eye(4) - 1j * np.sin(t / 2) * xx


def _rzz(t: float) -> Matrix:
    a, b = np.exp(-0.5j * t), np.exp(0.5j * t)
    return np.diag([a, b, b, a]).astype(np.complex128)


def _rccx() -> Matrix:
    # qelib1.inc's body; Qiskit's RCCXGate is this circuit (u2(0,pi) = h, u1 = phase)
    a, b, c = 0, 1, 2
    return compose(3, [(H, [c]), (T, [c]), (CX, [b, c]), (TDG, [c]), (CX, [a, c]), (T, [c]),
                       (CX, [b, c]), (TDG, [c]), (H, [c])])


def _rc3x() -> Matrix:
    a, b, c, d = 0, 1, 2, 3
    return compose(4, [(H, [d]), (T, [d]), (CX, [c, d]), (TDG, [d]), (H, [d]), (CX, [a, d]),
                       (T, [d]), (CX, [b, d]), (TDG, [d]), (CX, [a, d]), (T, [d]), (CX, [b, d]),
                       (TDG, [d]), (H, [d]), (T, [d]), (CX, [c, d]), (TDG, [d]), (H, [d])])



def _const(m: Matrix) -> Callable[[], Matrix]:
    return lambda: m


def _gate(name: str, num_params: int, num_qubits: int, fn: Callable[..., Matrix]) -> LibraryGate:
    return LibraryGate(name, num_params, num_qubits, fn)


_ALL: list[LibraryGate] = [
    _gate("U", 3, 1, _u3),
    _gate("CX", 0, 2, _const(CX)),
    _gate("u3", 3, 1, _u3),
    _gate("u2", 2, 1, lambda p, l: _u3(np.pi / 2, p, l)),
    _gate("u1", 1, 1, _phase),
    _gate("cx", 0, 2, _const(CX)),
    _gate("id", 0, 1, _const(I2)),
    _gate("u0", 1, 1, lambda g: I2),
    _gate("u", 3, 1, _u3),
    _gate("p", 1, 1, _phase),
    _gate("phase", 1, 1, _phase),
    _gate("x", 0, 1, _const(X)),
    _gate("y", 0, 1, _const(Y)),
    _gate("z", 0, 1, _const(Z)),
    _gate("h", 0, 1, _const(H)),
    _gate("s", 0, 1, _const(S)),
    _gate("sdg", 0, 1, _const(SDG)),
    _gate("t", 0, 1, _const(T)),
    _gate("tdg", 0, 1, _const(TDG)),
    _gate("rx", 1, 1, _rx),
    _gate("ry", 1, 1, _ry),
    _gate("rz", 1, 1, _rz),
    _gate("sx", 0, 1, _const(SX)),
    _gate("sxdg", 0, 1, _const(SX.conj().T)),
    _gate("cz", 0, 2, _const(controlled(Z, 1))),
    _gate("cy", 0, 2, _const(controlled(Y, 1))),
    _gate("swap", 0, 2, _const(SWAP)),
    _gate("ch", 0, 2, _const(controlled(H, 1))),
    _gate("ccx", 0, 3, _const(controlled(X, 2))),
    _gate("cswap", 0, 3, _const(controlled(SWAP, 1))),
    _gate("crx", 1, 2, lambda t: controlled(_rx(t), 1)),
    _gate("cry", 1, 2, lambda t: controlled(_ry(t), 1)),
    _gate("crz", 1, 2, lambda t: controlled(_rz(t), 1)),
    _gate("cu1", 1, 2, lambda lam: controlled(_phase(lam), 1)),
    _gate("cp", 1, 2, lambda lam: controlled(_phase(lam), 1)),
    _gate("cphase", 1, 2, lambda lam: controlled(_phase(lam), 1)),
    _gate("cu3", 3, 2, lambda t, p, l: controlled(_u3(t, p, l), 1)),
    _gate("csx", 0, 2, _const(controlled(SX, 1))),
    _gate("cu", 4, 2, lambda t, p, l, g: controlled(np.exp(1j * g) * _u3(t, p, l), 1)),
    _gate("rxx", 1, 2, _rxx),
    _gate("rzz", 1, 2, _rzz),
    _gate("rccx", 0, 3, _const(_rccx())),
    _gate("rc3x", 0, 4, _const(_rc3x())),
    _gate("c3x", 0, 4, _const(controlled(X, 3))),
    _gate("c3sqrtx", 0, 4, _const(controlled(SX, 3))),
    _gate("c4x", 0, 5, _const(controlled(X, 4))),
]
GATES: dict[str, LibraryGate] = {g.name: g for g in _ALL}

# which names each include brings into scope (the builtins U, CX / U, gphase need no include)
QELIB1 = ("u3", "u2", "u1", "cx", "id", "u0", "u", "p", "x", "y", "z", "h", "s", "sdg", "t", "tdg",
          "rx", "ry", "rz", "sx", "sxdg", "cz", "cy", "swap", "ch", "ccx", "cswap", "crx", "cry",
          "crz", "cu1", "cp", "cu3", "csx", "cu", "rxx", "rzz", "rccx", "rc3x", "c3x", "c3sqrtx",
          "c4x")
STDGATES = ("p", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz", "cx", "cy",
            "cz", "cp", "crx", "cry", "crz", "ch", "swap", "ccx", "cswap", "cu", "CX", "phase",
            "cphase", "id", "u1", "u2", "u3")
LIBRARIES: dict[str, tuple[str, ...]] = {"qelib1.inc": QELIB1, "stdgates.inc": STDGATES}
BUILTINS: dict[int, tuple[str, ...]] = {2: ("U", "CX"), 3: ("U",)}


def gate_matrix(name: str, params: Sequence[float] = ()) -> Matrix:
    """The matrix of library gate `name` at `params`."""
    return GATES[name].matrix(*params)


def _gphase(theta: float) -> Matrix:
    return np.array([[np.exp(1j * theta)]], dtype=np.complex128)


# OpenQASM 3's global phase: a gate on zero qubits (under `ctrl @` it becomes a phase gate)
GPHASE = LibraryGate("gphase", 1, 0, _gphase)

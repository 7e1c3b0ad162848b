"""Circuits from Qiskit's circuit library, dumped with qasm2.dumps and qasm3.dumps, against
Qiskit: state vectors (fidelity > 1 - 1e-6, amplitudes where no phase is dropped) and, with
measurements, resets and conditionals, Aer's counts (total variation distance < 0.03 at 4000
shots)."""
from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from dlc.backends.reference import ReferenceExecutor
from dlc.frontends.qasm import import_qasm
from dlc.runtime.circuit import CircuitModule, circuit_module

qiskit = pytest.importorskip("qiskit")
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, qasm2, qasm3  # noqa: E402
from qiskit.circuit import Parameter  # noqa: E402
from qiskit.circuit import library as lib  # noqa: E402
from qiskit.circuit.random import random_circuit  # noqa: E402
from qiskit.quantum_info import Statevector  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
DUMPS = {"qasm2": qasm2.dumps, "qasm3": qasm3.dumps}


def simulate(text: str, precision: str | None = None) -> CircuitModule:
    graph = import_qasm(text, frontend_text=True, precision=precision)
    return circuit_module(graph, lambda g: ReferenceExecutor(g), "reference")


def fidelity(a: np.ndarray, b: np.ndarray) -> float:
    """|<a|b>|^2 as given: a state that lost norm counts against us."""
    return float(abs(np.vdot(a.astype(np.complex128), b.astype(np.complex128))) ** 2)


def qft(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.x([0, n - 1])
    qc.h(1)
    qc.append(lib.QFTGate(n), range(n))
    return qc.decompose()


def ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    return qc


def quantum_volume(n: int, seed: int) -> QuantumCircuit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qv = lib.quantum_volume(n, seed=seed) if hasattr(lib, "quantum_volume") \
            else lib.QuantumVolume(n, seed=seed)
    return qv.decompose()


def custom_gates() -> QuantumCircuit:
    th = Parameter("th")
    sub = QuantumCircuit(2, name="entangle")
    sub.rx(th, 0)
    sub.cx(0, 1)
    sub.rz(th / 2, 1)
    sub.sxdg(0)
    nested = QuantumCircuit(3, name="nested")
    nested.append(sub.assign_parameters({th: 0.25}).to_gate(), [2, 0])
    nested.ccx(0, 1, 2)
    qc = QuantumCircuit(4)
    qc.h(range(4))
    qc.append(sub.assign_parameters({th: 0.7}).to_gate(), [0, 2])
    qc.append(sub.assign_parameters({th: 1.3}).to_gate(), [3, 1])
    qc.append(nested.to_gate(), [1, 3, 0])
    return qc


def every_qelib1_gate() -> QuantumCircuit:
    qc = QuantumCircuit(5)
    qc.h(range(5))
    qc.u(0.1, 0.2, 0.3, 0)
    qc.p(0.4, 1)
    qc.sx(2)
    qc.sxdg(3)
    qc.rxx(0.5, 0, 1)
    qc.rzz(0.6, 1, 2)
    qc.cu(0.1, 0.2, 0.3, 0.4, 2, 3)
    qc.csx(3, 4)
    qc.cp(0.7, 4, 0)
    qc.rccx(0, 1, 2)
    qc.append(lib.RC3XGate(), [1, 2, 3, 4])
    qc.append(lib.C3XGate(), [4, 3, 2, 1])
    qc.append(lib.C3SXGate(), [0, 2, 4, 1])
    qc.append(lib.C4XGate(), [0, 1, 2, 3, 4])
    qc.crx(0.3, 0, 1)
    qc.cry(0.4, 1, 2)
    qc.crz(0.5, 2, 3)
    qc.ch(3, 4)
    qc.cswap(0, 1, 2)
    qc.cy(1, 3)
    qc.cz(2, 4)
    qc.swap(0, 4)
    qc.t(1)
    qc.tdg(2)
    qc.s(3)
    qc.sdg(4)
    qc.y(0)
    qc.z(1)
    qc.rx(0.2, 2)
    qc.ry(0.3, 3)
    qc.rz(0.4, 4)
    return qc


UNITARY = {
    "qft6": lambda: qft(6),
    "ghz5": lambda: ghz(5),
    "qv5": lambda: quantum_volume(5, seed=11),
    "custom": custom_gates,
    "all_gates": every_qelib1_gate,
    **{f"random{s}": (lambda s=s: random_circuit(5, 8, max_operands=4, seed=s))
       for s in range(6)},
}
# circuits whose dump keeps Qiskit's gates (no global phase lost): amplitudes match exactly
PHASE_EXACT = {"qft6", "ghz5", "custom", "all_gates"}


@pytest.mark.parametrize("dump", DUMPS)
@pytest.mark.parametrize("name", UNITARY)
def test_library_circuit_state_vector(name, dump):
    qc = UNITARY[name]()
    want = Statevector(qc).data
    got = simulate(DUMPS[dump](qc)).statevector()
    assert got.dtype == np.complex64 and got.shape == want.shape
    assert fidelity(got, want) > 1 - 1e-6
    if name in PHASE_EXACT and dump == "qasm2":
        np.testing.assert_allclose(got, want, atol=2e-6)


def test_transpiled_circuit_with_hardware_qubits():
    """qasm3.dumps writes $n for a laid-out circuit; many repeated rz angles make single
    precision lose norm, which statevector() removes (this compares without normalizing)."""
    from qiskit import transpile
    from qiskit.transpiler import CouplingMap
    qc = random_circuit(5, 8, seed=9)
    tq = transpile(qc, coupling_map=CouplingMap.from_line(5), basis_gates=["rz", "sx", "cx", "x"],
                   seed_transpiler=1, optimization_level=1)
    text = qasm3.dumps(tq)
    assert "$0" in text
    got = simulate(text).statevector().astype(np.complex128)
    want = Statevector(tq).data
    assert abs(np.vdot(got, want)) ** 2 > 1 - 1e-6
    assert abs(np.vdot(got, got).real - 1) < 1e-6


def test_double_precision():
    qc = random_circuit(6, 10, seed=42)
    got = simulate(qasm2.dumps(qc), precision="double").statevector()
    assert got.dtype == np.complex128
    assert fidelity(got, Statevector(qc).data) > 1 - 1e-12


def test_qft20_takes_seconds():
    qc = qft(20)
    text = qasm2.dumps(qc)
    start = time.perf_counter()
    got = simulate(text).statevector()
    elapsed = time.perf_counter() - start
    want = Statevector(qc).data
    assert fidelity(got, want) > 1 - 1e-6
    assert elapsed < 60, f"20-qubit QFT took {elapsed:.1f} s"


# -- sampling against Aer ---------------------------------------------------------------------

def tvd(a: dict[str, int], b: dict[str, int]) -> float:
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in set(a) | set(b))


def conditional_circuit() -> QuantumCircuit:
    q, c, d = QuantumRegister(3, "q"), ClassicalRegister(2, "c"), ClassicalRegister(1, "d")
    qc = QuantumCircuit(q, c, d)
    qc.h(0)
    qc.ry(0.7, 1)
    qc.measure(0, c[0])
    qc.measure(1, c[1])
    with qc.if_test((c, 1)):
        qc.x(2)
    with qc.if_test((c, 3)):
        qc.h(2)
    qc.reset(0)
    qc.h(0)
    qc.cx(0, 2)
    qc.measure(2, d[0])
    return qc


def teleport() -> QuantumCircuit:
    q = QuantumRegister(3, "q")
    m0, m1, out = ClassicalRegister(1, "m0"), ClassicalRegister(1, "m1"), ClassicalRegister(1, "o")
    qc = QuantumCircuit(q, m0, m1, out)
    qc.ry(1.1, 0)
    qc.h(1)
    qc.cx(1, 2)
    qc.cx(0, 1)
    qc.h(0)
    qc.measure(0, m0[0])
    qc.measure(1, m1[0])
    with qc.if_test((m1, 1)):
        qc.x(2)
    with qc.if_test((m0, 1)):
        qc.z(2)
    qc.measure(2, out[0])
    return qc


def reset_and_reuse() -> QuantumCircuit:
    qc = QuantumCircuit(3, 3)
    qc.rx(1.1, 0)
    qc.measure(0, 0)
    qc.reset(0)
    qc.ry(0.4, 0)
    qc.cx(0, 1)
    qc.measure(0, 1)
    qc.measure(1, 2)
    return qc


def terminal_bell() -> QuantumCircuit:
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.cx(0, 1)
    qc.ry(0.5, 2)
    qc.measure([0, 1, 2], [0, 1, 2])
    return qc


def if_else() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.ry(1.2, 0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)) as else_:
        qc.h(1)
    with else_:
        qc.x(1)
    qc.measure(1, 1)
    return qc


SAMPLED = {
    "conditional": (conditional_circuit, ("qasm2", "qasm3")),
    "teleport": (teleport, ("qasm2", "qasm3")),
    "reset": (reset_and_reuse, ("qasm2", "qasm3")),
    "terminal": (terminal_bell, ("qasm2", "qasm3")),
    "if_else": (if_else, ("qasm3",)),   # OpenQASM 2 has no else (nor bit conditions)
    "random_measured": (lambda: random_circuit(3, 4, measure=True, conditional=True, reset=True,
                                               seed=5), ("qasm2", "qasm3")),
}
CASES = [(name, d) for name, (_, dumps) in SAMPLED.items() for d in dumps]


@pytest.mark.parametrize("name,dump", CASES)
def test_sample_counts_match_aer(name, dump):
    aer = pytest.importorskip("qiskit_aer")
    from qiskit import transpile
    qc = SAMPLED[name][0]()
    sim = aer.AerSimulator(seed_simulator=1234)
    want = sim.run(transpile(qc, sim), shots=4000).result().get_counts()
    got = simulate(DUMPS[dump](qc)).sample(shots=4000, seed=1234)
    assert sum(got.values()) == 4000
    assert {len(k) for k in got} == {len(k) for k in want}
    assert tvd(got, want) < 0.03, (got, want)

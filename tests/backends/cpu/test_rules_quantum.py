"""cpu rules of the quantum ops: graphs of InitState / ApplyGate / Measure / Reset / BitsEqual /
PackBits nodes lowered for the cpu and run both through the kernel interpreter and natively,
against the reference interpreter on the unlowered graph; circuits from OpenQASM text the same
way; and (tests at the end) the circuit tests' Qiskit circuits compiled for target="cpu"."""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any
from unittest import mock

import numpy as np
import pytest
import rule_testing

from dlc.backends.cpu import compile_kernels
from dlc.frontends.qasm import import_qasm
from dlc.ir import OPS, DType, Graph, Node, TensorType, Value, interpret
from dlc.ir.ops import InferCtx
from dlc.passes import run_passes

PIPELINE = "canonicalize,fuse,lower{target=cpu}"
rng = np.random.default_rng(7)


class Circuit:
    """A graph built node by node; every value a node makes is also a graph output, so each
    node's result is compared."""

    def __init__(self) -> None:
        self.g = Graph("case")
        self.count = 0

    def input(self, name: str, t: TensorType) -> Value:
        return self.g.add_input(name, t)

    def const(self, arr: np.ndarray) -> Value:
        self.count += 1
        return self.g.add_constant(f"c{self.count}", arr)

    def node(self, op: str, ins: Sequence[Value | None], n_out: int = 1,
             **attrs: Any) -> list[Value]:
        d = OPS[op]
        a = d.make_attrs(**attrs) if attrs else None
        types = [None if v is None else v.type for v in ins]
        out_types = d.infer(InferCtx(op, a, types, [None] * len(ins), n_out))[:n_out]
        self.count += 1
        outs = [Value(f"v{self.count}_{j}", t) for j, t in enumerate(out_types)]
        self.g.nodes.append(Node(op, list(ins), outs, a, f"n{self.count}"))
        self.g.outputs.extend(outs)
        return outs


def lower_and_check(graph: Graph, feeds: Sequence[Sequence[np.ndarray]],
                    interpreted: bool = True) -> Graph:
    """Lower `graph` for the cpu; for each feed, the lowered graph run natively (and by the
    kernel interpreter) must give what the reference interpreter gives on `graph`."""
    want_all = [interpret(graph, list(f)) for f in feeds]
    lowered = run_passes(graph, PIPELINE, verify_each=True)
    assert all(n.op == "KernelCall" for n in lowered.nodes), [n.op for n in lowered.nodes]
    compiled = compile_kernels([n.attrs.kernel for n in lowered.nodes])
    for feed, want in zip(feeds, want_all):
        with mock.patch.object(rule_testing, "compile_kernels", lambda _: compiled):
            native = rule_testing.run_natively(lowered, list(feed))  # compiled once, run per feed
        runs = [("native", native)]
        if interpreted:
            runs.append(("interpreted", interpret(lowered, list(feed))))
        for how, got in runs:
            for k, (x, w) in enumerate(zip(got, want)):
                x, w = np.asarray(x), np.asarray(w)
                assert x.dtype == w.dtype and x.shape == w.shape, (how, k)
                if w.dtype.kind == "c":
                    np.testing.assert_allclose(x, w, rtol=1e-5, atol=2e-6, err_msg=f"{how} {k}")
                else:
                    assert np.array_equal(x, w), (how, k, x, w)
    return lowered


def random_state(n: int, dtype: Any = np.complex64) -> np.ndarray:
    s = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    return (s / np.linalg.norm(s)).astype(dtype).reshape((2,) * n)


def random_gate(k: int, dtype: Any) -> np.ndarray:
    m = rng.normal(size=(2**k, 2**k)) + 1j * rng.normal(size=(2**k, 2**k))
    return m.astype(dtype).reshape((2,) * (2 * k))


# -- ApplyGate / InitState ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [DType.C64, DType.C128])
def test_gates_on_every_qubit_pattern(dtype):
    """0- to 5-qubit gates (up to 3 unrolled, above looped over the matrix), operands in any
    order, with conditions true and false; dense random matrices, so every entry counts."""
    n = 6
    c = Circuit()
    s = c.input("s", TensorType(dtype, (2,) * n))
    yes, no = (c.input(name, TensorType(DType.BOOL, ())) for name in ("yes", "no"))
    c.node("InitState", [], num_qubits=n, dtype=dtype)
    for qubits, cond in [((), None), ((0,), None), ((5,), None), ((3,), yes), ((0, 1), None),
                         ((4, 1), no), ((5, 0, 2), None), ((2, 3, 4), yes),
                         ((1, 3, 0, 5), None), ((2, 4, 0, 1, 3), no), ((2, 4, 0, 1, 3), yes)]:
        gate = c.const(random_gate(len(qubits), dtype.np))
        (s,) = c.node("ApplyGate", [s, gate] + ([cond] if cond is not None else []),
                      qubits=qubits)
    lower_and_check(c.g, [[random_state(n, dtype.np), np.array(True), np.array(False)]])


def test_parallel_loops_of_a_large_state():
    """From 2^14 amplitudes on, the outer loops run on every core (and the half norms of
    Measure/Reset are summed per core). Native only: the kernel interpreter runs the reductions'
    loops one iteration at a time."""
    n = 15
    c = Circuit()
    s = c.input("s", TensorType(DType.C64, (2,) * n))
    draws = c.input("u", TensorType(DType.F64, (2,)))
    c.node("InitState", [], num_qubits=n)
    for qubits in [(7,), (14, 0), (2, 9, 13, 5)]:
        (s,) = c.node("ApplyGate", [s, c.const(random_gate(len(qubits), np.complex64))],
                      qubits=qubits)
    s, _ = c.node("Measure", [s, draws], 2, qubit=3, draw=0)
    c.node("Reset", [s, draws], qubit=14, draw=1)
    lower_and_check(c.g, [[random_state(n), np.array([0.3, 0.6])]], interpreted=False)


# -- Measure / Reset ---------------------------------------------------------------------------

def product_state(n: int, ones: Sequence[int]) -> np.ndarray:
    """|q_i = 1 for i in ones, 0 otherwise>."""
    s = np.zeros(2**n, np.complex64)
    s[sum(1 << q for q in ones)] = 1
    return s.reshape((2,) * n)


@pytest.mark.parametrize("dtype", [DType.C64, DType.C128])
def test_measure_and_reset(dtype):
    """Every qubit; draws below, above and at the edges; certain outcomes (P(1) = 0 or 1, where
    the draw never picks the impossible one) and a zero state (no renormalization); under true
    and false conditions (a false one passes the previous bit on)."""
    n = 4
    c = Circuit()
    s = c.input("s", TensorType(dtype, (2,) * n))
    draws = c.input("u", TensorType(DType.F64, (3,)))
    yes, no, prev = (c.input(name, TensorType(DType.BOOL, ())) for name in ("yes", "no", "prev"))
    for q in range(n):
        c.node("Measure", [s, draws], 2, qubit=q, draw=q % 3)
        c.node("Reset", [s, draws], qubit=q, draw=(q + 1) % 3)
    c.node("Measure", [s, draws, yes, prev], 2, qubit=1, draw=2)
    c.node("Measure", [s, draws, no, prev], 2, qubit=2, draw=0)
    c.node("Reset", [s, draws, yes], qubit=3, draw=1)
    c.node("Reset", [s, draws, no], qubit=0, draw=2)
    states = [random_state(n, dtype.np), product_state(n, [1, 2]).astype(dtype.np),
              np.zeros((2,) * n, dtype.np)]
    draw_sets = [[0.0, 0.5, 0.999999], [0.9, 0.1, 0.0], [1.0, 0.25, 0.75]]
    feeds = [[st, np.array(u), np.array(True), np.array(False), np.array(p)]
             for st, u, p in itertools.product(states, draw_sets, (False, True))]
    lower_and_check(c.g, feeds)


# -- classical bits ----------------------------------------------------------------------------

def test_bits_equal_and_pack_bits():
    c = Circuit()
    bits = [c.input(f"b{i}", TensorType(DType.BOOL, ())) for i in range(3)]
    for count, value, negate in [(0, 0, False), (0, 1, True), (1, 1, False), (2, 2, False),
                                 (2, 2, True), (3, 5, False), (3, 8, False), (3, -1, True)]:
        c.node("BitsEqual", bits[:count], value=value, negate=negate)
    for count in (1, 3):
        c.node("PackBits", bits[:count])
    feeds = [[np.array(b) for b in combo] for combo in itertools.product((False, True), repeat=3)]
    lower_and_check(c.g, feeds)


# -- circuits from OpenQASM ----------------------------------------------------------------------

CIRCUITS = {
    "conditionals": """OPENQASM 2.0;
include "qelib1.inc";
qreg q[4]; creg c[2]; creg d[2];
h q[0]; cx q[0],q[1]; ccx q[0],q[1],q[2]; rz(0.3) q[2]; ry(0.4) q[3]; cswap q[3],q[0],q[2];
measure q[0] -> c[0];
if (c==1) x q[2];
reset q[1];
measure q[1] -> c[1];
if (c==3) cu3(0.1,0.2,0.3) q[2],q[3];
measure q[2] -> d[0];
measure q[3] -> d[1];
""",
    "qasm3_else": """OPENQASM 3.0;
include "stdgates.inc";
qubit[3] q; bit[3] c;
ry(1.2) q[0]; h q[2];
c[0] = measure q[0];
if (c[0]) { h q[1]; } else { x q[1]; crx(0.5) q[1], q[2]; }
c[1] = measure q[1];
reset q[0];
ctrl @ ry(0.3) q[2], q[0];
c[2] = measure q[0];
""",
}


@pytest.mark.parametrize("name", CIRCUITS)
def test_qasm_circuit(name):
    g = import_qasm(CIRCUITS[name], frontend_text=True)
    size = int(g.inputs[0].type.shape[0])
    feeds = [[rng.random(size)] for _ in range(6)] + [[np.zeros(size)], [np.full(size, 0.99)]]
    lower_and_check(g, feeds)


# -- circuits compiled for target="cpu" ----------------------------------------------------------

def test_constant_output_of_a_cpu_program():
    """A graph whose output folded to a constant (a small circuit's state) returns the constant
    (it returned an uninitialized array)."""
    from dlc.backends.cpu import host_target
    from dlc.backends.cpu.graph import compile_graph
    g = Graph("folded")
    want = random_state(3)
    g.outputs = [g.add_constant("state", want)]
    np.testing.assert_array_equal(compile_graph(g, host_target()).run([])[0], want)


qiskit = pytest.importorskip("qiskit")
circuits = pytest.importorskip("frontends.test_qasm_circuits")  # their circuits and oracles

# every circuit of the frontend's tests, in every dump format, as there
UNITARY_CPU = [(name, dump) for name in circuits.UNITARY for dump in circuits.DUMPS]
SAMPLED_CPU = list(circuits.CASES)


def cpu_circuit(text: str, precision: str | None = None) -> Any:
    import dlc
    return dlc.compile(text, frontend="qasm", target="cpu", precision=precision)


@pytest.mark.parametrize("name,dump", UNITARY_CPU)
def test_library_circuit_state_vector_on_cpu(name, dump):
    from qiskit.quantum_info import Statevector
    qc = circuits.UNITARY[name]()
    want = Statevector(qc).data
    got = cpu_circuit(circuits.DUMPS[dump](qc)).statevector()
    assert got.dtype == np.complex64 and got.shape == want.shape
    assert circuits.fidelity(got, want) > 1 - 1e-6
    if name in circuits.PHASE_EXACT and dump == "qasm2":
        np.testing.assert_allclose(got, want, atol=2e-6)


def test_double_precision_on_cpu():
    from qiskit import qasm2
    from qiskit.circuit.random import random_circuit
    from qiskit.quantum_info import Statevector
    qc = random_circuit(6, 10, seed=42)
    got = cpu_circuit(qasm2.dumps(qc), precision="double").statevector()
    assert got.dtype == np.complex128
    assert circuits.fidelity(got, Statevector(qc).data) > 1 - 1e-12


def test_transpiled_circuit_with_hardware_qubits_on_cpu():
    from qiskit import qasm3, transpile
    from qiskit.circuit.random import random_circuit
    from qiskit.quantum_info import Statevector
    from qiskit.transpiler import CouplingMap
    qc = random_circuit(5, 8, seed=9)
    tq = transpile(qc, coupling_map=CouplingMap.from_line(5), basis_gates=["rz", "sx", "cx", "x"],
                   seed_transpiler=1, optimization_level=1)
    got = cpu_circuit(qasm3.dumps(tq)).statevector().astype(np.complex128)
    assert abs(np.vdot(got, Statevector(tq).data)) ** 2 > 1 - 1e-6


@pytest.mark.parametrize("name,dump", SAMPLED_CPU)
def test_sample_counts_match_aer_on_cpu(name, dump):
    aer = pytest.importorskip("qiskit_aer")
    from qiskit import transpile
    qc = circuits.SAMPLED[name][0]()
    sim = aer.AerSimulator(seed_simulator=1234)
    want = sim.run(transpile(qc, sim), shots=4000).result().get_counts()
    got = cpu_circuit(circuits.DUMPS[dump](qc)).sample(shots=4000, seed=1234)
    assert sum(got.values()) == 4000
    assert {len(k) for k in got} == {len(k) for k in want}
    assert circuits.tvd(got, want) < 0.03, (got, want)


def test_qft20_on_cpu_takes_seconds():
    import time

    from qiskit import qasm2
    from qiskit.quantum_info import Statevector
    qc = circuits.qft(20)
    start = time.perf_counter()
    got = cpu_circuit(qasm2.dumps(qc)).statevector()  # compile (one kernel per gate size) and run
    elapsed = time.perf_counter() - start
    assert circuits.fidelity(got, Statevector(qc).data) > 1 - 1e-6
    assert elapsed < 60, f"20-qubit QFT took {elapsed:.1f} s"

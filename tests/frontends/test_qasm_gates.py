"""The built-in gate library against Qiskit, gate by gate, global phase included; gate modifiers
(ctrl/negctrl/inv/pow, gphase) against Qiskit's controlled/inverse/power gates."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlc.frontends.qasm import load_circuit
from dlc.frontends.qasm.gates import GATES, QELIB1, STDGATES, compose, controlled
from dlc.frontends.qasm.lower import Gate, Lowering
from dlc.frontends.qasm.parser import parse

qiskit = pytest.importorskip("qiskit")
from qiskit import QuantumCircuit, qasm2  # noqa: E402
from qiskit.circuit import library as lib  # noqa: E402
from qiskit.quantum_info import Operator  # noqa: E402

# Gate.control()'s `annotated` default changes across Qiskit versions; the matrices do not
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def params_for(name: str, n: int) -> list[float]:
    return [2.0] if name == "u0" else [0.3 + 0.41 * i for i in range(n)]


def qelib1_call(name: str) -> str:
    g = GATES[name]
    ps = params_for(name, g.num_params)
    p = "(" + ", ".join(repr(x) for x in ps) + ")" if ps else ""
    qs = ", ".join(f"q[{i}]" for i in range(g.num_qubits))
    return f"{name}{p} {qs};"


@pytest.mark.parametrize("name", QELIB1)
def test_qelib1_gate_matches_qiskit(name):
    """Qiskit reads each qelib1.inc name as its standard gate class (LEGACY_CUSTOM_INSTRUCTIONS
    covers the ones added after the original paper); our matrix is that gate's, phase and all."""
    g = GATES[name]
    src = f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[{g.num_qubits}];\n{qelib1_call(name)}\n'
    qc = qasm2.loads(src, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    want = Operator(qc).data
    np.testing.assert_allclose(g.matrix(*params_for(name, g.num_params)), want, atol=1e-12)
    # and what the frontend emits for the call is that matrix on those qubits
    (ins,) = load_circuit(src, frontend_text=True).instrs
    assert isinstance(ins, Gate) and ins.qubits == tuple(range(g.num_qubits))
    np.testing.assert_allclose(ins.matrix, want, atol=1e-12)


QISKIT_NAME = {"phase": "p", "cphase": "cp", "CX": "cx"}


@pytest.mark.parametrize("name", STDGATES)
def test_stdgates_gate_matches_qiskit(name):
    """Qiskit's qasm3 exporter writes its standard gates under these names."""
    g = GATES[name]
    ps = params_for(name, g.num_params)
    gate = lib.get_standard_gate_name_mapping()[QISKIT_NAME.get(name, name)]
    if ps:
        gate = type(gate)(*ps)
    np.testing.assert_allclose(g.matrix(*ps), Operator(gate).data, atol=1e-12)


def qelib1_file() -> str:
    path = Path(qiskit.__file__).parent / "qasm" / "libs" / "qelib1.inc"
    if not path.is_file():
        pytest.skip("this Qiskit ships no qelib1.inc")
    return path.read_text()


def test_every_gate_of_qiskits_qelib1_file_is_built_in():
    text = qelib1_file()
    low = Lowering(2)
    low.program(parse("OPENQASM 2.0;\n" + text, "qelib1.inc"))
    defined = {n for n in low.gates if n not in ("U", "CX")}
    assert defined == set(QELIB1)


@pytest.mark.parametrize("name", QELIB1)
def test_builtin_gate_equals_its_qelib1_body_up_to_phase(name):
    """The bodies in Qiskit's qelib1.inc, run through our own parser, give our matrices up to a
    global phase (the file defines rz as u1, sx as sdg-h-sdg, ...; Qiskit's gates fix the phase)."""
    low = Lowering(2)
    low.program(parse("OPENQASM 2.0;\n" + qelib1_file(), "qelib1.inc"))
    g = GATES[name]
    ps = params_for(name, g.num_params)
    body = low.matrix(low.gates[name], ps, None)  # type: ignore[arg-type]
    mine = g.matrix(*ps)
    overlap = np.vdot(body.reshape(-1), mine.reshape(-1)) / mine.shape[0]
    assert abs(abs(overlap) - 1) < 1e-10
    np.testing.assert_allclose(body * overlap, mine, atol=1e-10)


def modified(src_line: str, n: int) -> np.ndarray:
    src = f'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[{n}] q;\n{src_line}\n'
    ops = [(i.matrix, i.qubits) for i in load_circuit(src, frontend_text=True).instrs]
    return compose(n, ops)


def op_of(gate: object, n: int) -> np.ndarray:
    qc = QuantumCircuit(n)
    qc.append(gate, list(range(n)))
    return Operator(qc).data


@pytest.mark.parametrize("line,gate,n", [
    ("ctrl @ rx(0.3) q[0], q[1];", lambda: lib.RXGate(0.3).control(1), 2),
    ("ctrl(2) @ h q[0], q[1], q[2];", lambda: lib.HGate().control(2), 3),
    ("ctrl @ ctrl @ x q[0], q[1], q[2];", lambda: lib.CCXGate(), 3),
    ("negctrl @ x q[0], q[1];", lambda: lib.XGate().control(1, ctrl_state=0), 2),
    ("negctrl @ ctrl @ y q[0], q[1], q[2];", lambda: lib.YGate().control(2, ctrl_state=0b10), 3),
    ("inv @ s q[0];", lambda: lib.SdgGate(), 1),
    ("inv @ u3(0.1, 0.2, 0.3) q[0];", lambda: lib.U3Gate(0.1, 0.2, 0.3).inverse(), 1),
    ("pow(2) @ t q[0];", lambda: lib.SGate(), 1),
    ("pow(0.5) @ x q[0];", lambda: lib.SXGate(), 1),
    ("pow(-1) @ sx q[0];", lambda: lib.SXdgGate(), 1),
    ("inv @ ctrl @ p(0.7) q[0], q[1];", lambda: lib.CPhaseGate(-0.7), 2),
    ("ctrl @ gphase(0.4) q[0];", lambda: lib.PhaseGate(0.4), 1),
    ("ctrl @ swap q[0], q[1], q[2];", lambda: lib.CSwapGate(), 3),
    ("U(0.1, 0.2, 0.3) q[0];", lambda: lib.UGate(0.1, 0.2, 0.3), 1),
])
def test_modifiers_match_qiskit(line, gate, n):
    np.testing.assert_allclose(modified(line, n), op_of(gate(), n), atol=1e-10)


def test_gphase_is_a_global_phase():
    m = modified("gphase(0.3); h q[0];", 1)
    np.testing.assert_allclose(m, np.exp(0.3j) * op_of(lib.HGate(), 1), atol=1e-12)


def test_modifiers_on_a_custom_gate():
    src_gate = "gate g(t) a, b { rx(t) a; cx a, b; }\n"
    sub = QuantumCircuit(2)
    sub.rx(0.5, 0)
    sub.cx(0, 1)
    want = op_of(sub.to_gate().control(1).inverse(), 3)
    np.testing.assert_allclose(modified(src_gate + "inv @ ctrl @ g(0.5) q[0], q[1], q[2];", 3),
                               want, atol=1e-10)


def test_controlled_puts_controls_first():
    # controls are the low bits: CX with control operand 0 flips bit 1 when bit 0 is set
    cx = controlled(np.array([[0, 1], [1, 0]]), 1)
    assert cx[3, 1] == 1 and cx[1, 3] == 1 and cx[0, 0] == 1 and cx[2, 2] == 1

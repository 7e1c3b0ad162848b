"""OpenQASM language features, checked on the lowered circuit and the graph (no Qiskit needed):
broadcast, ranges, includes, expressions, builtins, declarations, the graph's shape."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dlc.frontends.qasm import import_qasm, load_circuit
from dlc.frontends.qasm.gates import GATES
from dlc.frontends.qasm.lower import Cond, Gate, Measure, Reset
from dlc.ir import DType, TensorType

H2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
H3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'


def instrs(src: str) -> list:
    return load_circuit(src, frontend_text=True).instrs


def gates(src: str) -> list[tuple[str, tuple[int, ...]]]:
    """(library name, qubits) of each gate, found by matching matrices."""
    out = []
    for i in instrs(src):
        assert isinstance(i, Gate)
        name = next(n for n, g in GATES.items() if n.islower() and g.num_qubits ==
                    len(i.qubits) and g.num_params == 0 and np.allclose(g.matrix(), i.matrix))
        out.append((name, i.qubits))
    return out


def test_register_broadcast():
    src = H2 + "qreg a[2];\nqreg b[2];\nh a;\ncx a, b;\ncx a[0], b;\n"
    assert gates(src) == [("h", (0,)), ("h", (1,)), ("cx", (0, 2)), ("cx", (1, 3)),
                          ("cx", (0, 2)), ("cx", (0, 3))]


def test_measure_broadcast_and_arrow_forms():
    for body in ("measure q -> c;\n", "c = measure q;\n"):
        src = (H3 if "=" in body else H2) + "qreg q[2];\ncreg c[2];\n" + body
        assert instrs(src) == [Measure(0, ("c", 0)), Measure(1, ("c", 1))]


def test_qasm3_ranges_and_negative_indices():
    src = H3 + "qubit[5] q;\nx q[1:3];\nh q[0:2:4];\nz q[-1];\n"
    assert gates(src) == [("x", (1,)), ("x", (2,)), ("x", (3,)), ("h", (0,)), ("h", (2,)),
                          ("h", (4,)), ("z", (4,))]


def test_builtins_need_no_include():
    src = "OPENQASM 2.0;\nqreg q[2];\nU(pi, 0, pi) q[0];\nCX q[0], q[1];\n"
    a, b = instrs(src)
    np.testing.assert_allclose(a.matrix, GATES["x"].matrix(), atol=1e-15)
    np.testing.assert_allclose(b.matrix, GATES["cx"].matrix())


def test_user_gates_may_take_library_names_without_the_include():
    src = "OPENQASM 2.0;\nqreg q[1];\ngate h a { U(pi/2, 0, pi) a; }\nh q[0];\n"
    np.testing.assert_allclose(instrs(src)[0].matrix, GATES["h"].matrix(), atol=1e-15)


def test_custom_gates_inline_with_parameters():
    src = H2 + ("gate inner(a) x { rz(a/2) x; }\n"
                "gate outer(t, u) x, y { inner(t*u) y; cx x, y; barrier x, y; }\n"
                "qreg q[3];\nouter(0.5, 2) q[2], q[0];\n")
    first, second = instrs(src)
    assert first.qubits == (0,) and second.qubits == (2, 0)
    np.testing.assert_allclose(first.matrix, GATES["rz"].matrix(0.5))


@pytest.mark.parametrize("expr,value", [
    ("pi/2", math.pi / 2), ("-pi", -math.pi), ("2*pi/3 - 1", 2 * math.pi / 3 - 1),
    ("sin(pi/6)", 0.5), ("cos(0)", 1.0), ("sqrt(4)^2", 4.0), ("exp(ln(3))", 3.0),
    ("tan(0.3)", math.tan(0.3)), ("1e-2", 0.01), (".5", 0.5), ("-(1+2)*3", -9.0),
    ("2^3^2", 2.0 ** 9),
])
def test_qasm2_expressions(expr, value):
    (g,) = instrs(H2 + f"qreg q[1];\nu1({expr}) q[0];\n")
    assert np.angle(g.matrix[1, 1]) == pytest.approx(math.remainder(value, 2 * math.pi))


@pytest.mark.parametrize("expr,value", [
    ("π/4", math.pi / 4), ("tau/8", math.tau / 8), ("2**3", 8.0), ("arcsin(1)", math.pi / 2),
    ("7 % 4", 3.0), ("euler", math.e),
])
def test_qasm3_expressions(expr, value):
    (g,) = instrs(H3 + f"qubit q;\np({expr}) q;\n")
    assert np.angle(g.matrix[1, 1]) == pytest.approx(math.remainder(value, 2 * math.pi))


def test_qasm3_declarations_and_statements_that_do_nothing():
    src = H3 + ("/* block\n comment */\nqubit a;\nqreg b[2];\nbit x;\ncreg y[2];\n"
                "barrier;\nbarrier a, b;\ndelay[100dt] a;\nx a;\nx = measure a;\n"
                "y = measure b;\nmeasure b[0];\n")
    c = load_circuit(src, frontend_text=True)
    assert c.num_qubits == 3 and c.cregs == {"x": 1, "y": 2}
    assert [type(i).__name__ for i in c.instrs] == ["Gate"] + ["Measure"] * 4
    assert c.instrs[-1] == Measure(1, None)


def test_zero_qubit_gates_and_gphase():
    src = H3 + "gate global_phase(p0) {\n}\nqubit[1] q;\nglobal_phase(0.5) ;\ngphase(0.25);\n"
    (g,) = instrs(src)
    assert g.qubits == () and g.matrix[0, 0] == pytest.approx(np.exp(0.25j))


def test_hardware_qubits():
    c = load_circuit(H3 + "x $2;\ncx $0, $2;\n", frontend_text=True)
    assert c.num_qubits == 3 and [i.qubits for i in c.instrs] == [(2,), (0, 2)]


def test_headerless_text_is_openqasm3():
    c = load_circuit('include "stdgates.inc";\nqubit[2] q;\nh q[0];\n', frontend_text=True)
    assert c.num_qubits == 2


def test_opaque_gates_may_be_declared():
    assert instrs(H2 + "opaque magic(a) q;\nqreg q[1];\nx q[0];\n")[0].qubits == (0,)


def test_conditions_are_instructions():
    got = instrs(H2 + "qreg q[1];\ncreg c[2];\nx q[0];\nif(c==2) x q[0];\n"
                      "if(c==1) reset q[0];\n")
    assert isinstance(got[1], Cond) and got[1].sources == (("c", 0), ("c", 1))
    assert got[1].value == 2 and got[2].cond == got[1].id
    assert isinstance(got[4], Reset) and got[4].cond == got[3].id


def test_includes_are_found_next_to_the_file(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "mine.inc").write_text('include "more.inc";\ngate twice a { flip a; '
                                               'flip a; }\n')
    (tmp_path / "lib" / "more.inc").write_text("gate flip a { x a; }\n")
    main = tmp_path / "main.qasm"
    main.write_text(H2 + 'include "lib/mine.inc";\ninclude "qelib1.inc";\nqreg q[1];\n'
                    'twice q[0];\n')
    g = import_qasm(main)
    assert sum(n.op == "ApplyGate" for n in g.nodes) == 2


def test_graph_shape_and_names():
    src = H2 + "qreg q[3];\ncreg c[2];\ncreg state[1];\nh q[0];\nh q[1];\nh q[0];\n" \
               "measure q[0] -> c[1];\nreset q[1];\n"
    g = import_qasm(src, frontend_text=True, filename="bell.qasm")
    assert g.name == "bell"
    assert [n.op for n in g.nodes] == ["InitState", "ApplyGate", "ApplyGate", "ApplyGate",
                                       "Measure", "Reset", "PackBits", "PackBits"]
    assert [v.name for v in g.inputs] == ["rand"]
    assert g.inputs[0].type == TensorType(DType.F64, (2,))
    assert [v.name for v in g.outputs] == ["state_", "c", "state"]
    assert g.outputs[0].type == TensorType(DType.C64, (2, 2, 2))
    assert g.outputs[1].type == TensorType(DType.BOOL, (2,))
    # one constant per distinct gate matrix (h is shared), plus the zero bit
    gate_consts = [v for v in g.constants if v.name.startswith("gate")]
    assert len(gate_consts) == 1 and gate_consts[0].type == TensorType(DType.C64, (2, 2))


def test_unitary_graph_has_no_inputs():
    g = import_qasm(H2 + "qreg q[2];\nh q[0];\n", frontend_text=True, precision="double")
    assert g.inputs == [] and g.outputs[0].type == TensorType(DType.C128, (2, 2))

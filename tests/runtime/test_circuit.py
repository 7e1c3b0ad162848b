"""The circuit Module contract: statevector / amplitudes / sample, bit order and counts keys as
Qiskit writes them, terminal vs mid-circuit measurement, and the two samplers agreeing."""
from __future__ import annotations

import numpy as np
import pytest

from dlc.backends.reference import ReferenceExecutor
from dlc.errors import ExecutionError, InputError
from dlc.frontends.qasm import import_qasm
from dlc.runtime.circuit import CircuitModule, circuit_module, register_key, split_terminal

H2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
H3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'


def circuit(src: str, precision: str | None = None) -> CircuitModule:
    graph = import_qasm(src, frontend_text=True, precision=precision)
    return circuit_module(graph, lambda g: ReferenceExecutor(g), "reference")


def tvd(a: dict[str, int], b: dict[str, float]) -> float:
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in set(a) | set(b))


def test_qubit_zero_is_the_least_significant_bit():
    m = circuit(H2 + "qreg q[3];\nx q[0];\n")
    sv = m.statevector()
    assert sv.shape == (8,) and sv.dtype == np.complex64
    assert sv[1] == 1
    assert m.amplitudes(["001", "100"]).tolist() == [1, 0]
    assert m.num_qubits == 3


def test_several_quantum_registers_follow_declaration_order():
    m = circuit(H2 + "qreg a[1];\nqreg b[2];\nx b[1];\n")
    assert m.amplitudes(["100"])[0] == 1


def test_amplitudes_are_phase_exact():
    m = circuit(H2 + "qreg q[2];\nh q[0];\ns q[0];\ncx q[0], q[1];\n")
    np.testing.assert_allclose(m.amplitudes(["00", "11"]), [2 ** -0.5, 1j * 2 ** -0.5],
                               atol=1e-7)


def test_bad_amplitude_keys():
    m = circuit(H2 + "qreg q[2];\n")
    with pytest.raises(InputError, match="'012' must be 2 characters of 0 and 1"):
        m.amplitudes(["012"])
    with pytest.raises(InputError, match="must be 2 characters"):
        m.amplitudes(["0"])


def test_counts_keys_are_qiskits():
    src = H2 + ("qreg q[3];\ncreg a[2];\ncreg b[1];\n"
                "x q[0];\nx q[2];\nmeasure q[0] -> a[1];\nmeasure q[1] -> a[0];\n"
                "measure q[2] -> b[0];\n")
    m = circuit(src)
    assert m.registers == [("a", 2), ("b", 1)]
    # last-declared register first, each register highest bit first
    assert m.sample(shots=10, seed=0) == {"1 10": 10}
    assert register_key([np.array([False, True]), np.array([True])]) == "1 10"


def test_final_measurements_are_ignored_by_statevector():
    m = circuit(H2 + "qreg q[2];\ncreg c[2];\nh q[0];\ncx q[0], q[1];\nmeasure q -> c;\n")
    np.testing.assert_allclose(m.statevector(), [2 ** -0.5, 0, 0, 2 ** -0.5], atol=1e-7)
    counts = m.sample(shots=4000, seed=3)
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 4000
    assert abs(counts["00"] - 2000) < 200


def test_mid_circuit_measurement_is_an_error_for_statevector():
    m = circuit(H2 + "qreg q[1];\ncreg c[1];\nh q[0];\nmeasure q[0] -> c[0];\nh q[0];\n")
    with pytest.raises(ExecutionError, match=r"measurements are all at the end.*qubit 0 is used "
                                             r"after it is measured.*use sample\(\)"):
        m.statevector()
    with pytest.raises(ExecutionError, match="use sample"):
        m.amplitudes(["0"])
    assert sum(m.sample(shots=100, seed=1).values()) == 100


def test_measured_bit_used_as_a_condition_is_an_error_for_statevector():
    m = circuit(H2 + "qreg q[2];\ncreg c[1];\nh q[0];\nmeasure q[0] -> c[0];\n"
                     "if(c==1) x q[1];\n")
    with pytest.raises(ExecutionError, match="a measured bit is used later"):
        m.statevector()


def test_reset_of_a_fresh_qubit_is_dropped_and_a_later_one_is_random():
    assert circuit(H2 + "qreg q[2];\nreset q;\nh q[0];\n").statevector()[1] == pytest.approx(
        2 ** -0.5)
    m = circuit(H2 + "qreg q[1];\ncreg c[1];\nh q[0];\nreset q[0];\nmeasure q[0] -> c[0];\n")
    with pytest.raises(ExecutionError, match="mid-circuit resets"):
        m.statevector()
    assert m.sample(shots=500, seed=2) == {"0": 500}


def test_no_classical_bits_to_sample():
    with pytest.raises(InputError, match="no classical bits"):
        circuit(H2 + "qreg q[1];\nh q[0];\n").sample(shots=10)


def test_unmeasured_bits_read_zero_and_last_write_wins():
    m = circuit(H2 + "qreg q[2];\ncreg c[3];\nx q[1];\nmeasure q[0] -> c[0];\n"
                     "measure q[1] -> c[0];\n")
    assert m.sample(shots=5, seed=0) == {"001": 5}


def test_sample_is_deterministic_given_the_seed():
    src = H2 + "qreg q[3];\ncreg c[3];\nh q;\nmeasure q -> c;\n"
    m = circuit(src)
    assert m.sample(shots=300, seed=7) == m.sample(shots=300, seed=7)
    assert m.sample(shots=300, seed=7) != m.sample(shots=300, seed=8)
    assert m.sample(shots=0, seed=1) == {}


ROT = 0.9  # P(1) = sin^2(0.45)


def test_terminal_and_mid_circuit_samplers_agree():
    base = H2 + f"qreg q[2];\ncreg c[2];\nry({ROT}) q[0];\ncx q[0], q[1];\nry(0.3) q[1];\n" \
                "measure q -> c;\n"
    fast = circuit(base)
    # a condition that reads the measured bits forces shot-by-shot sampling; it never fires
    slow = circuit(base + "if(c==3) x q[0];\n")
    assert isinstance(split_terminal(slow.graph), str)
    assert not isinstance(split_terminal(fast.graph), str)
    sv = fast.statevector()
    exact = {f"{i:02b}": float(abs(sv[i]) ** 2) for i in range(4)}
    for m in (fast, slow):
        counts = m.sample(shots=20000, seed=11)
        assert tvd(counts, exact) < 0.015, counts


def test_branching_sampler_gives_the_right_probability_per_measurement():
    # three mid-circuit measurements in a chain: P(c = 111) = p^3 with p = sin^2(0.45)
    p = np.sin(ROT / 2) ** 2
    src = H3 + "qubit[1] q;\nbit[3] c;\n" + "".join(
        f"ry({ROT}) q[0];\nc[{i}] = measure q[0];\nreset q[0];\n" for i in range(3))
    counts = circuit(src).sample(shots=40000, seed=5)
    exact = {}
    for k in range(8):
        ones = bin(k).count("1")
        exact[f"{k:03b}"] = p ** ones * (1 - p) ** (3 - ones)
    assert tvd(counts, exact) < 0.01, counts


def test_conditional_measure_and_reset_and_blocks():
    src = H3 + ("qubit[2] q;\nbit[2] c;\nx q[0];\nc[0] = measure q[0];\n"
                "if (c[0]) { reset q[0]; x q[1]; c[1] = measure q[1]; }\n"
                "else { c[1] = measure q[0]; }\n")
    assert circuit(src).sample(shots=50, seed=0) == {"11": 50}
    src_else = src.replace("x q[0];\n", "")
    assert circuit(src_else).sample(shots=50, seed=0) == {"00": 50}


def test_condition_is_read_once_at_the_start_of_a_block():
    # the measure inside the block changes c, but the block keeps running
    src = H3 + ("qubit[2] q;\nbit[1] c;\nif (c == 0) { x q[0]; c[0] = measure q[0]; x q[1]; }\n"
                "bit[1] d;\nd[0] = measure q[1];\n")
    assert circuit(src).sample(shots=20, seed=0) == {"1 1": 20}


def test_double_precision_state():
    m = circuit(H2 + "qreg q[2];\nh q[0];\n", precision="double")
    assert m.statevector().dtype == np.complex128


def test_the_module_is_also_a_graph_module():
    m = circuit(H2 + "qreg q[1];\ncreg c[1];\nh q[0];\nmeasure q[0] -> c[0];\n")
    assert m.input_names == ["rand"] and m.output_names == ["state", "c"]
    out = m.run({"rand": np.array([0.99])})
    assert out["c"].tolist() == [False] and abs(out["state"][0]) == pytest.approx(1)
    assert m.kind == "circuit"


MIXED = H3 + ("qubit[3] q;\nbit[2] c;\nbit[1] unused;\nh q[0];\nc[0] = measure q[0];\n"
              "if (c == 1) { x q[1]; }\nreset q[0];\nctrl @ s q[1], q[2];\nc[1] = measure q[1];\n")


def test_circuit_graphs_verify_and_round_trip_as_text():
    from dlc.ir.text import parse_module, print_module
    from dlc.ir.verify import verify
    graph = import_qasm(MIXED, frontend_text=True)
    verify(graph)
    text, consts = print_module(graph)
    again = parse_module(text, consts)
    verify(again)
    m = circuit_module(again, lambda g: ReferenceExecutor(g), "reference")
    assert m.sample(shots=500, seed=9) == circuit(MIXED).sample(shots=500, seed=9)


def test_the_default_passes_keep_a_circuit_a_circuit():
    from dlc.options import CompileOptions
    from dlc.passes import default_pipeline, run_passes
    from dlc.runtime.circuit import is_circuit_graph
    options = CompileOptions()
    for src in (MIXED, H2 + "qreg q[2];\ncreg c[1];\nx q[0];\nif(c==0) h q[1];\n"):
        graph = run_passes(import_qasm(src, frontend_text=True), default_pipeline(options),
                           options)
        assert is_circuit_graph(graph)  # the state chain is not folded away
        m = circuit_module(graph, lambda g: ReferenceExecutor(g), "reference")
        assert m.sample(shots=300, seed=4) == circuit(src).sample(shots=300, seed=4)

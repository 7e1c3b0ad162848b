"""Every bad OpenQASM input gets a ParseError at file:line:col that says what is wrong."""
from __future__ import annotations

import re

import pytest

from dlc.errors import ParseError
from dlc.frontends.qasm import import_qasm

H2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n'   # body starts on line 5
H3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'


def error(src: str) -> ParseError:
    with pytest.raises(ParseError) as e:
        import_qasm(src, frontend_text=True, filename="bad.qasm")
    return e.value


CASES = [
    # (source, line, col, message pattern)
    # syntax
    (H2 + "h q[0]\ncx q[0], q[1];\n", 6, 1, r"unexpected 'cx'; expected one of ',', ';'"),
    (H2 + "h q[0];\n@\n", 6, 1, r"unexpected character '@'"),
    (H2 + "cx q[0],", 5, 9, r"unexpected end of input; expected an identifier"),
    (H2 + "qreg r[-1];\n", 5, 8, r"unexpected '-'; expected an integer"),
    (H3 + "h q[0] q[1];\n", 5, 8, r"unexpected 'q'; expected one of ',', ';'"),
    ("OPENQASM 4.0;\nqreg q[1];\n", 1, 10, r"OpenQASM version 4.0 is not supported"),
    # undefined gate
    (H2 + "foo q[0];\n", 5, 1, r"undefined gate 'foo'"),
    ("OPENQASM 2.0;\nqreg q[1];\nh q[0];\n", 3, 1,
     r"undefined gate 'h' \(it is in qelib1.inc: add include \"qelib1.inc\";\)"),
    ("OPENQASM 3.0;\nqubit q;\nrz(0.1) q;\n", 3, 1, r"undefined gate 'rz' \(it is in stdgates"),
    (H3 + "ctrl @ foo q[0], q[1];\n", 5, 1, r"undefined gate 'foo'"),
    (H2 + "gate g a { nope a; }\n", 5, 12, r"undefined gate 'nope'"),
    (H2 + "opaque g a;\ng q[0];\n", 6, 1, r"gate 'g' is opaque"),
    # undefined register
    (H2 + "h r[0];\n", 5, 3, r"undefined quantum register 'r'"),
    (H2 + "measure q[0] -> d[0];\n", 5, 17, r"undefined classical register 'd'"),
    (H2 + "if(d==1) x q[0];\n", 5, 4, r"undefined classical register 'd'"),
    (H2 + "if(q==1) x q[0];\n", 5, 4, r"'q' is a quantum register; a classical bit"),
    (H2 + "h c[0];\n", 5, 3, r"'c' is a classical register; a qubit is needed"),
    (H3 + "c[0] = measure r[0];\n", 5, 16, r"undefined quantum register 'r'"),
    (H3 + "barrier q[0], r;\n", 5, 15, r"undefined quantum register 'r'"),
    # wrong arity
    (H2 + "cx q[0];\n", 5, 1, r"gate 'cx' takes 2 qubit argument\(s\), got 1"),
    (H2 + "h q[0], q[1];\n", 5, 1, r"gate 'h' takes 1 qubit argument\(s\), got 2"),
    (H2 + "rx q[0];\n", 5, 1, r"gate 'rx' takes 1 parameter\(s\), got 0"),
    (H2 + "u3(1, 2) q[0];\n", 5, 1, r"gate 'u3' takes 3 parameter\(s\), got 2"),
    (H2 + "gate g(a, b) x { U(a, b, 0) x; }\ng(1) q[0];\n", 6, 1,
     r"gate 'g' takes 2 parameter\(s\), got 1"),
    (H2 + "gate g a, b { cx a; }\n", 5, 15, r"gate 'cx' takes 2 qubit argument\(s\), got 1"),
    (H3 + "ctrl @ h q[0];\n", 5, 1, r"gate 'h' takes 2 qubit argument\(s\), got 1"),
    (H3 + "ctrl(0) @ h q[0];\n", 5, 6, r"number of controls must be a positive integer"),
    (H2 + "cx q[0], q[0];\n", 5, 1, r"gate 'cx' is given the same qubit more than once"),
    (H2 + "qreg r[3];\ncx q, r;\n", 6, 1, r"registers of different sizes \('q' has 2, 'r' has 3\)"),
    (H2 + "measure q -> c[0];\n", 5, 1, r"must both be registers or both be single"),
    (H2 + "creg d[3];\nmeasure q -> d;\n", 6, 1, r"'q' has 2 qubit\(s\) but 'd' has 3 bit"),
    # index out of range
    (H2 + "h q[2];\n", 5, 3, r"index 2 is out of range for quantum register 'q' of size 2"),
    (H2 + "measure q[0] -> c[5];\n", 5, 17,
     r"index 5 is out of range for classical register 'c' of size 2"),
    (H3 + "h q[0:2];\n", 5, 3, r"index 2 is out of range for quantum register 'q' of size 2"),
    (H3 + "x q[-3];\n", 5, 3, r"index -3 is out of range"),
    (H3 + "h q[0.5];\n", 5, 5, r"index must be an integer, got 0.5"),
    # names and definitions
    (H2 + "qreg q[3];\n", 5, 1, r"register 'q' is already declared"),
    (H2 + "qreg e[0];\n", 5, 1, r"register 'e' must have at least one qubit"),
    (H2 + "gate h a { x a; }\n", 5, 6, r"gate 'h' is already defined"),
    (H2 + "gate g(t) a { rx(s) a; }\n", 5, 18, r"undefined identifier 's' in gate 'g'"),
    (H2 + "gate g a { x b; }\n", 5, 14, r"undefined qubit 'b' in gate 'g'"),
    (H2 + "gate g a { x a[0]; }\n", 5, 14, r"inside gate 'g' are names, not indexed"),
    (H2 + "gate g a, a { x a; }\n", 5, 6, r"gate 'g' repeats qubit argument 'a'"),
    (H2 + "rx(theta) q[0];\n", 5, 4, r"undefined identifier 'theta' in expression"),
    (H2 + "rx(foo(1)) q[0];\n", 5, 4, r"unknown function 'foo'"),
    (H2 + "rx(1/0) q[0];\n", 5, 4, r"cannot compute 1.0 / 0.0"),
    (H2 + "rx(ln(-1)) q[0];\n", 5, 4, r"ln\(-1.0\) is undefined"),
    (H2 + 'include "missing.inc";\n', 5, 1, r"cannot find include file 'missing.inc'"),
    (H3 + "if (c == 1) { qubit r; }\n", 5, 15, r"only allowed at the top level"),
    (H3 + "if (c == -1) x q[0];\n", 5, 10, r"non-negative integer"),
    (H3 + "x $0;\n", 5, 3, r"cannot use hardware qubits in a program that declares qubits"),
    ('OPENQASM 3;\ninclude "stdgates.inc";\nqubit q;\nx q[0];\n', 4, 3,
     r"'q' is a single qubit and cannot be indexed"),
]


@pytest.mark.parametrize("src,line,col,pattern", CASES, ids=[c[3][:40] for c in CASES])
def test_bad_input_message(src, line, col, pattern):
    e = error(src)
    assert (e.file, e.line, e.col) == ("bad.qasm", line, col), str(e)
    assert str(e).startswith(f"bad.qasm:{line}:{col}: "), str(e)
    assert re.search(pattern, str(e)), str(e)
    # the message quotes the offending line and points at the column
    text_line = src.splitlines()[line - 1]
    assert e.source_line == text_line
    assert str(e).endswith(" " * (4 + col - 1) + "^")


def test_errors_in_an_included_file_name_that_file(tmp_path):
    inc = tmp_path / "mygates.inc"
    inc.write_text("gate g a {\n  h a;\n  zz a;\n}\n")
    main = tmp_path / "main.qasm"
    main.write_text(H2 + 'include "mygates.inc";\ng q[0];\n')
    with pytest.raises(ParseError) as e:
        import_qasm(main)
    assert e.value.file == str(inc.resolve()) and (e.value.line, e.value.col) == (3, 3)
    assert "undefined gate 'zz'" in str(e.value)


def test_file_name_defaults_to_the_path(tmp_path):
    p = tmp_path / "x.qasm"
    p.write_text(H2 + "foo q[0];\n")
    with pytest.raises(ParseError, match=r"x\.qasm:5:1: undefined gate 'foo'"):
        import_qasm(p)


def test_text_without_filename_says_input():
    with pytest.raises(ParseError, match=r"^<input>:5:1: undefined gate"):
        import_qasm(H2 + "foo q[0];\n", frontend_text=True)

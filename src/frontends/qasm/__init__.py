"""The OpenQASM frontend: OpenQASM 2.0 (with Qiskit's qelib1.inc built in) and the OpenQASM 3
that circuits use (stdgates.inc, gate modifiers, gphase, if/else) into a dlc Graph.

    graph = import_qasm("bell.qasm")                       # a file
    graph = import_qasm(text, frontend_text=True)          # source text
    graph = import_qasm(path, precision="double")          # complex128 state

parse (text -> syntax tree) -> lower (checks, inlining -> Circuit) -> build (Circuit -> Graph).
The graph's inputs and outputs are described in build.py.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import DlcError
from ...ir import DType, Graph
from .build import RAND_INPUT, build_graph
from .lower import Circuit, lower
from .parser import parse

__all__ = ["RAND_INPUT", "Circuit", "import_qasm", "load_circuit", "parse", "state_dtype"]

DOUBLE = ("double", "f64", "c128", "complex128")


def state_dtype(precision: str | None) -> DType:
    """complex64 by default; precision="double" (or f64/c128) gives complex128."""
    if precision is None or precision in ("single", "f32", "c64", "complex64"):
        return DType.C64
    if precision in DOUBLE:
        return DType.C128
    raise DlcError(f"precision '{precision}' does not apply to circuits; use 'single' or "
                   "'double'")


def _read(src: str | Path, frontend_text: bool | None, filename: str | None,
          base_dir: str | Path | None = None) -> tuple[str, str | None, Path | None]:
    is_text = frontend_text if frontend_text is not None else (
        isinstance(src, str) and ("\n" in src or ";" in src))
    if is_text:
        base = Path(base_dir) if base_dir else Path(filename).parent if filename else None
        return str(src), filename, base
    path = Path(src)
    if not path.is_file():
        raise DlcError(f"{path}: no such file")
    return path.read_text(encoding="utf-8"), filename or str(path), path.parent


def load_circuit(src: str | Path, *, frontend_text: bool | None = None,
                 filename: str | None = None, base_dir: str | Path | None = None) -> Circuit:
    """Parse and check OpenQASM into the flat Circuit form (before it becomes a Graph)."""
    text, name, base = _read(src, frontend_text, filename, base_dir)
    return lower(parse(text, name), base)


def import_qasm(src: str | Path, *, frontend_text: bool | None = None,
                filename: str | None = None, precision: str | None = None,
                base_dir: str | Path | None = None) -> Graph:
    """OpenQASM 2/3 (a path, or source text) as a Graph.

    `frontend_text`: True when `src` is source text, False when it is a path, None to guess (text
    has a newline or a ';'). `filename` names the text in error messages; relative includes are
    looked up in `base_dir`, else next to the file (or `filename`). `precision`: None/"single"
    for complex64, "double" for complex128. Errors in the input raise dlc.errors.ParseError with
    file:line:col.
    """
    text, name, base = _read(src, frontend_text, filename, base_dir)
    circuit = lower(parse(text, name), base)
    graph_name = Path(name).stem if name else "circuit"
    return build_graph(circuit, state_dtype(precision), graph_name or "circuit")

"""The OpenCL C / CUDA C frontend: kernels into dlc's Kernel IR.

    kernels = import_kernels(source_text, language="opencl")
    kernels = import_kernels(Path("saxpy.cu"), language="cuda", defines={"N": 64})

preprocess.py (dlc's own preprocessor) -> parser.py (lark grammar c.lark, ast.py) -> lower.py
(type checking with C's conversions, helpers inlined; lower_expr/lower_stmt/builtins) -> one
verified Kernel per __kernel / __global__ function. How C maps to the IR is written down in
/work/briefs/kernel_contract.md.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import DlcError
from ...ir.kernel import Kernel
from .lexer import Pos, Source
from .lower import lower_unit
from .parser import parse
from .preprocess import Preprocessor

__all__ = ["LANGUAGES", "import_kernels", "preprocess"]

LANGUAGES = ("opencl", "cuda")


def _define_text(value: Any) -> str:
    if value is True or value is None:
        return "1"
    if value is False:
        return "0"
    return str(value)


def _read(src: str | Path, filename: str | None,
          base_dir: str | Path | None) -> tuple[str, str | None, Path | None]:
    if isinstance(src, Path) or (isinstance(src, str) and "\n" not in src and
                                 src.endswith((".cl", ".cu", ".cuh", ".h"))):
        path = Path(src)
        if not path.is_file():
            raise DlcError(f"{path}: no such file")
        base = Path(base_dir) if base_dir else path.parent
        return path.read_text(encoding="utf-8"), filename or str(path), base
    text_base = Path(base_dir) if base_dir else Path(filename).parent if filename else None
    return str(src), filename, text_base


def preprocess(src: str | Path, *, language: str = "opencl", filename: str | None = None,
               defines: Mapping[str, Any] | None = None,
               base_dir: str | Path | None = None) -> str:
    """The preprocessed source as text (what `dlc inspect` may show; tests read it)."""
    text, name, base = _read(src, filename, base_dir)
    pp = Preprocessor(language, {k: _define_text(v) for k, v in (defines or {}).items()}, base)
    return " ".join(t.text for t in pp.run(text, name))


def import_kernels(src: str | Path, *, language: str = "opencl", filename: str | None = None,
                   defines: Mapping[str, Any] | None = None,
                   base_dir: str | Path | None = None) -> list[Kernel]:
    """One Kernel per __kernel (OpenCL) / __global__ (CUDA) function of the source (a path or
    source text), in source order. `defines` are -D macros; #include "x" is found next to the
    including file, then in base_dir (source text: base_dir, or filename's directory)."""
    if language not in LANGUAGES:
        raise DlcError(f"unknown kernel language '{language}'; use 'opencl' or 'cuda'")
    text, name, base = _read(src, filename, base_dir)
    pp = Preprocessor(language, {k: _define_text(v) for k, v in (defines or {}).items()}, base)
    toks = pp.run(text, name)
    source = Source(name, text)
    lines = text.splitlines() or [""]
    eof = Pos(source, len(lines), len(lines[-1]) + 1)
    unit = parse(toks, language, eof)
    return lower_unit(unit, language)

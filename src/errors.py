"""Typed errors that carry what a user needs to fix the input.

Every error dlc raises on purpose derives from DlcError; the CLI prints its message and exits
non-zero without a traceback (unless --debug).
"""
from __future__ import annotations


class DlcError(Exception):
    """Base of every error dlc raises on purpose."""

    exit_code = 1


class ParseError(DlcError):
    """Syntax error in an input file, with its position."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 col: int | None = None, source_line: str | None = None):
        self.file, self.line, self.col, self.source_line = file, line, col, source_line
        where = f"{file or '<input>'}:{line}:{col}: " if line is not None else ""
        text = f"{where}{message}"
        if source_line is not None and col is not None:
            text += f"\n    {source_line.rstrip()}\n    {' ' * max(col - 1, 0)}^"
        super().__init__(text)


class InvalidModel(DlcError):
    """A model file that cannot be read: not ONNX, truncated, inconsistent."""


class UnsupportedOp(DlcError):
    """An op, op version or construct dlc does not implement (for a target)."""

    def __init__(self, message: str, op: str | None = None, node: str | None = None,
                 target: str | None = None):
        self.op, self.node, self.target = op, node, target
        super().__init__(message)


class ShapeError(DlcError):
    """Shapes or dtypes that do not fit an op's rule."""


class VerifyError(DlcError):
    """An IR invariant does not hold; the message names the node."""


class InputError(DlcError):
    """Arguments given to a compiled module do not fit it (missing, wrong shape or dtype)."""


class ArtifactError(DlcError):
    """A saved module that cannot be loaded (format version, target, missing files)."""


class SecurityError(DlcError):
    """An input file asks for something outside what it may touch (e.g. external data paths)."""


class ExecutionError(DlcError):
    """A run failed at run time (out-of-bounds access, barrier divergence, ...)."""

"""The op table. Importing this package declares every op (one module per op family)."""
from . import elementwise  # noqa: F401
from .registry import OPS, InferCtx, OpDef, RefCtx, lookup, op

__all__ = ["OPS", "InferCtx", "OpDef", "RefCtx", "lookup", "op"]

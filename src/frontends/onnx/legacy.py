"""Adapters for older versions of ops, one module per op family (as the op table)."""
from . import (
    legacy_elementwise,  # noqa: F401
    legacy_misc,  # noqa: F401
    legacy_nn,  # noqa: F401
    legacy_quant,  # noqa: F401
    legacy_reduce,  # noqa: F401
    legacy_shape,  # noqa: F401
)

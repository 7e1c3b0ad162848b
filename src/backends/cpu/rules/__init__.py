"""The cpu backend's explicit lowering rules: kernels for ops the op table gives no compute
definition (or a definition that does not cover some attributes or dtypes).

One module per op family; each registers its rules with `lowering_rules("cpu")` when imported,
and every module of this package is imported with it, so adding a family is adding a file.
"""
from __future__ import annotations

import importlib
import pkgutil

from ....passes import lowering_rules

RULES = lowering_rules("cpu")

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")

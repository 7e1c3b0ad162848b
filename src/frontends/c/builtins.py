"""The builtin functions of OpenCL C and CUDA C, by name: a table of handlers that map a call
to Kernel IR (see /work/briefs/kernel_contract.md). Work-items, barriers, atomics and warp ops are
in builtins_spmd.py; math, conversions and vector helpers in builtins_math.py."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ...ir.kernel import I32, Const
from . import ast as A
from .ctype import INT
from .scope import unsupported
from .values import RV, Obj

if TYPE_CHECKING:
    from .lower import KernelLowerer

Handler = Callable[["KernelLowerer", str, A.Call, bool], Obj]
VOID = RV(INT, Const(0, I32))
TABLE: dict[str, Handler] = {}


def builtin(*names: str) -> Callable[[Handler], Handler]:
    def reg(fn: Handler) -> Handler:
        for n in names:
            TABLE[n] = fn
        return fn
    return reg


def call_builtin(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    from . import builtins_spmd  # noqa: F401 - registers its handlers
    from .builtins_math import pattern_builtin
    h = TABLE.get(name)
    if h is None:
        h = pattern_builtin(name)
    if h is None:
        if name == "printf":
            raise unsupported(e.pos, "printf is not supported in kernels")
        raise e.pos.error(f"unknown function '{name}' (not declared in the source and not "
                          f"{'an OpenCL C' if lw.language == 'opencl' else 'a CUDA'} builtin)")
    return h(lw, name, e, discard)


def nargs(e: A.Call, name: str, *counts: int) -> list[A.Expr]:
    if len(e.args) not in counts:
        want = " or ".join(str(c) for c in counts)
        raise e.pos.error(f"{name} takes {want} argument(s), got {len(e.args)}")
    return list(e.args)



"""Helpers of the C frontend tests: compile source text into a KernelModule on the reference
target, and run a one-work-item kernel that stores results."""
from __future__ import annotations

from typing import Any

import numpy as np

from dlc.frontends.c import import_kernels
from dlc.ir.kernel import Kernel
from dlc.ir.text import parse_kernel, print_kernel
from dlc.runtime import KernelModule


def kernels(src: str, lang: str = "opencl", **kw: Any) -> list[Kernel]:
    return import_kernels(src, language=lang, **kw)


def module(src: str, lang: str = "opencl", **kw: Any) -> KernelModule:
    """The kernels of src on the reference target; each must also survive the IR text round
    trip (what saving a module does)."""
    ks = import_kernels(src, language=lang, **kw)
    for k in ks:
        assert parse_kernel(print_kernel(k)) == k, print_kernel(k)
    return KernelModule(ks, language=lang)


def outputs(body: str, n: int, dtype: Any = np.int32, lang: str = "opencl",
            prelude: str = "") -> np.ndarray:
    """Run `body` once (one work-item) in a kernel with `out`, an array of n values of dtype."""
    ctype = {np.int32: "int", np.float32: "float", np.float64: "double", np.uint32: "uint",
             np.int64: "long"}[dtype]
    if lang == "cuda":
        ctype = {"uint": "unsigned", "long": "long long"}.get(ctype, ctype)
        src = f"{prelude}\nextern \"C\" __global__ void k({ctype}* out) {{\n{body}\n}}\n"
    else:
        src = f"{prelude}\n__kernel void k(__global {ctype}* out) {{\n{body}\n}}\n"
    out = np.zeros(n, dtype)
    module(src, lang)["k"](out, global_size=(1,), local_size=(1,))
    return out

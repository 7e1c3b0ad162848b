"""Shared by the cpu backend's tests: run a kernel natively and in the reference interpreter on
copies of the same inputs, and compare what each wrote."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ml_dtypes
import numpy as np

from dlc.backends.cpu import CompiledKernel, compile_kernel
from dlc.ir.kernel import Kernel
from dlc.ir.kernel.interpret import run_kernel


def copies(args: Sequence[Any]) -> list[Any]:
    return [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]


def run_native(ck: CompiledKernel, args: Sequence[Any], global_size: Any = None,
               local_size: Any = None) -> list[Any]:
    out = copies(args)
    if ck.kernel.is_spmd:
        ck.launch(out, global_size, local_size)
    else:
        ck.run(out)
    return out


def run_reference(k: Kernel, args: Sequence[Any], global_size: Any = None,
                  local_size: Any = None) -> list[Any]:
    out = copies(args)
    run_kernel(k, out, global_size, local_size)
    return out


def same(a: np.ndarray, b: np.ndarray, rtol: float = 0.0, atol: float = 0.0,
         what: str = "") -> None:
    """Equal arrays (NaN equals NaN, -0.0 equals 0.0), or close ones when rtol/atol are given."""
    a, b = _comparable(np.asarray(a)), _comparable(np.asarray(b))
    if rtol or atol:
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                   rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def _comparable(a: np.ndarray) -> np.ndarray:
    """numpy's comparisons know NaN only for its own float types: bfloat16 as float32."""
    return a.astype(np.float32) if a.dtype == ml_dtypes.bfloat16 else a


def differential(k: Kernel, args: Sequence[Any], global_size: Any = None, local_size: Any = None,
                 ck: CompiledKernel | None = None, rtol: float = 0.0,
                 atol: float = 0.0) -> list[Any]:
    """Run `k` both ways; every array argument must end up the same. Returns the native run's
    arguments."""
    ck = ck or compile_kernel(k)
    got = run_native(ck, args, global_size, local_size)
    want = run_reference(k, args, global_size, local_size)
    for p, g, w in zip(k.params, got, want):
        if isinstance(g, np.ndarray):
            same(g, w, rtol, atol, f"kernel {k.name}, buffer {p.name}")
    return got

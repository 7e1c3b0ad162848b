"""Kernel timings of a graph program built for profiling (`compile_graph(..., profile=True)`):
its `dlc_graph` calls `dlc_profile(i)` before kernel call i and `dlc_profile(n)` after the last,
a ctypes callback (bound like dlc_parallel_for) that stamps the time. Kernel i took the time
between stamps i and i + 1, memory copies of its read-write buffers included.

    program = compile_graph(lowered, target, profile=True)
    seconds = kernel_times(program, inputs, repeat=10)   # median per kernel call
"""
from __future__ import annotations

import ctypes
import functools
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

PROFILE = "dlc_profile"  # void(i64 index)
CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int64)

_lock = threading.Lock()  # one recording at a time: the stamps are global
_stamps: list[tuple[int, int]] = []


def _stamp(i: int) -> None:
    _stamps.append((i, time.perf_counter_ns()))


_callback = CALLBACK(_stamp)
_ADDRESS: int = ctypes.cast(_callback, ctypes.c_void_p).value  # type: ignore[assignment]


@functools.cache
def bind_profile_symbol() -> None:
    """Make `dlc_profile` resolvable by code the JIT links from now on."""
    from .jit import llvm_binding
    llvm_binding().add_symbol(PROFILE, _ADDRESS)


def _overhead_ns() -> float:
    """What one stamp costs (a native-to-Python call and back), taken off each kernel's time."""
    fn = CALLBACK(_ADDRESS)
    runs = []
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(200):
            fn(0)
        runs.append((time.perf_counter_ns() - t0) / 200)
    _stamps.clear()
    return float(np.median(runs))


def kernel_times(program: Any, inputs: Sequence[Any], repeat: int = 10,
                 warmup: int = 1) -> tuple[list[float], float]:
    """Seconds of every kernel call of `program` (a GraphProgram compiled with profile=True),
    the median over `repeat` runs after `warmup` untimed ones, and the median total run time."""
    n = len(program.graph.nodes)
    per_run: list[list[float]] = []
    totals: list[float] = []
    with _lock:
        cost = _overhead_ns()
        for r in range(warmup + max(1, repeat)):
            _stamps.clear()
            t0 = time.perf_counter()
            program.run(inputs)
            total = time.perf_counter() - t0
            stamps = [t for _, t in _stamps]
            if len(stamps) != n + 1:
                raise RuntimeError(f"profiling: {len(stamps)} stamps for {n} kernel calls (was "
                                   "the program compiled with profile=True?)")
            if r >= warmup:
                per_run.append([max(0.0, (b - a - cost) * 1e-9)
                                for a, b in zip(stamps, stamps[1:])])
                totals.append(total)
        _stamps.clear()
    return [float(x) for x in np.median(np.array(per_run), axis=0)], float(np.median(totals))

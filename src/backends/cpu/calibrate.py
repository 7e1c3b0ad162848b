"""The host's roofline, measured once per process: the core clock from a chain of dependent
integer adds (one cycle each on every x86 core, timed in this thread's CPU time so that other
jobs on a shared machine do not lower it), and memory bandwidth from a copy kernel over
arrays much larger than the last-level cache (STREAM's convention: bytes read plus written).
The peak FLOP rate follows from the clock with the cost model's formula (passes/cost.py).

    roof = host_roofline()        # Roofline(peak_flops, bandwidth)
"""
from __future__ import annotations

import ctypes
import functools
import re
import time
from pathlib import Path

import numpy as np
from llvmlite import ir

from ...passes.cost import Roofline, peak_flops
from . import lltypes as T
from .jit import compile_ir
from .target import CpuTarget, host_target

_ADDS_PER_ITER = 100
_CHAIN = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)
_COPY = """
kernel @dlc_calibrate_copy(%n: i64, %x: f32* global r, %y: f32* global w) {
  parallel for %o: i64 in 0 to %n step 65536 {
    vectorized for %i: i64 in %o to min(%o + 65536, %n) { %y[%i] = %x[%i] }
  }
}"""


def _chain_ir(target: CpuTarget) -> str:
    from .jit import data_layout
    mod = ir.Module("dlc_calibrate")
    mod.triple, mod.data_layout = target.triple, data_layout(target)
    fn = ir.Function(mod, ir.FunctionType(T.I64, [T.I64]), "dlc_calibrate_chain")
    entry, loop, done = (fn.append_basic_block(n) for n in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(T.I64)
    acc = b.phi(T.I64)
    i.add_incoming(ir.Constant(T.I64, 0), entry)
    acc.add_incoming(fn.args[0], entry)
    add = ir.InlineAsm(ir.FunctionType(T.I64, [T.I64]), "addq $$1, $0", "=r,0,~{flags}")
    x: ir.Value = acc
    for _ in range(_ADDS_PER_ITER):  # each add waits for the one before: one per cycle
        x = b.call(add, [x])
    nxt = b.add(i, ir.Constant(T.I64, 1))
    i.add_incoming(nxt, loop)
    acc.add_incoming(x, loop)
    b.cbranch(b.icmp_signed("<", nxt, fn.args[0]), loop, done)
    b.position_at_end(done)
    b.ret(x)
    return str(mod)


def _cpuinfo_ghz() -> float | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)]
    return max(mhz) / 1e3 if mhz else None


@functools.cache
def measure_ghz() -> float:
    """The clock the cores run at under load, in GHz (from /proc/cpuinfo off x86)."""
    target = host_target()
    if not target.triple.startswith(("x86_64", "i686", "i386")):
        return _cpuinfo_ghz() or 2.0
    from .jit import llvm_binding
    llvm_binding().initialize_native_asmparser()  # for the inline assembly
    engine, _ = compile_ir(_chain_ir(target), target, 1)
    chain = _CHAIN(engine.address("dlc_calibrate_chain"))
    iters = 200_000
    chain(1000)  # warm up: the clock ramps up under load
    best = float("inf")
    for _ in range(5):  # CPU time of this thread: a busy machine's time slicing does not count
        t0 = time.thread_time()
        chain(iters)
        best = min(best, time.thread_time() - t0)
    return iters * _ADDS_PER_ITER / best / 1e9


@functools.cache
def measure_bandwidth(mib: int = 128) -> float:
    """Memory bandwidth in bytes per second: the best of a few copies of `mib` MiB on every
    core (bytes read plus bytes written)."""
    from ...ir.text import parse_kernel
    from . import compile_kernel
    kernel = compile_kernel(parse_kernel(_COPY))
    n = mib * (1 << 20) // 4
    x = np.ones(n, np.float32)
    y = np.zeros(n, np.float32)
    kernel.run([n, x, y])  # first touch of y's pages
    best = float("inf")
    for _ in range(4):
        t0 = time.perf_counter()
        kernel.run([n, x, y])
        best = min(best, time.perf_counter() - t0)
    return 2 * x.nbytes / best


@functools.cache
def host_roofline() -> Roofline:
    """Peak FLOP/s (f32, every core, 2 FMA units where the CPU has FMA) and bandwidth."""
    target = host_target()
    fma = 2 if "fma" in target.feature_set or "avx512f" in target.feature_set else 1
    return Roofline(peak_flops(target, measure_ghz(), fma), measure_bandwidth())

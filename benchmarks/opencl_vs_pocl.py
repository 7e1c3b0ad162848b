"""The OpenCL C kernels of tests/kernels on dlc's cpu target against the same source run by PoCL
through pyopencl (the peer), measured in the same run.

    python benchmarks/opencl_vs_pocl.py [--repeat 20] [NAME ...]

Per-call wall time with the copies on both sides: dlc's KernelModule copies the numpy arguments
in and the ones bound to non-const pointers back out; on PoCL every array argument is copied to
its buffer, the kernel runs and the written buffers are copied back, then the queue is drained.
Both sides are compiled (and run once) before timing; PoCL uses its default threads. The figure
is the median of --repeat calls; the ratio is PoCL time / dlc time (above 1: dlc is faster).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent.parent / "tests" / "kernels"


def rand(*shape: int, seed: int = 0, dtype: Any = np.float32) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).uniform(-1, 1, shape).astype(dtype)


@dataclass
class Case:
    name: str
    file: str
    kernel: str
    args: Callable[[], list[Any]]  # arrays, Python numbers, ("local", nbytes)
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None


def cases() -> list[Case]:
    n, big, vec = 512, 2048, 2048
    f32 = np.float32
    return [
        Case("gemm 512^3", "gemm.cl", "gemm",
             lambda: [rand(n, n), rand(n, n, seed=1), rand(n, n, seed=2), 1.5, 1.2, n, n, n],
             (n, n), (16, 16)),
        Case("2mm kernel1 512^3", "2mm.cl", "mm2_kernel1",
             lambda: [rand(n, n), rand(n, n, seed=1), np.zeros((n, n), f32), 1.5, n, n, n],
             (n, n), (16, 16)),
        Case("2mm kernel2 512^3", "2mm.cl", "mm2_kernel2",
             lambda: [rand(n, n), rand(n, n, seed=1), rand(n, n, seed=2), 1.2, n, n, n],
             (n, n), (16, 16)),
        Case("syrk 512^2 x 512", "syrk.cl", "syrk",
             lambda: [rand(n, n), rand(n, n, seed=1), 1.5, 1.2, n, n], (n, n), (16, 16)),
        Case("atax kernel1 2048^2", "atax.cl", "atax_kernel1",
             lambda: [rand(vec, vec), rand(vec, seed=1), np.zeros(vec, f32), vec, vec],
             (vec,), (64,)),
        Case("atax kernel2 2048^2", "atax.cl", "atax_kernel2",
             lambda: [rand(vec, vec), np.zeros(vec, f32), rand(vec, seed=1), vec, vec],
             (vec,), (64,)),
        Case("bicg kernel1 2048^2", "bicg.cl", "bicg_kernel1",
             lambda: [rand(vec, vec), rand(vec, seed=1), np.zeros(vec, f32), vec, vec],
             (vec,), (64,)),
        Case("bicg kernel2 2048^2", "bicg.cl", "bicg_kernel2",
             lambda: [rand(vec, vec), rand(vec, seed=1), np.zeros(vec, f32), vec, vec],
             (vec,), (64,)),
        Case("mvt kernel1 2048^2", "mvt.cl", "mvt_kernel1",
             lambda: [rand(vec, vec), rand(vec, seed=1), rand(vec, seed=2), vec], (vec,), (64,)),
        Case("mvt kernel2 2048^2", "mvt.cl", "mvt_kernel2",
             lambda: [rand(vec, vec), rand(vec, seed=1), rand(vec, seed=2), vec], (vec,), (64,)),
        Case("gesummv 2048^2", "gesummv.cl", "gesummv",
             lambda: [rand(vec, vec), rand(vec, vec, seed=1), rand(vec, seed=2),
                      np.zeros(vec, f32), np.zeros(vec, f32), 1.5, 1.2, vec], (vec,), (64,)),
        Case("conv2d 2048^2", "conv2d.cl", "convolution2d",
             lambda: [rand(big, big), np.zeros((big, big), f32), big, big], (big, big), (16, 4)),
        Case("jacobi2d step 2048^2", "jacobi2d.cl", "jacobi2d_step",
             lambda: [rand(big, big), rand(big, big, seed=1), big], (big, big), (16, 16)),
        Case("transpose 2048^2", "transpose.cl", "transpose",
             lambda: [np.zeros((big, big), f32), rand(big, big), big, big], (big, big), (16, 16)),
        Case("softmax 1024x1024", "softmax.cl", "row_softmax",
             lambda: [rand(1024, 1024) * 4, np.zeros((1024, 1024), f32), 1024],
             (1024 * 64,), (64,)),
        Case("histogram 4M bytes", "histogram.cl", "histogram",
             lambda: [np.random.default_rng(3).integers(0, 256, 1 << 22).astype(np.uint8),
                      1 << 22, np.zeros(256, np.uint32), ("local", 256 * 4)],
             (8192,), (64,)),
    ]


def median_call(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def dlc_call(case: Case, args: list[Any]) -> Callable[[], Any]:
    import dlc
    m = dlc.compile(HERE / case.file, target="cpu")
    fn = m[case.kernel]
    call_args = [dlc.LocalMemory(a[1]) if isinstance(a, tuple) else a for a in args]
    return lambda: fn(*call_args, global_size=case.global_size, local_size=case.local_size)


def pocl_call(case: Case, args: list[Any], ctx: Any, queue: Any) -> Callable[[], Any]:
    import pyopencl as cl

    from dlc.frontends.c import import_kernels
    from dlc.ir.kernel import Buffer, Var
    kernel_ir = next(k for k in import_kernels(HERE / case.file, language="opencl")
                     if k.name == case.kernel)
    prg = cl.Program(ctx, (HERE / case.file).read_text()).build(options=[f"-I{HERE}"])
    knl = getattr(prg, case.kernel)
    bound: list[Any] = []
    copies_in: list[tuple[Any, np.ndarray]] = []
    copies_out: list[tuple[np.ndarray, Any]] = []
    for p, a in zip(kernel_ir.params, args):
        if isinstance(a, tuple):
            bound.append(cl.LocalMemory(a[1]))
        elif isinstance(a, np.ndarray):
            buf = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, a.nbytes)
            bound.append(buf)
            copies_in.append((buf, a))
            if isinstance(p, Buffer) and p.write:
                copies_out.append((a, buf))
        else:
            assert isinstance(p, Var)
            bound.append(p.type.dtype.np.type(a))
    knl.set_args(*bound)

    def call() -> None:
        for buf, a in copies_in:
            cl.enqueue_copy(queue, buf, a, is_blocking=False)
        cl.enqueue_nd_range_kernel(queue, knl, case.global_size, case.local_size)
        for a, buf in copies_out:
            cl.enqueue_copy(queue, a, buf, is_blocking=False)
        queue.finish()
    return call


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="cases to run (substring of the name)")
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    import pyopencl as cl

    from dlc.backends.cpu import host_target
    dev = next(d for p in cl.get_platforms() if "Portable" in p.name for d in p.get_devices())
    ctx = cl.Context([dev])
    queue = cl.CommandQueue(ctx)
    t = host_target()
    print(f"{datetime.date.today()} {platform.node()}: {t.cpu}, {t.cores} cores "
          f"({os.cpu_count()} online); dlc threads {t.cores}; PoCL {dev.platform.version} "
          f"on '{dev.name}' ({dev.max_compute_units} compute units, default threads)")
    print(f"{'kernel':24} {'dlc ms':>9} {'PoCL ms':>9} {'PoCL/dlc':>9}")
    wins = total = 0
    for case in cases():
        if a.names and not any(n in case.name for n in a.names):
            continue
        ours = median_call(dlc_call(case, case.args()), a.repeat)
        peer = median_call(pocl_call(case, case.args(), ctx, queue), a.repeat)
        wins += peer > ours
        total += 1
        print(f"{case.name:24} {ours * 1e3:9.3f} {peer * 1e3:9.3f} {peer / ours:9.2f}",
              flush=True)
    print(f"dlc faster on {wins} of {total}")


if __name__ == "__main__":
    main()

"""SGEMM through dlc against numpy's matmul (OpenBLAS), measured in the same run.

    python benchmarks/sgemm.py [--sizes 1024 4096] [--repeat 7] [--candidates]

Each size is a one-MatMul ONNX model (C = A @ B, float32, n x n) compiled by `dlc.compile` for
target="cpu" (the GEMM schedule's first choice, all cores). dlc and numpy are timed alternately,
the same inputs each call, and the medians reported as GFLOP/s (2 n^3 flops per call) with the
ratio dlc / numpy. `--candidates` also times each of the schedule's tile-size candidates (the
lowered kernel compiled alone), as tuning would.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

import dlc
from dlc.backends.cpu import compile_kernel, host_target
from dlc.passes.schedule_gemm import build, match_gemm, plan


def matmul_model(n: int) -> onnx.ModelProto:
    a = helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n])
    b = helper.make_tensor_value_info("B", TensorProto.FLOAT, [n, n])
    c = helper.make_tensor_value_info("C", TensorProto.FLOAT, [n, n])
    graph = helper.make_graph([helper.make_node("MatMul", ["A", "B"], ["C"])], "sgemm", [a, b],
                              [c])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def alternate(fns: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Median seconds of each function, run in turn `repeat` times after one warm-up each."""
    for f in fns:
        f()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for f, ts in zip(fns, times):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--candidates", action="store_true",
                    help="also time each tile-size candidate of the GEMM schedule")
    args = ap.parse_args()
    target = host_target()
    print(f"{date.today()}  {cpu_name()} ({target.cpu}), {target.cores} cores, "
          f"{target.vector_bits}-bit vectors, L1d {target.l1_bytes >> 10}K "
          f"L2 {target.l2_bytes >> 10}K L3 {target.l3_bytes >> 20}M; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'size':>6} {'dlc GFLOP/s':>12} {'numpy GFLOP/s':>14} {'dlc/numpy':>10}  compile")
    rng = np.random.default_rng(0)
    for n in args.sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        t0 = time.perf_counter()
        m = dlc.compile(matmul_model(n), target="cpu")
        compile_s = time.perf_counter() - t0
        got = m.run({"A": a, "B": b})["C"]
        want = a @ b
        err = float(np.abs(got - want).max() / np.abs(want).max())
        assert err < 1e-4, f"n={n}: dlc differs from numpy by {err:.1e}"
        t_dlc, t_np = alternate([partial(m.run, {"A": a, "B": b}),
                                 partial(np.matmul, a, b)], args.repeat)
        flops = 2.0 * n ** 3
        print(f"{n:>6} {flops / t_dlc / 1e9:>12.1f} {flops / t_np / 1e9:>14.1f} "
              f"{t_np / t_dlc:>10.2f}  {compile_s:.1f} s")
        if args.candidates:
            kernel = next(x.attrs.kernel for x in m.graph.nodes if x.op == "KernelCall")
            unscheduled = dlc.compile(matmul_model(n), target="cpu", opt_level=1)
            mt = match_gemm(next(x.attrs.kernel for x in unscheduled.graph.nodes
                                 if x.op == "KernelCall"))
            assert mt is not None and kernel is not None
            out = np.empty((n, n), np.float32)
            for tiles in plan(mt, target):
                ck = compile_kernel(build(mt, tiles, target))
                t_k, t_np = alternate([partial(ck.run, [a, b, out]),
                                       partial(np.matmul, a, b)], args.repeat)
                print(f"{'':>6} {flops / t_k / 1e9:>12.1f} {flops / t_np / 1e9:>14.1f} "
                      f"{t_np / t_k:>10.2f}  candidate {tiles}")


if __name__ == "__main__":
    main()

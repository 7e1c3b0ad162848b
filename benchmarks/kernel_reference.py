"""How fast the reference target runs OpenCL C / CUDA C kernels: the kernel suite's kernels at
moderate sizes on dlc's kernel interpreter, against numpy computing the same result (the peer),
measured in the same run.

    python benchmarks/kernel_reference.py [--repeat 3]

Prints, per kernel, the work-items launched, the interpreter's time, numpy's and their ratio.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "kernels"))
from kernel_suite import load, rand  # noqa: E402

from dlc.runtime import LocalMemory  # noqa: E402


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def cases() -> list[tuple[str, int, Callable[[], Any], Callable[[], Any]]]:
    out: list[tuple[str, int, Callable[[], Any], Callable[[], Any]]] = []
    n = 128
    a, b, c = rand(n, n), rand(n, n, seed=1), rand(n, n, seed=2)
    gemm = load("gemm.cl")["gemm"]
    out.append(("gemm 128^3", n * n,
                lambda: gemm(a, b, c.copy(), 1.5, 1.2, n, n, n, global_size=(n, n),
                             local_size=(16, 16)),
                lambda: 1.5 * (a @ b) + 1.2 * c))
    rows, cols = 256, 1024
    x = rand(rows, cols) * 4
    y = np.zeros_like(x)
    softmax = load("softmax.cl")["row_softmax"]

    def np_softmax() -> Any:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    out.append(("row softmax 256x1024", rows * 64,
                lambda: softmax(x, y, cols, global_size=(rows * 64,), local_size=(64,)),
                np_softmax))
    m = 1 << 20
    data = np.random.default_rng(3).integers(0, 256, m).astype(np.uint8)
    hist = np.zeros(256, np.uint32)
    histogram = load("histogram.cl")["histogram"]
    out.append(("histogram 1M bytes", 4096,
                lambda: histogram(data, m, hist, LocalMemory(256 * 4), global_size=(4096,),
                                  local_size=(256,)),
                lambda: np.bincount(data, minlength=256)))
    w = 1024
    t_in, t_out = rand(w, w), np.zeros((w, w), np.float32)
    transpose = load("transpose.cl")["transpose"]
    out.append(("tiled transpose 1024^2", w * w,
                lambda: transpose(t_out, t_in, w, w, global_size=(w, w), local_size=(16, 16)),
                lambda: np.ascontiguousarray(t_in.T)))
    k = 256
    ma, mb, mc = rand(k, k), rand(k, k, seed=1), np.zeros((k, k), np.float32)
    matmul = load("matmul_tiled.cu")["matmul_tiled"]
    out.append(("tiled CUDA matmul 256^3", k * k,
                lambda: matmul(ma, mb, mc, k, k, k, grid=(k // 8, k // 8), block=(8, 8)),
                lambda: ma @ mb))
    r = 1 << 20
    xr, acc = rand(r), np.zeros(1, np.float32)
    reduce_sum = load("warp_reduce.cu")["reduce_sum"]
    out.append(("warp-shuffle sum 1M", 256 * 256,
                lambda: reduce_sum(xr, acc, r, grid=(256,), block=(256,), shared_mem=4 * 8),
                lambda: xr.sum()))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    print(f"{'kernel':26} {'work-items':>10} {'dlc ref ms':>11} {'numpy ms':>9} {'ratio':>8}")
    for name, items, run, peer in cases():
        t, tp = best(run, args.repeat), best(peer, args.repeat)
        print(f"{name:26} {items:10d} {t * 1e3:11.1f} {tp * 1e3:9.2f} {t / tp:7.0f}x")


if __name__ == "__main__":
    main()

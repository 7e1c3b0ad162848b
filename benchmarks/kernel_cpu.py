"""How fast the cpu backend's generated code runs: loop kernels (as a scheduling pass would leave
them: parallel outer loops, vectorized inner loops) and the OpenCL C / CUDA C suite's SPMD
kernels, against numpy computing the same result (the peer), measured in the same run.

    python benchmarks/kernel_cpu.py [--repeat 5] [--threads N]

Prints, per kernel, dlc's time (native code, arrays passed in place, compile time excluded),
numpy's, and the ratio (numpy time / dlc time: above 1 means dlc is faster).
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
from kernel_suite import HERE, rand  # noqa: E402

from dlc.backends.cpu import compile_kernel, host_target  # noqa: E402
from dlc.frontends.c import import_kernels  # noqa: E402
from dlc.ir.text import parse_kernel  # noqa: E402
from dlc.options import CompileOptions  # noqa: E402

SAXPY = """
kernel @saxpy(%n: i64, %a: f32, %x: f32* global r, %y: f32* global rw) {
  parallel for %o: i64 in 0 to %n step 4096 {
    vectorized for %i: i64 in %o to min(%o + 4096, %n) { %y[%i] = %a * %x[%i] + %y[%i] }
  }
}"""
GELU = """
kernel @gelu(%n: i64, %x: f32* global r, %y: f32* global w) {
  parallel for %o: i64 in 0 to %n step 4096 {
    vectorized for %i: i64 in %o to min(%o + 4096, %n) {
      let %v: f32 = %x[%i]
      %y[%i] = 0.5 * %v * (1.0 + tanh(0.7978846 * (%v + 0.044715 * %v * %v * %v)))
    }
  }
}"""
GEMM = """
kernel @gemm(%n: i64, %a: f32[%n, %n] global r, %b: f32[%n, %n] global r,
             %c: f32[%n, %n] global w) {
  parallel for %i0: i64 in 0 to %n step 4 {
    alloc %acc: f32[4, 512] private rw
    for %i: i64 in 0 to 4 { vectorized for %j: i64 in 0 to %n { %acc[%i, %j] = 0.0 } }
    for %k0: i64 in 0 to %n step 128 {
      for %i: i64 in 0 to 4 {
        for %k: i64 in %k0 to %k0 + 128 {
          let %aik: f32 = %a[%i0 + %i, %k]
          vectorized for %j: i64 in 0 to %n { %acc[%i, %j] = %acc[%i, %j] + %aik * %b[%k, %j] }
        }
      }
    }
    for %i: i64 in 0 to 4 { vectorized for %j: i64 in 0 to %n { %c[%i0 + %i, %j] = %acc[%i, %j] } }
  }
}"""


def best(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


Case = tuple[str, Callable[[], Any], Callable[[], Any]]


def loop_cases(opts: CompileOptions) -> list[Case]:
    out: list[Case] = []
    n = 1 << 24
    x, y = rand(n), rand(n, seed=1)
    saxpy = compile_kernel(parse_kernel(SAXPY), options=opts)
    out.append(("saxpy 16M (loop kernel)", lambda: saxpy.run([n, 2.0, x, y]),
                lambda: np.add(np.multiply(x, np.float32(2.0)), y, out=y)))
    m = 1 << 22
    xs, ys = rand(m) * 3, np.zeros(m, np.float32)
    gelu = compile_kernel(parse_kernel(GELU), options=opts)
    out.append(("gelu (tanh) 4M (loop kernel)", lambda: gelu.run([m, xs, ys]),
                lambda: 0.5 * xs * (1 + np.tanh(0.7978846 * (xs + 0.044715 * xs ** 3)))))
    g = 512
    a, b, c = rand(g, g), rand(g, g, seed=1), np.zeros((g, g), np.float32)
    gemm = compile_kernel(parse_kernel(GEMM), options=opts)
    out.append(("gemm 512^3 (loop kernel)", lambda: gemm.run([g, a, b, c]), lambda: a @ b))
    return out


def spmd_cases(opts: CompileOptions) -> list[Case]:
    def kernel(file: str, name: str, **defines: Any) -> Any:
        lang = "cuda" if file.endswith(".cu") else "opencl"
        ks = import_kernels(HERE / file, language=lang, defines=defines or None)
        return compile_kernel(next(k for k in ks if k.name == name), options=opts)
    out: list[Case] = []
    n = 512
    a, b, c = rand(n, n), rand(n, n, seed=1), rand(n, n, seed=2)
    gemm = kernel("gemm.cl", "gemm")
    out.append(("gemm.cl 512^3", lambda: gemm.launch([a, b, c, 1.5, 1.2, n, n, n], (n, n),
                                                     (16, 16)),
                lambda: 1.5 * (a @ b) + 1.2 * c))
    mm = kernel("matmul_tiled.cu", "matmul_tiled")
    out.append(("matmul_tiled.cu 512^3", lambda: mm.launch([a, b, c, n, n, n], (n, n), (8, 8)),
                lambda: a @ b))
    rows, cols = 1024, 1024
    x = rand(rows, cols) * 4
    y = np.zeros_like(x)
    softmax = kernel("softmax.cl", "row_softmax")

    def np_softmax() -> Any:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    out.append(("softmax.cl 1024x1024", lambda: softmax.launch([x, y, cols], (rows * 64,),
                                                               (64,)), np_softmax))
    m = 1 << 22
    data = np.random.default_rng(3).integers(0, 256, m).astype(np.uint8)
    hist = np.zeros(256, np.uint32)
    histogram = kernel("histogram.cl", "histogram")
    out.append(("histogram.cl 4M bytes", lambda: histogram.launch(
        [data, m, hist, 256 * 4], (8192,), (64,)), lambda: np.bincount(data, minlength=256)))
    t = 2048
    src, dst = rand(t, t), np.zeros((t, t), np.float32)
    transpose = kernel("transpose.cl", "transpose")
    out.append(("transpose.cl 2048^2", lambda: transpose.launch([dst, src, t, t], (t, t),
                                                                (16, 16)),
                lambda: np.ascontiguousarray(src.T)))
    r = 1 << 22
    xr, outr = rand(r), np.zeros(1, np.float32)
    red = kernel("warp_reduce.cu", "reduce_sum")
    out.append(("warp_reduce.cu sum 4M", lambda: red.launch([xr, outr, r, 4 * 8], (256 * 256,),
                                                            (256,)), lambda: xr.sum()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    t = host_target()
    opts = CompileOptions(target="cpu", threads=args.threads)
    print(f"host: {t.cpu}, {t.cores} cores, {t.vector_bits}-bit vectors, "
          f"vector math: {t.vector_math or 'none'}; threads: {args.threads or t.cores}")
    print(f"{'kernel':34} {'dlc ms':>9} {'numpy ms':>9} {'numpy/dlc':>9}")
    for name, ours, peer in loop_cases(opts) + spmd_cases(opts):
        td, tn = best(ours, args.repeat), best(peer, args.repeat)
        print(f"{name:34} {td * 1e3:9.2f} {tn * 1e3:9.2f} {tn / td:9.2f}")


if __name__ == "__main__":
    main()

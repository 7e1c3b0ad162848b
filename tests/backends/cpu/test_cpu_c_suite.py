"""The OpenCL C / CUDA C kernel suite (tests/kernels) on the cpu backend, through the C frontend
and KernelModule with the cpu launcher: every launch of the suite's tests runs on both the
reference interpreter and native code, and every array must come out the same."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dlc.backends.cpu import launcher
from dlc.frontends.c import import_kernels
from dlc.runtime import KernelModule, LocalMemory

SUITE = Path(__file__).parents[2] / "kernels"


def rand(*shape: int, seed: int = 0, dtype: Any = np.float32) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).uniform(-1, 1, shape).astype(dtype)


class _Both:
    """`m["k"](*args, ...)` launches on the reference target (on copies) and natively, then
    compares every array argument."""

    def __init__(self, name: str, defines: tuple[tuple[str, str], ...]):
        lang = "cuda" if name.endswith(".cu") else "opencl"
        kernels = import_kernels(SUITE / name, language=lang, defines=dict(defines) or None)
        self.ref = KernelModule(kernels, "reference", language=lang)
        self.cpu = KernelModule(kernels, "cpu", launcher(), language=lang)

    def __getitem__(self, name: str) -> Any:
        def launch(*args: Any, **sizes: Any) -> None:
            ref_args = [np.array(a) if isinstance(a, np.ndarray) else a for a in args]
            self.ref[name](*ref_args, **sizes)
            self.cpu[name](*args, **sizes)
            for i, (got, want) in enumerate(zip(args, ref_args)):
                if isinstance(got, np.ndarray):
                    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6,
                                               err_msg=f"{name}: argument {i}")
        return launch


@functools.cache
def _both(name: str, defines: tuple[tuple[str, str], ...]) -> _Both:
    return _Both(name, defines)


def Both(name: str, **defines: str) -> _Both:  # noqa: N802 - reads as a class
    """The suite file `name` on both targets (compiled once per test session)."""
    return _both(name, tuple(sorted(defines.items())))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_2mm_syrk(dtype: Any) -> None:
    m = Both("gemm.cl", DATA_TYPE="float" if dtype == np.float32 else "double")
    a, b, c = rand(12, 7, dtype=dtype), rand(7, 10, seed=1, dtype=dtype), rand(12, 10, seed=2,
                                                                             dtype=dtype)
    m["gemm"](a, b, c, 1.5, 1.2, 12, 10, 7, global_size=(16, 12), local_size=(8, 4))
    m2 = Both("2mm.cl")
    a, b, c, d = rand(8, 10), rand(10, 9, seed=1), rand(9, 11, seed=2), rand(8, 11, seed=3)
    tmp = np.zeros((8, 9), np.float32)
    m2["mm2_kernel1"](a, b, tmp, 1.5, 8, 9, 10, global_size=(16, 8), local_size=(8, 8))
    m2["mm2_kernel2"](tmp, c, d, 1.2, 8, 9, 11, grid=(2, 1), block=(8, 8))
    s = Both("syrk.cl")
    s["syrk"](rand(12, 9), rand(12, 12, seed=1), 1.5, 1.2, 12, 9, global_size=(16, 16),
              local_size=(8, 8))


def test_matrix_vector_kernels() -> None:
    m = Both("atax.cl")
    a, x = rand(20, 24), rand(24, seed=1)
    tmp, y = np.zeros(20, np.float32), np.zeros(24, np.float32)
    m["atax_kernel1"](a, x, tmp, 20, 24, global_size=(32,), local_size=(16,))
    m["atax_kernel2"](a, y, tmp, 20, 24, global_size=(32,), local_size=(16,))
    b = Both("bicg.cl")
    a, r, p = rand(18, 14), rand(18, seed=1), rand(14, seed=2)
    b["bicg_kernel1"](a, r, np.zeros(14, np.float32), 18, 14, global_size=(16,))
    b["bicg_kernel2"](a, p, np.zeros(18, np.float32), 18, 14, global_size=(32,),
                      local_size=(32,))
    v = Both("mvt.cl")
    a, y1, x1 = rand(20, 20), rand(20, seed=1), rand(20, seed=3)
    v["mvt_kernel1"](a, x1, y1, 20, global_size=(32,), local_size=(32,))
    v["mvt_kernel2"](a, x1, y1, 20, global_size=(32,), local_size=(32,))
    g = Both("gesummv.cl")
    g["gesummv"](rand(19, 19), rand(19, 19, seed=1), rand(19, seed=2), np.zeros(19, np.float32),
                 np.zeros(19, np.float32), 1.5, 1.2, 19, global_size=(32,), local_size=(32,))


def test_stencils() -> None:
    m = Both("conv2d.cl")
    m["convolution2d"](rand(14, 17), np.zeros((14, 17), np.float32), 14, 17,
                       global_size=(32, 16), local_size=(16, 4))
    j = Both("jacobi2d.cl")
    a, b = rand(12, 12), rand(12, 12, seed=1)
    for _ in range(2):
        j["jacobi2d_step"](a, b, 12, global_size=(16, 16), local_size=(8, 8))
        j["jacobi2d_step"](b, a, 12, global_size=(16, 16), local_size=(8, 8))


@pytest.mark.parametrize("cols", [50, 200])
def test_softmax_tree_and_tiled_transpose(cols: int) -> None:
    m = Both("softmax.cl")
    m["row_softmax"](rand(3, cols) * 4, np.zeros((3, cols), np.float32), cols,
                     global_size=(3 * 64,), local_size=(64,))
    t = Both("transpose.cl")
    a = rand(13, 20)
    t["transpose"](np.zeros((20, 13), np.float32), a, 20, 13, global_size=(32, 16),
                   local_size=(16, 16))


def test_histogram_atomics() -> None:
    m = Both("histogram.cl")
    data = np.random.default_rng(3).integers(0, 256, 1000).astype(np.uint8)
    data[:100] = 7
    m["histogram"](data, 1000, np.zeros(256, np.uint32), LocalMemory(256 * 4),
                   global_size=(128,), local_size=(32,))


def test_tiled_cuda_matmul_and_warp_reductions() -> None:
    m = Both("matmul_tiled.cu")
    a, b = rand(13, 19), rand(19, 10, seed=1)
    m["matmul_tiled"](a, b, np.zeros((13, 10), np.float32), 13, 10, 19, grid=(2, 2),
                      block=(8, 8))
    w = Both("warp_reduce.cu")
    for n, blocks, threads in ((1000, 4, 128), (77, 1, 96)):
        w["reduce_sum"](rand(n), np.zeros(1, np.float32), n, grid=(blocks,), block=(threads,),
                        shared_mem=4 * (threads // 32))
    x = np.random.default_rng(5).integers(-1000, 1000, 128).astype(np.int32)
    w["warp_max"](x, np.zeros_like(x), grid=(2,), block=(64,))

"""Kernels that exercise what GPUs add to C: __local/__shared__ memory with barriers (a softmax
reduction tree, a tiled transpose, a tiled CUDA matmul), atomics (a histogram) and warp shuffles
(a reduction), run on the reference target and checked against numpy."""
from __future__ import annotations

import numpy as np
import pytest
from kernel_suite import load, rand

from dlc import LocalMemory


@pytest.mark.parametrize("cols", [50, 64, 200])
def test_row_softmax_local_reduction_tree(cols: int) -> None:
    m = load("softmax.cl")
    rows = 3
    x = rand(rows, cols) * 4
    y = np.zeros_like(x)
    m["row_softmax"](x, y, cols, global_size=(rows * 64,), local_size=(64,))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_row_softmax_work_group_size_is_required() -> None:
    m = load("softmax.cl", WG=32)
    k = m.kernels["row_softmax"]
    assert k.domain is not None and k.domain.local_size == (32,)
    x = rand(2, 40)
    y = np.zeros_like(x)
    m["row_softmax"](x, y, 40, global_size=(64,), local_size=(32,))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


def test_histogram_with_local_and_global_atomics() -> None:
    m = load("histogram.cl")
    n = 1000
    data = np.random.default_rng(3).integers(0, 256, n).astype(np.uint8)
    data[:100] = 7      # a crowded bin: many work-items increment it at once
    hist = np.zeros(256, np.uint32)
    m["histogram"](data, n, hist, LocalMemory(256 * 4), global_size=(128,), local_size=(32,))
    np.testing.assert_array_equal(hist, np.bincount(data, minlength=256))


@pytest.mark.parametrize("width,height", [(32, 16), (20, 13)])
def test_tiled_transpose(width: int, height: int) -> None:
    m = load("transpose.cl")
    a = rand(height, width)
    out = np.zeros((width, height), np.float32)
    gx, gy = -(-width // 16) * 16, -(-height // 16) * 16
    m["transpose"](out, a, width, height, global_size=(gx, gy), local_size=(16, 16))
    np.testing.assert_array_equal(out, a.T)


@pytest.mark.parametrize("M,N,K", [(16, 16, 16), (13, 10, 19)])
def test_tiled_cuda_matmul(M: int, N: int, K: int) -> None:
    m = load("matmul_tiled.cu")
    a, b = rand(M, K), rand(K, N, seed=1)
    c = np.zeros((M, N), np.float32)
    m["matmul_tiled"](a, b, c, M, N, K, grid=(-(-N // 8), -(-M // 8)), block=(8, 8))
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


def test_tiled_cuda_matmul_other_block_size_by_define() -> None:
    m = load("matmul_tiled.cu", BLOCK=4)
    a, b = rand(6, 5), rand(5, 7, seed=1)
    c = np.zeros((6, 7), np.float32)
    m["matmul_tiled"](a, b, c, 6, 7, 5, grid=(2, 2), block=(4, 4))
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n,blocks,threads", [(1000, 4, 128), (77, 1, 96)])
def test_warp_shuffle_reduction(n: int, blocks: int, threads: int) -> None:
    m = load("warp_reduce.cu")
    x = rand(n)
    out = np.zeros(1, np.float32)
    nwarps = threads // 32
    m["reduce_sum"](x, out, n, grid=(blocks,), block=(threads,), shared_mem=4 * nwarps)
    np.testing.assert_allclose(out[0], x.astype(np.float64).sum(), rtol=1e-4, atol=1e-4)


def test_warp_butterfly_max() -> None:
    m = load("warp_reduce.cu")
    x = np.random.default_rng(5).integers(-1000, 1000, 128).astype(np.int32)
    out = np.zeros_like(x)
    m["warp_max"](x, out, grid=(2,), block=(64,))
    np.testing.assert_array_equal(out, np.repeat(x.reshape(-1, 32).max(axis=1), 32))


def test_every_suite_kernel_prints_and_parses_back() -> None:
    from kernel_suite import HERE

    from dlc.frontends.c import import_kernels
    from dlc.ir.text import parse_kernel, print_kernel
    for f in sorted(HERE.glob("*.c[lu]")):
        for k in import_kernels(f, language="cuda" if f.suffix == ".cu" else "opencl"):
            text = print_kernel(k)
            assert parse_kernel(text) == k, f"{f.name}: {k.name}"

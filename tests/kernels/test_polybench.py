"""The PolyBench linear-algebra and stencil kernels of this directory (written from the
PolyBench/C descriptions), run on the reference target and checked against numpy."""
from __future__ import annotations

import numpy as np
import pytest
from kernel_suite import load, rand

RTOL, ATOL = 1e-4, 1e-4


@pytest.mark.parametrize("dtype", ["float", "double"])
def test_gemm(dtype: str) -> None:
    m = load("gemm.cl", DATA_TYPE=dtype)
    npt = np.float32 if dtype == "float" else np.float64
    ni, nj, nk = 12, 10, 7
    a, b, c = rand(ni, nk, dtype=npt), rand(nk, nj, seed=1, dtype=npt), rand(ni, nj, seed=2,
                                                                                dtype=npt)
    want = 1.5 * a @ b + 1.2 * c
    m["gemm"](a, b, c, 1.5, 1.2, ni, nj, nk, global_size=(16, 12), local_size=(8, 4))
    np.testing.assert_allclose(c, want, RTOL, ATOL)


def test_2mm() -> None:
    m = load("2mm.cl")
    ni, nj, nk, nl = 8, 9, 10, 11
    a, b, c, d = rand(ni, nk), rand(nk, nj, seed=1), rand(nj, nl, seed=2), rand(ni, nl, seed=3)
    tmp = np.zeros((ni, nj), np.float32)
    want = 1.2 * d + (1.5 * a @ b) @ c
    m["mm2_kernel1"](a, b, tmp, 1.5, ni, nj, nk, global_size=(16, 8), local_size=(8, 8))
    m["mm2_kernel2"](tmp, c, d, 1.2, ni, nj, nl, grid=(2, 1), block=(8, 8))
    np.testing.assert_allclose(d, want, RTOL, ATOL)


def test_atax() -> None:
    m = load("atax.cl")
    nx, ny = 20, 24
    a, x = rand(nx, ny), rand(ny, seed=1)
    tmp, y = np.zeros(nx, np.float32), np.zeros(ny, np.float32)
    m["atax_kernel1"](a, x, tmp, nx, ny, global_size=(32,), local_size=(16,))
    m["atax_kernel2"](a, y, tmp, nx, ny, global_size=(32,), local_size=(16,))
    np.testing.assert_allclose(y, a.T @ (a @ x), RTOL, ATOL)


def test_bicg() -> None:
    m = load("bicg.cl")
    nx, ny = 18, 14
    a, r, p = rand(nx, ny), rand(nx, seed=1), rand(ny, seed=2)
    s, q = np.zeros(ny, np.float32), np.zeros(nx, np.float32)
    m["bicg_kernel1"](a, r, s, nx, ny, global_size=(16,))
    m["bicg_kernel2"](a, p, q, nx, ny, global_size=(32,), local_size=(32,))
    np.testing.assert_allclose(s, a.T @ r, RTOL, ATOL)
    np.testing.assert_allclose(q, a @ p, RTOL, ATOL)


def test_mvt() -> None:
    m = load("mvt.cl")
    n = 20
    a, y1, y2 = rand(n, n), rand(n, seed=1), rand(n, seed=2)
    x1, x2 = rand(n, seed=3), rand(n, seed=4)
    w1, w2 = x1 + a @ y1, x2 + a.T @ y2
    m["mvt_kernel1"](a, x1, y1, n, global_size=(32,), local_size=(32,))
    m["mvt_kernel2"](a, x2, y2, n, global_size=(32,), local_size=(32,))
    np.testing.assert_allclose(x1, w1, RTOL, ATOL)
    np.testing.assert_allclose(x2, w2, RTOL, ATOL)


@pytest.mark.parametrize("n", [16, 19])
def test_gesummv(n: int) -> None:
    m = load("gesummv.cl")
    a, b, x = rand(n, n), rand(n, n, seed=1), rand(n, seed=2)
    y, tmp = np.zeros(n, np.float32), np.zeros(n, np.float32)
    m["gesummv"](a, b, x, y, tmp, 1.5, 1.2, n, global_size=(32,), local_size=(32,))
    np.testing.assert_allclose(tmp, a @ x, RTOL, ATOL)
    np.testing.assert_allclose(y, 1.5 * a @ x + 1.2 * b @ x, RTOL, ATOL)


def test_syrk() -> None:
    m = load("syrk.cl")
    n, k = 12, 9
    a, c = rand(n, k), rand(n, n, seed=1)
    want = c.copy()
    lower = np.tril(np.ones((n, n), bool))
    want[lower] = (1.2 * c + 1.5 * a @ a.T)[lower]
    m["syrk"](a, c, 1.5, 1.2, n, k, global_size=(16, 16), local_size=(8, 8))
    np.testing.assert_allclose(c, want, RTOL, ATOL)


COEFF = np.array([[0.2, 0.5, -0.8], [-0.3, 0.6, -0.9], [0.4, 0.7, 0.10]], np.float32)


def test_conv2d() -> None:
    m = load("conv2d.cl")
    ni, nj = 14, 17
    a = rand(ni, nj)
    b = np.zeros_like(a)
    want = np.zeros_like(a)
    for di in range(3):
        for dj in range(3):
            want[1:-1, 1:-1] += COEFF[di, dj] * a[di:ni - 2 + di, dj:nj - 2 + dj]
    m["convolution2d"](a, b, ni, nj, global_size=(32, 16), local_size=(16, 4))
    np.testing.assert_allclose(b, want, RTOL, ATOL)


def test_jacobi2d() -> None:
    m = load("jacobi2d.cl")
    n, steps = 12, 3
    a = rand(n, n)
    b = rand(n, n, seed=1)
    wa, wb = a.astype(np.float64), b.astype(np.float64)

    def stencil(src: np.ndarray, dst: np.ndarray) -> None:
        dst[1:-1, 1:-1] = 0.2 * (src[1:-1, 1:-1] + src[1:-1, :-2] + src[1:-1, 2:]
                                 + src[2:, 1:-1] + src[:-2, 1:-1])
    for _ in range(steps):
        stencil(wa, wb)
        stencil(wb, wa)
        m["jacobi2d_step"](a, b, n, global_size=(16, 16), local_size=(8, 8))
        m["jacobi2d_step"](b, a, n, global_size=(16, 16), local_size=(8, 8))
    np.testing.assert_allclose(a, wa, RTOL, ATOL)
    np.testing.assert_allclose(b, wb, RTOL, ATOL)

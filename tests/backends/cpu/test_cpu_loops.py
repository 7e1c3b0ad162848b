"""Parallel, vectorized and unrolled loops on the cpu backend: results against numpy and the
interpreter, iterations spread over threads, vector instructions of the host's width in the
optimized code, loops that cannot run in parallel kept in order."""
from __future__ import annotations

import numpy as np
from cpu_testing import differential, same

from dlc.backends.cpu import compile_kernel, compile_kernels, host_target, optimized_ir
from dlc.backends.cpu.threads import stats
from dlc.ir.kernel import F32, F64, Kernel
from dlc.ir.text import parse_kernel
from dlc.options import CompileOptions

MATMUL = """
kernel @mm(%m: i64, %n: i64, %k: i64, %a: f32[%m, %k] global r, %b: f32[%k, %n] global r,
           %c: f32[%m, %n] global w) {
  parallel for %i: i64 in 0 to %m {
    parallel for %j: i64 in 0 to %n {
      let %acc: f32 = 0.0
      for %p: i64 in 0 to %k { %acc = %acc + %a[%i, %p] * %b[%p, %j] }
      %c[%i, %j] = %acc
    }
  }
}"""

SAXPY = """
kernel @saxpy(%n: i32, %alpha: f32, %x: f32* global r, %y: f32* global rw) {
  vectorized for %i: i32 in 0 to %n { %y[%i] = %alpha * %x[%i] + %y[%i] }
}"""

REDUCE = """
kernel @dot(%n: i32, %x: f64* global r, %y: f64* global r, %out: f64* global w) {
  let %acc: f64 = 0.0
  vectorized for %i: i32 in 0 to %n { %acc = %acc + %x[%i] * %y[%i] }
  %out[0] = %acc
}"""


def K(text: str) -> Kernel:
    return parse_kernel(text)


def test_parallel_matmul_splits_rows_across_threads() -> None:
    k = K(MATMUL)
    ck = compile_kernel(k, options=CompileOptions(target="cpu", threads=4))
    rng = np.random.default_rng(0)
    a, b = rng.random((37, 19), np.float32), rng.random((19, 23), np.float32)
    c = np.zeros((37, 23), np.float32)
    before = dict(stats)
    ck.run([37, 23, 19, a, b, c])
    np.testing.assert_allclose(c, a @ b, rtol=1e-5)
    assert stats["calls"] == before["calls"] + 1  # the inner parallel loop runs in its thread
    assert stats["ranges"] == before["ranges"] + 4


def test_vectorized_loops_use_the_hosts_vector_width() -> None:
    target = host_target()
    lanes = target.vector_lanes(F32.dtype)
    ks = [K(SAXPY), K(REDUCE)]
    from dlc.backends.cpu import kernel_ir
    opt = optimized_ir(kernel_ir(ks)[0], target)
    assert f"<{lanes} x float>" in opt
    assert f"<{target.vector_lanes(F64.dtype)} x double>" in opt  # the reduction, reassociated
    saxpy, dot = compile_kernels(ks)
    rng = np.random.default_rng(1)
    x, y = rng.random(1003, np.float32), rng.random(1003, np.float32)
    differential(ks[0], [1003, 2.5, x, y], ck=saxpy)
    xd, yd, out = rng.random(1003), rng.random(1003), np.zeros(1)
    dot.run([1003, xd, yd, out])
    np.testing.assert_allclose(out[0], xd @ yd, rtol=1e-12)


def test_vectorized_math_calls_vector_functions_where_the_host_has_them() -> None:
    k = K("""
    kernel @act(%n: i32, %x: f32* global r, %y: f32* global w) {
      vectorized for %i: i32 in 0 to %n { %y[%i] = tanh(%x[%i]) * exp(-%x[%i]) + erf(%x[%i]) }
    }""")
    target = host_target()
    from dlc.backends.cpu import kernel_ir
    opt = optimized_ir(kernel_ir([k])[0], target)
    if "d" in target.vector_math:
        assert "@_ZGVdN8v_tanhf(<8 x float>" in opt
    x = np.linspace(-4, 4, 999, dtype=np.float32)
    differential(k, [999, x, np.zeros(999, np.float32)], rtol=1e-5, atol=1e-6)


def test_parallel_loops_capture_variables_and_private_arrays() -> None:
    k = K("""
    kernel @cap(%n: i32, %x: f32* global w, %lut: f32* global r) {
      alloc %table: f32[4] private rw
      for %t: i32 in 0 to 4 { %table[%t] = %lut[%t] * 2.0 }
      let %scale: f32 = %lut[4]
      let %off: i32 = 3
      parallel for %i: i32 in -5 to %n step 3 {
        let %v: f32 = %table[(%i + 6) % 4] * %scale
        unrolled for %u: i32 in 0 to 3 { %x[%i + 5 + %u] = %v + cast<f32>(%u + %off) }
      }
    }""")
    lut = np.array([1, 2, 3, 4, 10], np.float32)
    x = np.zeros(40, np.float32)
    differential(k, [30, x, lut], ck=compile_kernel(k, options=CompileOptions(threads=3)))


def test_parallel_loops_that_need_their_order_run_serially() -> None:
    k = K("""
    kernel @tri(%n: i32, %x: f32* global rw, %h: i32* global rw) {
      let %s: f32 = 0.0
      parallel for %i: i32 in 0 to %n {
        parallel for %j: i32 in 0 to %i {
          if %j % 2 == 1 { continue }
          %x[%i * %n + %j] = cast<f32>(%j)
          atomic add(%h[0], 1)
        }
      }
      parallel for %i: i32 in 0 to %n { %s = %s + 1.0 }
      parallel for %i: i32 in 0 to %n { if %i == 3 { return } %x[%i] = -1.0 }
      %x[%n * %n - 1] = %s
    }""")
    x, h = np.zeros(100, np.float32), np.zeros(1, np.int32)
    got = differential(k, [10, x, h])
    assert got[1][99] == 0  # the return left the kernel
    same(got[1][:3], [-1, -1, -1])


def test_unsigned_and_64_bit_loop_variables() -> None:
    k = K("""
    kernel @u(%n: u32, %x: u64* global w) {
      parallel for %i: u32 in 1 to %n step 2 { %x[%i] = cast<u64>(%i) * 4294967296:u64 }
      for %j: u64 in 18446744073709551610:u64 to 18446744073709551614:u64 {
        %x[%j - 18446744073709551610:u64] = %j
      }
    }""")
    differential(k, [33, np.zeros(40, np.uint64)])


def test_object_code_is_cached_on_disk_and_reloads(tmp_path: object) -> None:
    from pathlib import Path
    opts = CompileOptions(target="cpu", cache_dir=Path(str(tmp_path)))
    first = compile_kernel(K(SAXPY), options=opts)
    again = compile_kernel(K(SAXPY), options=opts)
    assert not first.from_cache and again.from_cache
    assert len(list(Path(str(tmp_path)).glob("cpu/*.o"))) == 1
    x, y = np.ones(100, np.float32), np.ones(100, np.float32)
    again.run([100, 3.0, x, y])
    same(y, np.full(100, 4.0, np.float32))

"""Vector types (lanes > 1) on the cpu backend: vector buffers (packed, 3 lanes too), vload /
vstore, broadcast, vec, extract, insert, swizzles, lane-wise arithmetic, comparisons, selects,
casts, bitcasts and math on vectors, vector scalar parameters — against the interpreter."""
from __future__ import annotations

import ml_dtypes
import numpy as np
from cpu_testing import differential, same

from dlc.backends.cpu import compile_kernels
from dlc.ir.text import parse_kernel

VECTOR_OPS = """
kernel @vops(%n: i32, %bias: f32x4, %x: f32x4* global r, %y: f32* global r, %i4: i32x4* global r,
             %of: f32x4* global w, %oi: i32x4* global w, %ob: bool* global w,
             %o3: f32x3* global w, %os: f32* global w) {
  for %i: i32 in 0 to %n {
    let %v: f32x4 = %x[%i]
    let %w: f32x4 = vload<4>(%y[%i * 4])
    let %s: f32x4 = %v * %w + %bias - broadcast<4>(%y[%i])
    let %m: boolx4 = %v < %w
    %of[%i * 4] = select(%m, %s, %v / %w)
    %of[%i * 4 + 1] = swizzle<3, 2, 1, 0>(min(%v, %w)) + insert<2>(max(%v, %w), 7.5)
    %of[%i * 4 + 2] = vec(extract<0>(%v), extract<3>(%w), sqrt(extract<1>(%v)), 1.0)
    %of[%i * 4 + 3] = fma(%v, %w, %s) + exp(%v) + floor(%w * broadcast<4>(3.0)) + rem(%v, %w)
    let %a: i32x4 = %i4[%i]
    let %b: i32x4 = %i4[%i + 1] | broadcast<4>(1)
    %oi[%i * 4] = %a / %b + %a % %b
    %oi[%i * 4 + 1] = (%a << broadcast<4>(3)) ^ (%a >> swizzle<0, 0, 1, 1>(%b)) & ~%a
    %oi[%i * 4 + 2] = cast<i32x4>(%s) + popcount(%a) + cast<i32x4>(%m)
    %oi[%i * 4 + 3] = bitcast<i32x4>(%v) - max(%a, %b)
    %ob[%i * 4] = %m
    %o3[%i] = swizzle<0, 1, 2>(%s)
    %os[%i * 2] = swizzle<2, 3>(%v)
  }
}"""


def test_vector_arithmetic_and_lane_ops_match_the_interpreter() -> None:
    k = parse_kernel(VECTOR_OPS)
    (ck,) = compile_kernels([k])
    rng = np.random.default_rng(0)
    n = 9
    x = rng.uniform(0.5, 4, (n, 4)).astype(np.float32)
    y = rng.uniform(0.5, 4, 4 * n + 4).astype(np.float32)
    i4 = rng.integers(-1000, 1000, (n + 1, 4)).astype(np.int32)
    bias = np.array([1, 2, 3, 4], np.float32)
    outs = [np.zeros(4 * n * 4, np.float32), np.zeros(4 * n * 4, np.int32),
            np.zeros(4 * n, np.bool_), np.zeros(3 * n, np.float32), np.zeros(2 * n + 2, np.float32)]
    got = differential(k, [n, bias, x, y, i4, *outs], ck=ck, rtol=2e-6)
    same(got[8].reshape(n, 3), (x * y.reshape(-1, 4)[:n] + bias - y[:n, None])[:, :3],
         rtol=1e-6)


def test_half_bf16_and_bool_vectors_round_and_pack() -> None:
    k = parse_kernel("""
    kernel @narrow(%n: i32, %h: f16x8* global r, %b: bf16x2* global rw, %m: bool* global rw,
                   %out: f16* global w) {
      for %i: i32 in 0 to %n {
        let %v: f16x8 = %h[%i] * broadcast<8>(1.5:f16) + %h[%i]
        %out[%i * 8] = tanh(%v) + %v
        %b[%i] = %b[%i] * swizzle<1, 0>(%b[%i]) + broadcast<2>(cast<bf16>(extract<3>(%v)))
        let %bits: boolx4 = vload<4>(%m[%i * 4])
        %m[%i * 4] = swizzle<1, 2, 3, 0>(%bits) && !%bits
      }
    }""")
    rng = np.random.default_rng(1)
    n = 5
    h = rng.uniform(-3, 3, 8 * n).astype(np.float16)
    b = rng.uniform(-3, 3, 2 * n).astype(ml_dtypes.bfloat16)
    m = rng.random(4 * n) < 0.5
    differential(k, [n, h, b, m, np.zeros(8 * n, np.float16)], rtol=2e-3)


def test_vector_bitcasts_between_lane_counts() -> None:
    k = parse_kernel("""
    kernel @vbits(%x: u8* global r, %y: f64* global r, %o: u32* global w, %p: f32x2* global rw,
                  %q: u8x8* global w) {
      %o[0] = bitcast<u32>(vload<4>(%x[0]))
      %o[1] = bitcast<u32>(swizzle<3, 2, 1, 0>(vload<4>(%x[4])))
      %p[0] = bitcast<f32x2>(%y[0])
      %q[0] = bitcast<u8x8>(bitcast<i32x2>(%p[0]) + broadcast<2>(1))
    }""")
    x = np.arange(1, 9, dtype=np.uint8)
    y = np.array([3.25], np.float64)
    o, p, q = np.zeros(2, np.uint32), np.zeros(2, np.float32), np.zeros(8, np.uint8)
    got = differential(k, [x, y, o, p, q])
    same(got[2][0], x[:4].view(np.uint32)[0])
    same(got[3], y.view(np.float32))

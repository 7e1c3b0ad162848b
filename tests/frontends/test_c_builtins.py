"""Builtins of OpenCL C and CUDA C through the frontend: work-item and thread indices,
vectors, math, conversions, atomics, warp operations, templates and CUDA's spellings."""
from __future__ import annotations

import numpy as np
import pytest
from c_helpers import kernels, module, outputs

from dlc.ir.kernel import Atomic, Barrier, BarrierScope, walk
from dlc.runtime import LocalMemory


def test_opencl_work_item_functions_3d() -> None:
    m = module("""
    __kernel void ids(__global int *out) {
      int x = get_global_id(0), y = get_global_id(1), z = get_global_id(2);
      int w = get_global_size(0), h = get_global_size(1);
      int i = (z * h + y) * w + x;
      out[i * 6 + 0] = get_local_id(0) + 10 * get_local_id(1) + 100 * get_local_id(2);
      out[i * 6 + 1] = get_group_id(0) + 10 * get_group_id(1) + 100 * get_group_id(2);
      out[i * 6 + 2] = get_local_size(0) + 10 * get_local_size(1) + 100 * get_local_size(2);
      out[i * 6 + 3] = get_num_groups(0) + 10 * get_num_groups(1) + 100 * get_num_groups(2);
      out[i * 6 + 4] = get_work_dim();
      out[i * 6 + 5] = get_global_id(3) + get_local_size(5);   // 0 + 1 beyond the 3 axes
    }""")
    k = m.kernels["ids"]
    assert k.domain is not None and k.domain.ndim == 3
    out = np.zeros((2, 4, 4, 6), np.int32)
    m["ids"](out, global_size=(4, 4, 2), local_size=(2, 4, 1))
    z, y, x = 1, 2, 3
    assert out[z, y, x].tolist() == [1 + 10 * 2 + 0, 1 + 0 + 100, 2 + 40 + 100,
                                     2 + 10 + 200, 3, 1]


def test_cuda_thread_indices() -> None:
    m = module("""
    extern "C" __global__ void ids(int *out) {
      int tx = threadIdx.x, ty = threadIdx.y;
      int bx = blockIdx.x, by = blockIdx.y;
      int gx = bx * blockDim.x + tx, gy = by * blockDim.y + ty;
      int w = gridDim.x * blockDim.x;
      out[gy * w + gx] = tx + 10 * ty + 100 * bx + 1000 * by + 10000 * (warpSize == 32);
    }""", "cuda")
    out = np.zeros((4, 6), np.int32)
    m["ids"](out, grid=(2, 2), block=(3, 2))
    assert out[3, 4] == 1 + 10 * 1 + 100 * 1 + 1000 * 1 + 10000


def test_vectors() -> None:
    out = outputs("""
      float4 v = (float4)(1.0f, 2.0f, 3.0f, 4.0f);
      float4 w = v * 2.0f + (float4)(1.0f);          // scalar broadcast
      float2 lo = w.lo, hi = w.hi;
      out[0] = w.x; out[1] = w.w; out[2] = lo.y + hi.x;
      v.xy = v.yx;                                   // swizzle assignment
      out[3] = v.x * 10 + v.y;
      v.s3 = 9.0f; out[4] = v.w;
      float8 e = (float8)(v, w);                     // vectors in a vector literal
      out[5] = e.s7 + e.s0;
      int4 c = v > (float4)(2.5f);                   // comparisons give -1 / 0
      out[6] = c.x; out[7] = c.y; out[8] = c.z;
      int4 iv = convert_int4(w * 0.6f);
      out[9] = iv.w;
      float3 t = (float3)(1, 2, 3); out[10] = dot(t, t);
      out[11] = length((float2)(3.0f, 4.0f));
      float4 cr = cross((float4)(1, 0, 0, 0), (float4)(0, 1, 0, 0)); out[12] = cr.z;
      out[13] = as_float(as_int(1.5f));
      uchar4 u = (uchar4)(250); u += (uchar4)(10); out[14] = u.y;
      float4 s = select((float4)(1), (float4)(2), (int4)(0, -1, 0, -1)); out[15] = s.y + s.z;
    """, 16, np.float32)
    assert out.tolist() == [3, 9, 5 + 7, 21, 9, 9 + 2, 0, 0, -1, 5, 14, 5, 1, 1.5, 4, 3]


def test_vector_buffers_and_vload_vstore() -> None:
    m = module("""
    __kernel void k(__global float4 *v, __global float *flat, __global float3 *w) {
      int i = get_global_id(0);
      v[i] = v[i].wzyx;
      vstore2(vload2(i, flat) * 2.0f, i, flat);
      w[i].y = 7.0f;                       // float3 elements take 16 bytes in OpenCL
      float3 t = w[i];
      w[i] = t + (float3)(1.0f);
    }""")
    v = np.arange(8, dtype=np.float32)
    flat = np.arange(4, dtype=np.float32)
    w = np.zeros((2, 4), np.float32)
    m["k"](v, flat, w, global_size=(2,))
    assert v.tolist() == [3, 2, 1, 0, 7, 6, 5, 4]
    assert flat.tolist() == [0, 2, 4, 6]
    assert w.tolist() == [[1, 8, 1, 0], [1, 8, 1, 0]]


def test_cuda_vector_types() -> None:
    m = module("""
    extern "C" __global__ void k(float3 *p, float4 *q) {
      int i = threadIdx.x;
      float3 a = p[i];                      // CUDA's float3 takes 12 bytes
      p[i] = make_float3(a.z, a.y, a.x);
      q[i] = make_float4(a.x, a.y, a.z, 1.0f);
      q[i].w += 1.0f;
    }""", "cuda")
    p = np.arange(6, dtype=np.float32)
    q = np.zeros(8, np.float32)
    m["k"](p, q, grid=(1,), block=(2,))
    assert p.tolist() == [2, 1, 0, 5, 4, 3]
    assert q.tolist() == [0, 1, 2, 2, 3, 4, 5, 2]


MATH = [  # (C expression of x and y, numpy function of x and y)
    ("exp(x)", lambda x, y: np.exp(x)), ("native_exp(x)", lambda x, y: np.exp(x)),
    ("log(y)", lambda x, y: np.log(y)), ("sqrt(y)", lambda x, y: np.sqrt(y)),
    ("rsqrt(y)", lambda x, y: 1 / np.sqrt(y)), ("sin(x)", lambda x, y: np.sin(x)),
    ("tanh(x)", lambda x, y: np.tanh(x)), ("fabs(x)", lambda x, y: np.abs(x)),
    ("floor(x)", lambda x, y: np.floor(x)), ("pow(y, x)", lambda x, y: y ** x),
    ("atan2(x, y)", lambda x, y: np.arctan2(x, y)), ("fmin(x, y)", np.minimum),
    ("fmax(x, y)", np.maximum), ("min(x, y)", np.minimum), ("fma(x, y, 1.0f)",
                                                             lambda x, y: x * y + 1),
    ("mad(x, y, 2.0f)", lambda x, y: x * y + 2), ("clamp(x, -0.5f, 0.5f)",
                                                  lambda x, y: np.clip(x, -0.5, 0.5)),
    ("mix(x, y, 0.25f)", lambda x, y: x + (y - x) * 0.25), ("step(0.0f, x)",
                                                           lambda x, y: (x >= 0) * 1.0),
    ("sign(x)", lambda x, y: np.sign(x)), ("degrees(x)", lambda x, y: np.degrees(x)),
    ("hypot(x, y)", np.hypot), ("copysign(y, x)", lambda x, y: np.copysign(y, x)),
    ("fmod(y, 0.3f)", lambda x, y: np.fmod(y, np.float32(0.3))),
    ("native_divide(x, y)", lambda x, y: x / y), ("native_recip(y)", lambda x, y: 1 / y),
    ("pown(x, 3)", lambda x, y: x ** 3),
    ("round(x * 3.0f)", lambda x, y: np.trunc(x * 3 + np.copysign(0.5, x))),
    ("cbrt(y)", lambda x, y: np.cbrt(y)),
]


@pytest.mark.parametrize("expr,fn", MATH, ids=[m[0] for m in MATH])
def test_math_builtins(expr: str, fn: object) -> None:
    m = module(f"""
    __kernel void k(__global const float *xs, __global const float *ys, __global float *out) {{
      int i = get_global_id(0);
      float x = xs[i], y = ys[i];
      out[i] = {expr};
    }}""")
    xs = np.linspace(-1.5, 1.5, 8).astype(np.float32)
    ys = np.linspace(0.25, 3, 8).astype(np.float32)
    out = np.zeros(8, np.float32)
    m["k"](xs, ys, out, global_size=(8,))
    np.testing.assert_allclose(out, fn(xs.astype(np.float64), ys.astype(np.float64)),  # type: ignore
                               rtol=2e-6, atol=2e-6)


def test_cuda_math_spellings() -> None:
    out = outputs("""
      float x = 0.5f;
      out[0] = expf(x) - __expf(x);
      out[1] = sqrtf(4.0f) + fabsf(-1.0f) + fminf(3.0f, 2.0f) + fmaxf(1.0f, 0.0f);
      out[2] = __fdividef(1.0f, 4.0f) + rsqrtf(4.0f) + __saturatef(1.5f);
      out[3] = __int_as_float(__float_as_int(2.5f));
      out[4] = __float2int_rn(2.5f) + __float2int_rz(-1.7f) + __float2int_ru(0.1f);
      out[5] = __popc(0xF0u) + __clz(1) + __mul24(3, 4) + __umulhi(0x80000000u, 4u);
      out[6] = M_PI;
      out[7] = fmaf(2.0f, 3.0f, 1.0f) + __fmaf_rn(1.0f, 1.0f, 1.0f);
    """, 8, np.float32, lang="cuda")
    assert out.tolist() == [0, 2 + 1 + 2 + 1, 0.25 + 0.5 + 1, 2.5, 2 - 1 + 1,
                            4 + 31 + 12 + 2, np.float32(np.pi), 7 + 2]


def test_integer_builtins() -> None:
    out = outputs("""
      out[0] = min(-3, 2) + max(4u, 9u);
      out[1] = abs(-7) + clamp(15, 0, 10);
      out[2] = popcount(0xFFu) + clz(1u) + ctz(8u);
      out[3] = mul_hi(0x40000000, 8) + mul24(5, 6) + mad24(2, 3, 4);
      out[4] = rotate(0x80000001u, 1u);
      out[5] = convert_uchar_sat(300) + convert_char_sat(-200);
      out[6] = convert_int_rte(2.5f) + convert_int_rtp(2.1f) + convert_int(-2.9f);
      out[7] = isnan(NAN) + isinf(INFINITY) * 2 + isfinite(1.0f) * 4 + signbit(-1.0f) * 8;
    """, 8)
    assert out.tolist() == [6, 17, 8 + 31 + 3, 2 + 30 + 10, 3, 255 - 128, 2 + 3 - 2, 15]


def test_atomics_and_their_old_values() -> None:
    m = module("""
    __kernel void k(__global int *counter, __global int *tickets, __global int *mx,
                    __global uint *bits, __global int *cas) {
      int i = get_global_id(0);
      tickets[i] = atomic_add(counter, 2);        // the old value
      atomic_max(mx, i * 3 - 5);
      atomic_min(mx + 1, i - 2);
      atomic_or(bits, 1u << i);
      atomic_inc(counter + 1);
      atomic_dec(counter + 2);
      atomic_xchg(counter + 3, 42);
      int old = atomic_cmpxchg(cas, i, i + 1);    // a chain: only work-item 0's matches first
      if (old == i) atomic_add(cas + 1, 1);
    }""")
    counter = np.array([0, 0, 10, 0], np.int32)
    tickets = np.zeros(8, np.int32)
    mx = np.array([-100, 100], np.int32)
    bits = np.zeros(1, np.uint32)
    cas = np.zeros(2, np.int32)
    m["k"](counter, tickets, mx, bits, cas, global_size=(8,), local_size=(4,))
    assert counter.tolist() == [16, 8, 2, 42]
    assert sorted(tickets.tolist()) == list(range(0, 16, 2))
    assert mx.tolist() == [16, -2] and bits[0] == 0xFF
    assert cas.tolist() == [8, 8]   # work-items run in order, so each CAS finds its i


def test_cuda_atomics() -> None:
    m = module("""
    extern "C" __global__ void k(unsigned *wrap, unsigned *dn, float *f, int *ex, int *cas) {
      unsigned old = atomicInc(wrap, 2u);     // wraps to 0 after reaching 2
      atomicDec(dn, 3u);
      atomicAdd(f, 0.5f);
      atomicExch(ex, threadIdx.x);
      atomicCAS(cas, 0, 7);
      atomicSub(cas + 1, 1);
    }""", "cuda")
    wrap, dn = np.zeros(1, np.uint32), np.zeros(1, np.uint32)
    f, ex, cas = np.zeros(1, np.float32), np.zeros(1, np.int32), np.zeros(2, np.int32)
    m["k"](wrap, dn, f, ex, cas, grid=(1,), block=(5,))
    assert wrap[0] == 5 % 3 and dn[0] == 3 - (5 - 1) % 4 and f[0] == 2.5
    assert ex[0] == 4 and cas.tolist() == [7, -5]


def test_warp_votes_and_shuffles() -> None:
    m = module("""
    extern "C" __global__ void k(const int *in, unsigned *ballot, int *any, int *all,
                                 int *idx, int *up, int *seg) {
      int i = threadIdx.x;
      int v = in[i];
      ballot[i] = __ballot_sync(0xffffffff, v > 0);
      any[i] = __any_sync(__activemask(), v > 5);
      all[i] = __all_sync(0xffffffff, v >= 0);
      idx[i] = __shfl_sync(0xffffffff, v, 3);              // broadcast lane 3
      up[i] = __shfl_up_sync(0xffffffff, v, 1);
      seg[i] = __shfl_sync(0xffffffff, v, 0, 8);           // width 8: lane 0 of each segment
    }""", "cuda")
    inp = np.arange(32, dtype=np.int32) - 1
    outs = [np.zeros(32, np.uint32)] + [np.zeros(32, np.int32) for _ in range(5)]
    m["k"](inp, *outs, grid=(1,), block=(32,))
    ballot, any_, all_, idx, up, seg = outs
    assert ballot[0] == 0xFFFFFFFC and any_.all() and not all_.any()
    assert (idx == 2).all() and up[0] == -1 and up[5] == 3
    assert seg.tolist() == [-1] * 8 + [7] * 8 + [15] * 8 + [23] * 8


def test_barrier_scopes() -> None:
    (k,) = kernels("""
    __kernel void k(__global int *a) {
      barrier(CLK_LOCAL_MEM_FENCE);
      barrier(CLK_GLOBAL_MEM_FENCE);
      barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
      mem_fence(CLK_LOCAL_MEM_FENCE);
      sub_group_barrier(CLK_LOCAL_MEM_FENCE);
    }""")
    scopes = [s.scope for s in walk(k.body) if isinstance(s, Barrier)]
    assert scopes == [BarrierScope.LOCAL, BarrierScope.GLOBAL, BarrierScope.ALL,
                      BarrierScope.WARP]
    (c,) = kernels("__global__ void k() { __syncthreads(); __syncwarp(); __threadfence(); }",
                   "cuda")
    assert [s.scope for s in walk(c.body) if isinstance(s, Barrier)] == [BarrierScope.ALL,
                                                                          BarrierScope.WARP]


def test_atomic_result_only_where_used() -> None:
    (k,) = kernels("""
    __kernel void k(__global int *a) { atomic_add(a, 1); int t = atomic_add(a, 1); a[1] = t; }""")
    results = [s.result for s in walk(k.body) if isinstance(s, Atomic)]
    assert results[0] is None and results[1] is not None


def test_templates() -> None:
    out = outputs("""
      out[0] = twice(3) + twice<float>(1.25f);
      out[1] = scaled<4>(2.5f);
      out[2] = pick<int, float>(7, 0.5f);
    """, 3, np.float32, lang="cuda", prelude="""
    template <typename T> __device__ T twice(T x) { return x + x; }
    template <int N> __device__ float scaled(float x) { return N * x; }
    template <class A, class B> __host__ __device__ inline A pick(A a, B b) {
      return a + (A)(b * 2);
    }""")
    assert out.tolist() == [6 + 2.5, 10, 8]


def test_cuda_references_and_static_cast() -> None:
    out = outputs("""
      int a = 1; float b = 2.0f;
      swap_add(a, b);
      out[0] = a; out[1] = static_cast<int>(b * 1.5f);
      float4 v = float4();
    """.replace("float4 v = float4();", ""), 2, lang="cuda", prelude="""
    __device__ __forceinline__ void swap_add(int &x, float &y) { x += 10; y *= 2.0f; }
    """)
    assert out.tolist() == [11, 6]


def test_local_memory_parameter_and_dynamic_shared() -> None:
    m = module("""
    __kernel void k(__global const float *x, __local float *tmp, __global float *out) {
      int l = get_local_id(0);
      tmp[l] = x[get_global_id(0)];
      barrier(CLK_LOCAL_MEM_FENCE);
      out[get_global_id(0)] = tmp[(l + 1) % get_local_size(0)];
    }""")
    x = np.arange(8, dtype=np.float32)
    out = np.zeros(8, np.float32)
    m["k"](x, LocalMemory(16), out, global_size=(8,), local_size=(4,))
    assert out.tolist() == [1, 2, 3, 0, 5, 6, 7, 4]
    c = module("""
    extern "C" __global__ void k(const float *x, float *out) {
      extern __shared__ float s[];
      extern __shared__ float again[];        // the same dynamic shared memory
      s[threadIdx.x] = x[threadIdx.x];
      __syncthreads();
      out[threadIdx.x] = again[blockDim.x - 1 - threadIdx.x];
    }""", "cuda")
    k = c.kernels["k"]
    assert k.dynamic_shared == "s" and [p.name for p in k.params] == ["x", "out", "s"]
    out = np.zeros(4, np.float32)
    c["k"](np.arange(4, dtype=np.float32), out, grid=(1,), block=(4,), shared_mem=16)
    assert out.tolist() == [3, 2, 1, 0]


def test_required_work_group_size() -> None:
    (k,) = kernels("""
    __kernel __attribute__((reqd_work_group_size(8, 4, 1)))
    void k(__global int *a) { a[get_global_id(0)] = 1; }""")
    assert k.domain is not None and k.domain.ndim == 2 and k.domain.local_size == (8, 4)


def test_float_atomic_add_through_a_reinterpreting_cmpxchg() -> None:
    m = module("""
    inline void atomic_add_f(volatile __global float *addr, float val) {
      float old = *addr, assumed;
      do {
        assumed = old;
        old = as_float(atomic_cmpxchg((volatile __global uint *)addr, as_uint(assumed),
                                      as_uint(assumed + val)));
      } while (old != assumed);
    }
    __kernel void sum(__global const float *x, __global float *total) {
      atomic_add_f(total, x[get_global_id(0)]);
    }""")
    x = np.arange(64, dtype=np.float32)
    total = np.zeros(1, np.float32)
    m["sum"](x, total, global_size=(64,), local_size=(16,))
    assert total[0] == x.sum()


def test_cuda_half_intrinsics() -> None:
    m = module("""
    #include <cuda_fp16.h>
    __global__ void k(const __half *a, __half *b) {
      int i = threadIdx.x;
      b[i] = __hfma(a[i], __float2half(2.0f), __hadd(a[i], __hneg(a[i])));
      b[i] = __hmax(b[i], __hmul(a[i], a[i]));
    }""", "cuda")
    a = np.arange(4, dtype=np.float16)
    b = np.zeros_like(a)
    m["k"](a, b, grid=(1,), block=(4,))
    assert b.tolist() == [0, 2, 4, 9]

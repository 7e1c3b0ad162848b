"""The C the frontend accepts, checked by running kernels on the reference target: C's types,
conversions and operators, control flow, helper functions, pointers, arrays and structs."""
from __future__ import annotations

import numpy as np
import pytest
from c_helpers import kernels, module, outputs

from dlc.ir.kernel import For, While, walk


def test_integer_conversions_and_operators() -> None:
    out = outputs("""
      out[0] = -1 < 1u;                 // the int converts to unsigned
      out[1] = (char)200;               // narrowing wraps
      out[2] = -7 / 2;                  // division truncates toward zero
      out[3] = -7 % 2;
      out[4] = (int)-2.7f;
      uint u = 0; u--; out[5] = u == 0xffffffffu;
      out[6] = (1 << 30) >> 29;
      out[7] = sizeof(float4) + sizeof(long) + sizeof(char);
      out[8] = (long)INT_MAX + 1 > 0;
      out[9] = 'a' + 0x10 + 010 + 0b11;
      uchar c = 250; c += 10; out[10] = c;
      short s = -3; out[11] = s * s;
      out[12] = ~5 ^ 3 | 8 & 12;
      out[13] = !0 + !7 + (5 > 3) + (2 == 2.0f);
      out[14] = 17 >> 33;               // OpenCL takes the shift count modulo 32
      ulong big = 1; big <<= 40; out[15] = (int)(big >> 38);
    """, 16)
    assert out.tolist() == [0, -56, -3, -1, -2, 1, 2, 25, 1, 124, 4, 9, -7, 3, 8, 4]


def test_compound_assignment_and_increments() -> None:
    out = outputs("""
      int x = 10; x += 3; x -= 1; x *= 2; x /= 5; x %= 3; x <<= 4; x >>= 1; x &= 12; x |= 3;
      x ^= 5; out[0] = x;
      int i = 5; out[1] = i++; out[2] = i; out[3] = ++i; out[4] = i--; out[5] = --i;
      out[6] = (i = 9) + 1; out[7] = i;
      int a = 1, b = 2; out[8] = (a++, b++, a + b);
      float f = 1.5f; f++; out[9] = (int)(f * 2);
    """, 10)
    assert out.tolist() == [14, 5, 6, 7, 7, 5, 10, 9, 5, 5]


def test_float_literals_and_double_promotion() -> None:
    out = outputs("""
      out[0] = 1 / 3.0;          // double division, stored as float
      out[1] = 0.1f;
      out[2] = 2.5e-1f + 0x1.8p1f;
      out[3] = 7 / 2 * 1.0f;     // integer division first
      out[4] = M_PI_F;
      out[5] = FLT_MAX;
      out[6] = INFINITY;
      out[7] = 3.0f / 0.0f;
      out[8] = (float)(1.0 + 1e-9) - 1.0f;
    """, 9, np.float32)
    assert out[0] == np.float32(1 / 3) and out[1] == np.float32(0.1)
    assert out[2] == 3.25 and out[3] == 3.0
    assert out[4] == np.float32(np.pi) and out[5] == np.finfo(np.float32).max
    assert np.isinf(out[6]) and np.isinf(out[7]) and out[8] == 0.0


def test_double_and_half_kernels() -> None:
    out = outputs("double x = 1.0 / 3.0; out[0] = x * 3.0 - 1.0; out[1] = (half)0.1f;"
                  "out[2] = sqrt(2.0);", 3, np.float64)
    assert out[0] == (1.0 / 3.0) * 3.0 - 1.0 and out[1] == float(np.float16(0.1))
    assert out[2] == np.sqrt(2.0)


def test_logical_operators_short_circuit() -> None:
    m = module("""
    __kernel void k(__global const int* a, int n, __global int* out) {
      int i = get_global_id(0);
      int hits = 0;
      // a[i] is read only where i < n: no out-of-bounds read for the extra work-items
      if (i < n && a[i] > 0) hits = 1;
      if (i >= n || a[i] < 0) hits += 10;
      int k = 0;
      int t = (i < n) && (k++ < 100);   // a side effect on the right of &&
      out[i] = hits + 100 * k + 1000 * t;
    }""")
    a = np.array([5, -3, 0], np.int32)
    out = np.zeros(4, np.int32)
    m["k"](a, 3, out, global_size=(4,))
    assert out.tolist() == [1101, 1110, 1100, 10]


def test_ternary_with_loads_evaluates_one_side() -> None:
    m = module("""
    __kernel void k(__global const float* a, int n, __global float* out) {
      int i = get_global_id(0);
      out[i] = i < n ? a[i] * 2.0f : -1.0f;
      out[i] += i % 2 ? 0.5f : 0.25f;
    }""")
    out = np.zeros(6, np.float32)
    m["k"](np.arange(4, dtype=np.float32), 4, out, global_size=(6,))
    assert out.tolist() == [0.25, 2.5, 4.25, 6.5, -0.75, -0.5]


def test_control_flow() -> None:
    out = outputs("""
      int s = 0;
      for (int i = 0; i < 10; i++) { if (i == 2) continue; if (i == 7) break; s += i; }
      out[0] = s;                                    // 0+1+3+4+5+6
      int j = 0, t = 0;
      for (j = 10; j > 0; j -= 3) t += j;            // not canonical: a while loop
      out[1] = t; out[2] = j;
      int w = 0; while (w < 100) { w = w * 2 + 1; } out[3] = w;
      int d = 0; do { d += 5; } while (d < 12); out[4] = d;
      int c = 0; for (int k = 0; k < 5; ++k) { if (k % 2) continue; c += k; }  out[5] = c;
      int e = 0; for (int a = 0; a < 3; a++) for (int b = 0; b <= a; b++) e += 10 * a + b;
      out[6] = e;
      int g = 0; for (int k = 0; ; k++) { if (k > 4) break; g += k; } out[7] = g;
      int q = 0; for (int k = 0; k < 8; k += 2) { q++; if (q == 3) continue; q++; } out[8] = q;
      if (s > 100) out[9] = 1; else if (s > 10) out[9] = 2; else out[9] = 3;
    """, 10)
    assert out.tolist() == [19, 22, -2, 127, 15, 6, 0 + 10 + 11 + 20 + 21 + 22, 10, 7, 2]


def test_canonical_for_loops_become_ir_for() -> None:
    (k,) = kernels("""
    __kernel void k(__global float* a, int n) {
      for (int i = 0; i < n; i++) a[i] = 0;                // For
      for (int i = get_local_id(0); i < n; i += get_local_size(0)) a[i] += 1;  // For
      for (int i = 0; i < n; i++) { a[i] += 1; i += 0; }   // body assigns i: While
      for (int i = n; i > 0; i--) a[i - 1] += 1;           // counts down: While
      for (int i = 0; i < n; i *= 2) { a[i] += 1; if (i == 0) break; }  // *=: While
    }""")
    loops = [type(s).__name__ for s in walk(k.body) if isinstance(s, (For, While))]
    assert loops == ["For", "For", "While", "While", "While"]


def test_switch_with_fallthrough_and_default() -> None:
    out = outputs("""
      for (int i = 0; i < 6; i++) {
        int r = 0;
        switch (i) {
          case 0: r = 10; break;
          case 1:
          case 2: r = 20;          // falls through into 3
          case 3: r += 1; break;
          default: r = -1;
          case 5: r -= 100;
        }
        out[i] = r;
      }
    """, 6)
    assert out.tolist() == [10, 21, 21, 1, -101, -100]


def test_return_ends_the_work_item() -> None:
    m = module("""
    __kernel void k(__global int* out, int n) {
      int i = get_global_id(0);
      if (i >= n) return;
      out[i] = 1;
      for (int j = 0; j < 10; j++) { if (j == i) return; out[i] += 1; }
    }""")
    out = np.full(5, -1, np.int32)
    m["k"](out, 4, global_size=(5,))
    assert out.tolist() == [1, 2, 3, 4, -1]


def test_helper_functions_are_inlined() -> None:
    out = outputs("""
      out[0] = sq(3) + sq(2.5f);           // int and float helpers
      out[1] = first_neg(-4);
      out[2] = first_neg(3);
      int v = 0; bump(&v); bump(&v); out[3] = v;
      out[4] = fact(5);
      float arr[3] = {1, 2, 3}; out[5] = sum3(arr);
    """, 6, np.float32, prelude="""
    inline float sq(float x) { return x * x; }
    static int first_neg(int n) {
      for (int i = 0; i < 10; i++) {
        for (int j = 0; j < 10; j++)
          if (n + i * 10 + j == 0) return i * 10 + j;   // a return inside two loops
      }
      return -1;
    }
    void bump(int *p) { *p += 1; }
    int fact(int n) { int r = 1; while (n > 1) { r *= n; n--; } return r; }
    float sum3(const float *a) { return a[0] + a[1] + a[2]; }
    """)
    assert out.tolist() == [9 + 6.25, 4, -1, 2, 120, 6]


def test_helper_with_early_return_inside_loop() -> None:
    out = outputs("out[0] = find(7); out[1] = find(100); out[2] = find(0);", 3, prelude="""
    int find(int x) {
      int i = 0;
      while (1) {
        if (i * i >= x) return i;
        if (i > 5) return -1;
        i++;
      }
    }""")
    assert out.tolist() == [3, -1, 0]


def test_helper_with_barrier_and_local_pointer() -> None:
    m = module("""
    void exchange(__local float *s, __global float *x) {
      int l = get_local_id(0);
      s[l] = x[get_global_id(0)];
      barrier(CLK_LOCAL_MEM_FENCE);          // a barrier inside a helper
      x[get_global_id(0)] = s[get_local_size(0) - 1 - l];
    }
    __kernel void reverse(__global float *x) {
      __local float tmp[8];
      exchange(tmp, x);
    }""")
    x = np.arange(16, dtype=np.float32)
    m["reverse"](x, global_size=(16,), local_size=(8,))
    assert x.tolist() == list(range(7, -1, -1)) + list(range(15, 7, -1))


def test_pointer_arithmetic_and_pointer_variables() -> None:
    m = module("""
    __kernel void k(__global float *a, __global float *b, int n) {
      __global float *p = a + 2;
      p[0] = 1.0f;                // a[2]
      *(p + 1) = 2.0f;            // a[3]
      p++;
      p[1] = 3.0f;                // a[4]
      __global float *q = b;
      for (int i = 0; i < n; i++) *q++ = (float)i;
      a[0] = (float)(p - a);
    }""")
    a, b = np.zeros(6, np.float32), np.zeros(4, np.float32)
    m["k"](a, b, 4, global_size=(1,))
    assert a.tolist() == [3, 0, 1, 2, 3, 0]
    assert b.tolist() == [0, 1, 2, 3]


def test_private_and_local_arrays() -> None:
    out = outputs("""
      int a[5] = {1, 2, 3};                  // the rest are zero
      int m[2][3] = {{1, 2, 3}, {4, 5, 6}};
      int s = 0;
      for (int i = 0; i < 5; i++) s += a[i];
      out[0] = s;
      out[1] = m[1][2] + m[0][1];
      int *row = m[1];
      out[2] = row[0] + row[2];
      int b[] = {7, 8};
      out[3] = b[1] + sizeof(b) / sizeof(b[0]);
    """, 4)
    assert out.tolist() == [6, 8, 10, 10]


def test_initializers_with_elided_braces() -> None:
    out = outputs("""
      int m[2][3] = {1, 2, 3, 4};           // braces left out: rows fill in order
      Pair ps[2] = {{1, 2}, 3, 4};
      Pair p = {5};
      Pair q = {p.b, p.a};
      out[0] = m[1][0] + m[1][2];
      out[1] = ps[1].a * 10 + ps[1].b;
      out[2] = p.a + p.b + q.a;
      int4 v = {7, 8};                      // the other lanes are zero
      out[3] = v.x + v.y + v.z + v.w;
      __local int shared[4];
      __local int *lp = shared;             // a pointer into local memory
      lp[1] = 9; out[4] = shared[1];
      out[5] = any((int4)(0, -1, 0, 0)) + 2 * all((int4)(-1, -2, 0, -4));
    """, 6, prelude="typedef struct { int a, b; } Pair;")
    assert out.tolist() == [4, 34, 5, 15, 9, 1]


def test_structs() -> None:
    out = outputs("""
      Point p = {1.0f, 2.0f};
      Point q = p;                 // a copy
      q.x = 10.0f;
      Segment s; s.a = p; s.b = q;
      out[0] = p.x + s.b.x;
      out[1] = length2(s);
      Point ps[3];
      for (int i = 0; i < 3; i++) { ps[i].x = i; ps[i].y = 2 * i; }
      out[2] = ps[2].y + ps[1].x;
      Point m = mid(p, q);
      out[3] = m.x;
    """, 4, np.float32, prelude="""
    typedef struct { float x, y; } Point;
    struct Seg { Point a; Point b; };
    typedef struct Seg Segment;
    float length2(Segment s) { float dx = s.b.x - s.a.x, dy = s.b.y - s.a.y;
                               return dx * dx + dy * dy; }
    Point mid(Point a, Point b) { Point r; r.x = (a.x + b.x) / 2; r.y = (a.y + b.y) / 2;
                                 return r; }
    """)
    assert out.tolist() == [11.0, 81.0, 5.0, 5.5]


def test_struct_buffers() -> None:
    m = module("""
    typedef struct { float x, y, z; } Particle;
    __kernel void move(__global Particle *ps, float dt) {
      int i = get_global_id(0);
      Particle p = ps[i];
      p.x += dt * p.z;
      ps[i] = p;
      ps[i].y = (&ps[i])->x + 1.0f;
    }""")
    k = m.kernels["move"]
    assert str(k.params[0]).startswith("%ps: f32*")
    ps = np.arange(12, dtype=np.float32).reshape(4, 3)
    want = ps.copy()
    want[:, 0] += 0.5 * want[:, 2]
    want[:, 1] = want[:, 0] + 1
    m["move"](ps, 0.5, global_size=(4,))
    np.testing.assert_array_equal(ps, want)


def test_constant_tables_and_enums() -> None:
    out = outputs("out[0] = W[2] + W[0]; out[1] = GREEN + BLUE; out[2] = SCALE * 2;", 3,
                  prelude="""
    __constant int W[3] = {10, 20, 30};
    enum Color { RED, GREEN = 5, BLUE };
    __constant int SCALE = 21;
    """)
    assert out.tolist() == [40, 11, 42]


def test_typedefs_and_qualifiers() -> None:
    out = outputs("""
      const real a = 2.5f;
      volatile int v = 3;
      register int r = 4;
      static const int s = 5;
      out[0] = a * v + r + s;
      out[1] = (real)idx_t_max();
    """, 2, np.float32, prelude="""
    typedef float real;
    typedef unsigned int idx_t;
    static inline __attribute__((always_inline)) idx_t idx_t_max(void) { return 7u; }
    """)
    assert out.tolist() == [16.5, 7.0]


def test_scalar_parameters_may_be_assigned() -> None:
    m = module("""
    __kernel void k(__global int *out, int n) {
      int i = get_global_id(0);
      n += i;              // each work-item has its own copy
      out[i] = n;
    }""")
    out = np.zeros(4, np.int32)
    m["k"](out, 10, global_size=(4,))
    assert out.tolist() == [10, 11, 12, 13]


def test_buffer_access_flags_follow_use() -> None:
    (k,) = kernels("""
    __kernel void k(__global const float *in, __global float *out, __global float *unused,
                    __global float *rw, __local float *tmp, __constant float *c) {
      out[0] = in[0] + c[0];
      rw[0] += 1.0f;
      tmp[0] = 1.0f;
    }""")
    flags = {p.name: (p.read, p.write, str(p.scope)) for p in k.buffers()}
    assert flags == {"in": (True, False, "global"), "out": (False, True, "global"),
                     "unused": (True, False, "global"), "rw": (True, True, "global"),
                     "tmp": (False, True, "local"), "c": (True, False, "constant")}


def test_statements_carry_their_source_position() -> None:
    (k,) = kernels("__kernel void k(__global int *o) {\n  int i = 1;\n  o[0] = i;\n}\n",
                   filename="pos.cl")
    assert [s.loc for s in k.body.stmts] == ["pos.cl:2:3", "pos.cl:3:3"]


@pytest.mark.parametrize("lang", ["opencl", "cuda"])
def test_bool_type(lang: str) -> None:
    out = outputs("bool b = 5; bool c = 0.0f; out[0] = b + c; out[1] = !b; out[2] = b && !c;",
                  3, lang=lang)
    assert out.tolist() == [1, 0, 1]

"""The cpu backend on scalar loop kernels: every operator on every integer and float type, casts
between all types, math intrinsics and control flow, each checked against the kernel
interpreter (and numpy where that is clearer). Kernels of one test share one native module."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from cpu_testing import differential, same

from dlc.backends.cpu import compile_kernel, compile_kernels
from dlc.ir.kernel import (
    BF16,
    BOOL,
    F16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    MATH,
    U8,
    U16,
    U32,
    U64,
    Kernel,
    KernelBuilder,
    Math,
    ScalarType,
    Unary,
)
from dlc.ir.kernel import intrinsics as I
from dlc.ir.kernel.expr import binary
from dlc.ir.text import parse_kernel

INTS = [I8, I16, I32, I64, U8, U16, U32, U64]
FLOATS = [F16, BF16, F32, F64]
ALL = [BOOL, *INTS, *FLOATS]
INT_BINARY = ["add", "sub", "mul", "div", "rem", "floordiv", "floormod", "min", "max", "and",
              "or", "xor"]
CMP = ["eq", "ne", "lt", "le", "gt", "ge"]
N = 64


def rng_values(t: ScalarType, n: int, seed: int, nonzero: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = t.dtype.np
    if t.is_bool:
        return rng.random(n) < 0.5
    if t.is_int:
        info = np.iinfo(dt)
        edges = [0, 1, -1, info.min, info.max, info.min + 1, info.max - 1, 7, -7, 2, -3]
        edges = [e for e in edges if info.min <= e <= info.max]
        bits = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(3) + rng.integers(
            0, 2**63, n, dtype=np.uint64)
        v = bits.view(np.int64).astype(dt) if dt.kind == "i" else bits.astype(dt)
        v[:len(edges)] = edges
        small = rng.integers(-100, 100, n // 4)
        v[len(edges):len(edges) + len(small)] = small.astype(dt)
        if nonzero:
            v[v == 0] = 1
        return v
    edges = [0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, -2.5, np.nan, np.inf, -np.inf, 1e10, -1e10,
             65504.0, 65520.0, 3e38, 1e-8, 255.9, 256.0, -129.0, 4294967296.0, 2.0**63, 1e-40,
             -3.75, 100.25]
    v = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n))
    v[:len(edges)] = edges
    with np.errstate(over="ignore"):
        return v.astype(dt)


def int_kernel(t: ScalarType) -> Kernel:
    kb = KernelBuilder(f"int_ops_{t}")
    n = kb.scalar("n", I32)
    a, b, c = (kb.buffer(x, t, (n,), access="r") for x in "abc")
    ops = INT_BINARY + ["shl", "shr", "neg", "bitnot", "abs", "popcount", "clz", "ctz", "mulhi",
                        "clamp"]
    out = kb.buffer("out", t, (len(ops), n), access="w")
    cmp = kb.buffer("cmp", BOOL, (len(CMP), n), access="w")
    with kb.for_("i", n) as i:
        x, y, s = kb.let("x", a[i]), kb.let("y", b[i]), kb.let("s", c[i])
        values = [binary(op, x, y) for op in INT_BINARY]
        values += [binary("shl", x, s), binary("shr", x, s), Unary("neg", x),
                   Unary("bitnot", x)]
        values += [Math(f, (x,)) for f in ("abs", "popcount", "clz", "ctz")]
        values += [I.math("mulhi", x, y), I.math("clamp", x, I.minimum(y, 3), I.maximum(y, 3))]
        for j, v in enumerate(values):
            out[j, i] = v
        for j, op in enumerate(CMP):
            cmp[j, i] = binary(op, x, y)
    return kb.finish()


def test_integer_operators_of_every_width_match_the_interpreter() -> None:
    kernels = [int_kernel(t) for t in INTS]
    for t, k, ck in zip(INTS, kernels, compile_kernels(kernels)):
        a, b = rng_values(t, N, 1), rng_values(t, N, 2, nonzero=True)
        shifts = np.arange(-4, N - 4).astype(t.dtype.np)
        nops = k.params[4].shape[0].value  # type: ignore[union-attr]
        out = np.zeros((nops, N), t.dtype.np)
        cmp = np.zeros((len(CMP), N), np.bool_)
        with np.errstate(all="ignore"):
            differential(k, [N, a, b, shifts, out, cmp], ck=ck)


def float_kernel(t: ScalarType) -> Kernel:
    kb = KernelBuilder(f"float_ops_{t}")
    n = kb.scalar("n", I32)
    a, b = (kb.buffer(x, t, (n,), access="r") for x in "ab")
    ops = ["add", "sub", "mul", "div", "rem", "min", "max"]
    out = kb.buffer("out", t, (len(ops) + 1, n), access="w")
    cmp = kb.buffer("cmp", BOOL, (len(CMP) + 4, n), access="w")
    with kb.for_("i", n) as i:
        x, y = kb.let("x", a[i]), kb.let("y", b[i])
        for j, op in enumerate(ops):
            out[j, i] = binary(op, x, y)
        out[len(ops), i] = -x
        for j, op in enumerate(CMP):
            cmp[j, i] = binary(op, x, y)
        for j, f in enumerate(("isnan", "isinf", "isfinite", "signbit")):
            cmp[len(CMP) + j, i] = Math(f, (x,))
    return kb.finish()


def test_float_operators_round_like_the_interpreter() -> None:
    kernels = [float_kernel(t) for t in FLOATS]
    for t, k, ck in zip(FLOATS, kernels, compile_kernels(kernels)):
        a, b = rng_values(t, N, 3), rng_values(t, N, 4)[::-1].copy()
        out = np.zeros((8, N), t.dtype.np)
        cmp = np.zeros((10, N), np.bool_)
        with np.errstate(all="ignore"):
            differential(k, [N, a, b, out, cmp], ck=ck)


def cast_kernel(src: ScalarType) -> Kernel:
    kb = KernelBuilder(f"cast_from_{src}")
    n = kb.scalar("n", I32)
    a = kb.buffer("a", src, (n,), access="r")
    outs = [kb.buffer(f"o_{d}", d, (n,), access="w") for d in ALL]
    with kb.for_("i", n) as i:
        x = kb.let("x", a[i])
        for d, o in zip(ALL, outs):
            o[i] = x.cast(d)
    return kb.finish()


def test_casts_between_all_types_follow_c_with_saturation() -> None:
    kernels = [cast_kernel(t) for t in ALL]
    for t, k, ck in zip(ALL, kernels, compile_kernels(kernels)):
        a = rng_values(t, N, 5)
        outs = [np.zeros(N, d.dtype.np) for d in ALL]
        with np.errstate(all="ignore"):
            differential(k, [N, a, *outs], ck=ck)


def test_f64_to_half_rounds_once_and_bf16_as_ml_dtypes() -> None:
    """Values just past a half rounding midpoint: rounding through float first would land on
    the midpoint and round to even, the wrong way. bf16 rounds through float, as ml_dtypes
    (the interpreter's reference) does."""
    k = cast_kernel(F64)
    half_mid = 1.0 + 2.0**-11 + 2.0**-40  # above the midpoint between 1 and 1+2^-10
    bf_mid = 1.0 + 2.0**-8 + 2.0**-40
    a = np.array([half_mid, -half_mid, bf_mid, -bf_mid, 1e300, -1e300, 1e-300, 7e-6], np.float64)
    outs = [np.zeros(len(a), d.dtype.np) for d in ALL]
    with np.errstate(over="ignore"):
        got = differential(k, [len(a), a, *outs])
        same(got[2 + ALL.index(F16)], a.astype(np.float16))
        same(got[2 + ALL.index(BF16)], a.astype(np.float32).astype(ml_dtypes.bfloat16))
    same(got[2 + ALL.index(F16)][:2], [1 + 2.0**-10, -1 - 2.0**-10])


def test_bitcasts_reinterpret_memory_bits() -> None:
    k = parse_kernel("""
    kernel @bits(%n: i32, %f: f32* global r, %h: f16* global r, %b: bf16* global r,
                 %d: f64* global r, %o32: i32* global w, %o16: i16* global w,
                 %ob: u16* global w, %o64: u64* global w, %back: f32* global w) {
      for %i: i32 in 0 to %n {
        %o32[%i] = bitcast<i32>(%f[%i])
        %o16[%i] = bitcast<i16>(%h[%i])
        %ob[%i] = bitcast<u16>(%b[%i])
        %o64[%i] = bitcast<u64>(%d[%i])
        %back[%i] = bitcast<f32>(bitcast<i32>(%f[%i]) ^ -2147483648)
      }
    }""")
    f = rng_values(F32, N, 6)
    with np.errstate(over="ignore"):
        h, bf, d = f.astype(np.float16), f.astype(ml_dtypes.bfloat16), f.astype(np.float64)
    outs = [np.zeros(N, dt) for dt in (np.int32, np.int16, np.uint16, np.uint64, np.float32)]
    with np.errstate(all="ignore"):
        got = differential(k, [N, f, h, bf, d, *outs])
    same(got[5], f.view(np.int32))
    same(got[7], bf.view(np.uint16))
    same(got[9], -f)


FLOAT_FNS = [f for f, info in MATH.items() if info.domain == "float" and not info.returns_bool]


def math_kernel(t: ScalarType) -> Kernel:
    kb = KernelBuilder(f"math_{t}")
    n = kb.scalar("n", I32)
    a, b, c = (kb.buffer(x, t, (n,), access="r") for x in "abc")
    out = kb.buffer("out", t, (len(FLOAT_FNS), n), access="w")
    with kb.for_("i", n) as i:
        x, y, z = kb.let("x", a[i]), kb.let("y", b[i]), kb.let("z", c[i])
        for j, f in enumerate(FLOAT_FNS):
            out[j, i] = Math(f, (x, y, z)[:MATH[f].arity])
    return kb.finish()


TOLERANCE = {F16: 2e-3, BF16: 1.6e-2, F32: 4e-6, F64: 1e-13}


def test_math_intrinsics_match_the_interpreter() -> None:
    kernels = [math_kernel(t) for t in FLOATS]
    rng = np.random.default_rng(7)
    for t, k, ck in zip(FLOATS, kernels, compile_kernels(kernels)):
        dt = t.dtype.np
        x = np.concatenate([rng.uniform(-3, 3, N - 8), [0.5, 1.5, 2.5, -2.5, 0, 1, -0.75, 3.5]])
        a, b, c = x.astype(dt), rng.uniform(0.1, 2, N).astype(dt), rng.uniform(-1, 1, N).astype(dt)
        out = np.zeros((len(FLOAT_FNS), N), dt)
        with np.errstate(all="ignore"):
            differential(k, [N, a, b, c, out], ck=ck, rtol=TOLERANCE[t], atol=TOLERANCE[t] * 1e-3)


CONTROL = """
kernel @control(%n: i32, %x: f32* global r, %out: i32* global w, %f: f32* global w) {
  for %i: i32 in 0 to %n {
    let %acc: i32 = 0
    for %k: i32 in %i to %n step 2 {
      if %k % 3 == 1 { continue }
      if %k > %i + 9 { break }
      %acc = %acc + %k
    }
    let %j: i32 = 0
    while true {
      %j = %j + 1
      if %j >= %i { break }
    }
    do { %j = %j + 100 } while %j < 350
    let %far: i32 = -100000000
    let %safe: bool = %i < 0 && %x[%far] > 0.0
    let %sel: f32 = select(%i > 1000, %x[%far], %x[%i])
    if %safe || %i % 5 == 0 { %acc = -%acc } else if %i % 5 == 1 { %acc = %acc * 2 }
    else { %acc = %acc + 1 }
    %out[%i] = %acc * 1000 + %j
    %f[%i] = %sel
    if %i == %n - 1 { return }
  }
  %out[0] = 42
}
"""


def test_control_flow_and_guarded_loads() -> None:
    k = parse_kernel(CONTROL)
    x = rng_values(F32, 40, 8)
    out, f = np.zeros(40, np.int32), np.zeros(40, np.float32)
    got = differential(k, [40, x, out, f])
    assert got[2][0] != 42  # the return left the kernel before the last store


def test_parameters_can_be_assigned_and_bools_live_in_bytes() -> None:
    k = parse_kernel("""
    kernel @halve(%n: i32, %flag: bool, %m: bool* global rw, %out: i32* global w) {
      let %i: i32 = 0
      while %n > 1 { %n = %n >> 1  %out[%i] = %n  %i = %i + 1 }
      for %k: i32 in 0 to 8 { %m[%k] = !%m[%k] && %flag }
    }""")
    m = np.array([0, 1, 0, 1, 1, 0, 0, 1], np.bool_)
    out = np.zeros(8, np.int32)
    got = differential(k, [100, True, m, out])
    same(got[3][:6], [50, 25, 12, 6, 3, 1])
    same(got[2], ~m)


@pytest.mark.parametrize("bad", [1.5, "x", 2**40])
def test_scalar_arguments_are_checked(bad: object) -> None:
    from dlc.errors import InputError
    k = parse_kernel("kernel @s(%n: i32, %x: i32* global w) { %x[0] = %n }")
    with pytest.raises(InputError, match="argument %n"):
        compile_kernel(k).run([bad, np.zeros(1, np.int32)])


def test_complex_values_are_moved_as_they_are() -> None:
    # complex numbers have no kernel arithmetic (kernels bitcast them to float pairs); loads and
    # stores copy them bit for bit
    k = parse_kernel("kernel @c(%x: c64* global rw) { %x[0] = %x[1] }")
    a = np.array([0, 1 + 2j, 3], np.complex64)
    compile_kernel(k).run([a])
    assert a.tolist() == [1 + 2j, 1 + 2j, 3]


def test_rank0_buffers():
    from dlc.ir.kernel import F32, KernelBuilder
    # a rank-0 buffer is indexed by (): what lowering emits for scalar tensors
    kb = KernelBuilder("scalar_add")
    x = kb.buffer("x", F32, (), access="r")
    y = kb.buffer("y", F32, (), access="w")
    kb.store(y, (), x[()] + 1.0)
    k = kb.finish()
    xa, ya = np.array(2.5, np.float32), np.zeros((), np.float32)
    compile_kernel(k).run([xa, ya])
    assert float(ya) == 3.5

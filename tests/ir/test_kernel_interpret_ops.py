"""The kernel interpreter's arithmetic (C's integer and float rules), vectors, atomics and
32-lane warp operations, each against numpy or a hand-worked model."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dlc.errors import ExecutionError
from dlc.ir import verify_kernel
from dlc.ir.kernel import Kernel
from dlc.ir.kernel.interpret import run_kernel
from dlc.ir.text import parse_kernel


def K(text: str) -> Kernel:
    k = parse_kernel(text)
    verify_kernel(k)
    return k


def elementwise(t: str, expr: str, *inputs: np.ndarray, out: str | None = None) -> np.ndarray:
    """Run `out[i] = expr` over inputs %a, %b, %c of type `t` (result type `out`, default t)."""
    names = "abc"[:len(inputs)]
    params = ", ".join(f"%{n}: {t}* global r" for n in names)
    o = out or t
    loads = "".join(f"  let %{n}0: {t} = %{n}[global_id(0)]\n" for n in names)
    body = expr
    for n in names:
        body = body.replace(f"${n}", f"%{n}0")
    k = K(f"kernel @ew({params}, %out: {o}* global w) spmd(1) {{\n{loads}"
          f"  %out[global_id(0)] = {body}\n}}")
    from dlc.ir.kernel import ScalarType
    result = np.zeros(len(inputs[0]), ScalarType.parse(o).dtype.np)
    run_kernel(k, [*inputs, result], len(inputs[0]), 1)
    return result


I32 = np.array([7, -7, 7, -7, 2**31 - 1, -2**31, 0, 5, 100, -1], np.int32)
J32 = np.array([2, 2, -2, -2, 3, 7, 33, 31, -1, 32], np.int32)


def test_integer_division_truncates_and_remainder_takes_the_dividend_sign() -> None:
    np.testing.assert_array_equal(elementwise("i32", "$a / $b", I32, J32),
                                  [int(a / b) if b else 0 for a, b in zip(I32.tolist(), J32)])
    np.testing.assert_array_equal(elementwise("i32", "$a % $b", I32, J32), np.fmod(I32, J32))
    np.testing.assert_array_equal(elementwise("i32", "floordiv($a, $b)", I32, J32), I32 // J32)
    np.testing.assert_array_equal(elementwise("i32", "rem($a, $b)", I32, J32), np.fmod(I32, J32))
    u = I32.view(np.uint32)
    np.testing.assert_array_equal(elementwise("u32", "$a / $b", u, J32.view(np.uint32)),
                                  u // J32.view(np.uint32))


def test_integer_division_by_zero_names_the_work_item() -> None:
    with pytest.raises(ExecutionError, match=r"kernel 'ew': integer division by zero by "
                                             r"work-item global id \(1,\).*`%out\[global_id"):
        elementwise("i32", "$a % $b", I32[:3], np.array([1, 0, 1], np.int32))


def test_integer_arithmetic_wraps_and_shifts_follow_ptx() -> None:
    np.testing.assert_array_equal(elementwise("i32", "$a + $b", I32, J32), I32 + J32)
    np.testing.assert_array_equal(elementwise("i32", "$a * $b", I32, J32), I32 * J32)
    shl = [a << b if 0 <= b < 32 else 0 for a, b in zip(I32.tolist(), J32.tolist())]
    np.testing.assert_array_equal(elementwise("i32", "$a << $b", I32, J32),
                                  np.array(shl, np.int64).astype(np.int32))
    shr = [a >> b if 0 <= b < 32 else (-1 if a < 0 else 0) for a, b in zip(I32.tolist(), J32)]
    np.testing.assert_array_equal(elementwise("i32", "$a >> $b", I32, J32), shr)
    u, v = I32.view(np.uint32), J32.view(np.uint32)
    np.testing.assert_array_equal(elementwise("u32", "$a >> $b", u, v),
                                  [a >> b if b < 32 else 0 for a, b in zip(u.tolist(), v)])
    np.testing.assert_array_equal(elementwise("i32", "-$a", I32), -I32)
    np.testing.assert_array_equal(elementwise("i32", "~$a ^ ($a & $b) | 3", I32, J32),
                                  ~I32 ^ (I32 & J32) | 3)


def test_bit_counting_and_high_multiply() -> None:
    u = I32.view(np.uint32)
    pop = [bin(x).count("1") for x in u.tolist()]
    clz = [32 - x.bit_length() for x in u.tolist()]
    ctz = [(x & -x).bit_length() - 1 if x else 32 for x in u.tolist()]
    np.testing.assert_array_equal(elementwise("u32", "popcount($a)", u), pop)
    np.testing.assert_array_equal(elementwise("u32", "clz($a)", u), clz)
    np.testing.assert_array_equal(elementwise("u32", "ctz($a)", u), ctz)
    np.testing.assert_array_equal(elementwise("i32", "mulhi($a, $b)", I32, J32),
                                  [(a * b) >> 32 for a, b in zip(I32.tolist(), J32.tolist())])
    big = np.array([2**63 - 1, -2**63, -3, 12345678901234, -1], np.int64)
    other = np.array([2**62 + 7, 3, -2**63, -987654321987, -1], np.int64)
    np.testing.assert_array_equal(elementwise("i64", "mulhi($a, $b)", big, other),
                                  [(a * b) >> 64 for a, b in zip(big.tolist(), other.tolist())])
    ub, uo = big.view(np.uint64), other.view(np.uint64)
    np.testing.assert_array_equal(elementwise("u64", "mulhi($a, $b)", ub, uo),
                                  [(a * b) >> 64 for a, b in zip(ub.tolist(), uo.tolist())])
    np.testing.assert_array_equal(elementwise("i64", "clz($a)", big),
                                  [64 - (x % 2**64).bit_length() for x in big.tolist()])


F = np.array([2.5, -2.5, 1e10, -1e10, np.nan, 0.49999997, -0.5, 3.7, np.inf, -0.0], np.float32)


def test_conversions_truncate_saturate_and_round() -> None:
    np.testing.assert_array_equal(elementwise("f32", "cast<i32>($a)", F, out="i32"),
                                  [2, -2, 2**31 - 1, -2**31, 0, 0, 0, 3, 2**31 - 1, 0])
    np.testing.assert_array_equal(elementwise("f32", "cast<u8>($a)", F, out="u8"),
                                  [2, 0, 255, 0, 0, 0, 0, 3, 255, 0])
    np.testing.assert_array_equal(elementwise("f32", "cast<bool>($a)", F, out="bool"),
                                  [True] * 5 + [True, True, True, True, False])
    np.testing.assert_array_equal(elementwise("f32", "round($a)", F),
                                  [3, -3, 1e10, -1e10, np.nan, 0, -1, 4, np.inf, -0.0])
    np.testing.assert_array_equal(elementwise("f32", "rint($a)", F), np.rint(F))
    np.testing.assert_array_equal(elementwise("i32", "cast<i8>($a)", I32, out="i8"),
                                  I32.astype(np.int8))
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(elementwise("f32", "cast<f16>($a)", F, out="f16"),
                                      F.astype(np.float16))
    np.testing.assert_array_equal(elementwise("f32", "bitcast<u32>($a)", F, out="u32"),
                                  F.view(np.uint32))


def test_float_min_max_ignore_nan_and_half_rounds_each_op() -> None:
    a = np.array([1.0, np.nan, 3.0, -0.0], np.float32)
    b = np.array([np.nan, 2.0, 1.0, 5.0], np.float32)
    np.testing.assert_array_equal(elementwise("f32", "min($a, $b)", a, b), [1, 2, 1, -0.0])
    np.testing.assert_array_equal(elementwise("f32", "max($a, $b)", a, b), [1, 2, 3, 5])
    h = np.array([0.1, 2048, 1e-4, 60000], np.float16)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(elementwise("f16", "$a * $a + $a", h), h * h + h)
    assert elementwise("f16", "$a * $a + $a", h).dtype == np.float16


def test_math_functions_match_numpy() -> None:
    x = np.array([0.25, 0.5, 1.5, 2.0, 3.75], np.float32)
    y = np.array([1.5, -2.0, 0.5, 3.0, -1.25], np.float32)
    for fn, ref in (("exp", np.exp), ("log", np.log), ("sqrt", np.sqrt), ("tanh", np.tanh),
                    ("rsqrt", lambda v: 1 / np.sqrt(v)), ("cbrt", np.cbrt),
                    ("exp10", lambda v: 10.0 ** v), ("asin", lambda v: np.arcsin(v / 4)),
                    ("erf", np.vectorize(math.erf)), ("tgamma", np.vectorize(math.gamma)),
                    ("lgamma", np.vectorize(math.lgamma))):
        arg = "$a * 0.25" if fn == "asin" else "$a"
        np.testing.assert_allclose(elementwise("f32", f"{fn}({arg})", x), ref(x.astype(float)),
                                   rtol=2e-6, err_msg=fn)
    for fn, ref2 in (("pow", np.power), ("atan2", np.arctan2), ("fmod", np.fmod),
                     ("hypot", np.hypot), ("copysign", np.copysign)):
        np.testing.assert_allclose(elementwise("f32", f"{fn}($a, $b)", x, y),
                                   ref2(x.astype(float), y), rtol=2e-6, err_msg=fn)
    got = elementwise("f32", "fma($a, $b, $c)", x, y, -x * y)
    np.testing.assert_array_equal(got, (x.astype(float) * y - (x * y)).astype(np.float32))
    d = np.array([1 + 2.0**-30, 3.0], np.float64)
    e = np.array([1 - 2.0**-30, 1 / 3], np.float64)
    got64 = elementwise("f64", "fma($a, $b, $c)", d, e, np.array([-1.0, -1.0]))
    assert got64[0] == -2.0**-60  # the exact product's low bits survive a fused multiply-add
    assert np.isnan(elementwise("f32", "tgamma($a)", np.array([-2.0], np.float32)))[0]
    assert elementwise("f32", "isnan($a)", F, out="bool").tolist() == [
        False] * 4 + [True] + [False] * 5


def test_vectors_lanes_swizzles_and_vector_memory() -> None:
    k = K("""
    kernel @vec(%a: f32x4* global r, %b: f32* global rw, %c: i32x2* global w) spmd(1) {
      let %i: i32 = global_id(0)
      let %v: f32x4 = %a[%i] * broadcast<4>(2.0)
      let %w: f32x4 = swizzle<3, 2, 1, 0>(%v)
      if %i % 2 == 0 { %w = insert<0>(%w, extract<3>(%w) + 100.0) }
      %b[%i * 4] = %w
      let %u: f32x4 = vload<4>(%b[%i * 4])
      let %lt: boolx4 = %u < vec(1.0, 5.0, 9.0, 13.0)
      %c[%i] = vec(cast<i32>(extract<0>(select(%lt, %u, broadcast<4>(-1.0)))),
                   bitcast<i32>(extract<1>(%u)))
    }""")
    a = np.arange(32, dtype=np.float32)
    b, c = np.zeros(32, np.float32), np.zeros(16, np.int32)
    run_kernel(k, [a, b, c], 8, 4)
    w = (a.reshape(8, 4) * 2)[:, ::-1].copy()
    w[::2, 0] = w[::2, 3] + 100
    np.testing.assert_array_equal(b.reshape(8, 4), w)
    lanes = np.where(w < [1, 5, 9, 13], w, -1)
    np.testing.assert_array_equal(c.reshape(8, 2)[:, 0], lanes[:, 0])
    np.testing.assert_array_equal(c.reshape(8, 2)[:, 1], w[:, 1].view(np.int32))
    with pytest.raises(ExecutionError, match=r"read of buffer 'b' at index \[29\] \(and the 3 "
                                             r"elements after it\); it has 32 elements"):
        run_kernel(K("""
        kernel @vl(%b: f32* global rw) spmd(1) {
          %b[0] = extract<0>(vload<4>(%b[global_id(0) + 28]))
        }"""), [b], 4, 1)


ATOMIC = """
kernel @at(%idx: i32* global r, %v: {t}* global r, %buf: {t}* global rw, %old: {t}* global w)
    spmd(1) {{
  let %i: i32 = global_id(0)
  let %o: {t} = atomic {op}(%buf[%idx[%i]]{args})
  %old[%i] = %o
}}"""


@pytest.mark.parametrize("op", ["add", "sub", "min", "max", "and", "or", "xor", "xchg", "inc",
                                "dec", "cas"])
@pytest.mark.parametrize("t", ["i32", "u32", "f32"])
def test_atomics_act_one_work_item_after_another(op: str, t: str) -> None:
    if t == "f32" and op in ("and", "or", "xor", "inc", "dec", "cas"):
        return
    rng = np.random.default_rng(7)
    dt = np.dtype({"i32": np.int32, "u32": np.uint32, "f32": np.float32}[t])
    idx = rng.integers(0, 3, 40).astype(np.int32)
    v = rng.integers(0, 9, 40).astype(dt)
    buf = np.array([3, 5, 8], dt)
    args = {"inc": "", "dec": "", "cas": ", 5, %v[%i]"}.get(op, ", %v[%i]")
    k = K(ATOMIC.format(t=t, op=op, args=args))
    got_buf, old = buf.copy(), np.zeros(40, dt)
    run_kernel(k, [idx, v, got_buf, old], 40, 8)
    ref, ref_old = buf.copy(), np.zeros(40, dt)
    with np.errstate(all="ignore"):
        for i in range(40):  # the order work-items run in: one after another
            o = ref[idx[i]]
            ref_old[i] = o
            ref[idx[i]] = {"add": o + v[i], "sub": o - v[i], "min": min(o, v[i]),
                           "max": max(o, v[i]), "and": o & v[i] if t != "f32" else 0,
                           "or": o | v[i] if t != "f32" else 0,
                           "xor": o ^ v[i] if t != "f32" else 0, "xchg": v[i],
                           "inc": o + dt.type(1), "dec": o - dt.type(1),
                           "cas": v[i] if o == 5 else o}[op]
    np.testing.assert_array_equal(got_buf, ref)
    np.testing.assert_array_equal(old, ref_old)
    no_result = K(ATOMIC.format(t=t, op=op, args=args).replace(f"let %o: {t} = ", "")
                  .replace("%old[%i] = %o", "%old[%i] = %v[%i]"))
    got_buf = buf.copy()
    run_kernel(no_result, [idx, v, got_buf, old], 40, 8)
    np.testing.assert_array_equal(got_buf, ref)


def test_histogram_and_local_atomics_and_cas_loop() -> None:
    k = K("""
    kernel @hist(%n: i32, %x: i32* global r, %h: u32* global rw, %sum: i32* global rw)
        spmd(1) {
      alloc %lh: u32[4] local rw
      if local_id(0) < 4 { %lh[local_id(0)] = 0 }
      barrier local
      let %i: i32 = global_id(0)
      if %i < %n {
        atomic inc(%lh[%x[%i]])
        let %old: i32 = %sum[0]
        let %seen: i32 = 0
        do {
          %seen = %old
          let %r: i32 = atomic cas(%sum[0], %seen, bitcast<i32>(bitcast<f32>(%seen) + 0.5))
          %old = %r
        } while %old != %seen
      }
      barrier local
      if local_id(0) < 4 { atomic add(%h[local_id(0)], %lh[local_id(0)]) }
    }""")
    x = np.random.default_rng(3).integers(0, 4, 300).astype(np.int32)
    h, s = np.zeros(4, np.uint32), np.zeros(1, np.float32)
    run_kernel(k, [300, x, h, s.view(np.int32)], 320, 32)
    np.testing.assert_array_equal(h, np.bincount(x, minlength=4))
    assert s[0] == 150.0
    x[5] = 4
    with pytest.raises(ExecutionError, match=r"out-of-bounds atomic inc of local buffer 'lh' at "
                                             r"index \[4\]; it has 4 elements; by work-item "
                                             r"global id \(5,\)"):
        run_kernel(k, [300, x, h, s.view(np.int32)], 320, 32)


def ptx_shuffle(vals: list[int], mode: str, b: int, width: int) -> list[int]:
    """PTX shfl.sync on one warp of len(vals) lanes (a model written from the PTX manual)."""
    out = []
    seg_mask = (32 - width) << 8 >> 8 & 31
    for lane in range(len(vals)):
        b5 = b & 31
        if mode == "up":
            j, ok = lane - b5, lane - b5 >= (lane & seg_mask)
        else:
            max_lane = (lane & seg_mask) | (31 & ~seg_mask)
            j = {"down": lane + b5, "xor": lane ^ b5,
                 "idx": (lane & seg_mask) | (b5 & ~seg_mask)}[mode]
            ok = j <= max_lane
        out.append(vals[j] if ok and j < len(vals) else vals[lane])
    return out


@pytest.mark.parametrize("mode", ["idx", "up", "down", "xor"])
@pytest.mark.parametrize("width", [32, 16, 4])
def test_shuffles_follow_ptx_in_full_and_partial_warps(mode: str, width: int) -> None:
    w = "" if width == 32 else f", {width}"
    k = K(f"""
    kernel @sh(%b: i32, %x: i32* global r, %out: i32* global w) spmd(1) {{
      %out[global_id(0)] = shuffle<{mode}{w}>(%x[global_id(0)], %b)
    }}""")
    x = np.arange(100, 200, dtype=np.int32)
    for b in (1, 3, 6, 17, 33):
        out = np.zeros(100, np.int32)
        run_kernel(k, [b, x, out], 100, 50)  # warps of 32 and 18 lanes in each group
        expect = []
        for start, n in ((0, 32), (32, 18), (50, 32), (82, 18)):
            expect += ptx_shuffle(x[start:start + n].tolist(), mode, b, width)
        np.testing.assert_array_equal(out, expect, err_msg=f"{mode} {b}")


def test_warp_reduction_ballot_vote_and_active_mask() -> None:
    k = K("""
    kernel @warp(%x: f32* global r, %sum: f32* global w, %bal: u32* global w,
                 %act: u32* global w, %all: i32* global w) spmd(2) {
      let %i: i32 = global_id(0) + global_size(0) * global_id(1)
      let %v: f32 = %x[%i]
      for %o: i32 in 0 to 5 { %v = %v + shuffle<xor>(%v, 1 << %o) }
      %sum[%i] = %v
      %bal[%i] = ballot(%x[%i] > 0.5)
      %act[%i] = 0
      if lane_id() % 3 == 0 { %act[%i] = activemask() }
      %all[%i] = cast<i32>(vote<all>(%x[%i] >= 0.0)) + 2 * cast<i32>(vote<any>(%x[%i] > 0.99))
    }""")
    x = np.random.default_rng(5).random(128, dtype=np.float32) * 0.98
    x[70] = 0.995
    s, b, a, al = (np.zeros(128, t) for t in (np.float32, np.uint32, np.uint32, np.int32))
    run_kernel(k, [x, s, b, a, al], (16, 8), (16, 4))  # a group is 64 items: 2 warps of 4 rows
    warps = x.reshape(2, 4, 16)  # y-groups, rows in a group, x
    lin = np.concatenate([warps[g].reshape(-1) for g in range(2)])  # linear local-id order
    order = np.concatenate([(g * 64 + np.arange(64)) for g in range(2)])
    by_warp = lin.reshape(4, 32)
    np.testing.assert_allclose(s[order].reshape(4, 32), by_warp.sum(1, keepdims=True)
                               .repeat(32, 1), rtol=1e-5)
    bits = (by_warp > 0.5) * (1 << np.arange(32, dtype=np.uint64))
    np.testing.assert_array_equal(b[order].reshape(4, 32)[:, 0], bits.sum(1))
    mask3 = sum(1 << j for j in range(0, 32, 3))
    np.testing.assert_array_equal(a[order].reshape(4, 32)[:, ::3], mask3)
    assert (a[order].reshape(4, 32)[:, 1] == 0).all()
    np.testing.assert_array_equal(al[order].reshape(4, 32)[:, 0], [1, 1, 3, 1])


def test_a_loaded_vector_is_a_value_not_a_view_of_memory() -> None:
    k = K("""
    kernel @alias(%v: f32x4[2, 2] global rw) spmd(1) {
      let %a: f32x4 = %v[0, 1]
      %v[0, 1] = broadcast<4>(9.0)
      %v[1, 0] = %a
    }""")
    v = np.arange(16, dtype=np.float32)
    run_kernel(k, [v], 1, 1)
    np.testing.assert_array_equal(v, [0, 1, 2, 3, 9, 9, 9, 9, 4, 5, 6, 7, 12, 13, 14, 15])

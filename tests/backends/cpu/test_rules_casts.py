"""Narrow element types on the cpu target: the kernel casts to and from float8, float6, float4
and int4/int2 (native and interpreted) against ml_dtypes, and the cpu rules for Cast, CastLike,
QuantizeLinear, DequantizeLinear and integer Pow on the ONNX conformance cases (with the Reduce*
cases whose axes input is empty)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from rule_testing import PIPELINE, check_case, run_natively

from dlc.api import make_options
from dlc.backends.cpu import compile_kernels
from dlc.ir import DType, Graph, interpret
from dlc.ir.kernel import I64, Cast, Kernel, KernelBuilder, ScalarType
from dlc.ir.kernel.interpret import run_kernel
from dlc.passes import run_passes

sys.path.insert(0, str(Path(__file__).parents[2] / "passes"))
from lowering_testing import one_node_graph  # noqa: E402

NARROW_FLOATS = [DType.F8E4M3FN, DType.F8E4M3FNUZ, DType.F8E5M2, DType.F8E5M2FNUZ, DType.F4E2M1,
                 DType.F6E2M3, DType.F6E3M2]
NARROW_INTS = [DType.I4, DType.U4, DType.I2, DType.U2]


def cast_kernel(src: DType, dst: DType, n: int) -> Kernel:
    kb = KernelBuilder(f"cast_{src}_{dst}")
    x = kb.buffer("x", src, (n,), access="r")
    y = kb.buffer("y", dst, (n,), access="w")
    with kb.for_("i", 0, n, kind="parallel", type=I64) as i:
        y[i] = Cast(x[i], ScalarType(dst))
    return kb.finish()


def float_inputs() -> np.ndarray:
    """float32 values that probe every narrow float: each value, the ties between neighbours
    and the floats next to both, beyond the largest value, subnormals, signed zeros, inf, NaN,
    and random bit patterns."""
    rng = np.random.default_rng(0)
    parts = [rng.integers(0, 2**32, 1 << 15, dtype=np.uint64).astype(np.uint32).view(np.float32),
             np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 3e38],
                      np.float32)]
    for d in NARROW_FLOATS:
        v = np.arange(1 << d.bits, dtype=np.uint8).view(d.np).astype(np.float64)
        v = np.unique(v[np.isfinite(v)])
        pts = np.concatenate([v, (v[1:] + v[:-1]) / 2, v[-1] * np.array([1.03, 1.0625, 1.1, 2])])
        p = pts.astype(np.float32)
        parts += [p, np.nextafter(p, np.float32(np.inf)), np.nextafter(p, np.float32(-np.inf))]
    return np.concatenate(parts)


def codes(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint8)


def test_narrow_casts_match_ml_dtypes() -> None:
    """Every narrow type both ways, compiled and interpreted: to a narrow float rounds to
    nearest even with ml_dtypes' overflow, NaN and -0 encodings; from it is exact; integers wrap
    to int4/int2 and floats saturate to them (C's conversion)."""
    f32 = float_inputs()
    with np.errstate(all="ignore"):
        sources = {DType.F32: f32, DType.F16: f32.astype(np.float16),
                   DType.F64: np.concatenate([f32, f32.astype(np.float64) * (1 + 2**-30)]),
                   DType.BF16: f32.astype(ml_dtypes.bfloat16),
                   DType.I32: np.arange(-70000, 70000, 7, dtype=np.int32),
                   DType.BOOL: np.array([True, False])}
    jobs: list[tuple[DType, DType, np.ndarray, np.ndarray]] = []  # src, dst, x, want
    with np.errstate(all="ignore"):
        for d in NARROW_FLOATS:
            for src, x in sources.items():
                jobs.append((src, d, x, x.astype(d.np)))
            every = np.arange(1 << d.bits, dtype=np.uint8).view(d.np)
            for dst in (DType.F32, DType.F16, DType.F64, DType.BF16, DType.I32, DType.BOOL):
                want = (every.astype(np.float32) != 0) if dst is DType.BOOL else \
                    every.astype(np.float64).astype(dst.np) if dst.is_float else None
                jobs.append((d, dst, every, want))
        for d in NARROW_INTS:
            wide = np.arange(-300, 300, dtype=np.int64)
            jobs.append((DType.I64, d, wide, wide.astype(d.np)))
            jobs.append((DType.F32, d, f32, None))   # saturating: the interpreter's answer
            every = np.arange(1 << d.bits, dtype=np.uint8).astype(d.np)
            for dst in (DType.F32, DType.I32, DType.U8):
                jobs.append((d, dst, every, every.astype(dst.np)))
    compiled = compile_kernels([cast_kernel(s, d, x.size) for s, d, x, _ in jobs])
    for ck, (src, dst, x, want) in zip(compiled, jobs):
        native = np.zeros(x.size, dst.np)
        ck.run([x, native])
        interp = np.zeros(x.size, dst.np)
        run_kernel(ck.kernel, [x, interp])
        if want is None:  # float -> narrow int, and narrow float -> int: C's conversion
            assert np.array_equal(native, interp), (src, dst)
            continue
        for how, got in (("native", native), ("interpreted", interp)):
            if dst in NARROW_FLOATS:
                bad = codes(got) != codes(want)
            else:
                g, w = got.astype(np.float64), want.astype(np.float64)
                bad = ~((g == w) & (np.signbit(g) == np.signbit(w)) | np.isnan(g) & np.isnan(w))
            assert not bad.any(), f"{src} -> {dst} ({how}): {x[bad][:4]} gave " \
                                  f"{got[bad][:4]}, not {want[bad][:4]}"


def test_int4_saturates_from_float() -> None:
    x = np.array([7.9, 8.5, -8.7, -1e30, np.nan, np.inf, -0.5], np.float32)
    ck, = compile_kernels([cast_kernel(DType.F32, DType.I4, x.size)])
    got = np.zeros(x.size, ml_dtypes.int4)
    ck.run([x, got])
    assert got.astype(np.int8).tolist() == [7, 7, -8, -8, 0, 7, 0]
    assert codes(got).tolist() == [7, 7, 8, 8, 0, 7, 0]  # the code in the low bits


@pytest.mark.parametrize("d", NARROW_FLOATS)
def test_narrow_float_vectors(d: DType) -> None:
    """The conversions on vector registers (a vectorized loop) give what scalar ones give."""
    n = 4096
    kb = KernelBuilder("vcast")
    x = kb.buffer("x", DType.F32, (n,), access="r")
    y = kb.buffer("y", d, (n,), access="w")
    z = kb.buffer("z", DType.F32, (n,), access="w")
    with kb.for_("i", 0, n, kind="vectorized", type=I64) as i:
        y[i] = Cast(x[i], ScalarType(d))
        z[i] = Cast(Cast(x[i], ScalarType(d)), ScalarType(DType.F32))
    ck, = compile_kernels([kb.finish()])
    xs = float_inputs()[:n]
    got_y, got_z = np.zeros(n, d.np), np.zeros(n, np.float32)
    ck.run([xs, got_y, got_z])
    with np.errstate(all="ignore"):
        want = xs.astype(d.np)
    assert np.array_equal(codes(got_y), codes(want))
    assert np.array_equal(got_z, want.astype(np.float32), equal_nan=True)


def test_e8m0_kernel_casts_match_ml_dtypes() -> None:
    """float8e8m0 in kernels (scalar and vector loops): from floats as ml_dtypes rounds (the
    exponent to nearest, subnormals, and NaN for what has no code), to floats exactly."""
    e8 = DType.F8E8M0
    xs = float_inputs()[:4096]
    kb = KernelBuilder("e8m0")
    x = kb.buffer("x", DType.F32, (xs.size,), access="r")
    ys = [kb.buffer(f"y{k}", e8, (xs.size,), access="w") for k in range(2)]
    c = kb.buffer("c", e8, (256,), access="r")
    outs = [kb.buffer(f"o{k}", t, (256,), access="w")
            for k, t in enumerate((DType.F32, DType.F16, DType.F64))]
    for y, kind in zip(ys, ("serial", "vectorized")):
        with kb.for_("i", 0, xs.size, kind=kind, type=I64) as i:
            y[i] = Cast(x[i], ScalarType(e8))
    with kb.for_("j", 0, 256, type=I64) as j:
        for o in outs:
            o[j] = Cast(c[j], o.elem)
    ck, = compile_kernels([kb.finish()])
    every = np.arange(256, dtype=np.uint8).view(e8.np)
    with np.errstate(all="ignore"):
        want = [xs.astype(e8.np)] * 2 + [every.astype(np.float32).astype(t)
                                          for t in (np.float32, np.float16, np.float64)]
    for run in (ck.run, lambda a: run_kernel(ck.kernel, a)):
        got = [np.zeros(xs.size, e8.np), np.zeros(xs.size, e8.np)] + [
            np.zeros(256, t) for t in (np.float32, np.float16, np.float64)]
        run([xs, got[0], got[1], every, *got[2:]])
        for g, w in zip(got, want):
            if w.dtype == e8.np:
                assert np.array_equal(codes(g), codes(w))
            else:
                assert np.array_equal(g, w, equal_nan=True)


# -- the conformance cases ---------------------------------------------------------------------

F8 = ["FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ"]
SUB_BYTE = {"UINT4": "UINT8", "INT4": "INT8", "UINT2": "UINT8", "INT2": "INT8"}
CAST_PAIRS = (
    [(w, n) for w in ("FLOAT", "FLOAT16") for n in [*F8, *SUB_BYTE, "FLOAT4E2M1"]]
    + [(n, w) for n in [*F8, "FLOAT4E2M1"] for w in ("FLOAT", "FLOAT16")]
    + [(n, w) for n, i in SUB_BYTE.items() for w in ("FLOAT", "FLOAT16", i)])
E8M0_CASES = [f"test_cast_e8m0_{a}_to_{b}" for a, b in (
    ("FLOAT", "FLOAT8E8M0"), ("FLOAT16", "FLOAT8E8M0"), ("FLOAT8E8M0", "FLOAT"),
    ("FLOAT8E8M0", "FLOAT16"))]
CAST_CASES = (
    E8M0_CASES + [f"test_cast_{a}_to_{b}" for a, b in CAST_PAIRS]
    + [f"test_cast_no_saturate_{w}_to_{n}" for w in ("FLOAT", "FLOAT16") for n in F8])
CASTLIKE_CASES = [c.replace("test_cast_", "test_castlike_") + suffix
                  for c in CAST_CASES if c not in E8M0_CASES for suffix in ("", "_expanded")]
QUANT_CASES = [
    "test_dequantizelinear_e4m3fn", "test_dequantizelinear_e4m3fn_float16",
    "test_dequantizelinear_e4m3fn_zero_point", "test_dequantizelinear_e5m2",
    "test_dequantizelinear_uint4", "test_dequantizelinear_int4", "test_dequantizelinear_uint2",
    "test_dequantizelinear_int2", "test_dequantizelinear_float4e2m1",
    "test_quantizelinear_e4m3fn", "test_quantizelinear_e5m2", "test_quantizelinear_uint4",
    "test_quantizelinear_int4", "test_quantizelinear_uint2", "test_quantizelinear_int2",
    "test_quantizelinear_float4e2m1",
]


# an empty axes input is known however the graph feeds it (the compute definitions' fix)
REDUCE_CASES = [
    f"test_reduce_{op}_default_axes_keepdims_{data}{suffix}"
    for op in ("l1", "l2", "log_sum_exp", "sum_square") for data in ("example", "random")
    for suffix in ("", "_expanded")
] + [f"test_reduce_{op}_default_axes_keepdims_{data}" for op in ("mean", "sum")
     for data in ("example", "random")] + ["test_reduce_log_sum_default",
                                           "test_reduce_log_sum_default_expanded"]


OTHER_CASES = ["test_pow_types_int64_float32", "test_pow_types_int32_float32",
               "test_pow_types_int64_int64", "test_pow_types_int32_int32", "test_squeeze",
               "test_optional_get_element_tensor"]


@pytest.mark.parametrize("name", CAST_CASES + CASTLIKE_CASES + QUANT_CASES + REDUCE_CASES
                         + OTHER_CASES)
def test_conformance_case(name: str) -> None:
    check_case(name)


# -- one-node graphs for what the conformance cases miss ----------------------------------------

def lowered_matches_reference(g: Graph, feed: list[np.ndarray]) -> None:
    """Lowered for cpu, interpreted and native, the graph gives what its reference gives:
    narrow types code for code, others to the last bit but for NaN's sign."""
    want = interpret(g, feed)
    low = run_passes(g, PIPELINE, make_options(target="cpu"), verify_each=True)
    assert all(n.op == "KernelCall" for n in low.nodes)
    for how, got in (("interpreted", interpret(low, feed)), ("native", run_natively(low, feed))):
        for x, w in zip(got, want):
            assert x.dtype == w.dtype and x.shape == w.shape, how
            if w.dtype.kind == "V":
                assert np.array_equal(codes(x), codes(w)), (how, x, w)
            else:
                assert np.array_equal(x, w, equal_nan=w.dtype.kind == "f"), (how, x, w)


SPECIAL = np.array([0.0, -0.0, 1e-6, -3.7, 2.5, 449.0, 470.0, -1e5, 65504.0, np.inf, -np.inf,
                    np.nan], np.float64)


@pytest.mark.parametrize("to,saturate", [(DType.F8E4M3FN, 1), (DType.F8E5M2FNUZ, 0),
                                         (DType.F4E2M1, 1), (DType.I4, 1), (DType.U2, 1)])
def test_cast_from_float64(to: DType, saturate: int) -> None:
    g, feed = one_node_graph("Cast", {"to": to, "saturate": saturate}, [SPECIAL])
    lowered_matches_reference(g, feed)


@pytest.mark.parametrize("src", [DType.F32, DType.F64, DType.F16])
@pytest.mark.parametrize("round_mode", ["up", "down", "nearest"])
@pytest.mark.parametrize("saturate", [0, 1])
def test_cast_to_e8m0(src: DType, round_mode: str, saturate: int) -> None:
    """Every round mode and saturation, code for code with the reference: powers of two and
    their neighbours, the 1.5 ties, zeros, negatives, inf, NaN, and beyond 2^-127 .. 2^127
    (float64 subnormals included)."""
    p = 2.0 ** np.arange(-140, 131, 3, dtype=np.float64)
    x = np.concatenate([SPECIAL, p, p * 1.5, p * 1.4999, p * 1.5001, p * (1 + 2**-20),
                        p * (1 - 2**-20), -p, [2.0**-127, 2.0**127, 1.75 * 2.0**127, 5e-324,
                                               2.0**-1030]])
    with np.errstate(all="ignore"):
        x = x.astype(src.np)
    g, feed = one_node_graph("Cast", {"to": DType.F8E8M0, "saturate": saturate,
                                      "round_mode": round_mode}, [x])
    lowered_matches_reference(g, feed)


@pytest.mark.parametrize("to", [DType.F64, DType.BF16, DType.I32, DType.F8E4M3FN, DType.F8E8M0])
def test_cast_from_e8m0(to: DType) -> None:
    every = np.arange(256, dtype=np.uint8).view(DType.F8E8M0.np)
    g, feed = one_node_graph("Cast", {"to": to}, [every])
    lowered_matches_reference(g, feed)


@pytest.mark.parametrize("src,to", [(DType.F8E5M2, DType.I8), (DType.F8E5M2, DType.U64),
                                    (DType.F8E4M3FN, DType.F4E2M1), (DType.I4, DType.U2),
                                    (DType.F8E4M3FNUZ, DType.BOOL), (DType.U4, DType.F8E5M2)])
def test_cast_between_narrow_and_ints(src: DType, to: DType) -> None:
    with np.errstate(all="ignore"):
        x = np.concatenate([SPECIAL, np.arange(-20, 20)]).astype(src.np)
    g, feed = one_node_graph("Cast", {"to": to}, [x])
    lowered_matches_reference(g, feed)


@pytest.mark.parametrize("out,extra", [
    (DType.I4, {"axis": 1}), (DType.U4, {"axis": 0, "block_size": 2}),
    (DType.F8E4M3FN, {"axis": 1, "saturate": 0}), (DType.F4E2M1, {"block_size": 3, "axis": 1}),
    (DType.F8E5M2, {"precision": DType.F16})])
def test_quantize_per_axis_and_blocked(out: DType, extra: dict[str, Any]) -> None:
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((4, 6)) * 300).astype(np.float32)
    bs = extra.get("block_size", 0)
    ax = extra.get("axis", 1)
    if bs:
        shape = [4, 6]
        shape[ax] = -(-shape[ax] // bs)
        scale = rng.random(shape).astype(np.float32) + 0.5
    elif "precision" in extra:
        scale = np.array(0.75, np.float32)
    else:
        scale = rng.random(x.shape[ax]).astype(np.float32) + 0.5
    zero = rng.integers(0, 3, scale.shape).astype(out.np)
    g, feed = one_node_graph("QuantizeLinear", {"output_dtype": out, **extra}, [x, scale, zero],
                             known=[1, 2])
    lowered_matches_reference(g, feed)
    gd, feed_d = one_node_graph("DequantizeLinear", {k: v for k, v in extra.items()
                                                     if k in ("axis", "block_size")},
                                [interpret(g, feed)[0], scale, zero], known=[2])
    lowered_matches_reference(gd, feed_d)


@pytest.mark.parametrize("x,y", [
    (np.array([[3, -2, 7], [0, 1, -1]], np.int64), np.array([5, 63, 2], np.int64)),
    (np.array([3, -2, 7, 2], np.int32), np.array([2, -1, 0, 3], np.int32)),
    (np.array([[250], [3]], np.uint8), np.array([[3, 0, 9]], np.uint8)),
    (np.array([5, 2, 9], np.int16), np.array([0.5, -2.0, 3.0], np.float64))])
def test_int_pow(x: np.ndarray, y: np.ndarray) -> None:
    """Wrapping powers, a negative exponent anywhere (the whole tensor through doubles),
    broadcasting, float exponents."""
    g, feed = one_node_graph("Pow", {}, [x, y])
    lowered_matches_reference(g, feed)

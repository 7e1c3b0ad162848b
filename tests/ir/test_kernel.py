"""Kernel level of the IR: the builder, expressions' types, traversal, the text round trip of every
node kind, and the KernelCall graph node."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dlc.errors import ParseError, VerifyError
from dlc.ir import DType, Graph, TensorType, interpret, verify, verify_kernel
from dlc.ir.kernel import (
    BOOL,
    F32,
    F64,
    I32,
    I64,
    U32,
    Binary,
    Buffer,
    Builtin,
    Const,
    For,
    ForKind,
    Kernel,
    KernelBuilder,
    Load,
    MemScope,
    ScalarType,
    Store,
    Var,
    affine,
    children,
    const,
    free_vars,
    is_affine,
    replace_buffers,
    substitute,
    walk,
)
from dlc.ir.kernel import intrinsics as K
from dlc.ir.ops.kernel_call import KernelCallAttrs
from dlc.ir.text import parse_kernel, print_kernel

F32X4 = ScalarType(DType.F32, 4)


def roundtrip(k: Kernel) -> str:
    """print -> parse gives an equal kernel, and printing that gives the same text."""
    verify_kernel(k)
    text = print_kernel(k)
    k2 = parse_kernel(text)
    assert k2 == k, text
    assert print_kernel(k2) == text
    return text


def saxpy() -> Kernel:
    kb = KernelBuilder("saxpy", spmd=1)
    n, a = kb.scalar("n", I32), kb.scalar("a", F32)
    x, y = kb.buffer("x", F32, (n,), access="r"), kb.buffer("y", F32, (n,))
    i = kb.let("i", kb.global_id(0))
    with kb.if_(i < n):
        y[i] = a * x[i] + y[i]
    return kb.finish()


SAXPY_TEXT = """\
kernel @saxpy(%n: i32, %a: f32, %x: f32[%n] global r, %y: f32[%n] global rw) spmd(1) {
  let %i: i32 = global_id(0)
  if %i < %n {
    %y[%i] = %a * %x[%i] + %y[%i]
  }
}
"""


def test_saxpy_text_is_golden() -> None:
    assert roundtrip(saxpy()) == SAXPY_TEXT
    assert str(saxpy()) == SAXPY_TEXT


def tiled_matmul() -> Kernel:
    """A GEMM with local-memory tiles, barriers, 2-d domain, unrolled inner loop."""
    T = 16
    kb = KernelBuilder("matmul", spmd=2, local_size=(T, T))
    n = kb.scalar("n", I32)
    a = kb.buffer("a", F32, (n, n), access="r")
    b = kb.buffer("b", F32, (n, n), access="r")
    c = kb.buffer("c", F32, (n, n), access="w")
    ta = kb.alloc("ta", F32, (T, T), scope="local")
    tb = kb.alloc("tb", F32, (T, T), scope="local")
    row, col = kb.let("row", kb.global_id(1)), kb.let("col", kb.global_id(0))
    ly, lx = kb.let("ly", kb.local_id(1)), kb.let("lx", kb.local_id(0))
    acc = kb.let("acc", 0.0, F32)
    with kb.for_("t", 0, n // T) as t:
        ta[ly, lx] = a[row, t * T + lx]
        tb[ly, lx] = b[t * T + ly, col]
        kb.barrier("local")
        with kb.for_("k", T, kind="unrolled") as k:
            kb.assign(acc, K.fma(ta[ly, k], tb[k, lx], acc))
        kb.barrier()
    c[row, col] = acc
    return kb.finish()


def test_tiled_matmul_roundtrip() -> None:
    text = roundtrip(tiled_matmul())
    assert "spmd(2) local_size(16, 16)" in text
    assert "alloc %ta: f32[16, 16] local rw" in text
    assert "unrolled for %k: i32 in 0 to 16 {" in text
    assert "floordiv(%n, 16)" in text
    assert tiled_matmul().local_buffers()[0].name == "ta"


def every_kind() -> Kernel:
    """One kernel that uses every expression and statement kind."""
    kb = KernelBuilder("every_kind", spmd=3)
    n = kb.scalar("n", I64)
    s = kb.scalar("s", F32X4)
    x = kb.buffer("x", F32, None, access="r")                 # flat
    v4 = kb.buffer("v4", F32X4, (n,), scope="global")          # float4*
    cnt = kb.buffer("cnt", U32, (1,))
    tab = kb.buffer("tab", DType.F64, (4,), scope="constant", access="r")
    scratch = kb.buffer("scratch", I32, None, scope="local")   # __local pointer argument
    out = kb.buffer("out", F32, (n, 4), access="w")
    priv = kb.alloc("priv", I32, (4,), scope="private")
    gid = kb.let("gid", kb.global_id(0, I64))
    lid = kb.let("lid", kb.local_id(2))
    g = kb.let("g", kb.group_id(1) + kb.local_size(0) * kb.num_groups(2) - kb.global_size(1))
    kb.let("off", K.builtin("global_offset", 0, U32))
    u = kb.let("u", None, F32)
    kb.assign(u, x[gid] * -1.5 + x[gid + 1] / 2.0 - (x[0] - 3.0))
    i = kb.let("i", (lid << 2 | 1) & ~g ^ (g >> 1))
    kb.assign(i, i.rem(3) + i % 5 - i // 2 + K.minimum(i, 7) + K.maximum(-8, i) + (-i))
    flag = kb.let("flag", K.land(i < 3, K.lor(i >= 0, K.lnot(i.eq(2)))) & i.ne(4))
    kb.let("cmp", K.select(flag, i <= 1, i > -1))
    vec = kb.let("vec", v4[gid] + K.broadcast(u, 4) * s)
    kb.assign(vec, K.insert(K.swizzle(vec, 3, 2, 1, 0), 1, K.extract(vec, 0)))
    kb.let("mk", K.vector(u, 1.0, 2.0, u))
    kb.let("wide", x.vload(gid, 4))
    v4[gid] = vec
    out[gid, 0] = K.exp(u) + K.sqrt(K.math("abs", u)) + K.fma(u, u, 1.0) + K.pow(u, 2.0)
    out[gid, 1] = K.cast(K.isnan(u), F32) + K.bitcast(K.cast(i, U32), F32)
    out[gid, 2] = K.cast(tab[i] * 0.5, F32) + K.math("clamp", u, 0.0, 1.0)
    priv[0] = K.math("popcount", i) + K.math("mulhi", i, 3)
    scratch[lid] = priv[0]
    kb.barrier("all")
    kb.barrier("global")
    kb.barrier("warp")
    kb.atomic("add", cnt, 0, 1)
    kb.atomic("inc", cnt, 0)
    old = kb.atomic("cas", cnt, 0, 5, compare=4, result="old")
    assert old is not None
    kb.atomic("max", scratch, lid, K.cast(old, I32), result="prev")
    lane = kb.let("lane", K.lane_id() + K.warp_size())
    kb.let("sh", K.shuffle("down", u, 1) + K.shuffle("xor", u, lane, width=16)
           + K.shuffle("idx", u, 0) + K.shuffle("up", u, 2))
    kb.let("bal", K.ballot(flag) & K.activemask())
    kb.let("any", K.vote("any", flag))
    kb.let("all", K.vote("all", flag))
    with kb.for_("j", 0, n, 2, kind="parallel") as j:
        with kb.if_(j.eq(0)):
            kb.continue_()
        with kb.else_():
            with kb.if_(j > 8):
                kb.break_()
            with kb.else_():
                out[j, 3] = 0.0
    with kb.for_("vj", 0, 4, kind="vectorized"):
        pass
    with kb.while_(u < 10.0):
        kb.assign(u, u + 1.0)
        with kb.if_(u > 5.0):
            kb.break_()
    with kb.do_while(u > 0.0):
        kb.assign(u, u - 1.0)
    with kb.block():
        kb.let("inner", 1)
    with kb.if_(gid > n):
        kb.return_()
    with kb.if_(flag):
        pass
    with kb.else_():
        pass
    return kb.finish()


def test_every_kind_roundtrip() -> None:
    k = every_kind()
    text = roundtrip(k)
    kinds = {type(node).__name__ for node in walk(k)}
    expected = {"Let", "Assign", "Store", "Alloc", "Barrier", "Atomic", "For", "While", "If",
                "Block", "Return", "Break", "Continue", "Const", "Var", "Builtin", "Load", "Unary",
                "Binary", "Math", "Cast", "Bitcast", "Select", "Broadcast", "MakeVector",
                "Extract", "Insert", "Swizzle", "Shuffle", "Ballot", "ActiveMask", "Vote"}
    assert expected <= kinds, expected - kinds
    for snippet in ("%x: f32* global r", "%v4: f32x4[%n] global rw", "%tab: f64[4] constant r",
                    "%scratch: i32* local rw", "%out: f32[%n, 4] global w", "let %i: i32 = ",
                    "global_id(0):i64", "global_offset(0):u32", "vload<4>(%x[%gid])",
                    "swizzle<3, 2, 1, 0>(%vec)", "shuffle<xor, 16>(%u, %lane)", "vote<any>(%flag)",
                    "atomic inc(%cnt[0])", "let %old: u32 = atomic cas(%cnt[0], 4, 5)",
                    "do {", "} while %u > 0.0", "} else if %j > 8 {", "parallel for %j: i64 in "
                    "0 to %n step 2 {", "vectorized for %vj: i32 in 0 to 4 {}", "barrier warp",
                    "+ -%i", "activemask()", "%x[%gid + 1]"):
        assert snippet in text, snippet


def test_every_kind_parses_from_hand_written_text() -> None:
    text = """
    // comments and free layout are fine
    kernel @k(%n: i32, %y: f32[%n] global rw) spmd(1) {
      let %i: i32 = global_id(0)
      let %v: f32 = %y[%i] * 2.0 + cast<f32>(%i + 1) - -1.5
      if %i < %n && !(%v != 0.0) { %y[%i] = select(%v > 1.0, 1.0, %v) } else { return }
    }"""
    k = parse_kernel(text)
    verify_kernel(k)
    assert k.params[1].elem == F32  # type: ignore[union-attr]
    roundtrip(k)


def test_literal_types_follow_context() -> None:
    kb = KernelBuilder("lits")
    n = kb.scalar("n", I64)
    b = kb.buffer("b", DType.F64, (n,))
    with kb.for_("i", 0, n) as i:                      # 0 is an i64 constant: printed bare
        b[i] = b[i] + 1.0                             # 1.0 is f64 here: bare
        b[const(3)] = K.cast(i, F64)                  # i32 index literal: bare
        b[const(3, I64)] = 2.0                        # i64 index literal: suffixed
        kb.let("h", 0.1, DType.F16)
        kb.let("t", Binary("add", const(1, I64), const(2)))  # ill-typed, still prints exactly
    text = print_kernel(kb.finish(verify=False))
    assert "for %i: i64 in 0 to %n {" in text
    assert "%b[%i] = %b[%i] + 1.0" in text
    assert "%b[3] = cast<f64>(%i)" in text
    assert "%b[3:i64] = 2.0" in text
    assert "let %h: f16 = 0.1" in text
    assert "let %t: i64 = 1 + 2:i32" in text
    k2 = parse_kernel(text)
    assert k2 == kb.finish(verify=False)


def test_float_constants_are_bit_exact() -> None:
    kb = KernelBuilder("floats")
    out = kb.buffer("out", F32, (16,))
    out64 = kb.buffer("out64", F64, (16,))
    vals = [float("nan"), float("inf"), -float("inf"), -0.0, 0.0, 1e-45, 0.1, 3.4028234663852886e38]
    for i, v in enumerate(vals):
        out[i] = v
    for i, v in enumerate([5e-324, 1 / 3, -float("nan"), 1e308, 2.0 ** -1074]):
        out64[i] = v
    payload = np.array(0x7FC00001, np.uint32).view(np.float32)
    out[15] = Const(float(payload), F32)
    k = kb.finish()
    text = roundtrip(k)
    assert "%out[0] = nan" in text and "%out[1] = inf" in text and "%out[2] = -inf" in text
    assert "%out[3] = -0.0" in text and "%out[5] = 1e-45" in text and "%out[6] = 0.1" in text
    assert "%out64[2] = -nan" in text and "nan(0x" in text
    stored = parse_kernel(text).body.stmts[-1]
    assert isinstance(stored, Store) and isinstance(stored.value, Const)
    bits = np.array(stored.value.value).astype(np.float32).view(np.uint32)
    assert int(bits) == 0x7FC00001


def test_const_equality_is_bitwise_and_values_normalized() -> None:
    assert Const(0.0, F32) != Const(-0.0, F32)
    assert Const(float("nan"), F32) == Const(float("nan"), F32)
    assert len({Const(0.0, F32), Const(-0.0, F32), Const(0.0, F32)}) == 2
    assert Const(0.1, F32).value == float(np.float32(0.1))
    assert Const(3, F32).value == 3.0 and isinstance(Const(3, F32).value, float)
    assert Const(1, BOOL).value is True
    assert Const(1, I32) != Const(1, I64)
    assert const(2**40).type == I64 and const(1.5).type == F32 and const(True).type == BOOL


def test_operators_build_typed_expressions() -> None:
    i, f = Var("i", I32), Var("f", F32)
    e = i * 4 + 1
    assert e == Binary("add", Binary("mul", i, Const(4, I32)), Const(1, I32))
    assert (i < 3).type == BOOL and (f * 2.0).type == F32
    assert (2 - i) == Binary("sub", Const(2, I32), i)
    assert (i // 2).op == "floordiv" and (i % 2).op == "floormod" and i.rem(2).op == "rem"
    assert (~(i < 3)).op == "not" and (~i).op == "bitnot"
    v = Var("v", F32X4)
    assert (v * 2.0) == Binary("mul", v, K.broadcast(Const(2.0, F32), 4))
    with pytest.raises(TypeError, match="explicit cast"):
        _ = i * 0.5
    with pytest.raises(TypeError, match="truth value"):
        bool(i < 3)
    assert str(i * 4 + 1) == "%i * 4 + 1"
    assert str((i + 1) * (i - 1) - (i - (i - 1))) == "(%i + 1) * (%i - 1) - (%i - (%i - 1))"


def test_buffer_store_sugar_needs_an_active_builder() -> None:
    b = Buffer("b", F32, (Const(4, I32),))
    with pytest.raises(RuntimeError, match="active KernelBuilder"):
        b[0] = 1.0
    assert isinstance(b[1], Load)


def test_visit_helpers() -> None:
    k = saxpy()
    loads = [n for n in walk(k) if isinstance(n, Load)]
    assert [ld.buffer.name for ld in loads] == ["x", "y"]
    n, a = k.params[0], k.params[1]
    assert isinstance(n, Var) and isinstance(a, Var)
    body = substitute(k.body, {a: Const(2.0, F32)})
    assert a not in free_vars(body) and n in free_vars(body)
    y = k.buffers()[1]
    y2 = Buffer("y2", y.elem, y.shape)
    renamed = replace_buffers(k.body, {y: y2})
    assert {s.buffer.name for s in walk(renamed) if isinstance(s, Store)} == {"y2"}
    assert substitute(k.body, {}) is k.body  # nothing changed: nothing copied
    i, j = Var("i", I32), Var("j", I32)
    assert affine(i * 4 + j * 2 - 3 + j) == ({i: 4, j: 3}, -3)
    assert affine(-(i - 2) * 2) == ({i: -2}, 4)
    assert affine(Builtin("global_id", 0) + 1) == ({Builtin("global_id", 0): 1}, 1)
    assert not is_affine(i * j) and not is_affine(i // 2) and is_affine(Const(3, I32))
    loop = For(i, Const(0, I32), Const(4, I32), Const(1, I32), k.body, ForKind.PARALLEL)
    assert list(children(loop))[:4] == [i, Const(0, I32), Const(4, I32), Const(1, I32)]


def test_kernel_queries() -> None:
    k = tiled_matmul()
    assert k.is_spmd and [b.name for b in k.written()] == ["c"]
    assert [v.name for v in k.scalars()] == ["n"]
    assert [b.name for b in k.allocations()] == ["ta", "tb"]


def test_parse_kernel_errors_have_positions() -> None:
    with pytest.raises(ParseError, match=r":2:22: '%m' is not declared here"):
        parse_kernel("kernel @k(%n: i32) {\n  let %i: i32 = %n + %m\n}")
    with pytest.raises(ParseError, match=r":1:22: unexpected '='"):
        parse_kernel("kernel @k() { let %i = 3 }")
    with pytest.raises(ParseError, match="not a kernel type"):
        parse_kernel("kernel @k() { let %i: float = 3 }")
    with pytest.raises(ParseError, match="unknown function 'frob'"):
        parse_kernel("kernel @k() { let %i: f32 = frob(1.0) }")
    with pytest.raises(ParseError, match="is a buffer"):
        parse_kernel("kernel @k(%b: f32* global rw) { let %i: f32 = %b }")


# -- KernelCall ----------------------------------------------------------------------------------

def _call_graph(k: Kernel, bind_y: bool = True) -> Graph:
    g = Graph("main")
    n = g.add_constant("n", np.array(8, np.int32))
    a = g.add_input("a", TensorType(DType.F32, ()))
    x = g.add_input("x", TensorType(DType.F32, (8,)))
    y = g.add_input("y", TensorType(DType.F32, (8,))) if bind_y else None
    attrs = KernelCallAttrs(k, global_size=(8,), local_size=(4,))
    from dlc.ir.ops import OPS, InferCtx
    types = [n.type, a.type, x.type, None if y is None else y.type]
    ctx = InferCtx("KernelCall", attrs, types, [np.array(8, np.int32), None, None, None], 1, "k0")
    outs = OPS["KernelCall"].infer(ctx)
    node = g.add_node("KernelCall", [n, a, x, y], outs, attrs, name="k0", out_names=["y2"])
    g.outputs = list(node.outputs)
    return g


def test_kernel_call_types_and_reference() -> None:
    g = _call_graph(saxpy())
    verify(g)
    assert g.outputs[0].type == TensorType(DType.F32, (8,))
    y = np.ones(8, np.float32)
    out = interpret(g, [np.float32(2), np.arange(8, dtype=np.float32), y])
    np.testing.assert_array_equal(out[0], 2 * np.arange(8) + 1)
    assert (y == 1).all()  # the input value is not changed


def test_kernel_call_write_only_buffer_gets_declared_shape() -> None:
    kb = KernelBuilder("fill", spmd=1)
    n, a = kb.scalar("n", I32), kb.scalar("a", F32)
    x = kb.buffer("x", F32, (n,), access="r")
    y = kb.buffer("y", F32, (n,), access="w")
    y[kb.global_id(0)] = a + x[kb.global_id(0)]
    g = _call_graph(kb.finish(), bind_y=False)
    verify(g)
    assert g.outputs[0].type == TensorType(DType.F32, (8,))  # n is known to be 8


def test_kernel_call_checks_arguments() -> None:
    from dlc.errors import ShapeError
    from dlc.ir.ops import OPS, InferCtx
    attrs = KernelCallAttrs(saxpy())
    ctx = InferCtx("KernelCall", attrs, [TensorType(DType.I64, ())] * 4, [None] * 4, 1, "k1")
    with pytest.raises(ShapeError, match="scalar parameter %n: i32; it must be a i32"):
        OPS["KernelCall"].infer(ctx)
    ctx = InferCtx("KernelCall", attrs, [None], [None], 1, "k1")
    with pytest.raises(ShapeError, match="takes 4 argument"):
        OPS["KernelCall"].infer(ctx)
    vec8 = TensorType(DType.F32, (8,))
    types = [TensorType(DType.I32, ()), TensorType(DType.F32, ()), vec8, vec8]
    for gs, ls, msg in (((10,), (4,), "not a multiple"), ((8, 1), None, "of 1 axes")):
        bad = KernelCallAttrs(saxpy(), global_size=gs, local_size=ls)
        ctx = InferCtx("KernelCall", bad, types, [None] * 4, 1, "k1")
        with pytest.raises(ShapeError, match=msg):
            OPS["KernelCall"].infer(ctx)
    ctx = InferCtx("KernelCall", KernelCallAttrs(tiled_matmul(), local_size=(8, 8)),
                   [TensorType(DType.I32, ())] + [TensorType(DType.F32, (4, 4))] * 3, [None] * 4,
                   1, "k2")
    with pytest.raises(ShapeError, match="requires local size"):
        OPS["KernelCall"].infer(ctx)


def test_builder_finish_verifies() -> None:
    from dlc.errors import VerifyError
    kb = KernelBuilder("bad")
    x = kb.buffer("x", F32, (4,), access="r")
    x[0] = 1.0
    with pytest.raises(VerifyError, match="read-only"):
        kb.finish()
    assert math.isfinite(1.0)
    assert MemScope("local") is MemScope.LOCAL


def test_dynamic_shared_param_roundtrips_and_is_checked() -> None:
    text = ("kernel @k(%n: i32, %s: f32* local rw) spmd(1) dynamic_shared(%s) {\n"
            "  %s[local_id(0):u32] = 1.0\n}\n")
    k = parse_kernel(text)
    assert k.dynamic_shared == "s" and print_kernel(k) == text
    verify_kernel(k)
    bad = Kernel(k.name, k.params, k.body, k.domain, "n")
    with pytest.raises(VerifyError, match="must name a flat local buffer parameter"):
        verify_kernel(bad)


def test_statement_loc_is_not_part_of_equality_or_text() -> None:
    from dlc.ir.kernel import Barrier, BarrierScope
    a = Barrier(BarrierScope.LOCAL, loc="k.cl:3:5")
    b = Barrier(BarrierScope.LOCAL)
    assert a == b and hash(a) == hash(b) and a.loc == "k.cl:3:5"
    assert str(a) == str(b) == "barrier local"

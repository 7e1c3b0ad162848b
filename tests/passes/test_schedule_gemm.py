"""The GEMM schedule, checked differentially: every candidate it makes for a lowered matrix
product (MatMul, Gemm with transposes, alpha/beta and bias, batched and broadcast MatMul, fused
epilogues) computes what the unscheduled kernel computes — natively on the cpu, and in the kernel
interpreter for small shapes — and models with such products give on target="cpu" what they give
on target="reference"."""
from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import dlc
from dlc.backends.cpu import compile_kernels, host_target
from dlc.ir.dtype import DType
from dlc.ir.kernel import Kernel
from dlc.ir.kernel.expr import Const
from dlc.ir.kernel.interpret import run_kernel
from dlc.ir.kernel.stmt import Alloc, For, Let
from dlc.ir.kernel.types import ForKind
from dlc.ir.kernel.visit import Node, transform, walk
from dlc.ir.verify import verify_kernel
from dlc.passes.schedule import candidates
from dlc.passes.schedule_gemm import GemmTiles, build, match_gemm, plan
from dlc.passes.target import TargetDesc

F32 = TensorProto.FLOAT
AVX512 = TargetDesc("avx512", vector_bits=512, cores=4, l1_bytes=48 << 10, l2_bytes=2 << 20,
                    l3_bytes=32 << 20)
SSE = TargetDesc("sse", vector_bits=128, cores=1, l1_bytes=32 << 10, l2_bytes=256 << 10,
                 l3_bytes=8 << 20)


# -- models and their lowered kernels ------------------------------------------------------------

def model(nodes: list[onnx.NodeProto], inputs: dict[str, list[int]], output: str,
          consts: dict[str, np.ndarray] | None = None, elem: int = F32) -> onnx.ModelProto:
    ins = [helper.make_tensor_value_info(n, elem, s) for n, s in inputs.items()]
    out = helper.make_tensor_value_info(output, elem, None)
    inits = [numpy_helper.from_array(v, k) for k, v in (consts or {}).items()]
    g = helper.make_graph(nodes, "g", ins, [out], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def matmul(m: int, k: int, n: int, batch_a: tuple[int, ...] = (), batch_b: tuple[int, ...] = (),
           elem: int = F32) -> onnx.ModelProto:
    return model([helper.make_node("MatMul", ["A", "B"], ["Y"])],
                 {"A": [*batch_a, m, k], "B": [*batch_b, k, n]}, "Y", elem=elem)


def gemm(m: int, k: int, n: int, trans_a: int, trans_b: int, bias: bool, relu: bool,
         seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    ins = ["A", "B"] + (["C"] if bias else [])
    consts = {"C": rng.standard_normal(n).astype(np.float32)} if bias else {}
    nodes = [helper.make_node("Gemm", ins, ["T"], alpha=0.5, beta=-1.5, transA=trans_a,
                              transB=trans_b)]
    nodes.append(helper.make_node("Relu" if relu else "Identity", ["T"], ["Y"]))
    shapes = {"A": [k, m] if trans_a else [m, k], "B": [n, k] if trans_b else [k, n]}
    return model(nodes, shapes, "Y", consts)


def residual(m: int, k: int, n: int) -> onnx.ModelProto:
    """tanh(relu(A) @ B / 3 + R): an element-wise producer, a scale, a residual and a
    transcendental activation around a batched product."""
    nodes = [helper.make_node("Relu", ["A"], ["A1"]),
             helper.make_node("MatMul", ["A1", "B"], ["T"]),
             helper.make_node("Div", ["T", "s"], ["T2"]),
             helper.make_node("Add", ["T2", "R"], ["T3"]),
             helper.make_node("Tanh", ["T3"], ["Y"])]
    return model(nodes, {"A": [2, m, k], "B": [k, n], "R": [2, m, n]}, "Y",
                 {"s": np.array(3.0, np.float32)})


def lowered_gemm(onnx_model: onnx.ModelProto) -> Kernel:
    """The unscheduled kernel of the model's matrix product (opt_level 1 skips the schedule)."""
    m = dlc.compile(onnx_model, target="cpu", opt_level=1)
    found = [n.attrs.kernel for n in m.graph.nodes
             if n.op == "KernelCall" and match_gemm(n.attrs.kernel) is not None]
    assert len(found) == 1, [n.attrs.kernel.name for n in m.graph.nodes]
    return found[0]


# -- running kernels -----------------------------------------------------------------------------

def arguments(k: Kernel, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    args = []
    for b in k.buffers():
        shape = tuple(int(d.value) for d in b.shape)  # type: ignore[attr-defined, union-attr]
        dt = b.elem.dtype.np
        args.append(rng.standard_normal(shape).astype(dt) if b.read else np.zeros(shape, dt))
    return args


def outputs(k: Kernel, args: list[np.ndarray]) -> list[np.ndarray]:
    return [a for a, b in zip(args, k.buffers()) if b.write]


def run_native(kernels: list[Kernel], args: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Each kernel's outputs, all compiled as one module (one LLVM run)."""
    out = []
    for k, ck in zip(kernels, compile_kernels(kernels)):
        copies = [a.copy() for a in args]
        ck.run(copies)
        out.append(outputs(k, copies))
    return out


def interpreted(k: Kernel, args: list[np.ndarray]) -> list[np.ndarray]:
    args = [a.copy() for a in args]
    run_kernel(k, args)
    return outputs(k, args)


def assert_close(got: list[np.ndarray], want: list[np.ndarray], k: int) -> None:
    for g, w in zip(got, want):
        tol = 1e-5 * max(1.0, np.sqrt(k)) * max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=tol)


def check(k: Kernel, target: TargetDesc | None = None, interpret: bool = False,
          tiles: list[GemmTiles] | None = None) -> None:
    """Every candidate (or `tiles`) equals the unscheduled kernel natively (and interpreted)."""
    target = target or host_target()
    mt = match_gemm(k)
    assert mt is not None
    args = arguments(k)
    scheduled = [build(mt, t, target) for t in tiles or plan(mt, target)]
    for s in scheduled:
        verify_kernel(s)
    want, *got = run_native([k, *scheduled], args)
    for g in got:
        assert_close(g, want, mt.k)
    if interpret:
        want = interpreted(k, args)
        for s in scheduled:
            assert_close(interpreted(s, args), want, mt.k)


# -- the kernels lowering makes --------------------------------------------------------------------

@pytest.mark.parametrize("mkn", [(13, 7, 21), (6, 16, 16), (1 + 6 * 3, 33, 2 + 16 * 2)])
def test_matmul_small_interpreted(mkn: tuple[int, int, int]) -> None:
    check(lowered_gemm(matmul(*mkn)), interpret=True)


@pytest.mark.parametrize("ta,tb,bias,relu", [(0, 0, True, False), (0, 1, True, True),
                                             (1, 0, False, True), (1, 1, True, True)])
def test_gemm_transposes_alpha_beta_bias(ta: int, tb: int, bias: bool, relu: bool) -> None:
    k = lowered_gemm(gemm(11, 19, 27, ta, tb, bias, relu))
    mt = match_gemm(k)
    assert mt is not None and (mt.m, mt.n, mt.k) == (11, 27, 19)
    assert mt.a_rows_contiguous == bool(ta) and mt.b_rows_contiguous == (not tb)
    check(k, interpret=True)


@pytest.mark.parametrize("batch_a,batch_b", [((3,), (3,)), ((2, 3), ()), ((), (2,))])
def test_batched_and_broadcast_matmul(batch_a: tuple[int, ...], batch_b: tuple[int, ...]) -> None:
    k = lowered_gemm(matmul(9, 10, 20, batch_a, batch_b))
    mt = match_gemm(k)
    assert mt is not None and len(mt.batch) == max(len(batch_a), len(batch_b))
    check(k, interpret=True)


def test_fused_producer_and_epilogue() -> None:
    k = lowered_gemm(residual(10, 12, 17))
    mt = match_gemm(k)
    assert mt is not None and len(mt.epilogue) >= 2
    check(k, interpret=True)


def test_other_targets_vector_widths() -> None:
    """Tiles for AVX-512 (16 lanes, 32 registers) and SSE (4 lanes) compute the same; the code
    runs on this host too, its vectors split by LLVM."""
    k = lowered_gemm(gemm(23, 40, 37, 0, 1, True, True))
    for target in (AVX512, SSE):
        mt = match_gemm(k)
        assert mt is not None
        nrs = {t.nr for t in plan(mt, target)}
        assert all(nr % target.vector_lanes(mt.dtype) == 0 for nr in nrs)
        check(k, target, interpret=True, tiles=plan(mt, target)[:2])


def test_double_precision() -> None:
    check(lowered_gemm(matmul(14, 9, 11, elem=TensorProto.DOUBLE)), interpret=True)


# -- random shapes, edges in M, N and K (K over several KC blocks) -------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_random_shapes_native(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = (int(x) for x in rng.integers(1, 90, 2))
    k = int(rng.integers(1, 700))
    m, n = max(m, 2), max(n, 2)
    kernel = lowered_gemm(matmul(m, k, n))
    mt = match_gemm(kernel)
    assert mt is not None
    # small tiles too: many tiles per dimension, partial ones at every edge, several K blocks
    small = GemmTiles(mr=3, nr=host_target().vector_lanes(mt.dtype), kc=8,
                      mc=6, nc=2 * host_target().vector_lanes(mt.dtype))
    check(kernel, tiles=[*plan(mt, host_target()), small, dataclasses.replace(small, pack_a=False)])



def test_k_blocks_and_edges_interpreted() -> None:
    """Tiles smaller than the matrices: partial tiles and micro-tiles at the M and N edges,
    several K blocks with a partial last one and k steps left over from the unrolled loop; A
    packed, and (where it is a plain row-major load) read where it lies."""
    lanes = host_target().vector_lanes(DType.F32)
    small = [GemmTiles(2, lanes, 8, 4, 2 * lanes, unroll=4),
             GemmTiles(3, 2 * lanes, 4, 3, 2 * lanes, unroll=2)]
    transposed = lowered_gemm(gemm(7, 21, 13, 1, 1, True, True))
    plain = lowered_gemm(matmul(7, 21, 13))
    mt = match_gemm(plain)
    mt_t = match_gemm(transposed)
    assert mt is not None and mt.a_plain and mt_t is not None and not mt_t.a_plain
    check(transposed, interpret=True, tiles=small)
    check(plain, interpret=True,
          tiles=small + [dataclasses.replace(t, pack_a=False) for t in small])
    # B read where it lies too (N a multiple of NR): alone and with A unpacked
    wide = lowered_gemm(matmul(7, 21, 2 * lanes))
    mw = match_gemm(wide)
    assert mw is not None and mw.b_plain and not mt_t.b_plain
    direct = [dataclasses.replace(t, pack_b=False, nc=t.nr) for t in small]
    check(wide, interpret=True,
          tiles=direct + [dataclasses.replace(t, pack_a=False) for t in direct])


# -- what the schedule makes and declines ----------------------------------------------------------

def test_candidates_best_first_and_shape_of_the_nest() -> None:
    k = lowered_gemm(matmul(256, 300, 200))
    got = candidates(k, host_target())
    assert got is not None and got[0] == "gemm"
    assert 1 < len(got[1]) <= 4
    first = got[1][0]
    outer = first.body.stmts[0]
    assert isinstance(outer, For) and outer.kind is ForKind.PARALLEL
    allocs = [s.buffer for s in walk(first.body) if isinstance(s, Alloc)]
    assert {b.name for b in allocs} >= {"bp", "ct"}
    assert all(b.scope.value == "private" for b in allocs)
    mt = match_gemm(k)
    assert mt is not None
    tiles = plan(mt, host_target())
    lanes = host_target().vector_lanes(mt.dtype)
    size = 4
    assert mt.a_plain  # so candidates may read A where it lies
    for t in tiles:
        assert t.nr % lanes == 0 and t.mc % t.mr == 0 and t.nc % t.nr == 0
        assert t.kc * t.nr * size <= host_target().l1_bytes
    assert len({str(t) for t in tiles}) == len(tiles)


def test_declines_what_is_not_a_matrix_product() -> None:
    relu = dlc.compile(model([helper.make_node("Relu", ["A"], ["Y"])], {"A": [64, 64]}, "Y"),
                       target="cpu", opt_level=1)
    assert all(match_gemm(n.attrs.kernel) is None for n in relu.graph.nodes
               if n.op == "KernelCall")
    # a vector-matrix product (one row: lowering drops the row loop) keeps its loops
    gemv = dlc.compile(matmul(1, 64, 64), target="cpu", opt_level=1)
    assert all(match_gemm(n.attrs.kernel) is None for n in gemv.graph.nodes
               if n.op == "KernelCall")
    # a reduction whose accumulator does not start at zero
    k = lowered_gemm(matmul(8, 8, 8))

    def init_one(n: Node) -> Node | None:
        if isinstance(n, Let) and isinstance(n.value, Const) and n.var.type.is_float:
            return dataclasses.replace(n, value=Const(1.0, n.var.type))
        return None
    assert match_gemm(dataclasses.replace(k, body=transform(k.body, init_one))) is None


# -- end to end: cpu against the reference -------------------------------------------------------

@pytest.mark.parametrize("name,onnx_model", [
    ("matmul", matmul(70, 130, 90)),
    ("gemm_tb_bias_relu", gemm(45, 66, 77, 0, 1, True, True)),
    ("gemm_ta_bias", gemm(33, 20, 50, 1, 0, True, False)),
    ("batched", matmul(30, 40, 50, (2, 3), (2, 3))),
    ("broadcast_b", matmul(30, 40, 50, (4,), ())),
    ("residual_tanh", residual(40, 48, 56)),
])
def test_models_cpu_against_reference(name: str, onnx_model: onnx.ModelProto) -> None:
    cpu = dlc.compile(onnx_model, target="cpu")
    scheduled = [n for n in cpu.graph.nodes if n.op == "KernelCall"
                 and any(isinstance(s, Alloc) and s.buffer.name.startswith("ct")
                         for s in walk(n.attrs.kernel.body))]
    assert scheduled, f"{name}: no kernel was scheduled as a GEMM"
    ref = dlc.compile(onnx_model, target="reference")
    rng = np.random.default_rng(1)
    feed = {i.name: rng.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim])
            .astype(np.float32) for i in onnx_model.graph.input}
    got, want = cpu.run(feed), ref.run(feed)
    for key in want:
        w = want[key]
        np.testing.assert_allclose(got[key], w, rtol=1e-4, atol=1e-4 * float(np.abs(w).max()))

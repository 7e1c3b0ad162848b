"""The convolution schedule (passes/schedule_conv.py): which lowered kernels it takes, and
every candidate it returns computing what the unscheduled kernel computes — natively on random
shapes (edge sizes, groups, strides, pads, dilations, fused epilogues), in the kernel
interpreter for small ones, and whole small CNNs on target="cpu" against the reference."""
from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from pass_testing import F32, onnx_graph

import dlc
from dlc.backends.cpu import compile_kernel, host_target
from dlc.ir.kernel import Kernel
from dlc.ir.kernel.interpret import run_kernel
from dlc.ir.kernel.stmt import For
from dlc.ir.kernel.types import ForKind
from dlc.ir.kernel.visit import walk
from dlc.ir.verify import verify_kernel
from dlc.passes import run_passes
from dlc.passes.conv_match import NoMatch, match_conv
from dlc.passes.schedule_conv import plans, schedule_conv
from dlc.passes.target import TargetDesc

RNG = np.random.default_rng(7)


def conv_nodes(c: int, m: int, k: tuple[int, int], epilogue: str = "relu", bias: bool = True,
               **attrs: Any) -> tuple[list[onnx.NodeProto], dict[str, np.ndarray], str]:
    """Conv (+ epilogue) on input "x"; returns the nodes, the initializers and the output."""
    g = attrs.get("group", 1)
    inits = {"W": RNG.standard_normal((m, c // g, *k)).astype(np.float32)}
    ins = ["x", "W"]
    if bias:
        inits["B"] = RNG.standard_normal(m).astype(np.float32)
        ins.append("B")
    nodes = [helper.make_node("Conv", ins, ["y"], kernel_shape=list(k), **attrs)]
    out = "y"
    if epilogue == "relu":
        nodes.append(helper.make_node("Relu", ["y"], ["z"]))
        out = "z"
    elif epilogue == "clip":
        inits.update(lo=np.array(0.0, np.float32), hi=np.array(6.0, np.float32))
        nodes.append(helper.make_node("Clip", ["y", "lo", "hi"], ["z"]))
        out = "z"
    elif epilogue == "silu":
        nodes += [helper.make_node("Sigmoid", ["y"], ["s"]),
                  helper.make_node("Mul", ["y", "s"], ["z"])]
        out = "z"
    elif epilogue == "add_relu":
        nodes += [helper.make_node("Add", ["y", "r"], ["a"]),
                  helper.make_node("Relu", ["a"], ["z"])]
        out = "z"
    return nodes, inits, out


def lowered_conv(n: int, c: int, hw: tuple[int, int], m: int, k: tuple[int, int],
                 epilogue: str = "relu", **attrs: Any) -> Kernel:
    nodes, inits, out = conv_nodes(c, m, k, epilogue, **attrs)
    inputs = {"x": (F32, [n, c, *hw])}
    if epilogue == "add_relu":
        probe = onnx_graph(nodes[:1], inputs, ["y"], inits)
        inputs["r"] = (F32, list(probe.outputs[0].type.static_shape))
    g = run_passes(onnx_graph(nodes, inputs, [out], inits), "fuse,lower{target=cpu}",
                   target=host_target())
    calls = [nd.attrs.kernel for nd in g.nodes if nd.op == "KernelCall"]
    assert len(calls) == 1, [k.name for k in calls]
    return calls[0]


def random_args(k: Kernel) -> list[np.ndarray]:
    out = []
    for p in k.buffers():
        assert p.shape is not None
        shape = tuple(int(d.value) for d in p.shape)  # type: ignore[attr-defined]
        out.append(RNG.standard_normal(shape).astype(np.float32) if p.read
                   else np.full(shape, np.nan, np.float32))
    return out


def run_native(k: Kernel, args: list[np.ndarray]) -> np.ndarray:
    out = [a.copy() for a in args]
    compile_kernel(k).run(out)
    return out[-1]


# (n, c, (h, w), m, (kh, kw), epilogue, attrs): edge sizes — widths below, at and above a
# vector, channels not a multiple of any block, padding wider than the kernel's reach
CASES = [
    (1, 3, (9, 10), 5, (3, 3), "relu", dict(pads=[1, 1, 1, 1])),
    (1, 4, (11, 13), 6, (3, 3), "clip", dict(strides=[2, 2], pads=[1, 1, 1, 1])),
    (2, 4, (8, 17), 4, (3, 3), "relu", dict(pads=[2, 2, 2, 2], dilations=[2, 2], group=2)),
    (1, 8, (9, 9), 8, (3, 3), "clip", dict(pads=[1, 1, 1, 1], group=8)),
    (1, 16, (7, 7), 40, (1, 1), "none", dict()),
    (1, 16, (14, 14), 24, (1, 1), "add_relu", dict()),
    (1, 12, (14, 14), 20, (1, 1), "relu", dict(strides=[2, 2])),
    (1, 5, (23, 19), 7, (7, 7), "relu", dict(strides=[2, 2], pads=[3, 3, 3, 3])),
    (1, 6, (12, 30), 9, (3, 5), "silu", dict(pads=[0, 2, 1, 3])),
    (1, 24, (20, 20), 24, (3, 3), "relu", dict(strides=[3, 3], pads=[1, 1, 1, 1], group=24)),
    (1, 32, (5, 3), 16, (3, 3), "add_relu", dict(pads=[1, 1, 1, 1])),
    (3, 10, (6, 33), 12, (2, 4), "relu", dict(strides=[1, 2], group=2, bias=False)),
    (1, 64, (16, 16), 64, (3, 3), "add_relu", dict(pads=[1, 1, 1, 1])),
    (1, 3, (4, 4), 2, (5, 5), "relu", dict(pads=[2, 2, 2, 2])),
]


def case_id(case: tuple[Any, ...]) -> str:
    n, c, hw, m, k, ep, attrs = case
    extra = "-".join(f"{a[0]}{''.join(map(str, v)) if isinstance(v, list) else v}"
                     for a, v in attrs.items())
    return f"{n}x{c}x{hw[0]}x{hw[1]}-m{m}-k{k[0]}{k[1]}-{ep}-{extra}".rstrip("-")


def make(case: tuple[Any, ...]) -> Kernel:
    n, c, hw, m, k, ep, attrs = case
    attrs = dict(attrs)
    bias = attrs.pop("bias", True)
    return lowered_conv(n, c, hw, m, k, ep, bias=bias, **attrs)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_candidates_native_match_unscheduled(case: tuple[Any, ...]) -> None:
    k = make(case)
    cands = schedule_conv(k, host_target())
    assert cands, "the schedule did not take a lowered Conv"
    args = random_args(k)
    want = run_native(k, args)
    for i, sk in enumerate(cands):
        verify_kernel(sk)
        np.testing.assert_allclose(run_native(sk, args), want, rtol=1e-4, atol=1e-4,
                                   err_msg=f"candidate {i}")


@pytest.mark.parametrize("case", [c for c in CASES if c[1] * c[3] * c[2][0] * c[2][1] <= 20000],
                         ids=case_id)
def test_first_candidate_in_interpreter(case: tuple[Any, ...]) -> None:
    k = make(case)
    sk = schedule_conv(k, host_target())[0]  # type: ignore[index]
    args = random_args(k)
    out = [a.copy() for a in args]
    run_kernel(sk, out)
    np.testing.assert_allclose(out[-1], run_native(k, args), rtol=1e-4, atol=1e-4)


def test_geometry_is_read_back() -> None:
    k = lowered_conv(2, 6, (15, 16), 9, (3, 5), "relu", strides=[2, 1], pads=[1, 2, 0, 2],
                     dilations=[1, 2], group=3)
    cv = match_conv(k)
    assert (cv.n, cv.c, cv.h, cv.w_in, cv.m, cv.cg, cv.kh, cv.kw) == (2, 6, 15, 16, 9, 2, 3, 5)
    assert cv.stride == (2, 1) and cv.pad == (1, 2) and cv.dilation == (1, 2) and cv.groups == 3
    assert (cv.oh, cv.ow) == (7, 12)


def test_other_kernels_are_declined() -> None:
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2]),
             helper.make_node("Gemm", ["f", "W"], ["z"])]
    g = onnx_graph([nodes[0]], {"x": (F32, [1, 4, 8, 8])}, ["y"])
    g2 = onnx_graph([nodes[1]], {"f": (F32, [2, 16])}, ["z"],
                    {"W": RNG.standard_normal((16, 8)).astype(np.float32)})
    for graph in (g, g2):
        lowered = run_passes(graph, "fuse,lower{target=cpu}", target=host_target())
        for nd in lowered.nodes:
            with pytest.raises(NoMatch):
                match_conv(nd.attrs.kernel)
            assert schedule_conv(nd.attrs.kernel, host_target()) is None


def test_candidates_fit_the_registers_and_come_best_first() -> None:
    k = lowered_conv(1, 64, (56, 56), 64, (3, 3), "relu", pads=[1, 1, 1, 1])
    cv = match_conv(k)
    for bits, regs in ((256, 16), (512, 32)):
        t = TargetDesc("t", bits, 2, 32768, 524288, 1 << 25)
        ps = plans(cv, t)
        assert len(ps) >= 2
        assert all(p.ob * p.nv + p.nv + 1 <= regs for p in ps)
        assert [p.cycles for p in ps] == sorted(p.cycles for p in ps)
        assert all(p.lanes == bits // 32 for p in ps)


def test_scheduled_kernel_uses_vector_fmas_in_parallel_tiles() -> None:
    k = lowered_conv(1, 16, (14, 14), 16, (3, 3), "relu", pads=[1, 1, 1, 1])
    sk = schedule_conv(k, host_target())[0]  # type: ignore[index]
    lanes = host_target().vector_lanes(dlc.ir.DType.F32)
    fmas = [e for e in walk(sk.body) if getattr(e, "fn", None) == "fma"]
    assert fmas and all(e.type.lanes == lanes for e in fmas)
    outer = sk.body.stmts[0]
    assert getattr(outer, "kind", None) is ForKind.PARALLEL


def small_cnn() -> onnx.ModelProto:
    """conv-relu, depthwise + clip, 1x1 + residual add, strided conv, pooling, gemm."""
    def w(*s: int) -> onnx.TensorProto:
        return RNG.standard_normal(s).astype(np.float32) * 0.3  # type: ignore[return-value]
    inits = {"w1": w(8, 3, 3, 3), "b1": w(8), "w2": w(8, 1, 3, 3), "b2": w(8),
             "w3": w(8, 8, 1, 1), "b3": w(8), "w4": w(16, 8, 3, 3), "b4": w(16),
             "lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32),
             "fw": w(10, 16), "fb": w(10)}
    N = helper.make_node
    nodes = [
        N("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        N("Relu", ["c1"], ["r1"]),
        N("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8),
        N("Clip", ["c2", "lo", "hi"], ["r2"]),
        N("Conv", ["r2", "w3", "b3"], ["c3"], kernel_shape=[1, 1]),
        N("Add", ["c3", "r1"], ["a3"]),
        N("Conv", ["a3", "w4", "b4"], ["c4"], kernel_shape=[3, 3], strides=[2, 2],
          pads=[1, 1, 1, 1]),
        N("Relu", ["c4"], ["r4"]),
        N("GlobalAveragePool", ["r4"], ["p"]),
        N("Flatten", ["p"], ["f"]),
        N("Gemm", ["f", "fw", "fb"], ["out"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "cnn", [helper.make_tensor_value_info("x", F32, [1, 3, 19, 21])],
        [helper.make_tensor_value_info("out", F32, [1, 10])],
        [numpy_helper.from_array(np.asarray(a), k) for k, a in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_small_cnn_on_cpu_matches_reference() -> None:
    model = small_cnn()
    x = RNG.standard_normal((1, 3, 19, 21)).astype(np.float32)
    cpu = dlc.compile(model, target="cpu")
    scheduled = [nd for nd in cpu.graph.nodes if nd.op == "KernelCall"
                 and any(isinstance(s, For) and s.var.name.startswith("cv_")
                         for s in walk(nd.attrs.kernel.body))]
    assert len(scheduled) == 4  # every conv took the schedule
    want = dlc.compile(model, target="reference")(x)
    np.testing.assert_allclose(cpu(x), want, rtol=1e-4, atol=1e-4)

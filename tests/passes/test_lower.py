"""lower: groups of nodes become KernelCall nodes whose kernels come from compute definitions.

Differential throughout: the lowered graph, run by the reference interpreter (each KernelCall
through the kernel interpreter), gives what the op table's reference implementations give, for
every op with a compute definition on its own, for fused chains, and for the golden models.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import compute_cases_more  # noqa: F401 - registers its cases
import numpy as np
import onnx
import pytest
from lowering_testing import (
    kernel_calls,
    one_node_graph,
    register_topk,
    run_both,
    static_model_inputs,
    topk_rule,
)
from pass_testing import F32, node, onnx_graph, random_inputs
from test_compute import WITH_COMPUTE, cases_of, check_equal

from dlc.errors import DlcError, UnsupportedOp
from dlc.frontends.onnx import import_onnx
from dlc.ir import DType, Graph, Node, TensorType, Value, interpret, verify
from dlc.ir.kernel import F32 as KF32
from dlc.ir.kernel import For, ForKind, Kernel, KernelBuilder, walk
from dlc.ir.ops.fused import FusedAttrs
from dlc.ir.ops.kernel_call import KernelCallAttrs
from dlc.ir.text import graphs_equal, parse_module, print_module
from dlc.passes import LoweringRules, lower_graph, lowering_rules, run_passes

GOLDEN = Path(__file__).parents[1] / "golden" / "cases"
rng = np.random.default_rng(3)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def loops(k: Kernel) -> list[For]:
    return [s for s in walk(k.body) if isinstance(s, For)]


# -- every op with a compute definition, on its own -----------------------------------------------

@pytest.mark.parametrize("name", WITH_COMPUTE)
def test_every_compute_op_lowers_alone(name: str) -> None:
    checked = 0
    for case in cases_of(name):
        try:
            g, feed = one_node_graph(name, case.attrs, case.inputs, case.known, case.outputs)
        except DlcError:
            continue  # a case only the compute definition takes (its shape rule does not)
        want = interpret(g, feed)
        lower_graph(g, "test")
        verify(g)
        kernel_calls(g)
        got = interpret(g, feed)
        for k, (a, b) in enumerate(zip(got, want)):
            check_equal(a, np.asarray(b), f"{name}({case.attrs}), output {k}")
        checked += 1
    assert checked >= 1


# -- fused chains ---------------------------------------------------------------------------------

def _one_kernel(g: Graph) -> Kernel:
    (call,) = kernel_calls(g)
    k = call.attrs.kernel
    assert isinstance(k, Kernel)
    return k


def test_conv_bias_relu_is_one_kernel() -> None:
    g = onnx_graph([node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
                    node("Relu", ["c"], ["y"])],
                   {"x": (F32, [1, 3, 9, 9])}, ["y"], {"w": f32(4, 3, 3, 3), "b": f32(4)})
    g = run_both(g, "fuse,lower", rtol=1e-4, atol=1e-5)
    k = _one_kernel(g)
    kinds = [f.kind for f in loops(k)]
    assert kinds.count(ForKind.PARALLEL) == 3 and kinds.count(ForKind.SERIAL) == 3


def test_gemm_add_relu_is_one_kernel() -> None:
    g = onnx_graph([node("Gemm", ["x", "w"], ["m"], transB=1, alpha=0.5),
                    node("Add", ["m", "bias"], ["a"]), node("Relu", ["a"], ["y"])],
                   {"x": (F32, [5, 7])}, ["y"], {"w": f32(6, 7), "bias": f32(6)})
    _one_kernel(run_both(g, "fuse,lower", rtol=1e-4, atol=1e-5))


@pytest.mark.parametrize("spelled_out", [False, True])
def test_matmul_add_gelu_is_one_kernel(spelled_out: bool) -> None:
    if spelled_out:   # x * 0.5 * (1 + erf(x / sqrt 2)), as exporters write it
        gelu = [node("Div", ["a", "sqrt2"], ["d"]), node("Erf", ["d"], ["e"]),
                node("Add", ["e", "one"], ["e1"]), node("Mul", ["a", "e1"], ["m1"]),
                node("Mul", ["m1", "half"], ["y"])]
        consts = {"sqrt2": np.float32(np.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5)}
    else:
        gelu, consts = [node("Gelu", ["a"], ["y"])], {}
    g = onnx_graph([node("MatMul", ["x", "w"], ["m"]), node("Add", ["m", "bias"], ["a"]), *gelu],
                   {"x": (F32, [2, 3, 8])}, ["y"], {"w": f32(8, 5), "bias": f32(5), **consts})
    k = _one_kernel(run_both(g, "fuse,lower", rtol=1e-4, atol=1e-5))
    assert len(k.written()) == 1


def test_residual_add_and_a_result_read_twice() -> None:
    """The matmul result is also a graph output: the epilogue's loop nest stores it too."""
    g = onnx_graph([node("MatMul", ["x", "w"], ["m"]), node("Add", ["m", "x"], ["y"])],
                   {"x": (F32, [4, 6])}, ["y", "m"], {"w": f32(6, 6)})
    k = _one_kernel(run_both(g, "fuse,lower", rtol=1e-4, atol=1e-5))
    assert [b.name for b in k.written()] == ["m", "y"]


@pytest.mark.parametrize("op, attrs, extra", [
    ("LayerNormalization", {"axis": -1}, {"scale": f32(16), "bias": f32(16)}),
    ("LayerNormalization", {"axis": 1}, {"scale": f32(3, 16), "bias": f32(3, 16)}),
    ("Softmax", {"axis": -1}, {}),
    ("LogSoftmax", {"axis": 2}, {}),
    ("RMSNormalization", {"axis": -1}, {"scale": f32(16)}),
])
def test_normalization_and_softmax_are_one_kernel(op: str, attrs: dict[str, Any],
                                                 extra: dict[str, np.ndarray]) -> None:
    g = onnx_graph([node(op, ["x", *extra], ["n"], **attrs), node("Mul", ["n", "s"], ["y"])],
                   {"x": (F32, [2, 3, 16])}, ["y"], {**extra, "s": f32(16)}, opset=23)
    k = _one_kernel(run_both(g, "fuse,lower", rtol=1e-4, atol=1e-5))
    spatial = [f for f in loops(k) if f.kind is not ForKind.SERIAL]
    serial = [f for f in loops(k) if f.kind is ForKind.SERIAL]
    assert spatial and serial   # row statistics by serial loops inside the parallel ones


def test_softmax_spelled_out_is_one_kernel() -> None:
    g = onnx_graph([node("ReduceMax", ["x"], ["mx"], axes=[-1], keepdims=1),
                    node("Sub", ["x", "mx"], ["d"]), node("Exp", ["d"], ["e"]),
                    node("ReduceSum", ["e", "ax"], ["s"], keepdims=1),
                    node("Div", ["e", "s"], ["y"])],
                   {"x": (F32, [3, 7])}, ["y"], {"ax": np.array([-1])}, opset=17)
    _one_kernel(run_both(g, "fuse,lower", rtol=1e-5, atol=1e-6))


def test_softmax_along_a_leading_axis_interchanges_the_loops() -> None:
    """A column statistic read inside the loop over rows would be recomputed for every row:
    the loop over rows goes inside instead."""
    g = onnx_graph([node("Softmax", ["x"], ["y"], axis=0)], {"x": (F32, [5, 4])}, ["y"])
    k = _one_kernel(run_both(g, "lower"))
    assert [f.var.name for f in loops(k) if f.kind is not ForKind.SERIAL] == ["i1", "i0"]


def test_stages_that_would_be_recomputed_are_stored() -> None:
    """A matmul read inside another matmul's reduction, and group statistics read per channel
    (c // channels-per-group), are stored by a kernel of their own and read back."""
    g = onnx_graph([node("MatMul", ["x", "w"], ["m"]), node("MatMul", ["m", "w"], ["y"])],
                   {"x": (F32, [3, 4])}, ["y"], {"w": f32(4, 4)})
    inputs = random_inputs(g)
    want = interpret(g, inputs)
    body = Graph("matmul_matmul", [], list(g.outputs), {}, list(g.nodes))
    outs = [Value("y", g.outputs[0].type)]
    g.nodes = [Node("Fused", [g.inputs[0], *g.constants], outs, FusedAttrs(body, "by-hand"))]
    g.outputs = outs
    g = run_both(g, "lower", inputs)
    calls = kernel_calls(g)
    assert len(calls) == 2 and calls[0].outputs[0] in calls[1].inputs
    assert calls[0].outputs[0].name.startswith("matmul_matmul_0_")   # a new value
    np.testing.assert_allclose(interpret(g, inputs)[0], want[0], rtol=1e-5, atol=1e-5)
    g = onnx_graph([node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2)],
                   {"x": (F32, [2, 4, 3])}, ["y"], {"s": f32(4), "b": f32(4)}, opset=21)
    assert len(kernel_calls(run_both(g, "lower", rtol=1e-4, atol=1e-5))) == 2


def test_transpose_reshape_chain() -> None:
    g = onnx_graph([node("Transpose", ["x"], ["t"], perm=[0, 2, 1, 3]),
                    node("Reshape", ["t", "shape"], ["r"]), node("Relu", ["r"], ["y"]),
                    node("Transpose", ["y"], ["z"], perm=[1, 0])],
                   {"x": (F32, [2, 3, 4, 5])}, ["z"], {"shape": np.array([8, 15])})
    k = _one_kernel(run_both(g, "fuse,lower"))
    assert [f.kind for f in loops(k)] == [ForKind.PARALLEL, ForKind.VECTORIZED]


def test_gather_then_matmul() -> None:
    g = onnx_graph([node("Gather", ["emb", "ids"], ["e"]), node("Relu", ["e"], ["r"]),
                    node("MatMul", ["r", "w"], ["y"])],
                   {"ids": (onnx.TensorProto.INT64, [2, 3])}, ["y"],
                   {"emb": f32(10, 4), "w": f32(4, 5)})
    ids = [np.array([[0, 9, -1], [3, 3, 2]], np.int64)]
    g = run_both(g, "fuse,lower", ids, rtol=1e-5, atol=1e-5)
    assert len(kernel_calls(g)) == 2


def test_reduction_with_its_prologue() -> None:
    g = onnx_graph([node("Mul", ["x", "x"], ["sq"]), node("ReduceSum", ["sq", "ax"], ["s"]),
                    node("Sqrt", ["s"], ["y"])],
                   {"x": (F32, [4, 9])}, ["y"], {"ax": np.array([1])})
    _one_kernel(run_both(g, "fuse,lower"))


def test_scalars_and_empty_tensors() -> None:
    g = onnx_graph([node("ReduceSum", ["x"], ["s"], keepdims=0), node("Neg", ["s"], ["y"]),
                    node("Relu", ["e"], ["z"])],
                   {"x": (F32, [3, 4]), "e": (F32, [0, 4])}, ["y", "z"])
    g = run_both(g, "fuse,lower", [f32(3, 4), f32(0, 4)])
    assert g.outputs[0].type == TensorType(g.inputs[0].type.dtype, ())  # type: ignore[union-attr]


# -- the golden models -------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()))
def test_golden_models_lowered(case: str) -> None:
    register_topk("golden-test")
    try:
        model = onnx.load(str(GOLDEN / case / "model.onnx"))
        with np.load(GOLDEN / case / "inputs.npz") as z:
            inputs = {k: z[k] for k in z.files}
        with np.load(GOLDEN / case / "expected.npz") as z:
            expected = {k: z[k] for k in z.files}
        static_model_inputs(model, inputs)   # lowering needs static shapes
        g = import_onnx(model)
        g = run_passes(g, "canonicalize,fold-batchnorm,fuse,lower{target=golden-test}",
                       verify_each=True)
        kernel_calls(g)
        got = interpret(g, [inputs[v.name] for v in g.inputs])
        for (name, want), a in zip(expected.items(), got):
            assert a.dtype == want.dtype and a.shape == want.shape
            np.testing.assert_allclose(a, want, rtol=1e-4, atol=1e-5, err_msg=name)
    finally:
        lowering_rules("golden-test").unregister("TopK")


def test_lowered_module_round_trips_as_text() -> None:
    g = import_onnx(onnx.load(str(GOLDEN / "tiny_cnn" / "model.onnx")))
    g = run_passes(g, "canonicalize,fuse,lower")
    text, consts = print_module(g)
    assert text.count("kernel @") == len(g.nodes)
    assert graphs_equal(parse_module(text, consts), g)


# -- rules, errors, pass-through ------------------------------------------------------------------

def _topk_graph() -> Graph:
    return onnx_graph([node("TopK", ["x", "k"], ["v", "i"]), node("Relu", ["v"], ["y"])],
                      {"x": (F32, [3, 6])}, ["y", "i"], {"k": np.array([4])})


def test_an_op_without_compute_or_rule_names_op_node_and_target() -> None:
    g = _topk_graph()
    with pytest.raises(UnsupportedOp) as e:
        run_passes(g, "lower{target=nowhere}")
    assert e.value.op == "TopK" and e.value.target == "nowhere" and e.value.node == g.nodes[0].name
    assert "TopK" in str(e.value) and "nowhere" in str(e.value) and f"'{g.nodes[0].name}'" in str(
        e.value)


def test_a_backend_rule_lowers_an_op_without_compute() -> None:
    rules = lowering_rules("rule-test")
    assert isinstance(rules, LoweringRules) and "TopK" not in rules
    rules.register("TopK")(topk_rule)
    try:
        g = run_both(_topk_graph(), "fuse,lower{target=rule-test}")
        assert [n.attrs.kernel.name for n in kernel_calls(g)] == ["topk", "y"]
    finally:
        rules.unregister("TopK")


def test_a_rule_that_declines_or_misfits_is_an_error() -> None:
    rules = lowering_rules("rule-test-2")
    rules.register("TopK")(lambda node, attrs, types: None)
    try:
        with pytest.raises(UnsupportedOp, match="rule does not cover"):
            run_passes(_topk_graph(), "lower{target=rule-test-2}")
        rules.register("TopK")(lambda node, attrs, types: _scale_kernel())
        with pytest.raises(DlcError, match="rule for TopK"):
            run_passes(_topk_graph(), "lower{target=rule-test-2}")
    finally:
        rules.unregister("TopK")


def test_symbolic_shapes_say_lowering_needs_static_shapes() -> None:
    g = onnx_graph([node("Relu", ["x"], ["y"])], {"x": (F32, ["N", 3])}, ["y"])
    with pytest.raises(UnsupportedOp, match="static shapes.*specialize") as e:
        run_passes(g, "lower{target=cpu}")
    assert e.value.op == "Relu" and e.value.target == "cpu"


def _scale_kernel() -> Kernel:
    kb = KernelBuilder("scale")
    n = 4
    x = kb.buffer("x", KF32, (n,), access="r")
    y = kb.buffer("y", KF32, (n,), access="w")
    with kb.for_("i", 0, n, kind="parallel") as i:
        y[i] = x[i] * 2.0
    return kb.finish()


def test_kernel_calls_pass_through() -> None:
    g = Graph("g")
    x = g.add_input("x", TensorType(DType.F32, (4,)))
    k = _scale_kernel()
    y = Value("y", TensorType(DType.F32, (4,)))
    call = Node("KernelCall", [x, None], [y], KernelCallAttrs(k), "scale")
    r = Value("r", TensorType(DType.F32, (4,)))
    g.nodes = [call, Node("Relu", [y], [r], None, "relu")]
    g.outputs = [r]
    g = run_both(g, "fuse,lower")
    assert g.nodes[0] is call and g.nodes[0].attrs.kernel is k


def test_loop_marking_options() -> None:
    def graph() -> Graph:
        return onnx_graph([node("Add", ["x", "y"], ["z"])],
                          {"x": (F32, [3, 4]), "y": (F32, [4])}, ["z"])
    kinds = [f.kind for f in loops(_one_kernel(run_both(graph(), "lower")))]
    assert kinds == [ForKind.PARALLEL, ForKind.VECTORIZED]
    kinds = [f.kind for f in loops(_one_kernel(run_both(graph(), "lower{vectorize=false}")))]
    assert kinds == [ForKind.PARALLEL, ForKind.PARALLEL]
    kinds = [f.kind for f in loops(_one_kernel(run_both(graph(), "lower{parallel=false}")))]
    assert kinds == [ForKind.SERIAL, ForKind.VECTORIZED]


def test_a_fused_group_with_a_rule_only_member_falls_apart() -> None:
    """A Fused node holding an op only a rule lowers: its members are lowered one by one."""
    register_topk("rule-test-3")
    try:
        g = _topk_graph()
        inputs = random_inputs(g)
        want = interpret(g, inputs)
        body = Graph("topk_relu", [], list(g.outputs), {}, list(g.nodes))
        outs = [Value(v.name, v.type) for v in g.outputs]
        fused = Node("Fused", [g.inputs[0], *g.constants], outs, FusedAttrs(body, "by-hand"))
        g.nodes, g.outputs = [fused], outs
        verify(g)
        g = run_passes(g, "lower{target=rule-test-3}", verify_each=True)
        assert len(kernel_calls(g)) == 2
        for a, b in zip(interpret(g, inputs), want):
            np.testing.assert_array_equal(a, b)
    finally:
        lowering_rules("rule-test-3").unregister("TopK")


def test_dead_outputs_are_not_stored() -> None:
    g = onnx_graph([node("MaxPool", ["x"], ["y", "idx"], kernel_shape=[2, 2])],
                   {"x": (F32, [1, 1, 4, 4])}, ["y"])
    k = _one_kernel(run_both(g, "lower"))
    assert [b.name for b in k.written()] == ["y"]


def test_coverage_says_how_each_op_lowers() -> None:
    from dlc.passes.lower import coverage
    before = coverage("coverage-test")
    assert before["Relu"] == "compute" and before["TopK"] == "none"
    assert before["KernelCall"] == "pass-through" and before["Fused"] == "group"
    register_topk("coverage-test")
    try:
        assert coverage("coverage-test")["TopK"] == "rule"
    finally:
        lowering_rules("coverage-test").unregister("TopK")

"""fuse: the rule table groups nodes into Fused nodes; what each rule does is shown as before/after
IR text in text/fuse_*.txt (run by test_pass_text.py). These tests check the machinery: options,
cycles, limits, the IR of fused graphs, and that fusing never changes what a graph computes."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from pass_testing import F32, check, node, onnx_graph, ops

from dlc.errors import DlcError
from dlc.ir import Graph, verify
from dlc.ir.text import graphs_equal, parse_module, print_module
from dlc.passes import FUSION_RULES, flatten_groups, run_passes
from dlc.passes.fuse import GroupKind, OpKind, op_kind

rng = np.random.default_rng(5)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def bodies(g: Graph) -> list[list[str]]:
    return [[m.op for m in n.attrs.body.nodes] for n in g.nodes if n.op == "Fused"]


def test_the_rule_table() -> None:
    names = [r.name for r in FUSION_RULES]
    assert names == ["contraction-epilogue", "reduction-epilogue", "injective-chain",
                     "reduction-prologue", "reduction-chain", "contraction-prologue"]
    assert all(r.becomes in GroupKind for r in FUSION_RULES)
    # a group never takes a second contraction
    assert not any(OpKind.CONTRACTION in r.node and GroupKind.CONTRACTION in r.group
                   for r in FUSION_RULES)


def test_op_kinds_come_from_traits_and_compute() -> None:
    g = onnx_graph([node("Conv", ["x", "w"], ["c"]), node("Relu", ["c"], ["r"]),
                    node("Transpose", ["r"], ["t"]), node("ReduceSum", ["t"], ["s"]),
                    node("TopK", ["s", "k"], ["v", "i"])],
                   {"x": (F32, [1, 2, 4, 4])}, ["v"], {"w": f32(3, 2, 1, 1), "k": np.array([1])})
    assert [op_kind(n, g.constants) for n in g.nodes] == [
        OpKind.CONTRACTION, OpKind.ELEMENTWISE, OpKind.INJECTIVE, OpKind.REDUCTION, OpKind.OPAQUE]


def test_conv_chain_is_one_group_and_runs_the_same() -> None:
    g = onnx_graph([node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                    node("Relu", ["c"], ["r"]), node("Add", ["r", "x2"], ["y"]),
                    node("MaxPool", ["y"], ["p"], kernel_shape=[2, 2])],
                   {"x": (F32, [1, 2, 6, 6]), "x2": (F32, [1, 3, 6, 6])}, ["p"],
                   {"w": f32(3, 2, 3, 3), "b": f32(3)})
    g = check(g, "fuse", ["Fused", "MaxPool"], rtol=1e-5, atol=1e-5)
    assert bodies(g) == [["Conv", "Relu", "Add"]]
    assert g.nodes[0].attrs.rule == "contraction-epilogue"
    assert g.nodes[0].name == "c"   # the Fused node is named after its anchor


def test_no_group_would_need_its_own_result() -> None:
    """a -> Exp; outside: Transpose(a) -> TopK (opaque) -> back into Add(a, ...): putting Add into
    a's group would make the group read what it produces."""
    g = onnx_graph([node("Exp", ["x"], ["a"]), node("TopK", ["a", "k"], ["v", "i"], axis=0),
                    node("Add", ["a", "v"], ["y"])],
                   {"x": (F32, [3, 4])}, ["y"], {"k": np.array([1])})
    g = check(g, "fuse", ["Exp", "TopK", "Add"])


def test_diamond_of_elementwise_ops_is_one_group() -> None:
    g = onnx_graph([node("Exp", ["x"], ["a"]), node("Sin", ["a"], ["b"]),
                    node("Cos", ["a"], ["c"]), node("Mul", ["b", "c"], ["y"])],
                   {"x": (F32, [5])}, ["y"])
    g = check(g, "fuse", ["Fused"])
    assert g.nodes[0].outputs[0].name == "y" and len(g.nodes[0].outputs) == 1


def test_options_pick_rules_and_limit_groups() -> None:
    def chain() -> Graph:
        return onnx_graph([node("Gemm", ["x", "w"], ["g"]), node("Relu", ["g"], ["r"]),
                           node("Neg", ["r"], ["n"]), node("Exp", ["n"], ["y"])],
                          {"x": (F32, [2, 3])}, ["y"], {"w": f32(3, 3)})
    assert ops(check(chain(), "fuse{rules=[injective-chain]}")) == ["Gemm", "Fused"]
    assert bodies(check(chain(), "fuse{max-nodes=2}")) == [["Gemm", "Relu"], ["Neg", "Exp"]]
    assert ops(check(chain(), "fuse")) == ["Fused"]
    with pytest.raises(DlcError, match="no rule nope"):
        run_passes(chain(), "fuse{rules=[nope]}")


def test_fused_graph_verifies_prints_and_parses_back() -> None:
    g = onnx_graph([node("MatMul", ["x", "w"], ["m"]), node("Add", ["m", "b"], ["a"]),
                    node("Gelu", ["a"], ["y"]), node("Softmax", ["y"], ["s"])],
                   {"x": (F32, [2, 4])}, ["s", "a"], {"w": f32(4, 4), "b": f32(4)}, opset=20)
    g = run_passes(g, "fuse", verify_each=True)
    verify(g)
    text, consts = print_module(g)
    assert text.count("Fused(") == 1 and "rule=\"contraction-epilogue\"" in text
    assert graphs_equal(parse_module(text, consts), g)
    assert [v.name for v in g.outputs] == ["s", "a"]


def test_fusing_twice_keeps_the_groups() -> None:
    g = onnx_graph([node("Relu", ["x"], ["a"]), node("Exp", ["a"], ["y"])],
                   {"x": (F32, [3])}, ["y"])
    g = check(g, "fuse,fuse,canonicalize", ["Fused"])
    assert bodies(g) == [["Relu", "Exp"]]


def test_flatten_groups_for_drawing() -> None:
    g = onnx_graph([node("Conv", ["x", "w"], ["c"]), node("Relu", ["c"], ["r"]),
                    node("TopK", ["r", "k"], ["v", "i"], axis=1), node("Neg", ["v"], ["n"]),
                    node("Abs", ["n"], ["y"])],
                   {"x": (F32, [1, 2, 3, 3])}, ["y"], {"w": f32(4, 2, 1, 1),
                                                      "k": np.array([2])})
    g = run_passes(g, "fuse")
    flat, groups = flatten_groups(g)
    assert [n.op for n in flat.nodes] == ["Conv", "Relu", "TopK", "Neg", "Abs"]
    assert groups[0] == groups[1] and groups[3] == groups[4] and groups[0] != groups[3]
    assert 2 not in groups
    assert flat.nodes[2].inputs[0] is flat.nodes[1].outputs[0]   # reads the body's value
    from dlc.drawing import to_dot
    assert to_dot(flat, groups).count("subgraph cluster_") == 2


@pytest.mark.parametrize("seed", range(6))
def test_random_chains_run_the_same_after_fusion_and_lowering(seed: int) -> None:
    """Random mixes of element-wise, injective, reduction and contraction ops."""
    r = np.random.default_rng(seed)
    unary = ["Relu", "Exp", "Tanh", "Neg", "Sigmoid", "Abs"]
    nodes = [node("MatMul", ["x", "w"], ["v0"])]
    cur = "v0"
    for k in range(1, 9):
        pick = r.integers(5)
        out = f"v{k}"
        if pick == 0:
            nodes.append(node(str(r.choice(unary)), [cur], [out]))
        elif pick == 1:
            nodes.append(node("Add", [cur, "x"], [out]))
        elif pick == 2:
            nodes.append(node("Softmax", [cur], [out], axis=int(r.integers(2))))
        elif pick == 3:
            nodes.append(node("ReduceMean", [cur, "ax"], [out], keepdims=1))
        else:
            nodes.append(node("Transpose", [cur], [f"t{k}"], perm=[1, 0]))
            nodes.append(node("Transpose", [f"t{k}"], [out], perm=[1, 0]))
        if pick == 3:
            nodes.append(node("Sub", ["x", out], [f"s{k}"]))
            out = f"s{k}"
        cur = out
    g = onnx_graph(nodes, {"x": (F32, [4, 4])}, [cur, "v0"],
                   {"w": f32(4, 4), "ax": np.array([int(r.integers(2))])}, opset=18)
    check(g, "fuse,lower", rtol=1e-4, atol=1e-5, seed=seed)


def test_dynamic_dims_are_left_alone() -> None:
    g = onnx_graph([node("Relu", ["x"], ["a"]), node("Exp", ["a"], ["y"])],
                   {"x": (F32, ["N", 3])}, ["y"])
    check(g, "fuse", ["Relu", "Exp"])


def test_int_chain_and_where() -> None:
    g = onnx_graph([node("Greater", ["x", "zero"], ["p"]), node("Where", ["p", "x", "y"], ["w"]),
                    node("Cast", ["w"], ["c"], to=onnx.TensorProto.INT32)],
                   {"x": (F32, [6]), "y": (F32, [6])}, ["c"], {"zero": np.float32(0)})
    check(g, "fuse,lower", ["KernelCall"])


def test_groups_do_not_read_each_other_in_a_cycle() -> None:
    """{a, d} and {b, c} have no path out and back at node level, but as two nodes each would
    read the other: d joins b's group instead (a, a graph output, stays on its own)."""
    def graph() -> Graph:
        return onnx_graph([node("Exp", ["x"], ["a"]), node("Neg", ["y"], ["b"]),
                           node("Add", ["b", "a"], ["c"]), node("Mul", ["a", "b"], ["d"])],
                          {"x": (F32, [4]), "y": (F32, [4])}, ["c", "d", "a"])
    g = check(graph(), "fuse")
    assert ops(g) == ["Exp", "Fused"] and bodies(g) == [["Neg", "Add", "Mul"]]
    check(graph(), "fuse,lower", ["KernelCall", "KernelCall"])

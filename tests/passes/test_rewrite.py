"""The pattern language and the worklist driver, on small hand-written rule sets."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from pass_testing import F32, check, needs, node, onnx_graph, ops, random_inputs

from dlc.errors import DlcError
from dlc.ir import Graph, Node, Value, interpret
from dlc.passes import FoldPolicy, NoRewrite, P, Rewriter, Rule, RuleSet, apply_rules, cse, dce

X, Y = P.var("x"), P.var("y")
BOOL = TensorProto.BOOL
# x + 0 -> x
ADD_ZERO = RuleSet([(P.op("Add", X, P.splat(0)), lambda x: x)])


def graph_add(a_shape: list[int], z: np.ndarray, swap: bool = False) -> Graph:
    ins = ["z", "x"] if swap else ["x", "z"]
    return onnx_graph([node("Add", ins, ["y"]), node("Relu", ["y"], ["r"])],
                      {"x": (F32, a_shape)}, ["r"], {"z": z})


def test_commutative_ops_match_either_order() -> None:
    for swap in (False, True):
        g = graph_add([2, 3], np.zeros(3, np.float32), swap)
        stats = apply_rules(g, ADD_ZERO)
        assert ops(g) == ["Relu"] and g.nodes[0].inputs == g.inputs
        assert sum(stats.applied.values()) == 1
        assert g.constants == {}  # the zero nobody reads any more is gone


def test_a_replacement_of_another_type_is_refused() -> None:
    # x[3] + zeros[2, 3] broadcasts x: the sum is not x
    g = graph_add([3], np.zeros((2, 3), np.float32))
    assert not apply_rules(g, ADD_ZERO).changed
    assert ops(g) == ["Add", "Relu"]


def test_a_name_bound_twice_must_be_the_same_value() -> None:
    rules = RuleSet([(P.op("Add", X, X), lambda x: x)])  # (wrong on purpose, to see it match)
    g = onnx_graph([node("Add", ["x", "x"], ["a"]), node("Add", ["a", "y"], ["b"])],
                   {"x": (F32, [2]), "y": (F32, [2])}, ["b"])
    apply_rules(g, rules)
    assert ops(g) == ["Add"] and g.nodes[0].inputs[0] is g.inputs[0]


def test_one_use() -> None:
    # relu(|x|) -> |x|, here only when nothing else reads |x|
    rules = RuleSet([(P.op("Relu", P.op("Abs", X, name="a", one_use=True)),
                      lambda a: a.outputs[0])])
    g = onnx_graph([node("Abs", ["x"], ["a"]), node("Relu", ["a"], ["r"])],
                   {"x": (F32, [2])}, ["r"])
    apply_rules(g, rules)
    assert ops(g) == ["Abs"]
    g = onnx_graph([node("Abs", ["x"], ["a"]), node("Relu", ["a"], ["r"])],
                   {"x": (F32, [2])}, ["r", "a"])
    assert not apply_rules(g, rules).changed


def test_new_nodes_go_before_the_node_they_replace() -> None:
    # relu(x) -> (|x| + x) * 0.5, built from several new nodes
    def expand(b: Rewriter, x: Value) -> Value:
        s = b.emit("Add", [b.emit("Abs", [x]), x])
        return b.emit("Mul", [s, b.const(np.float32(0.5))])

    rules = RuleSet([(P.op("Relu", X), expand)])
    g = onnx_graph([node("Abs", ["x"], ["a"]), node("Relu", ["a"], ["r"]),
                    node("Add", ["r", "x"], ["s"])], {"x": (F32, [2, 2])}, ["s"])
    inputs = random_inputs(g)
    want = interpret(g, inputs)
    apply_rules(g, rules)
    assert ops(g) == ["Abs", "Abs", "Add", "Mul", "Add"]
    np.testing.assert_allclose(interpret(g, inputs)[0], want[0])


def test_a_looping_rule_set_is_reported() -> None:
    rules = RuleSet([(P.op("Add", X, Y), lambda b, x, y: b.emit("Add", [y, x]))])
    g = onnx_graph([node("Add", ["x", "y"], ["a"])], {"x": (F32, [2]), "y": (F32, [2])}, ["a"])
    with pytest.raises(DlcError, match="fixed point"):
        apply_rules(g, rules, max_steps=50)


def test_declining() -> None:
    def missing_op(b: Rewriter, x: Value) -> Value:
        return b.emit("NoSuchOp", [x])

    def raises(x: Value) -> Value:
        raise NoRewrite

    rules = RuleSet([(P.op("Relu", X), missing_op), (P.op("Relu", X), raises),
                     (P.op("Relu", X), lambda x: None)])
    g = onnx_graph([node("Relu", ["x"], ["r"])], {"x": (F32, [2])}, ["r"])
    assert not apply_rules(g, rules).changed


def test_rule_sets_compose_in_order() -> None:
    first = RuleSet([(P.op("Relu", X), lambda b, x: b.emit("Abs", [x]))])
    second = RuleSet([(P.op("Relu", X), lambda x: x)])
    assert len(first + second) == 2
    g = onnx_graph([node("Relu", ["x"], ["r"])], {"x": (F32, [2])}, ["r"])
    apply_rules(g, first + second)
    assert ops(g) == ["Abs"]


def test_rules_must_ask_only_for_bound_names() -> None:
    with pytest.raises(TypeError, match="'y'"):
        Rule.make(P.op("Relu", X), lambda x, y: x)
    assert P.op("Add", X, P.op("Mul", Y, P.const("c"), name="m")).names() == {"x", "y", "c", "m"}


def test_unread_nodes_are_removed_but_outputs_stay() -> None:
    g = onnx_graph([node("Relu", ["x"], ["dead"]), node("Abs", ["x"], ["a"])],
                   {"x": (F32, [2])}, ["a"])
    stats = apply_rules(g, RuleSet())
    assert ops(g) == ["Abs"] and stats.erased == 1


# -- constant folding ------------------------------------------------------------------------------

def test_folding_runs_the_reference() -> None:
    g = onnx_graph([node("Add", ["a", "b"], ["c"]), node("Add", ["x", "c"], ["y"])],
                   {"x": (F32, [3])}, ["y"],
                   {"a": np.arange(3, dtype=np.float32), "b": np.ones(3, np.float32)})
    stats = apply_rules(g, RuleSet(), fold=FoldPolicy())
    assert stats.folded == 1 and ops(g) == ["Add"]
    (c,) = g.constants.values()
    np.testing.assert_array_equal(c, np.arange(3) + 1)


@needs("Expand")
def test_folding_does_not_blow_up_constants() -> None:
    g = onnx_graph([node("Expand", ["one", "shape"], ["big"]), node("Add", ["x", "big"], ["y"])],
                   {"x": (F32, [64, 64])}, ["y"],
                   {"one": np.ones((), np.float32), "shape": np.array([64, 64])})
    check(g, "canonicalize{fold-limit=1024}", ["Expand", "Add"])
    check(g, "canonicalize{fold-limit=65536}", ["Add"])


@needs("Shape")
def test_shape_of_a_static_shape_folds() -> None:
    g = onnx_graph([node("Shape", ["x"], ["s"]), node("Relu", ["x"], ["r"])],
                   {"x": (F32, [2, 5])}, ["r", "s"])
    check(g, "canonicalize", ["Relu"])
    np.testing.assert_array_equal(g.constants[g.outputs[1]], [2, 5])


def test_folding_leaves_random_ops_alone() -> None:
    from dlc.passes import fold_node
    n = Node("RandomNormal", [], [], None, "r")
    assert fold_node(n, {}, FoldPolicy()) is None


# -- subgraphs -------------------------------------------------------------------------------------

def if_graph(then_nodes: list, then_out: str) -> Graph:
    then = helper.make_graph(then_nodes, "then", [],
                             [helper.make_tensor_value_info(then_out, F32, [2])])
    other = helper.make_graph([node("Neg", ["x"], ["n"])], "else", [],
                              [helper.make_tensor_value_info("n", F32, [2])])
    return onnx_graph([node("Relu", ["x"], ["rx"]),
                       node("If", ["c"], ["o"], then_branch=then, else_branch=other)],
                      {"x": (F32, [2]), "c": (BOOL, [])}, ["o"],
                      {"z": np.zeros(2, np.float32)})


@needs("If", "Neg")
def test_rules_apply_inside_subgraphs() -> None:
    g = if_graph([node("Add", ["x", "z"], ["t"]), node("Abs", ["t"], ["u"])], "u")
    stats = apply_rules(g, ADD_ZERO)
    assert sum(stats.applied.values()) == 1
    then = g.nodes[-1].attrs.then_branch
    assert [n.op for n in then.nodes] == ["Abs"] and then.nodes[0].inputs[0] is g.inputs[0]
    assert ops(g) == ["If"]  # the outer Relu nobody read went too


@needs("If", "Neg")
def test_cse_reuses_outer_nodes_and_dce_keeps_what_subgraphs_read() -> None:
    g = if_graph([node("Relu", ["x"], ["t"]), node("Relu", ["x"], ["t2"]),
                  node("Add", ["t", "t2"], ["u"])], "u")
    runs = [[random_inputs(g)[0], np.array(cond)] for cond in (True, False)]
    wants = [interpret(g, inputs)[0] for inputs in runs]
    assert cse(g) == 2
    dce(g)
    for inputs, want in zip(runs, wants):
        np.testing.assert_array_equal(interpret(g, inputs)[0], want)
    then = g.nodes[-1].attrs.then_branch
    outer_relu = g.nodes[0]
    assert ops(g) == ["Relu", "If"]
    assert [n.op for n in then.nodes] == ["Add"]
    assert then.nodes[0].inputs == [outer_relu.outputs[0]] * 2


@needs("Loop")
def test_loop_bodies_are_rewritten_and_keep_their_interface() -> None:
    body = helper.make_graph(
        [node("Add", ["v_in", "zero"], ["a"]), node("Mul", ["a", "two"], ["v_out"]),
         node("Identity", ["cond_in"], ["cond_out"]), node("Relu", ["x"], ["unused"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", BOOL, []),
         helper.make_tensor_value_info("v_in", F32, [2])],
        [helper.make_tensor_value_info("cond_out", BOOL, []),
         helper.make_tensor_value_info("v_out", F32, [2])])
    g = onnx_graph([node("Loop", ["n", "", "x"], ["y"], body=body)], {"x": (F32, [2])}, ["y"],
                   {"n": np.array(3, np.int64), "zero": np.zeros(2, np.float32),
                    "two": np.full(2, 2, np.float32)})
    check(g, "canonicalize", ["Loop"])
    b = g.nodes[0].attrs.body
    assert [n.op for n in b.nodes] == ["Mul"] and len(b.inputs) == 3
    assert b.outputs[0] is b.inputs[1]  # cond passes straight through


def test_rules_for_any_op_keep_their_place_in_the_list() -> None:
    seen: list[str] = []

    def note(node: Node) -> None:
        seen.append(node.op)

    rules = RuleSet([(P.op("Relu", X), lambda node: note(node)),
                     (P.op(None, any_inputs=True), lambda node: note(node)),
                     (P.op("Relu", X), lambda node: note(node))])
    g = onnx_graph([node("Relu", ["x"], ["r"]), node("Abs", ["r"], ["a"])],
                   {"x": (F32, [2])}, ["a"])
    assert not apply_rules(g, rules).changed
    assert seen == ["Relu", "Relu", "Relu", "Abs"]

"""unroll: Loop and Scan bodies inlined per iteration, If as its branch or as Where, sequences and
optionals resolved to their tensors; graphs it cannot resolve stay as they are. Outputs are checked
against the reference interpreter before the pass, and conformance cases run on the cpu target."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper
from pass_testing import F32, check, node, onnx_graph

import dlc
from dlc.ir import Graph, TensorType, interpret
from dlc.ir.text import print_module
from dlc.passes import run_passes
from dlc.passes.unroll import output_structure, rebuild

rng = np.random.default_rng(5)

I64, BOOL = onnx.TensorProto.INT64, onnx.TensorProto.BOOL
RESOLVED = {"Loop", "Scan", "If", "SequenceConstruct", "SequenceEmpty", "SequenceInsert",
            "SequenceErase", "SequenceAt", "SequenceLength", "SplitToSequence",
            "ConcatFromSequence", "Optional", "OptionalHasElement", "OptionalGetElement"}


def info(name: str, elem: int = F32, shape: Any = None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def body(nodes: list[onnx.NodeProto], ins: list[onnx.ValueInfoProto],
         outs: list[onnx.ValueInfoProto]) -> onnx.GraphProto:
    return helper.make_graph(nodes, "body", ins, outs)


def const(name: str, value: Any) -> onnx.NodeProto:
    return node("Constant", [], [name], value=onnx.numpy_helper.from_array(np.asarray(value)))


def unrolled(g: Graph, pipeline: str = "unroll", **kw: Any) -> Graph:
    """`pipeline` keeps `g`'s results and leaves no control flow, sequence or optional."""
    g = check(g, pipeline, **kw)
    left = {n.op for n in g.walk()} & RESOLVED
    assert not left, f"still there: {left}"
    return g


def unchanged(g: Graph, pipeline: str = "unroll") -> None:
    before = print_module(g)[0]
    assert print_module(run_passes(g, pipeline, verify_each=True))[0] == before


def accumulate_body() -> onnx.GraphProto:
    """(i, cond, y) -> (cond, y + x[i:i+1] * i, y * 2): iteration-bound slices."""
    return body([const("one", np.int64(1)), const("ax", np.array([0], np.int64)),
                 node("Add", ["i", "one"], ["end"]), node("Unsqueeze", ["i", "ax"], ["s0"]),
                 node("Unsqueeze", ["end", "ax"], ["s1"]), node("Slice", ["x", "s0", "s1"], ["sl"]),
                 node("Cast", ["i"], ["fi"], to=F32), node("Mul", ["sl", "fi"], ["prod"]),
                 node("Add", ["y", "prod"], ["y2"]), node("Add", ["y", "y"], ["twice"])],
                [info("i", I64, []), info("c", BOOL, []), info("y", F32, [1])],
                [info("c", BOOL, []), info("y2", F32, [1]), info("twice", F32, [1])])


def test_loop_constant_trip_count() -> None:
    g = onnx_graph([node("Loop", ["m", "", "y0"], ["y", "ys"], body=accumulate_body())],
                   {"x": (F32, [6]), "y0": (F32, [1])}, ["y", "ys"],
                   {"m": np.array(5, np.int64)})
    g = unrolled(g)
    assert [str(v.type) for v in g.outputs] == ["f32[1]", "f32[5, 1]"]
    assert [v.name for v in g.outputs] == ["y", "ys"]


def test_loop_condition_folds_each_iteration() -> None:
    # no trip count: the body's condition i < 2 is a constant in every inlined iteration
    b = body([const("two", np.int64(2)), node("Less", ["i", "two"], ["go"]),
              node("Add", ["y", "x"], ["y2"])],
             [info("i", I64, []), info("c", BOOL, []), info("y", F32, [3])],
             [info("go", BOOL, []), info("y2", F32, [3]), info("y2", F32, [3])])
    g = onnx_graph([node("Loop", ["", "t", "y0"], ["y", "ys"], body=b)],
                   {"x": (F32, [3]), "y0": (F32, [3])}, ["y", "ys"], {"t": np.array(True)})
    assert str(unrolled(g).outputs[1].type) == "f32[3, 3]"


def test_loop_of_no_iterations_keeps_its_state() -> None:
    b = body([node("Add", ["y", "x"], ["y2"])],
             [info("i", I64, []), info("c", BOOL, []), info("y", F32, [3])],
             [info("c", BOOL, []), info("y2", F32, [3])])
    g = onnx_graph([node("Loop", ["m", "", "y0"], ["y"], body=b), node("Relu", ["y"], ["r"])],
                   {"x": (F32, [3]), "y0": (F32, [3])}, ["r"], {"m": np.array(-1, np.int64)})
    assert [n.op for n in unrolled(g).nodes] == ["Relu"]


def test_nested_loops_and_an_if_on_the_iteration() -> None:
    # the inner trip count is the outer iteration number; an If picks by i < 2
    inner = body([node("Mul", ["z", "x"], ["z2"])],
                 [info("j", I64, []), info("c2", BOOL, []), info("z", F32, [2])],
                 [info("c2", BOOL, []), info("z2", F32, [2])])
    then = helper.make_graph([node("Neg", ["w"], ["t_out"])], "then", [], [info("t_out")])
    other = helper.make_graph([node("Abs", ["w"], ["e_out"])], "else", [], [info("e_out")])
    outer = body([node("Loop", ["i", "", "y"], ["w"], body=inner), const("two", np.int64(2)),
                  node("Less", ["i", "two"], ["small"]),
                  node("If", ["small"], ["picked"], then_branch=then, else_branch=other)],
                 [info("i", I64, []), info("c", BOOL, []), info("y", F32, [2])],
                 [info("c", BOOL, []), info("picked", F32, [2]), info("picked", F32, [2])])
    g = onnx_graph([node("Loop", ["m", "", "y0"], ["y", "ys"], body=outer)],
                   {"x": (F32, [2]), "y0": (F32, [2])}, ["y", "ys"], {"m": np.array(4, np.int64)})
    unrolled(g)


def test_scan_axes_and_directions() -> None:
    b = body([node("Add", ["s", "a"], ["s2"]), node("Mul", ["s2", "b"], ["o1"]),
              node("Sub", ["a", "b"], ["o2"])],
             [info("s", F32, [3]), info("a", F32, [3]), info("b", F32, [3])],
             [info("s2", F32, [3]), info("o1", F32, [3]), info("o2", F32, [3])])
    g = onnx_graph([node("Scan", ["s0", "xa", "xb"], ["s", "ya", "yb"], body=b,
                         num_scan_inputs=2, scan_input_axes=[0, 1],
                         scan_input_directions=[0, 1], scan_output_axes=[1, -1],
                         scan_output_directions=[1, 0])],
                   {"s0": (F32, [3]), "xa": (F32, [4, 3]), "xb": (F32, [3, 4])},
                   ["s", "ya", "yb"])
    g = unrolled(g)
    assert [str(v.type) for v in g.outputs] == ["f32[3]", "f32[3, 4]", "f32[3, 4]"]


def test_if_on_a_run_time_condition_is_where() -> None:
    then = helper.make_graph([node("Add", ["x", "x"], ["t_out"])], "then", [], [info("t_out")])
    other = helper.make_graph([node("Neg", ["x"], ["e_out"])], "else", [], [info("e_out")])
    g = onnx_graph([node("If", ["c"], ["r"], then_branch=then, else_branch=other)],
                   {"c": (BOOL, [1]), "x": (F32, [2, 3])}, ["r"])
    for seed in (0, 1, 2):
        unrolled(g, seed=seed)
    assert [n.op for n in g.nodes] == ["Add", "Neg", "Reshape", "Where"]


def test_sequence_ops_of_known_structure() -> None:
    nodes = [node("SplitToSequence", ["x"], ["parts"], axis=1, keepdims=0),   # 4 of [3]
             node("SplitToSequence", ["x", "two"], ["halves"], axis=1),       # 2 of [3, 2]
             node("SequenceAt", ["halves", "minus1"], ["h1"]),
             node("SequenceInsert", ["parts", "y", "minus1"], ["p2"]),
             node("SequenceErase", ["p2", "zero"], ["p3"]),
             node("SequenceLength", ["p3"], ["n"]),
             node("ConcatFromSequence", ["p3"], ["stacked"], axis=-1, new_axis=1),
             node("SequenceConstruct", ["h1", "h1"], ["pair"]),
             node("ConcatFromSequence", ["pair"], ["joined"], axis=0)]
    g = onnx_graph(nodes, {"x": (F32, [3, 4]), "y": (F32, [3])}, ["stacked", "joined", "n"],
                   {"two": np.array(2, np.int64), "minus1": np.array(-1, np.int64),
                    "zero": np.array(0, np.int64)})
    g = unrolled(g)
    assert [str(v.type) for v in g.outputs] == ["f32[3, 4]", "f32[6, 2]", "i64[]"]


def test_loop_building_a_sequence() -> None:
    # test_loop13_seq's body, its sequence read back as a tensor after the loop
    b = body([const("one", np.int64(1)), const("start", np.array([0], np.int64)),
              const("ax", np.array(0, np.int64)), node("Add", ["i", "one"], ["end"]),
              node("Unsqueeze", ["end", "ax"], ["e1"]), node("Slice", ["x", "start", "e1"], ["sl"]),
              node("ReduceSum", ["sl"], ["tot"], keepdims=1),
              node("SequenceInsert", ["seq", "tot"], ["seq2"])],
             [info("i", I64, []), info("c", BOOL, []),
              helper.make_tensor_sequence_value_info("seq", F32, None)],
             [info("c", BOOL, []), helper.make_tensor_sequence_value_info("seq2", F32, None)])
    g = onnx_graph([node("SequenceEmpty", [], ["empty"], dtype=F32),
                    node("Loop", ["m", "", "empty"], ["seq"], body=b),
                    node("ConcatFromSequence", ["seq"], ["out"], axis=0)],
                   {"x": (F32, [5])}, ["out"], {"m": np.array(5, np.int64)})
    assert str(unrolled(g).outputs[0].type) == "f32[5]"


def test_optionals_of_known_presence() -> None:
    empty = helper.make_tensor_type_proto(F32, [2])
    g = onnx_graph([node("Optional", ["x"], ["ox"]), node("Optional", [], ["none"], type=empty),
                    node("OptionalHasElement", ["ox"], ["has"]),
                    node("OptionalHasElement", ["none"], ["has_not"]),
                    node("OptionalGetElement", ["ox"], ["got"]),
                    node("Where", ["has_not", "x", "got"], ["w"]), node("Relu", ["w"], ["r"])],
                   {"x": (F32, [2])}, ["r", "has"])
    g = unrolled(g, "unroll,canonicalize")
    assert [n.op for n in g.nodes] == ["Relu"]


def test_what_it_cannot_resolve_stays() -> None:
    # a trip count known only at run time
    g = onnx_graph([node("Loop", ["m", "", "y0"], ["y", "ys"], body=accumulate_body())],
                   {"m": (I64, []), "x": (F32, [6]), "y0": (F32, [1])}, ["y", "ys"])
    unchanged(g)
    # more iterations than allowed
    g = onnx_graph([node("Loop", ["m", "", "y0"], ["y", "ys"], body=accumulate_body())],
                   {"x": (F32, [6]), "y0": (F32, [1])}, ["y", "ys"], {"m": np.array(5, np.int64)})
    unchanged(g, "unroll{max-iterations=4}")
    # branches of different shapes on a run-time condition
    then = helper.make_graph([node("Add", ["x", "x"], ["t_out"])], "then", [], [info("t_out")])
    other = helper.make_graph([node("ReduceSum", ["x"], ["e_out"])], "else", [], [info("e_out")])
    g = onnx_graph([node("If", ["c"], ["r"], then_branch=then, else_branch=other),
                    node("Relu", ["r"], ["out"])], {"c": (BOOL, []), "x": (F32, [2])}, ["out"])
    unchanged(g)


def test_a_returned_sequence_becomes_its_tensors_and_its_structure_is_kept() -> None:
    g = onnx_graph([node("SplitToSequence", ["x"], ["s"])], {"x": (F32, [3])}, ["s"])
    x = rng.standard_normal(3).astype(np.float32)
    want = interpret(g, [x])[0]
    run_passes(g, "unroll", verify_each=True)
    assert all(isinstance(v.type, TensorType) for v in g.outputs) and len(g.outputs) == 3
    assert output_structure(g) == [("seq", ["tensor"] * 3)]
    got = rebuild(output_structure(g), interpret(g, [x]))[0]
    assert len(got) == 3 and all(np.array_equal(a, b) for a, b in zip(got, want))


# -- conformance cases ---------------------------------------------------------------------------

LINEAR_ATTENTION = ["linear", "gated", "gated_per_head_decay", "delta", "gated_delta",
                    "gated_delta_beta_scalar", "gated_delta_gqa", "gated_delta_mqa",
                    "decode_step", "prefill_with_past", "no_past_explicit_zeros",
                    "explicit_scale", "fp16", "linear_t1_no_past"]
STATIC_CASES = ["test_if", "test_scan_sum", "test_scan9_sum", "test_scan9_multi_state",
                "test_scan9_scalar", *(f"test_linear_attention_{k}_expanded"
                                       for k in LINEAR_ATTENTION)]
DYNAMIC_CASES = ["test_loop11", "test_range_float_type_positive_delta_expanded",
                 "test_range_float16_type_positive_delta_expanded",
                 "test_range_bfloat16_type_positive_delta_expanded",
                 "test_range_int32_type_negative_delta_expanded"]
SEQUENCE_OUTPUTS = ["test_if_seq", "test_split_to_sequence_1", "test_split_to_sequence_2",
                    "test_split_to_sequence_nokeepdims", "test_loop13_seq"]


def _rule_testing() -> Any:
    sys.path.insert(0, str(Path(__file__).parents[1] / "backends" / "cpu"))
    import rule_testing
    return rule_testing


@pytest.mark.parametrize("name", STATIC_CASES)
def test_static_cases_unroll(name: str) -> None:
    rt = _rule_testing()
    case = rt.conformance_case(name)
    g = dlc.api.import_graph(case.model, dlc.api.make_options())
    g = run_passes(g, "canonicalize,unroll", verify_each=True)
    assert not {n.op for n in g.nodes} & RESOLVED
    for inputs, outputs in case.data_sets:
        got = interpret(g, [rt.to_value(x) for x in inputs])
        assert all(rt.close(a, rt.to_value(b)) for a, b in zip(got, outputs))


@pytest.mark.parametrize("name", STATIC_CASES + DYNAMIC_CASES)
def test_cases_run_on_cpu(name: str) -> None:
    rt = _rule_testing()
    case = rt.conformance_case(name)
    m = dlc.compile(case.model, target="cpu")
    for inputs, outputs in case.data_sets:
        got = m(*[rt.to_value(x) for x in inputs])
        got = got if isinstance(got, tuple) else (got,)
        for k, (a, b) in enumerate(zip(got, outputs)):
            assert rt.close(a, rt.to_value(b)), f"output {k} differs"


@pytest.mark.parametrize("name", SEQUENCE_OUTPUTS)
def test_sequence_outputs_come_back_as_lists_on_cpu(name: str) -> None:
    rt = _rule_testing()
    case = rt.conformance_case(name)
    m = dlc.compile(case.model, target="cpu")
    for inputs, outputs in case.data_sets:
        got = m(*[rt.to_value(x) for x in inputs])
        want = rt.to_value(outputs[0])
        assert isinstance(got, list) and len(got) == len(want)
        assert all(rt.close(a, b) for a, b in zip(got, want))

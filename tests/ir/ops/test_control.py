"""If, Loop and Scan: branch and body types, outer-scope reads, early exit, zero trips, scan axes
and directions, and the Scan-8 batch form, against hand-worked values."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

import dlc
from dlc.errors import ShapeError
from dlc.frontends.onnx.importer import import_onnx
from dlc.ir import DType, OptionalType, SequenceType, Sym, TensorType
from dlc.ir.ops import InferCtx
from dlc.ir.ops.control import merge_types

vi = helper.make_tensor_value_info


def make(nodes: list, inputs: list, outputs: list, opset: int = 16,
         inits: tuple = ()) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(m: onnx.ModelProto, *args: np.ndarray) -> list[np.ndarray]:
    out = dlc.compile(m, target="reference")(*args)
    return list(out) if isinstance(out, tuple) else [out]


# -- If ------------------------------------------------------------------------------------------

def if_model() -> onnx.ModelProto:
    then_g = helper.make_graph([helper.make_node("Identity", ["a"], ["t"])], "then", [],
                               [vi("t", T.FLOAT, [2, 3])])
    else_g = helper.make_graph([helper.make_node("Concat", ["a", "a"], ["e"], axis=1)], "else",
                               [], [vi("e", T.FLOAT, [2, 6])])
    node = helper.make_node("If", ["c"], ["r"], then_branch=then_g, else_branch=else_g)
    return make([node], [vi("c", T.BOOL, []), vi("a", T.FLOAT, [2, 3])], [vi("r", T.FLOAT, None)])


def test_if_branches_read_outer_values_and_differ_in_shape() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    (then_out,) = run(if_model(), np.array(True), a)
    (else_out,) = run(if_model(), np.array(False), a)
    np.testing.assert_array_equal(then_out, a)
    np.testing.assert_array_equal(else_out, np.concatenate([a, a], axis=1))


def test_if_output_type_merges_differing_dims_into_a_symbol() -> None:
    (out,) = import_onnx(if_model()).outputs
    assert out.type.dtype is DType.F32 and out.type.shape[0] == 2
    assert isinstance(out.type.shape[1], Sym)


def test_if_with_known_condition_takes_that_branchs_type() -> None:
    m = if_model()
    m.graph.input.pop(0)
    m.graph.initializer.append(numpy_helper.from_array(np.array(False), "c"))
    assert import_onnx(m).outputs[0].type == TensorType(DType.F32, (2, 6))


def test_merge_types_of_optionals_and_sequences() -> None:
    c = InferCtx("If", None, [], [], 1)
    seq = SequenceType(TensorType(DType.F32, (3,)))
    assert merge_types(c, OptionalType(seq), seq, "x") == OptionalType(seq)
    with pytest.raises(ShapeError, match="f32\\[3\\] in one case and i64\\[3\\]"):
        merge_types(c, TensorType(DType.F32, (3,)), TensorType(DType.I64, (3,)), "x")


# -- Loop ----------------------------------------------------------------------------------------

def loop_model() -> onnx.ModelProto:
    """v = v + outer each iteration; stops once the iteration number reaches `limit`; scans
    v * i."""
    body = helper.make_graph([
        helper.make_node("Add", ["v_in", "outer"], ["v_out"]),
        helper.make_node("Cast", ["i"], ["i_f"], to=T.FLOAT),
        helper.make_node("Less", ["i_f", "limit"], ["c_out"]),
        helper.make_node("Mul", ["v_out", "i_f"], ["scan"]),
    ], "body", [vi("i", T.INT64, []), vi("c_in", T.BOOL, []), vi("v_in", T.FLOAT, [3])],
        [vi("c_out", T.BOOL, []), vi("v_out", T.FLOAT, [3]), vi("scan", T.FLOAT, [3])])
    node = helper.make_node("Loop", ["M", "cond", "v0"], ["vf", "scans"], body=body)
    return make([node], [vi("M", T.INT64, []), vi("cond", T.BOOL, []), vi("v0", T.FLOAT, [3]),
                         vi("outer", T.FLOAT, [3]), vi("limit", T.FLOAT, [])],
                [vi("vf", T.FLOAT, None), vi("scans", T.FLOAT, None)])


def test_loop_stops_on_condition_and_stacks_scan_outputs() -> None:
    outer = np.array([1, 2, 3], np.float32)
    vf, scans = run(loop_model(), np.array(10), np.array(True), np.zeros(3, np.float32), outer,
                    np.array(1.5, np.float32))
    # iterations 0, 1, 2 run; the body computed cond = i < 1.5 -> false after i = 2
    np.testing.assert_array_equal(vf, 3 * outer)
    np.testing.assert_array_equal(scans, np.stack([0 * outer, 2 * 1 * outer, 3 * 2 * outer]))


def test_loop_with_false_condition_runs_zero_times() -> None:
    v0 = np.array([4, 5, 6], np.float32)
    vf, scans = run(loop_model(), np.array(10), np.array(False), v0, v0, np.array(9.0, np.float32))
    np.testing.assert_array_equal(vf, v0)
    assert scans.shape == (0, 3) and scans.dtype == np.float32


def test_loop_scan_outputs_have_a_symbolic_leading_dim_unless_the_trip_count_decides() -> None:
    g = import_onnx(loop_model())
    assert isinstance(g.outputs[1].type.shape[0], Sym)
    body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"]),
                              helper.make_node("Add", ["v_in", "v_in"], ["v_out"]),
                              helper.make_node("Identity", ["v_out"], ["scan"])], "body",
                             [vi("i", T.INT64, []), vi("c_in", T.BOOL, []),
                              vi("v_in", T.FLOAT, [2])],
                             [vi("c_out", T.BOOL, []), vi("v_out", T.FLOAT, [2]),
                              vi("scan", T.FLOAT, [2])])
    m = make([helper.make_node("Loop", ["M", "", "v0"], ["vf", "scans"], body=body)],
             [vi("v0", T.FLOAT, [2])], [vi("vf", T.FLOAT, None), vi("scans", T.FLOAT, None)],
             inits=(numpy_helper.from_array(np.array(4, np.int64), "M"),))
    assert import_onnx(m).outputs[1].type == TensorType(DType.F32, (4, 2))
    vf, scans = run(m, np.ones(2, np.float32))
    np.testing.assert_array_equal(vf, [16, 16])
    np.testing.assert_array_equal(scans[:, 0], [2, 4, 8, 16])


# -- Scan ----------------------------------------------------------------------------------------

def scan_body() -> onnx.GraphProto:
    """state += x_t; outputs the running sum and y_t."""
    return helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["sum_t"]),
         helper.make_node("Identity", ["y_t"], ["y_out"])], "body",
        [vi("s_in", T.FLOAT, [2]), vi("x_t", T.FLOAT, [2]), vi("y_t", T.FLOAT, [2])],
        [vi("s_out", T.FLOAT, [2]), vi("sum_t", T.FLOAT, [2]), vi("y_out", T.FLOAT, [2])])


@pytest.mark.parametrize("in_dirs,out_dirs,out_axes", [
    ([0, 0], [0, 0], [0, 0]), ([1, 0], [0, 1], [1, -1]), ([0, 1], [1, 0], [-1, 0])])
def test_scan_axes_and_directions(in_dirs: list, out_dirs: list, out_axes: list) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)   # scanned along axis 1
    y = np.arange(8, dtype=np.float32).reshape(4, 2) * 10  # scanned along axis 0
    node = helper.make_node("Scan", ["s0", "x", "y"], ["sf", "sums", "ys"], body=scan_body(),
                            num_scan_inputs=2, scan_input_axes=[1, 0],
                            scan_input_directions=in_dirs, scan_output_directions=out_dirs,
                            scan_output_axes=out_axes)
    m = make([node], [vi("s0", T.FLOAT, [2]), vi("x", T.FLOAT, [2, 4]), vi("y", T.FLOAT, [4, 2])],
             [vi(n, T.FLOAT, None) for n in ("sf", "sums", "ys")])
    sf, sums, ys = run(m, np.zeros(2, np.float32), x, y)
    xs = x.T[::-1] if in_dirs[0] else x.T    # [step, 2]
    ysteps = y[::-1] if in_dirs[1] else y
    want_sums, want_ys = np.cumsum(xs, axis=0), ysteps
    if out_dirs[0]:
        want_sums = want_sums[::-1]
    if out_dirs[1]:
        want_ys = want_ys[::-1]
    np.testing.assert_array_equal(sf, x.sum(axis=1))
    np.testing.assert_array_equal(sums, want_sums if out_axes[0] == 0 else want_sums.T)
    np.testing.assert_array_equal(ys, want_ys if out_axes[1] == 0 else want_ys.T)


@pytest.mark.parametrize("directions", [None, [1]])
def test_scan8_runs_each_batch_element(directions: list | None) -> None:
    body = helper.make_graph([helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
                              helper.make_node("Identity", ["s_out"], ["o"])], "body",
                             [vi("s_in", T.FLOAT, [2]), vi("x_t", T.FLOAT, [2])],
                             [vi("s_out", T.FLOAT, [2]), vi("o", T.FLOAT, [2])])
    extra = {} if directions is None else {"directions": directions}
    node = helper.make_node("Scan", ["", "s0", "x"], ["sf", "o"], body=body, num_scan_inputs=1,
                            **extra)
    m = make([node], [vi("s0", T.FLOAT, [2, 2]), vi("x", T.FLOAT, [2, 3, 2])],
             [vi("sf", T.FLOAT, None), vi("o", T.FLOAT, None)], opset=8)
    s0 = np.array([[0, 0], [100, 200]], np.float32)
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    sf, o = run(m, s0, x)
    steps = x[:, ::-1] if directions else x
    np.testing.assert_array_equal(sf, s0 + x.sum(axis=1))
    np.testing.assert_array_equal(o, s0[:, None, :] + np.cumsum(steps, axis=1))
    assert o.shape == (2, 3, 2)

"""Sequences and optionals: positions (negative, one past the end, out of range), element types
that cover elements of different sizes, SplitToSequence's uneven last piece, ConcatFromSequence
with and without a new axis, SequenceEmpty's dtype, and optionals that hold tensors, sequences
or nothing."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import dlc
from dlc.errors import ExecutionError
from dlc.frontends.onnx.importer import import_onnx
from dlc.ir import DType, OptionalType, SequenceType, Sym, TensorType

F32, I64 = TensorProto.FLOAT, TensorProto.INT64


def model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[str],
          inits: dict[str, np.ndarray] | None = None, opset: int = 18) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "g", inputs,
                          [helper.make_value_info(o, onnx.TypeProto()) for o in outputs],
                          [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def tensor(name: str, shape: list, elem: int = F32) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def run(m: onnx.ModelProto, *xs: object) -> object:
    return dlc.compile(m, target="reference")(*xs)


A = np.arange(6, dtype=np.float32).reshape(2, 3)
B = np.arange(4, dtype=np.float32).reshape(1, 4) + 10


def construct(*extra: onnx.NodeProto, outputs: list[str], **inits: np.ndarray) -> onnx.ModelProto:
    nodes = [helper.make_node("SequenceConstruct", ["a", "b"], ["seq"]), *extra]
    return model(nodes, [tensor("a", [2, 3]), tensor("b", [1, 4])], outputs, inits)


def test_construct_types_dims_that_differ_as_symbols() -> None:
    t = import_onnx(construct(outputs=["seq"])).outputs[0].type
    assert isinstance(t, SequenceType)
    assert all(isinstance(d, Sym) for d in t.elem.shape) and t.elem.dtype is DType.F32
    seq = run(construct(outputs=["seq"]), A, B)
    assert isinstance(seq, list) and [x.shape for x in seq] == [(2, 3), (1, 4)]


# `want`: which of A, B, c (0, 1, 2) sits at each place of the result
@pytest.mark.parametrize("position,want", [(0, [2, 0, 1]), (-1, [0, 2, 1]), (2, [0, 1, 2]),
                                           (None, [0, 1, 2])])
def test_insert_positions(position: int | None, want: list[int]) -> None:
    c = np.full((1, 1), 7, np.float32)
    ins = ["seq", "c"] + ([] if position is None else ["p"])
    inits = {"c": c} | ({} if position is None else {"p": np.array(position, np.int64)})
    m = construct(helper.make_node("SequenceInsert", ins, ["out"]), outputs=["out"], **inits)
    got = run(m, A, B)
    np.testing.assert_array_equal(got[want.index(2)], c)
    assert [x.shape for x in got] == [[A, B, c][k].shape for k in want]


def test_insert_out_of_range_is_an_error() -> None:
    m = construct(helper.make_node("SequenceInsert", ["seq", "a", "p"], ["out"]),
                  outputs=["out"], p=np.array(3, np.int64))
    with pytest.raises(ExecutionError, match="position 3 is out of range for a sequence of 2"):
        run(m, A, B)


def test_at_erase_length() -> None:
    m = construct(helper.make_node("SequenceAt", ["seq", "m1"], ["last"]),
                  helper.make_node("SequenceErase", ["seq", "zero"], ["rest"]),
                  helper.make_node("SequenceErase", ["seq"], ["front"]),
                  helper.make_node("SequenceLength", ["rest"], ["n"]),
                  outputs=["last", "rest", "front", "n"],
                  m1=np.array(-1, np.int64), zero=np.array(0, np.int32))
    last, rest, front, n = run(m, A, B)
    np.testing.assert_array_equal(last, B)
    assert len(rest) == 1 and rest[0] is not None and np.array_equal(rest[0], B)
    assert len(front) == 1 and np.array_equal(front[0], A)
    assert n.dtype == np.int64 and n == 1


def test_sequence_at_gives_fresh_symbols() -> None:
    m = construct(helper.make_node("SequenceAt", ["seq", "p"], ["x"]), outputs=["x"],
                  p=np.array(0, np.int64))
    g = import_onnx(m)
    seq_t, x_t = g.nodes[0].outputs[0].type, g.outputs[0].type
    assert isinstance(x_t, TensorType) and x_t.rank == 2
    assert not set(x_t.shape) & set(seq_t.elem.shape)


@pytest.mark.parametrize("split,want", [(None, [1] * 5), (2, [2, 2, 1]), ([1, 4], [1, 4])])
def test_split_to_sequence(split: object, want: list[int]) -> None:
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    inits = {} if split is None else {"s": np.array(split, np.int64)}
    node = helper.make_node("SplitToSequence", ["x"] + list(inits), ["seq"], axis=-1)
    got = run(model([node], [tensor("x", [2, 5])], ["seq"], inits), x)
    assert [p.shape[1] for p in got] == want
    np.testing.assert_array_equal(np.concatenate(got, axis=1), x)


def test_split_to_sequence_without_keepdims() -> None:
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    node = helper.make_node("SplitToSequence", ["x"], ["seq"], keepdims=0)
    m = model([node], [tensor("x", [3, 2])], ["seq"])
    assert import_onnx(m).outputs[0].type == SequenceType(TensorType(DType.F32, (2,)))
    assert [p.tolist() for p in run(m, x)] == x.tolist()


@pytest.mark.parametrize("new_axis,want_shape", [(0, (2, 6)), (1, (2, 2, 3))])
def test_concat_from_sequence(new_axis: int, want_shape: tuple) -> None:
    nodes = [helper.make_node("SequenceConstruct", ["a", "a"], ["seq"]),
             helper.make_node("ConcatFromSequence", ["seq"], ["y"], axis=-1 if not new_axis
                              else 1, new_axis=new_axis)]
    m = model(nodes, [tensor("a", [2, 3])], ["y"])
    got = run(m, A)
    assert got.shape == want_shape
    want = np.stack([A, A], axis=1) if new_axis else np.concatenate([A, A], axis=-1)
    np.testing.assert_array_equal(got, want)


def test_sequence_empty_then_insert_takes_the_tensor_type() -> None:
    nodes = [helper.make_node("SequenceEmpty", [], ["e"], dtype=I64),
             helper.make_node("SequenceInsert", ["e", "x"], ["seq"]),
             helper.make_node("ConcatFromSequence", ["seq"], ["y"], axis=0)]
    m = model(nodes, [tensor("x", [3], I64)], ["e", "y"])
    g = import_onnx(m)
    assert g.outputs[0].type.elem.dtype is DType.I64
    assert g.outputs[1].type.dtype is DType.I64 and g.outputs[1].type.rank == 1
    empty, y = run(m, np.array([4, 5, 6], np.int64))
    assert empty == [] and y.tolist() == [4, 5, 6]


# -- optionals ----------------------------------------------------------------------------

def test_optional_of_a_tensor_and_an_empty_one() -> None:
    nodes = [helper.make_node("Optional", ["x"], ["full"]),
             helper.make_node("Optional", [], ["none"],
                              type=helper.make_tensor_type_proto(F32, [2])),
             helper.make_node("OptionalHasElement", ["full"], ["h1"]),
             helper.make_node("OptionalHasElement", ["none"], ["h2"]),
             helper.make_node("OptionalGetElement", ["full"], ["x2"])]
    m = model(nodes, [tensor("x", [2])], ["h1", "h2", "x2", "none"])
    g = import_onnx(m)
    assert g.outputs[3].type == OptionalType(TensorType(DType.F32, (2,)))
    h1, h2, x2, none = run(m, np.array([1, 2], np.float32))
    assert h1.dtype == np.bool_ and bool(h1) and not bool(h2)
    assert none is None and x2.tolist() == [1, 2]


def test_optional_get_element_of_empty_is_an_error() -> None:
    opt = helper.make_value_info("o", helper.make_optional_type_proto(
        helper.make_tensor_type_proto(F32, [2])))
    m = model([helper.make_node("OptionalGetElement", ["o"], ["x"])], [opt], ["x"])
    with pytest.raises(ExecutionError, match="empty"):
        run(m, None)
    np.testing.assert_array_equal(run(m, np.ones(2, np.float32)), [1, 1])


def test_optional_of_a_sequence_through_identity() -> None:
    seq_type = helper.make_sequence_type_proto(helper.make_tensor_type_proto(F32, [2]))
    opt = helper.make_value_info("o", helper.make_optional_type_proto(seq_type))
    nodes = [helper.make_node("Identity", ["o"], ["i"]),
             helper.make_node("OptionalGetElement", ["i"], ["s"]),
             helper.make_node("SequenceLength", ["s"], ["n"])]
    m = model(nodes, [opt], ["i", "n"])
    i, n = run(m, [np.zeros(2, np.float32)] * 3)
    assert len(i) == 3 and n == 3

"""canonicalize, rule by rule: the node list after, and the same outputs as before."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from pass_testing import F32, check, needs, node, onnx_graph, ops

from dlc.ir import interpret
from dlc.passes import cse
from dlc.passes.canonicalize import cast_is_exact
from dlc.passes.cleanup import freeze

I64, BOOL, F16, I8 = TensorProto.INT64, TensorProto.BOOL, TensorProto.FLOAT16, TensorProto.INT8
f32 = np.float32


def unary_case(op_nodes: list[Any], shape: list[int], inits: dict[str, Any] | None = None,
               dtype: int = F32, extra: dict[str, Any] | None = None) -> Any:
    return onnx_graph(op_nodes, {"x": (dtype, shape), **(extra or {})}, ["y"], inits)


# (id, nodes reading x and writing y, shape of x, initializers, node list expected after)
CASES = [
    ("x+0", [node("Add", ["x", "z"], ["y"])], [2, 3], {"z": np.zeros(3, f32)}, []),
    ("0+x", [node("Add", ["z", "x"], ["y"])], [2, 3], {"z": np.zeros((1, 3), f32)}, []),
    ("x+0 broadcasts", [node("Add", ["x", "z"], ["y"])], [3], {"z": np.zeros((2, 3), f32)},
     ["Add"]),
    ("x+1", [node("Add", ["x", "z"], ["y"])], [3], {"z": np.ones(3, f32)}, ["Add"]),
    ("x-0", [node("Sub", ["x", "z"], ["y"])], [3], {"z": np.zeros((), f32)}, []),
    ("0-x stays", [node("Sub", ["z", "x"], ["y"])], [3], {"z": np.zeros((), f32)}, ["Sub"]),
    ("x*1", [node("Mul", ["x", "one"], ["y"])], [2, 3], {"one": np.ones(3, f32)}, []),
    ("1*x", [node("Mul", ["one", "x"], ["y"])], [2, 3], {"one": np.ones(3, f32)}, []),
    ("x*1 broadcasts", [node("Mul", ["x", "one"], ["y"])], [1, 3], {"one": np.ones((2, 3), f32)},
     ["Mul"]),
    ("x/1", [node("Div", ["x", "one"], ["y"])], [4], {"one": np.ones((), f32)}, []),
    ("1/x stays", [node("Div", ["one", "x"], ["y"])], [4], {"one": np.ones((), f32)}, ["Div"]),
    ("x**1", [node("Pow", ["x", "one"], ["y"])], [4], {"one": np.ones((), f32)}, []),
    ("--x", [node("Neg", ["x"], ["n"]), node("Neg", ["n"], ["y"])], [4], None, []),
    ("relu relu", [node("Relu", ["x"], ["n"]), node("Relu", ["n"], ["y"])], [4], None, ["Relu"]),
    ("relu abs", [node("Abs", ["x"], ["n"]), node("Relu", ["n"], ["y"])], [4], None,
     ["Abs", "Relu"]),
    ("max(x,x)", [node("Max", ["x", "x"], ["y"])], [4], None, []),
    ("sum(x)", [node("Sum", ["x"], ["y"])], [4], None, []),
    ("concat(x)", [node("Concat", ["x"], ["y"], axis=0)], [4], None, []),
    ("reduce size-1 axis", [node("ReduceSum", ["x", "ax"], ["y"])], [4, 1],
     {"ax": np.array([1])}, []),
    ("reduce drops axis", [node("ReduceSum", ["x", "ax"], ["y"], keepdims=0)], [4, 1],
     {"ax": np.array([1])}, ["ReduceSum"]),
    ("reduceL2 stays", [node("ReduceL2", ["x", "ax"], ["y"])], [4, 1], {"ax": np.array([1])},
     ["ReduceL2"]),
    ("identity", [node("Identity", ["x"], ["i"]), node("Relu", ["i"], ["y"])], [4], None,
     ["Relu"]),
    ("cast to own dtype", [node("Cast", ["x"], ["y"], to=F32)], [4], None, []),
    ("cast f32 f16 f32 stays", [node("Cast", ["x"], ["h"], to=F16),
                                node("Cast", ["h"], ["y"], to=F32)], [4], None, ["Cast", "Cast"]),
    ("cast f32 f64 f16", [node("Cast", ["x"], ["h"], to=TensorProto.DOUBLE),
                          node("Cast", ["h"], ["y"], to=F16)], [4], None, ["Cast"]),
    ("cast f32 f64 f32", [node("Cast", ["x"], ["h"], to=TensorProto.DOUBLE),
                          node("Cast", ["h"], ["y"], to=F32)], [4], None, []),
    ("reshape same shape", [node("Reshape", ["x", "s"], ["y"])], [2, 3],
     {"s": np.array([2, -1])}, []),
    ("reshape reshape", [node("Reshape", ["x", "s1"], ["r"]), node("Reshape", ["r", "s2"], ["y"])],
     [2, 3], {"s1": np.array([6]), "s2": np.array([3, 2])}, ["Reshape"]),
    ("reshape there and back", [node("Reshape", ["x", "s1"], ["r"]),
                                node("Reshape", ["r", "s2"], ["y"])],
     [2, 3], {"s1": np.array([6]), "s2": np.array([2, 3])}, []),
    ("squeeze unsqueeze", [node("Unsqueeze", ["x", "a"], ["u"]),
                           node("Squeeze", ["u", "a"], ["y"])],
     [2, 3], {"a": np.array([1])}, []),
    ("unsqueeze flatten", [node("Unsqueeze", ["x", "a"], ["u"]), node("Flatten", ["u"], ["y"])],
     [2, 3, 4], {"a": np.array([0])}, ["Reshape"]),
    ("transpose identity", [node("Transpose", ["x"], ["y"], perm=[0, 1])], [3, 3], None, []),
    ("transpose swap stays", [node("Transpose", ["x"], ["y"], perm=[1, 0])], [3, 3], None,
     ["Transpose"]),
    ("transpose twice", [node("Transpose", ["x"], ["t"]), node("Transpose", ["t"], ["y"])],
     [2, 3, 4], None, []),
    ("transposes compose", [node("Transpose", ["x"], ["t"], perm=[1, 2, 0]),
                            node("Transpose", ["t"], ["y"], perm=[1, 2, 0])],
     [2, 3, 4], None, ["Transpose"]),
    ("expand same shape", [node("Expand", ["x", "s"], ["y"])], [2, 3], {"s": np.array([1, 3])}, []),
    ("expand broadcasts", [node("Expand", ["x", "s"], ["y"])], [1, 3], {"s": np.array([2, 3])},
     ["Expand"]),
    ("pad zeros", [node("Pad", ["x", "p"], ["y"])], [2, 3], {"p": np.zeros(4, np.int64)}, []),
    ("tile ones", [node("Tile", ["x", "r"], ["y"])], [2, 3], {"r": np.ones(2, np.int64)}, []),
    ("split one", [node("Split", ["x"], ["y"], num_outputs=1)], [4], None, []),
    ("chain", [node("Mul", ["x", "one"], ["a"]), node("Add", ["a", "z"], ["b"]),
               node("Identity", ["b"], ["c"]), node("Relu", ["c"], ["y"])],
     [2, 3], {"one": np.ones(3, f32), "z": np.zeros(3, f32)}, ["Relu"]),
]


@pytest.mark.parametrize("nodes, shape, inits, expect", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_rule(nodes: list[Any], shape: list[int], inits: dict[str, Any] | None,
              expect: list[str]) -> None:
    g = unary_case(nodes, shape, inits)
    check(g, "canonicalize", expect)


def test_integer_and_boolean_identities() -> None:
    g = onnx_graph([node("Add", ["x", "z"], ["a"]), node("Mul", ["a", "one"], ["b"])],
                   {"x": (I64, [3])}, ["b"], {"z": np.zeros(3, np.int64),
                                               "one": np.ones((), np.int64)})
    check(g, "canonicalize", [])
    g = onnx_graph([node("Not", ["x"], ["a"]), node("Not", ["a"], ["b"]),
                    node("And", ["b", "b"], ["c"]), node("Where", ["w", "c", "c"], ["y"])],
                   {"x": (BOOL, [3]), "w": (BOOL, [3])}, ["y"])
    check(g, "canonicalize", [])
    assert g.outputs == [g.inputs[0]]


def test_where_that_broadcasts_stays() -> None:
    g = onnx_graph([node("Where", ["w", "x", "x"], ["y"])],
                   {"x": (F32, [3]), "w": (BOOL, [2, 3])}, ["y"])
    check(g, "canonicalize", ["Where"])


def test_casts_through_wider_integers() -> None:
    g = onnx_graph([node("Cast", ["x"], ["a"], to=TensorProto.INT32),
                    node("Cast", ["a"], ["b"], to=I8)], {"x": (I8, [5])}, ["b"])
    check(g, "canonicalize", [])
    assert cast_is_exact(*(g.inputs[0].type.dtype,) * 2)
    from dlc.ir import DType
    assert cast_is_exact(DType.I16, DType.F32) and not cast_is_exact(DType.I32, DType.F32)
    assert cast_is_exact(DType.U8, DType.I16) and not cast_is_exact(DType.I8, DType.U16)
    assert cast_is_exact(DType.BOOL, DType.F16) and not cast_is_exact(DType.F32, DType.BF16)


def test_reshape_of_reshape_with_symbolic_dims() -> None:
    g = onnx_graph([node("Reshape", ["x", "s1"], ["r"]), node("Reshape", ["r", "s2"], ["y"])],
                   {"x": (F32, ["N", 6])}, ["y"],
                   {"s1": np.array([-1, 3]), "s2": np.array([-1, 2])})
    x = np.arange(24, dtype=f32).reshape(4, 6)
    want = interpret(g, [x])[0]
    check_ops = ops(check_after(g))
    assert check_ops == ["Reshape"] and g.nodes[0].inputs[0] is g.inputs[0]
    np.testing.assert_array_equal(interpret(g, [x])[0], want)


def check_after(g: Any) -> Any:
    from dlc.passes import run_passes
    return run_passes(g, "canonicalize")


def test_reshape_that_copies_a_dim_is_not_merged() -> None:
    # the 0 in the second shape copies a dimension of the first reshape's result
    g = onnx_graph([node("Reshape", ["x", "s1"], ["r"]), node("Reshape", ["r", "s2"], ["y"])],
                   {"x": (F32, ["N", 6])}, ["y"],
                   {"s1": np.array([-1, 2]), "s2": np.array([0, 1, 2])})
    x = np.arange(12, dtype=f32).reshape(2, 6)
    want = interpret(g, [x])[0]
    assert ops(check_after(g)) == ["Reshape", "Reshape"]
    np.testing.assert_array_equal(interpret(g, [x])[0], want)


def test_constant_subgraphs_fold_completely() -> None:
    g = onnx_graph([node("Add", ["a", "b"], ["c"]), node("Mul", ["c", "c"], ["d"]),
                    node("Shape", ["x"], ["s"]), node("Cast", ["s"], ["sf"], to=F32),
                    node("Add", ["x", "d"], ["e"]), node("Mul", ["e", "sf"], ["y"])],
                   {"x": (F32, [3])}, ["y"],
                   {"a": np.arange(3, dtype=f32), "b": np.ones(3, f32)})
    check(g, "canonicalize", ["Add", "Mul"])
    consts = sorted(a.tolist() for a in g.constants.values())
    assert consts == [[1.0, 4.0, 9.0], [3.0]]


def test_if_with_a_known_condition_becomes_its_branch() -> None:
    then = helper.make_graph([node("Abs", ["x"], ["t"]), node("Add", ["t", "k"], ["u"])], "then",
                             [], [helper.make_tensor_value_info("u", F32, [2])],
                             [numpy_helper.from_array(np.ones(2, f32), "k")])
    other = helper.make_graph([node("Neg", ["x"], ["n"])], "else", [],
                              [helper.make_tensor_value_info("n", F32, [2])])
    for cond, expect in ((True, ["Abs", "Add", "Relu"]), (False, ["Neg", "Relu"])):
        g = onnx_graph([node("If", ["c"], ["o"], then_branch=then, else_branch=other),
                        node("Relu", ["o"], ["y"])], {"x": (F32, [2])}, ["y"],
                       {"c": np.array(cond)})
        check(g, "canonicalize", expect)


# -- CSE -------------------------------------------------------------------------------------------

def test_cse_merges_equal_nodes_and_constants() -> None:
    g = onnx_graph([node("Add", ["x", "y"], ["a"]), node("Add", ["y", "x"], ["b"]),
                    node("Sub", ["x", "y"], ["c"]), node("Sub", ["y", "x"], ["d"]),
                    node("Mul", ["a", "k1"], ["e"]), node("Mul", ["b", "k2"], ["f"]),
                    node("Sum", ["c", "d", "e", "f"], ["s"])],
                   {"x": (F32, [3]), "y": (F32, [3])}, ["s"],
                   {"k1": np.full(3, 2, f32), "k2": np.full(3, 2, f32)})
    check(g, "canonicalize", ["Add", "Sub", "Sub", "Mul", "Sum"])
    assert len(g.constants) == 1


def test_cse_compares_attributes_exactly() -> None:
    g = onnx_graph([node("LeakyRelu", ["x"], ["a"], alpha=0.1),
                    node("LeakyRelu", ["x"], ["b"], alpha=0.1),
                    node("LeakyRelu", ["x"], ["c"], alpha=0.2),
                    node("Sum", ["a", "b", "c"], ["y"])], {"x": (F32, [3])}, ["y"])
    check(g, "canonicalize", ["LeakyRelu", "LeakyRelu", "Sum"])


@needs("ConstantOfShape")
def test_cse_compares_array_attributes_by_value() -> None:
    def cos(out: str, v: float, dtype: Any = f32) -> Any:
        return node("ConstantOfShape", ["s"], [out],
                    value=numpy_helper.from_array(np.array([v], dtype)))
    g = onnx_graph([node("Shape", ["x"], ["s"]), cos("a", 1.0), cos("b", 1.0), cos("c", 2.0),
                    cos("d", 1.0, np.float64), node("Cast", ["d"], ["d32"], to=F32),
                    node("Sum", ["x", "a", "b", "c", "d32"], ["y"])],
                   {"x": (F32, ["N"])}, ["y"])
    assert cse(g) == 1
    assert ops(g).count("ConstantOfShape") == 3


def test_freeze() -> None:
    a = np.arange(3, dtype=f32)
    assert freeze(a) == freeze(a.copy()) != freeze(a.astype(np.float64))
    assert freeze(a) != freeze(a.reshape(3, 1))
    assert freeze(0.0) != freeze(-0.0) and freeze(float("nan")) == freeze(float("nan"))
    assert freeze((1, (2.0, "x"))) == freeze((1, (2.0, "x")))


def test_dead_nodes_go_outputs_stay() -> None:
    g = onnx_graph([node("Relu", ["x"], ["a"]), node("Abs", ["x"], ["b"]),
                    node("Neg", ["b"], ["c"])], {"x": (F32, [3])}, ["a"],
                   {"unused": np.ones(3, f32)})
    check(g, "canonicalize", ["Relu"])
    assert g.constants == {}


@needs("Dropout")
def test_dropout_in_inference_is_identity() -> None:
    g = onnx_graph([node("Dropout", ["x"], ["d"]), node("Relu", ["d"], ["y"])],
                   {"x": (F32, [2, 3])}, ["y"])
    check(g, "canonicalize", ["Relu"])
    g = onnx_graph([node("Dropout", ["x", "r", "t"], ["y", "m"])], {"x": (F32, [2, 3])},
                   ["y", "m"], {"r": np.array(0.5, f32), "t": np.array(False)})
    check(g, "canonicalize", [])
    assert g.constants[g.outputs[1]].all()


@needs("Dropout")
def test_dropout_in_training_stays() -> None:
    g = onnx_graph([node("Dropout", ["x", "r", "t"], ["y"])], {"x": (F32, [2, 3])}, ["y"],
                   {"r": np.array(0.5, f32), "t": np.array(True)})
    from dlc.passes import run_passes
    assert ops(run_passes(g, "canonicalize")) == ["Dropout"]

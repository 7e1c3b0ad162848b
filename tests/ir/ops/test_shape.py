"""Shape ops: the shape rules (static dims from operands known at compile time, symbols where
not, Shape/Size publishing their values), the clamping and rounding corners of Slice, Split,
Pad, Range, OneHot, Unique, and the adapters that rewrite old op versions. Expected values are
worked by hand or come from onnx.reference."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import dlc
from dlc.errors import ShapeError
from dlc.frontends.onnx.importer import import_onnx
from dlc.ir import DType, Sym, TensorType

F32, I64 = TensorProto.FLOAT, TensorProto.INT64


def model(nodes: list[onnx.NodeProto], inputs: list[tuple[str, int, list | None]],
          outputs: list[str], opset: int = 25,
          inits: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(o, 0, None) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def one(op: str, xs: dict[str, np.ndarray], opset: int = 25, n_out: int = 1,
        consts: dict[str, np.ndarray] | None = None, **attrs: object) -> onnx.ModelProto:
    """One node reading graph inputs `xs` then initializers `consts` (known at compile time)."""
    names = list(xs) + list(consts or {})
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, names, outs, **attrs)
    ins = [(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)) for k, v in xs.items()]
    return model([node], ins, outs, opset, consts)


def run(m: onnx.ModelProto, *xs: np.ndarray) -> object:
    return dlc.compile(m, target="reference")(*xs)


def oracle(m: onnx.ModelProto, *xs: np.ndarray) -> list[np.ndarray]:
    sess = ReferenceEvaluator(m)
    return sess.run(None, dict(zip([i.name for i in m.graph.input], xs)))


def out_type(m: onnx.ModelProto, k: int = 0) -> TensorType:
    t = import_onnx(m).outputs[k].type
    assert isinstance(t, TensorType)
    return t


# -- Reshape, Flatten, Squeeze, Unsqueeze ------------------------------------------------

def test_reshape_zero_copies_and_minus_one_infers() -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    m = one("Reshape", {"x": x}, consts={"s": np.array([0, -1], np.int64)})
    assert out_type(m).shape == (2, 12)
    np.testing.assert_array_equal(run(m, x), x.reshape(2, 12))


def test_reshape_allowzero_keeps_a_zero() -> None:
    x = np.zeros((0, 3), np.float32)
    m = one("Reshape", {"x": x}, consts={"s": np.array([3, 0], np.int64)}, allowzero=1)
    assert out_type(m).shape == (3, 0)
    assert run(m, x).shape == (3, 0)


def test_reshape_cancels_symbols_for_minus_one() -> None:
    m = model([helper.make_node("Reshape", ["x", "s"], ["y"])], [("x", F32, ["N", 3, 4])], ["y"],
              inits={"s": np.array([0, -1], np.int64)})
    assert out_type(m).shape == (Sym("N"), 12)
    m2 = model([helper.make_node("Reshape", ["x", "s"], ["y"])], [("x", F32, ["N", 3, 4])], ["y"],
               inits={"s": np.array([-1, 4], np.int64)})
    assert isinstance(out_type(m2).shape[0], Sym) and out_type(m2).shape[1] == 4


def test_reshape_of_unknown_shape_has_symbols_of_its_length() -> None:
    m = one("Reshape", {"x": np.zeros((2, 6), np.float32), "s": np.zeros(3, np.int64)})
    t = out_type(m)
    assert t.rank == 3 and all(isinstance(d, Sym) for d in t.shape)
    out = run(m, np.arange(12, dtype=np.float32).reshape(2, 6), np.array([0, 3, -1], np.int64))
    assert out.shape == (2, 3, 2)


def test_reshape_size_mismatch_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="cannot reshape"):
        import_onnx(one("Reshape", {"x": np.zeros((2, 3), np.float32)},
                        consts={"s": np.array([4, 2], np.int64)}))


def test_reshape_v1_shape_attribute() -> None:
    x = np.arange(6, dtype=np.float32)
    m = one("Reshape", {"x": x}, opset=1, shape=[3, 2])
    np.testing.assert_array_equal(run(m, x), x.reshape(3, 2))


def test_shape_and_size_publish_values_for_later_rules() -> None:
    # Reshape(x, Shape(y)): y's static shape makes the reshape's dims static.
    nodes = [helper.make_node("Shape", ["y"], ["s"], start=-2),
             helper.make_node("Reshape", ["x", "s"], ["r"]),
             helper.make_node("Size", ["x"], ["n"]),
             helper.make_node("Unsqueeze", ["n", "zero"], ["n1"]),
             helper.make_node("Reshape", ["x", "n1"], ["flat"])]
    m = model(nodes, [("x", F32, [6]), ("y", F32, [5, 2, 3])], ["r", "flat"],
              inits={"zero": np.array([0], np.int64)})
    g = import_onnx(m)
    assert g.outputs[0].type.shape == (2, 3)
    assert g.outputs[1].type.shape == (6,)
    r, flat = run(m, np.arange(6, dtype=np.float32), np.zeros((5, 2, 3), np.float32))
    assert r.shape == (2, 3) and flat.shape == (6,)


@pytest.mark.parametrize("start,end", [(0, None), (1, None), (-1, None), (-10, 2), (2, 1),
                                       (1, -1), (5, 9)])
def test_shape_start_end_clamp(start: int, end: int | None) -> None:
    x = np.zeros((3, 4, 5), np.float32)
    attrs = {"start": start} | ({} if end is None else {"end": end})
    got = run(one("Shape", {"x": x}, **attrs), x)
    np.testing.assert_array_equal(got, np.array((3, 4, 5)[start:end], np.int64))


def test_flatten_symbolic_and_negative_axis() -> None:
    m = model([helper.make_node("Flatten", ["x"], ["y"], axis=-2)], [("x", F32, ["N", 3, 4])],
              ["y"])
    assert out_type(m).shape == (Sym("N"), 12)
    m2 = model([helper.make_node("Flatten", ["x"], ["y"], axis=-1)], [("x", F32, ["N", 3, 4])],
               ["y"])
    first, second = out_type(m2).shape
    assert isinstance(first, Sym) and second == 4  # N * 3 is no single dim
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(run(m2, x), x.reshape(6, 4))


def test_squeeze_with_unknown_axes_resolves_when_unambiguous() -> None:
    m = one("Squeeze", {"x": np.zeros((1, 3, 5), np.float32), "a": np.zeros(1, np.int64)})
    assert out_type(m).shape == (3, 5)
    ambiguous = one("Squeeze", {"x": np.zeros((1, 3, 1), np.float32), "a": np.zeros(1, np.int64)})
    assert out_type(ambiguous).rank == 2
    got = run(ambiguous, np.zeros((1, 3, 1), np.float32), np.array([-1], np.int64))
    assert got.shape == (1, 3)


def test_squeeze_of_a_non_one_axis_is_an_error() -> None:
    with pytest.raises(ShapeError, match="not 1"):
        import_onnx(one("Squeeze", {"x": np.zeros((2, 3), np.float32)},
                        consts={"a": np.array([0], np.int64)}))


def test_unsqueeze_unsorted_negative_axes_and_v11_attribute() -> None:
    x = np.zeros((3, 4), np.float32)
    m = one("Unsqueeze", {"x": x}, consts={"a": np.array([-1, 0], np.int64)})
    assert out_type(m).shape == (1, 3, 4, 1)
    assert run(m, x).shape == (1, 3, 4, 1)
    m11 = one("Unsqueeze", {"x": x}, opset=11, axes=[2, 0])
    assert run(m11, x).shape == (1, 3, 1, 4)


# -- Slice --------------------------------------------------------------------------------

@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([-1], [-1000], [0], [-1]),          # whole axis backwards
    ([100], [-100], [1], [-2]),          # start clamped to the last index
    ([1, 0], [1000, 3], [0, 1], [1, 2]),
    ([0], [-1], [-1], None),
    ([5], [1], [0], [1]),                # empty
    ([-3], [2**63 - 1], [0], [1]),
])
def test_slice_clamps_like_onnx(starts: list, ends: list, axes: list, steps: list | None) -> None:
    x = np.arange(60, dtype=np.float32).reshape(10, 6)
    consts = {"s": np.array(starts, np.int64), "e": np.array(ends, np.int64),
              "a": np.array(axes, np.int64)}
    if steps is not None:
        consts["p"] = np.array(steps, np.int64)
    m = one("Slice", {"x": x}, opset=13, consts=consts)
    want = oracle(m, x)[0]
    assert out_type(m).shape == want.shape
    np.testing.assert_array_equal(run(m, x), want)


def test_slice_of_a_symbolic_dim_to_the_end_keeps_the_symbol() -> None:
    m = model([helper.make_node("Slice", ["x", "s", "e"], ["y"])], [("x", F32, ["N", 5])], ["y"],
              13, {"s": np.array([0, 1], np.int64), "e": np.array([2**63 - 1, 4], np.int64)})
    assert out_type(m).shape == (Sym("N"), 3)


def test_slice_v1_attributes() -> None:
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    m = one("Slice", {"x": x}, opset=1, starts=[1, -2], ends=[3, 100], axes=[0, 1])
    np.testing.assert_array_equal(run(m, x), x[1:3, -2:])


# -- Concat, Split ------------------------------------------------------------------------

def test_concat_of_symbolic_dims() -> None:
    m = model([helper.make_node("Concat", ["a", "b"], ["y"], axis=-1)],
              [("a", F32, ["N", 2]), ("b", F32, ["N", 3])], ["y"])
    assert out_type(m).shape == (Sym("N"), 5)
    m2 = model([helper.make_node("Concat", ["a", "b"], ["y"], axis=0)],
               [("a", F32, ["N", 2]), ("b", F32, [4, 2])], ["y"])
    assert isinstance(out_type(m2).shape[0], Sym)


def test_split_uneven_last_chunk() -> None:
    x = np.arange(7, dtype=np.float32)
    m = one("Split", {"x": x}, opset=18, n_out=4, num_outputs=4)
    parts = run(m, x)
    assert [p.shape[0] for p in parts] == [2, 2, 2, 1]
    assert [out_type(m, k).shape for k in range(4)] == [(2,), (2,), (2,), (1,)]


def test_split_equal_parts_and_old_split_attribute() -> None:
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    parts = run(one("Split", {"x": x}, opset=13, n_out=3, axis=1), x)
    assert [p.shape for p in parts] == [(2, 2)] * 3
    parts2 = run(one("Split", {"x": x}, opset=2, n_out=2, axis=-1, split=[1, 5]), x)
    np.testing.assert_array_equal(parts2[1], x[:, 1:])
    with pytest.raises(ShapeError, match="equal parts"):
        import_onnx(one("Split", {"x": x}, opset=13, n_out=4, axis=1))
    with pytest.raises(ShapeError, match="parts of 2 .num_outputs=4, the last smaller"):
        import_onnx(one("Split", {"x": np.zeros(5, np.float32)}, opset=18, n_out=4,
                        num_outputs=4))


def test_concat_v1_default_axis_and_pad_v1_paddings() -> None:
    a = np.zeros((2, 1), np.float32)
    assert run(one("Concat", {"a": a, "b": a}, opset=1), a, a).shape == (2, 2)
    got = run(one("Pad", {"a": a}, opset=1, paddings=[1, 0, 0, 2], value=3.0), a)
    np.testing.assert_array_equal(got, [[3, 3, 3], [0, 3, 3], [0, 3, 3]])


# -- Expand, Tile, Pad, CenterCropPad -----------------------------------------------------

def test_expand_is_bidirectional_and_keeps_symbols() -> None:
    x = np.arange(3, dtype=np.float32).reshape(3, 1)
    m = one("Expand", {"x": x}, opset=13, consts={"s": np.array([2, 1, 6], np.int64)})
    assert out_type(m).shape == (2, 3, 6)
    np.testing.assert_array_equal(run(m, x), np.broadcast_to(x, (2, 3, 6)))
    unknown = one("Expand", {"x": x, "s": np.zeros(2, np.int64)}, opset=13)
    assert out_type(unknown).shape[0] == 3 and isinstance(out_type(unknown).shape[1], Sym)


def test_tile() -> None:
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    m = one("Tile", {"x": x}, opset=13, consts={"r": np.array([2, 1], np.int64)})
    assert out_type(m).shape == (4, 3)
    np.testing.assert_array_equal(run(m, x), np.tile(x, (2, 1)))


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_modes_against_onnx_reference(mode: str) -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    consts = {"p": np.array([1, 2, 2, 3], np.int64), "v": np.array(7.5, np.float32)}
    m = one("Pad", {"x": x}, opset=19, consts=consts, mode=mode)
    want = oracle(m, x)[0]
    assert out_type(m).shape == want.shape == (6, 9)
    np.testing.assert_array_equal(run(m, x), want)


def test_pad_negative_crops_and_axes_input() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    m = one("Pad", {"x": x}, opset=18, consts={"p": np.array([-1, 2], np.int64),
                                               "v": np.array(0, np.float32),
                                               "a": np.array([-1], np.int64)})
    assert out_type(m).shape == (3, 5)
    np.testing.assert_array_equal(run(m, x), np.pad(x[:, 1:], ((0, 0), (0, 2))))


def test_pad_v2_attributes_take_the_data_dtype() -> None:
    x = np.arange(4, dtype=np.int32).reshape(2, 2)
    got = run(one("Pad", {"x": x}, opset=2, pads=[0, 1, 0, 0], value=9.0), x)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [[9, 0, 1], [9, 2, 3]])


def test_center_crop_pad_odd_differences() -> None:
    x = np.arange(15, dtype=np.float32).reshape(5, 3)
    m = one("CenterCropPad", {"x": x}, opset=18, consts={"s": np.array([2, 6], np.int64)})
    got = run(m, x)
    # crop 5 -> 2 starts at floor(3 / 2) = 1; pad 3 -> 6 puts 1 left, 2 right
    np.testing.assert_array_equal(got, np.pad(x[1:3], ((0, 0), (1, 2))))


# -- DepthToSpace, SpaceToDepth, Transpose ------------------------------------------------

@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_space_round_trip_and_oracle(mode: str) -> None:
    x = np.arange(2 * 8 * 2 * 3, dtype=np.float32).reshape(2, 8, 2, 3)
    d2s = one("DepthToSpace", {"x": x}, opset=13, blocksize=2, mode=mode)
    y = run(d2s, x)
    np.testing.assert_array_equal(y, oracle(d2s, x)[0])
    s2d = one("SpaceToDepth", {"y": y}, opset=28, blocksize=2, mode=mode)
    np.testing.assert_array_equal(run(s2d, y), x)


def test_transpose_default_reverses() -> None:
    x = np.zeros((2, 3, 4), np.float32)
    assert run(one("Transpose", {"x": x}), x).shape == (4, 3, 2)
    with pytest.raises(ShapeError, match="permutation"):
        import_onnx(one("Transpose", {"x": x}, perm=[0, 0, 1]))


# -- Constant, ConstantOfShape, Range, EyeLike, OneHot, Trilu -----------------------------

def test_constant_forms() -> None:
    nodes = [helper.make_node("Constant", [], ["a"], value_ints=[1, 2]),
             helper.make_node("Constant", [], ["b"], value_float=1.5),
             helper.make_node("Constant", [], ["c"], value_strings=["x", "yz"])]
    a, b, c = run(model(nodes, [], ["a", "b", "c"]))
    assert a.dtype == np.int64 and a.tolist() == [1, 2]
    assert b.dtype == np.float32 and b.shape == () and b == 1.5
    assert c.tolist() == ["x", "yz"]


def test_constant_of_shape_from_a_known_shape() -> None:
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ConstantOfShape", ["s"], ["y"],
                              value=numpy_helper.from_array(np.array([3], np.int32)))]
    m = model(nodes, [("x", F32, [2, 4])], ["y"])
    assert out_type(m) == TensorType(DType.I32, (2, 4))
    np.testing.assert_array_equal(run(m, np.zeros((2, 4), np.float32)), np.full((2, 4), 3))


@pytest.mark.parametrize("start,limit,delta", [(3, 9, 3), (10, 4, -2), (0, 0, 1), (5, 1, 1),
                                               (1, 10, 4)])
def test_range_counts(start: int, limit: int, delta: int) -> None:
    args = [np.array(v, np.int32) for v in (start, limit, delta)]
    m = one("Range", {}, opset=11, consts=dict(zip("sld", args)))
    want = np.arange(start, limit, delta, dtype=np.int32)
    assert out_type(m).shape == want.shape
    got = run(m)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


def test_range_float16_accumulates_in_float32() -> None:
    m = one("Range", {"s": np.array(2048, np.float16), "l": np.array(2060, np.float16),
                      "d": np.array(1, np.float16)}, opset=27)
    got = run(m, np.array(2048, np.float16), np.array(2060, np.float16), np.array(1, np.float16))
    assert got.dtype == np.float16 and got.shape == (12,)
    np.testing.assert_array_equal(got, np.arange(2048, 2060, dtype=np.float32).astype(np.float16))


def test_eye_like_dtype_attribute_and_offset() -> None:
    x = np.zeros((3, 4), np.int32)
    m = one("EyeLike", {"x": x}, opset=22, dtype=TensorProto.DOUBLE, k=1)
    assert out_type(m).dtype is DType.F64
    np.testing.assert_array_equal(run(m, x), np.eye(3, 4, 1))


def test_one_hot_negative_and_out_of_range_indices() -> None:
    idx = np.array([[1, -1], [5, -4]], np.int64)
    m = one("OneHot", {"i": idx}, opset=11, axis=0,
            consts={"d": np.array(3.0, np.float32), "v": np.array([0, 7], np.int32)})
    assert out_type(m) == TensorType(DType.I32, (3, 2, 2))
    got = run(m, idx)
    np.testing.assert_array_equal(got, oracle(m, idx)[0])
    assert got[:, 1, 0].tolist() == [0, 0, 0]  # 5 is out of range: all off


@pytest.mark.parametrize("upper,k", [(1, 0), (0, -1), (1, 2), (0, 10)])
def test_trilu(upper: int, k: int) -> None:
    x = np.arange(2 * 3 * 4, dtype=np.int64).reshape(2, 3, 4)
    got = run(one("Trilu", {"x": x}, opset=14, consts={"k": np.array(k, np.int64)}, upper=upper),
              x)
    np.testing.assert_array_equal(got, np.triu(x, k) if upper else np.tril(x, k))


# -- Compress, NonZero, Unique, ReverseSequence -------------------------------------------

def test_compress_short_condition_and_symbolic_size() -> None:
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    cond = np.array([False, True, True], bool)
    m = one("Compress", {"x": x, "c": cond}, opset=11)
    assert isinstance(out_type(m).shape[0], Sym)
    np.testing.assert_array_equal(run(m, x, cond), [1, 2])
    known = one("Compress", {"x": x}, opset=11, axis=0, consts={"c": cond})
    assert out_type(known).shape == (2, 2)


def test_nonzero() -> None:
    x = np.array([[1, 0], [3, 4]], np.int32)
    got = run(one("NonZero", {"x": x}, opset=13), x)
    np.testing.assert_array_equal(got, [[0, 1, 1], [0, 0, 1]])


X_UNIQUE = np.array([[2, 1, 2], [0, 1, 0], [2, 5, 2]], np.float32)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_unique_sorted_against_onnx_reference(axis: int | None) -> None:
    m = one("Unique", {"x": X_UNIQUE}, opset=11, n_out=4, **({} if axis is None else
                                                             {"axis": axis}))
    for g, w in zip(run(m, X_UNIQUE), oracle(m, X_UNIQUE)):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("axis,want", [
    (None, ([2, 1, 0, 5], [0, 1, 3, 7], [0, 1, 0, 2, 1, 2, 0, 3, 0], [4, 2, 2, 1])),
    (1, ([[2, 1], [0, 1], [2, 5]], [0, 1], [0, 1, 0], [2, 1])),
])
def test_unique_unsorted_keeps_first_occurrence_order(axis: int | None, want: tuple) -> None:
    # (onnx.reference gets this case wrong: it takes the values along axis 0 of the input)
    m = one("Unique", {"x": X_UNIQUE}, opset=11, n_out=4, sorted=0,
            **({} if axis is None else {"axis": axis}))
    for g, w in zip(run(m, X_UNIQUE), want):
        np.testing.assert_array_equal(g, w)


def test_reverse_sequence_batch_major() -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    lens = np.array([3, 1], np.int64)
    got = run(one("ReverseSequence", {"x": x, "l": lens}, batch_axis=0, time_axis=1), x, lens)
    np.testing.assert_array_equal(got, [[2, 1, 0, 3], [4, 5, 6, 7]])

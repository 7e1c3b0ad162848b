"""Feature ops of "ai.onnx.ml": LabelEncoder in all three versions (positions of classes_strings,
NaN keys, tensor keys and values, typed defaults, the last of repeated keys), ArrayFeatureExtractor
on vectors and on higher ranks, Binarizer, and Scaler, Normalizer, OneHotEncoder, Imputer and
FeatureVectorizer checked against ONNX Runtime as an oracle."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import dlc
from dlc.errors import ShapeError

ML = "ai.onnx.ml"


def tensor_type(x: np.ndarray) -> int:
    return TensorProto.STRING if x.dtype == object else helper.np_dtype_to_tensor_dtype(x.dtype)


def model(op: str, inputs: dict[str, np.ndarray], ml_opset: int = 3,
          out: int = TensorProto.UNDEFINED, **attrs: object) -> onnx.ModelProto:
    """One node; ONNX Runtime wants the output's element type `out`, dlc infers it."""
    node = helper.make_node(op, list(inputs), ["y"], domain=ML, **attrs)
    g = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info(n, tensor_type(v), list(v.shape))
         for n, v in inputs.items()],
        [helper.make_tensor_value_info("y", out, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                               helper.make_opsetid(ML, ml_opset)])


def run(op: str, inputs: dict[str, np.ndarray], ml_opset: int = 3, **attrs: object) -> np.ndarray:
    return dlc.compile(model(op, inputs, ml_opset, **attrs), target="reference")(*inputs.values())


def strings(*items: str) -> np.ndarray:
    return np.array(items, dtype=object)


# -- LabelEncoder ------------------------------------------------------------------------------

def test_label_encoder_v1_maps_strings_to_positions_and_back() -> None:
    classes = ["cat", "dog", "fish"]
    got = run("LabelEncoder", {"x": strings("dog", "bird", "fish")}, 1, classes_strings=classes,
              default_int64=-7)
    assert got.dtype == np.int64 and got.tolist() == [1, -7, 2]
    back = run("LabelEncoder", {"x": np.array([[2, 0], [5, 1]], np.int64)}, 1,
               classes_strings=classes)
    assert back.tolist() == [["fish", "cat"], ["_Unused", "dog"]]


def test_label_encoder_v2_float_keys_match_any_nan_and_defaults_by_type() -> None:
    x = np.array([1.5, np.nan, -2.0, 7.0], np.float32)
    got = run("LabelEncoder", {"x": x}, 2, keys_floats=[1.5, float("nan"), -2.0],
              values_strings=["a", "nan", "b"])
    assert got.tolist() == ["a", "nan", "b", "_Unused"]
    got = run("LabelEncoder", {"x": x}, 2, keys_floats=[1.5, -2.0], values_floats=[10.0, 20.0])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [10.0, -0.0, 20.0, -0.0])
    assert np.signbit(got[1])  # the default default_float is -0.0


def test_label_encoder_v4_tensors_and_last_of_repeated_keys() -> None:
    x = np.array([[3, 4], [5, 3]], np.int32)
    got = run("LabelEncoder", {"x": x}, 4,
              keys_tensor=numpy_helper.from_array(np.array([3, 4, 3], np.int32)),
              values_tensor=numpy_helper.from_array(np.array([0.5, 1.5, 2.5], np.float64)),
              default_tensor=numpy_helper.from_array(np.array([-1.0], np.float64)))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [[2.5, 1.5], [-1.0, 2.5]])


def test_label_encoder_v4_matches_onnx_runtime() -> None:
    x = strings("a", "b", "zz")
    m = model("LabelEncoder", {"x": x}, 4, TensorProto.INT16, keys_strings=["a", "b"],
              values_tensor=numpy_helper.from_array(np.array([7, 9], np.int16)),
              default_tensor=numpy_helper.from_array(np.array([42], np.int16)))
    want = ort.InferenceSession(m.SerializeToString()).run(None, {"x": x})[0]
    got = dlc.compile(m, target="reference")(x)
    assert got.dtype == want.dtype == np.int16
    np.testing.assert_array_equal(got, want)


def test_label_encoder_rejects_keys_of_another_type() -> None:
    with pytest.raises(ShapeError, match="keys are string"):
        run("LabelEncoder", {"x": np.array([1.0], np.float32)}, 2, keys_strings=["a"],
            values_int64s=[1])
    with pytest.raises(ShapeError, match="only one of"):
        run("LabelEncoder", {"x": strings("a")}, 2, keys_strings=["a"], values_int64s=[1],
            values_floats=[1.0])


# -- ArrayFeatureExtractor and Binarizer -------------------------------------------------------

def test_array_feature_extractor_picks_along_the_last_axis() -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    idx = np.array([[3], [1]], np.int64)
    got = run("ArrayFeatureExtractor", {"x": x, "i": idx})
    np.testing.assert_array_equal(got, x[..., [3, 1]])
    # a vector reads as one row
    vec = run("ArrayFeatureExtractor", {"x": strings("a", "b", "c"), "i": np.array([2, 0])})
    assert vec.shape == (1, 2) and vec.tolist() == [["c", "a"]]


def test_array_feature_extractor_rejects_indices_out_of_range() -> None:
    with pytest.raises(dlc.errors.DlcError, match="out of range"):
        run("ArrayFeatureExtractor", {"x": np.ones((2, 3), np.float32),
                                      "i": np.array([3], np.int64)})


def test_binarizer_keeps_the_dtype() -> None:
    x = np.array([[1, 2], [3, -4]], np.int64)
    got = run("Binarizer", {"x": x}, threshold=1.5)
    assert got.dtype == np.int64 and got.tolist() == [[0, 1], [1, 0]]
    f = run("Binarizer", {"x": np.array([np.nan, 0.5, 0.0], np.float32)})
    np.testing.assert_array_equal(f, [0, 1, 0])


# -- against ONNX Runtime ----------------------------------------------------------------------

ORACLE_CASES = [
    ("Scaler", {"x": np.array([[1, -3, 2], [0, 5, 1]], np.float64)},
     dict(offset=[1.0, 2.0, 3.0], scale=[2.0, 0.5, -1.0])),
    ("Scaler", {"x": np.array([4, 5, 6], np.int32)}, dict(offset=[1.0], scale=[3.0])),
    ("Normalizer", {"x": np.array([[1, -3, 2], [0, 0, 0], [-1, -2, -4]], np.float32)},
     dict(norm="MAX")),
    ("Normalizer", {"x": np.array([[1, -3, 2], [0, 0, 0]], np.int64)}, dict(norm="L1")),
    ("Normalizer", {"x": np.array([1, -3, 2], np.float64)}, dict(norm="L2")),
    ("OneHotEncoder", {"x": np.array([[1.7, 3], [2, 9]], np.float32)},
     dict(cats_int64s=[1, 2, 3])),
    ("OneHotEncoder", {"x": strings("b", "z", "a")}, dict(cats_strings=["a", "b"])),
    ("Imputer", {"x": np.array([[1, np.nan], [np.nan, 2]], np.float32)},
     dict(imputed_value_floats=[7.0, 8.0], replaced_value_float=float("nan"))),
    ("Imputer", {"x": np.array([[1, 0, 3], [0, 2, 0]], np.int64)},
     dict(imputed_value_int64s=[9], replaced_value_int64=0)),
    ("FeatureVectorizer", {"a": np.ones((2, 3), np.float32),
                           "b": np.arange(4, dtype=np.float32).reshape(2, 2)},
     dict(inputdimensions=[2, 3])),
    ("FeatureVectorizer", {"a": np.ones(3, np.int64), "b": np.arange(2, dtype=np.int64)},
     dict(inputdimensions=[3, 2])),
]


@pytest.mark.parametrize(("op", "inputs", "attrs"), ORACLE_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(ORACLE_CASES)])
def test_matches_onnx_runtime(op: str, inputs: dict[str, np.ndarray],
                              attrs: dict[str, object]) -> None:
    int_out = op == "Imputer" and next(iter(inputs.values())).dtype == np.int64
    m = model(op, inputs, out=TensorProto.INT64 if int_out else TensorProto.FLOAT, **attrs)
    want = ort.InferenceSession(m.SerializeToString()).run(None, inputs)[0]
    got = dlc.compile(m, target="reference")(*inputs.values())
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_one_hot_encoder_without_zeros_rejects_unknown_categories() -> None:
    with pytest.raises(dlc.errors.DlcError, match="not a category"):
        run("OneHotEncoder", {"x": np.array([5], np.int64)}, cats_int64s=[1], zeros=0)


def test_imputer_and_scaler_check_their_per_feature_lengths() -> None:
    with pytest.raises(ShapeError, match="3 features"):
        run("Scaler", {"x": np.ones((2, 3), np.float32)}, scale=[1.0, 2.0])
    with pytest.raises(ShapeError, match="imputed_value_int64s"):
        run("Imputer", {"x": np.ones((2, 3), np.int64)}, imputed_value_floats=[1.0])

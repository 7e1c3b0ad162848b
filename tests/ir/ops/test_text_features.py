"""TfIdfVectorizer: n-grams and skip-grams counted per row, unigrams counted once whatever the
skip, pools of strings, the IDF and TF-IDF weightings, n-gram sizes outside [min, max] that still
take their place in ngram_indexes, and rejected attribute combinations. Expected values are
hand-worked or come from onnx.reference."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import dlc
from dlc.errors import ShapeError


def model(x: np.ndarray, **attrs: object) -> onnx.ModelProto:
    dtype = TensorProto.STRING if x.dtype == object else helper.np_dtype_to_tensor_dtype(x.dtype)
    node = helper.make_node("TfIdfVectorizer", ["x"], ["y"], **attrs)
    g = helper.make_graph([node], "tfidf", [helper.make_tensor_value_info("x", dtype, x.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])


def run(x: np.ndarray, **attrs: object) -> np.ndarray:
    return dlc.compile(model(x, **attrs), target="reference")(x)


BIGRAMS = dict(min_gram_length=2, max_gram_length=2, ngram_counts=[0, 0],
               ngram_indexes=[0, 1], pool_int64s=[1, 2, 2, 3])


def test_skip_grams_by_hand() -> None:
    x = np.array([1, 2, 9, 2, 3, 1, 5, 2], np.int64)
    # adjacent pairs only: (1,2) once, (2,3) once
    np.testing.assert_array_equal(run(x, mode="TF", max_skip_count=0, **BIGRAMS), [1, 1])
    # one skip also pairs x[i] with x[i+2]: (1,9)(2,2)(9,3)(2,1)(3,5)(1,2) adds one (1,2)
    np.testing.assert_array_equal(run(x, mode="TF", max_skip_count=1, **BIGRAMS), [2, 1])


def test_unigrams_count_once_whatever_the_skip() -> None:
    x = np.array([[4, 4, 7], [7, 7, 7]], np.int32)
    got = run(x, mode="TF", min_gram_length=1, max_gram_length=2, max_skip_count=3,
              ngram_counts=[0, 2], ngram_indexes=[2, 0, 1], pool_int64s=[4, 7, 7, 7])
    # columns: 0 <- unigram 7, 1 <- bigram (7,7) at skips 0 and 1, 2 <- unigram 4
    np.testing.assert_array_equal(got, [[1, 0, 2], [3, 3, 0]])
    assert got.dtype == np.float32


def test_sizes_outside_the_range_keep_their_indexes() -> None:
    x = np.array([5, 6, 5], np.int64)
    # unigrams 5 and 6 are in the pool but not counted; the bigram (5,6) is the third n-gram
    got = run(x, mode="TF", min_gram_length=2, max_gram_length=2, max_skip_count=0,
              ngram_counts=[0, 2], ngram_indexes=[0, 1, 2], pool_int64s=[5, 6, 5, 6])
    np.testing.assert_array_equal(got, [0, 0, 1])


def test_strings_and_weightings() -> None:
    x = np.array(["the", "cat", "the", "dog", "cat"], dtype=object)
    common = dict(min_gram_length=1, max_gram_length=1, max_skip_count=0, ngram_counts=[0],
                  ngram_indexes=[0, 1, 2], pool_strings=["cat", "dog", "fish"],
                  weights=[0.5, 2.0, 3.0])
    np.testing.assert_array_equal(run(x, mode="TF", **common), [2, 1, 0])
    np.testing.assert_array_equal(run(x, mode="IDF", **common), [0.5, 2.0, 0])
    np.testing.assert_array_equal(run(x, mode="TFIDF", **common), [1.0, 2.0, 0])
    del common["weights"]
    np.testing.assert_array_equal(run(x, mode="IDF", **common), [1, 1, 0])


def test_random_rows_match_onnx_reference() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(3, 12)).astype(np.int64)
    attrs = dict(mode="TF", min_gram_length=1, max_gram_length=3, max_skip_count=2,
                 ngram_counts=[0, 3, 9], ngram_indexes=list(range(3 + 3 + 2))[::-1],
                 pool_int64s=[0, 1, 3, 0, 1, 1, 2, 3, 3, 0, 1, 2, 3, 3, 3])
    m = model(x, **attrs)
    np.testing.assert_array_equal(dlc.compile(m, target="reference")(x),
                                  ReferenceEvaluator(m).run(None, {"x": x})[0])


def test_empty_rows_give_zeros() -> None:
    x = np.zeros((2, 0), np.int64)
    np.testing.assert_array_equal(run(x, mode="TF", max_skip_count=0, **BIGRAMS),
                                  np.zeros((2, 2)))


def test_rejected_attributes() -> None:
    x = np.array([1, 2], np.int64)
    with pytest.raises(ShapeError, match="mode"):
        run(x, mode="BM25", max_skip_count=0, **BIGRAMS)
    with pytest.raises(ShapeError, match="pool_strings"):
        run(np.array(["a"], dtype=object), mode="TF", max_skip_count=0, **BIGRAMS)
    with pytest.raises(ShapeError, match="more n-grams"):
        run(x, mode="TF", max_skip_count=0, **{**BIGRAMS, "ngram_indexes": [0]})

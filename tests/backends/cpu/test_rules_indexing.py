"""cpu rules of the indexing family (src/backends/cpu/rules/indexing.py): the ONNX conformance
cases that lower today, checked interpreted and native against their expected outputs, and
one-node graphs for what those cases miss (shape operands as constants, other dtypes/attributes),
checked against the op's reference implementation."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rule_testing import (
    PIPELINE,
    check_case,
    close,
    conformance_case,
    lowered_one_node,
    run_natively,
    to_value,
)

import dlc.backends.cpu  # noqa: F401 - registers the cpu rules
from dlc.api import import_graph, make_options
from dlc.ir import DType, interpret
from dlc.passes import run_passes

sys.path.insert(0, str(Path(__file__).parents[2] / "passes"))

CASES = [
    *(f"test_scatter_{c}" for c in ("without_axis", "with_axis")),
    *(f"test_scatter_elements_{c}" for c in (
        "without_axis", "with_axis", "with_negative_indices", "with_duplicate_indices",
        "with_reduction_mul", "with_reduction_max", "with_reduction_min")),
    *(f"test_scatternd{c}" for c in (
        "", "_add", "_multiply", "_max", "_min", "_max_with_element_indices",
        "_min_with_element_indices")),
    "test_maxunpool_export_without_output_shape", "test_det_2d", "test_det_nd",
    "test_bitcast_bool_to_uint8", "test_ai_onnx_ml_binarizer",
    "test_ai_onnx_ml_array_feature_extractor", "test_ai_onnx_ml_tree_ensemble_single_tree",
    "test_ai_onnx_ml_tree_ensemble_set_membership",
    *(f"test_tfidfvectorizer_tf_{c}" for c in (
        "only_bigrams_skip0", "batch_onlybigrams_skip0", "onlybigrams_levelempty",
        "onlybigrams_skip5", "batch_onlybigrams_skip5", "uniandbigrams_skip5",
        "batch_uniandbigrams_skip5")),
    *(f"test_{op}_{c}" for op in ("cumsum", "cumprod") for c in (
        "1d", "1d_exclusive", "1d_reverse", "1d_reverse_exclusive", "2d_axis_0", "2d_axis_1",
        "2d_negative_axis", "2d_int32", "1d_int32_exclusive")),
]


@pytest.mark.parametrize("name", CASES)
def test_conformance_case(name: str) -> None:
    check_case(name)


# cases whose shape operands are graph inputs: lowered with those operands made constants (their
# values from the case), as value specialization will make them
DYNAMIC_CASES = {
    **{f"test_top_k{c}": (1,) for c in (
        "", "_uint64", "_same_values", "_same_values_largest", "_same_values_2d", "_smallest",
        "_negative_axis")},
    **{f"test_col2im{c}": (1, 2) for c in ("", "_strides", "_pads", "_dilations", "_5d")},
    **{f"test_compress_{c}": (1,) for c in (
        "0", "1", "default_axis", "negative_axis", "bfloat16")},
    **{f"test_onehot_{c}": (1,) for c in (
        "without_axis", "with_axis", "negative_indices", "out_of_range_indices",
        "with_negative_axis", "with_bfloat16_values")},
    "test_maxunpool_export_with_output_shape": (2,),
}


@pytest.mark.parametrize("name", sorted(DYNAMIC_CASES))
def test_conformance_case_constant_operands(name: str) -> None:
    import onnx
    from onnx import numpy_helper
    case = conformance_case(name)
    for inputs, outputs in case.data_sets:
        model = onnx.ModelProto()
        model.CopyFrom(case.model)
        graph_inputs = [v for v in model.graph.input]
        feed = []
        for k, (vi, x) in enumerate(zip(graph_inputs, inputs)):
            if k in DYNAMIC_CASES[name]:
                model.graph.input.remove(vi)
                model.graph.initializer.append(numpy_helper.from_array(to_value(x), vi.name))
            else:
                feed.append(to_value(x))
        g = import_graph(model, make_options())
        g = run_passes(g, PIPELINE, make_options(target="cpu"), verify_each=True)
        want = [to_value(x) for x in outputs]
        for how, got in (("interpreted", interpret(g, feed)), ("native", run_natively(g, feed))):
            for k, (x, w) in enumerate(zip(got, want)):
                assert close(x, w), f"{name}: output {k} differs ({how})"


RNG = np.random.default_rng(0)


def ints(shape: tuple[int, ...], lo: int, hi: int, dtype: Any = np.int64) -> np.ndarray:
    return RNG.integers(lo, hi, shape).astype(dtype)


def floats(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


# -- CumSum / CumProd ---------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["CumSum", "CumProd"])
def test_scan_3d_f16_each_axis(op: str) -> None:
    x = (floats((2, 3, 4)) * 0.5 + 1).astype(np.float16)
    for axis in (0, -2, 2):
        lowered_one_node(op, {"exclusive": 1, "reverse": 1}, [x, np.array(axis, np.int64)],
                         known=(1,), rtol=1e-2, atol=1e-3)
    lowered_one_node(op, {}, [ints((3, 2), -3, 4, np.int64), np.array([1], np.int32)])


# -- TopK -----------------------------------------------------------------------------------------

def test_topk_nan_ties_axis_dtypes() -> None:
    x = np.array([[[1, np.nan, 3, 3], [2, 2, 2, np.nan]], [[0, -1, np.nan, np.nan], [5, 4, 4, 1]]],
                 np.float32).transpose(0, 2, 1)  # [2, 4, 2]: the axis 1 of four
    for largest in (0, 1):
        lowered_one_node("TopK", {"axis": 1, "largest": largest}, [x, np.array([3])], known=(1,),
                         outputs=2)
    lowered_one_node("TopK", {"axis": -1, "largest": 0}, [floats((3, 5), np.float16),
                                                          np.array([5])], known=(1,), outputs=2)
    lowered_one_node("TopK", {}, [ints((4, 6), -3, 3, np.int32), np.array([0])], known=(1,),
                     outputs=2)


# -- Scatter family ------------------------------------------------------------------------------

def test_scatter_elements_reductions_partial_indices() -> None:
    data = floats((3, 4, 2))
    idx = np.array([[[0], [-1]], [[2], [2]]], np.int32)   # [2, 2, 1]: covers part of data
    upd = floats((2, 2, 1))
    for reduction in ("none", "add", "max"):
        lowered_one_node("ScatterElements", {"axis": 1, "reduction": reduction},
                         [data, idx, upd])
    lowered_one_node("ScatterElements", {"axis": -2, "reduction": "mul"},
                     [ints((3, 2), -4, 5), np.array([[1, 1], [1, 0]]), ints((2, 2), -4, 5)])


def test_scatter_nd_slices_duplicates() -> None:
    data = floats((4, 3, 2), np.float16)
    idx = np.array([[[1], [-1]], [[1], [0]]])   # row 1 twice: in order
    upd = floats((2, 2, 3, 2), np.float16)
    for reduction in ("none", "add", "min"):
        lowered_one_node("ScatterND", {"reduction": reduction}, [data, idx, upd],
                         rtol=1e-3, atol=1e-3)
    lowered_one_node("ScatterND", {"reduction": "mul"},
                     [ints((2, 3), -4, 5, np.int32), np.array([[0, 2], [1, -1], [0, 2]], np.int32),
                      ints((3,), -4, 5, np.int32)])


# -- TfIdfVectorizer -----------------------------------------------------------------------------

def test_tfidf_idf_and_tfidf_weights() -> None:
    pool = dict(pool_int64s=(2, 3, 5, 4, 5, 6, 7, 8, 6, 7), ngram_counts=(0, 4),
                ngram_indexes=(0, 1, 2, 3, 4, 5, 6), weights=(1.0, 0.5, 2.0, 1.5, 3.0, 0.25, 4.0))
    x = np.array([[1, 1, 3, 3, 3, 7], [8, 6, 7, 5, 6, 8]], np.int32)
    for mode, lo in (("IDF", 1), ("TFIDF", 1), ("TF", 2)):
        attrs = dict(pool, mode=mode, min_gram_length=lo, max_gram_length=2, max_skip_count=1)
        lowered_one_node("TfIdfVectorizer", attrs, [x])
        lowered_one_node("TfIdfVectorizer", attrs, [x[1].astype(np.int64)])


# -- shape operands read at run time ---------------------------------------------------------------

def test_run_time_shape_operands() -> None:
    lowered_one_node("TopK", {"axis": 0, "largest": 0}, [floats((5, 2)), np.array([2])],
                     late=(1,), outputs=2)
    lowered_one_node("OneHot", {"axis": 1}, [np.array([[0.7, -1.2], [3.9, 5.0]], np.float32),
                                             np.array(4), np.array([-2, 7], np.int32)], late=(1,))
    cond = np.array([False, True, True])
    lowered_one_node("Compress", {}, [floats((2, 3)), cond], late=(1,))
    lowered_one_node("Compress", {"axis": 1}, [floats((2, 4, 2), np.float16), cond], late=(1,))
    lowered_one_node("Col2Im", {"strides": (2,), "pads": (1, 0), "dilations": (2,)},
                     [floats((2, 6, 2)), np.array([6]), np.array([3])], late=(1, 2))


def test_det_batches_singular_f64() -> None:
    x = floats((2, 3, 4, 4), np.float64)
    x[1, 2, 3] = x[1, 2, 1] * 2   # singular
    lowered_one_node("Det", {}, [x])
    lowered_one_node("Det", {}, [floats((3, 1, 1), np.float16)], rtol=1e-3)


def test_max_unpool_strides_pads() -> None:
    x = floats((1, 2, 2, 2))
    idx = np.array([[[[0, 3], [7, 4]], [[9, 9], [15, 12]]]])   # a repeated index: last wins
    lowered_one_node("MaxUnpool", {"kernel_shape": (2, 2), "strides": (2, 2), "pads": (0, 1, 0, 1)},
                     [x, idx])


# -- ai.onnx.ml ----------------------------------------------------------------------------------

TREES = dict(
    tree_roots=(0, 2), nodes_featureids=(0, 2, 1, 0),
    nodes_modes=np.array([0, 3, 6, 5], np.uint8),          # LEQ, GT, MEMBER, NEQ
    nodes_splits=np.array([0.5, -0.2, np.nan, 0.0], np.float32),
    nodes_truenodeids=(1, 1, 3, 4), nodes_trueleafs=(0, 1, 1, 1),
    nodes_falsenodeids=(0, 2, 3, 5), nodes_falseleafs=(1, 1, 0, 1),
    nodes_missing_value_tracks_true=(1, 0, 0, 0), membership_values=np.array([1, 3, np.nan]),
    leaf_targetids=(0, 1, 2, 0, 2, 1),
    leaf_weights=np.array([1.5, -2.0, 0.25, 3.0, -1.0, 0.5], np.float32), n_targets=3)


def test_tree_ensemble_aggregates_and_transforms() -> None:
    x = np.array([[0.1, 1.0, 0.0], [np.nan, 2.0, -1.0], [0.9, 3.0, 5.0], [0.0, np.nan, 0.0],
                  [0.7, 0.0, 0.0]], np.float32)
    for aggregate, post in ((0, 1), (1, 0), (2, 2), (3, 3)):
        lowered_one_node("TreeEnsemble", dict(TREES, aggregate_function=aggregate,
                                              post_transform=post), [x])
    lowered_one_node("TreeEnsemble", dict(TREES, aggregate_function=1), [x[1].astype(np.float64)])


def test_label_encoder_numbers() -> None:
    x = np.array([[1, 5, -3], [2, 2, 7]], np.int64)
    lowered_one_node("LabelEncoder", dict(keys_int64s=(1, 2, 7, 2), values_floats=(0.5, 1.5, 2.5,
                                                                                   -1.0)), [x])
    f = np.array([0.5, np.nan, -2.0, 3.0], np.float32)
    lowered_one_node("LabelEncoder", dict(keys_floats=(0.5, float("nan"), 3.0),
                                          values_int64s=(10, 20, 30), default_int64=-7), [f])
    lowered_one_node("LabelEncoder", dict(keys_tensor=np.array([1, 9], np.int32),
                                          values_tensor=np.array([1.0, 2.0], np.float64),
                                          default_tensor=np.array([-5.0])), [x.astype(np.int32)])


def test_binarizer_and_feature_extractor() -> None:
    lowered_one_node("Binarizer", {"threshold": 1.5}, [ints((3, 4), -2, 4, np.int32)])
    lowered_one_node("Binarizer", {"threshold": 0.1}, [np.array([0.1, np.nan, 0.2, -1.0])])
    lowered_one_node("ArrayFeatureExtractor", {}, [floats((2, 3, 4)), np.array([[3, 0], [0, 1]])])
    lowered_one_node("ArrayFeatureExtractor", {}, [ints((5,), 0, 9, np.int32), np.array([4, 2])])


def test_bitcast_bool_u8_i8() -> None:
    lowered_one_node("BitCast", {"to": DType.I8}, [np.array([[True, False], [False, True]])])
    lowered_one_node("BitCast", {"to": DType.BOOL}, [np.array([0, 1, 7, 255], np.uint8)])

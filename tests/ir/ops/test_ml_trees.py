"""Tree ensembles of "ai.onnx.ml": TreeEnsemble (opset 5) aggregates, post transforms, NaN routing
and set membership worked by hand; TreeEnsembleRegressor on random forests and
TreeEnsembleClassifier's binary and multi-class outputs against ONNX Runtime as an oracle; trees
that point nowhere are rejected."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import dlc
from dlc.errors import ShapeError

ML = "ai.onnx.ml"


def model(op: str, x: np.ndarray, outs: list[tuple[str, int]], ml_opset: int = 5,
          **attrs: object) -> onnx.ModelProto:
    node = helper.make_node(op, ["x"], [n for n, _ in outs], domain=ML, **attrs)
    g = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x.dtype),
                                       [None, x.shape[1]])],
        [helper.make_tensor_value_info(n, t, None) for n, t in outs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                               helper.make_opsetid(ML, ml_opset)])


def tensor(values: list[float] | list[int], dtype: type) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=dtype))


# -- TreeEnsemble (opset 5) --------------------------------------------------------------------

def two_trees(**extra: object) -> dict[str, object]:
    """Tree 0: x0 <= 1 ? leaf 0 : (x1 < 0 ? leaf 1 : leaf 2). Tree 1 is leaf 3 alone: a root
    whose branches both reach it."""
    attrs: dict[str, object] = dict(
        tree_roots=[0, 2], nodes_featureids=[0, 1, 0],
        nodes_modes=tensor([0, 1, 0], np.uint8), nodes_splits=tensor([1.0, 0.0, 0.0], np.float32),
        nodes_truenodeids=[0, 1, 3], nodes_trueleafs=[1, 1, 1],
        nodes_falsenodeids=[1, 2, 3], nodes_falseleafs=[0, 1, 1],
        leaf_targetids=[0, 1, 0, 1], leaf_weights=tensor([1.0, 2.0, 4.0, 8.0], np.float32),
        n_targets=2)
    attrs.update(extra)
    return attrs


def ensemble(x: np.ndarray, **attrs: object) -> np.ndarray:
    m = model("TreeEnsemble", x, [("y", helper.np_dtype_to_tensor_dtype(x.dtype))], **attrs)
    return dlc.compile(m, target="reference")(x)


X = np.array([[0.5, 3.0], [2.0, -1.0], [2.0, 1.0]], np.float32)


@pytest.mark.parametrize(("aggregate", "want"), [
    (1, [[1, 8], [0, 10], [4, 8]]),          # SUM
    (0, [[0.5, 4], [0, 5], [2, 4]]),         # AVERAGE over both trees
    (2, [[1, 8], [0, 2], [4, 8]]),           # MIN; a target no leaf reaches is 0
    (3, [[1, 8], [0, 8], [4, 8]]),           # MAX
])
def test_aggregate_functions(aggregate: int, want: list[list[float]]) -> None:
    got = ensemble(X, **two_trees(aggregate_function=aggregate))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want)


def test_post_transforms() -> None:
    raw = np.array([[1, 8], [0, 10], [4, 8]], np.float64)
    soft = np.exp(raw - raw.max(1, keepdims=True))
    np.testing.assert_allclose(ensemble(X, **two_trees(post_transform=1)),
                               soft / soft.sum(1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(ensemble(X, **two_trees(post_transform=2)),
                               1 / (1 + np.exp(-raw)), rtol=1e-6)
    # SOFTMAX_ZERO leaves the zero alone: row 1 is [0, 1]
    np.testing.assert_allclose(ensemble(X, **two_trees(post_transform=3))[1], [0, 1])


def test_nan_follows_missing_value_tracks_true_and_doubles_stay_double() -> None:
    x = np.array([[np.nan, -1.0]], np.float64)
    # NaN <= 1 is false: to node 1, then x1 < 0: leaf 1
    np.testing.assert_allclose(ensemble(x, **two_trees()), [[0, 10]])
    tracked = ensemble(x, **two_trees(nodes_missing_value_tracks_true=[1, 0, 0],
                                      nodes_splits=tensor([1.0, 0.0, 0.0], np.float64),
                                      leaf_weights=tensor([1.0, 2.0, 4.0, 8.0], np.float64)))
    assert tracked.dtype == np.float64
    np.testing.assert_allclose(tracked, [[1, 8]])


def test_set_membership_sets_follow_node_order() -> None:
    attrs = two_trees(nodes_modes=tensor([6, 6, 0], np.uint8),
                      membership_values=tensor([1, 5, np.nan, 7, np.nan], np.float32))
    x = np.array([[5.0, 7.0], [2.0, 7.0], [2.0, 3.0]], np.float32)
    # node 0 tests x0 in {1, 5}; node 1 tests x1 in {7}
    np.testing.assert_allclose(ensemble(x, **attrs), [[1, 8], [0, 10], [4, 8]])


def test_broken_trees_are_rejected() -> None:
    with pytest.raises(ShapeError, match="does not exist"):
        ensemble(X, **two_trees(nodes_falsenodeids=[9, 2, 3]))
    with pytest.raises(ShapeError, match="feature 5"):
        ensemble(X, **two_trees(nodes_featureids=[0, 5, 0]))
    with pytest.raises(ShapeError, match="NaN-terminated"):
        ensemble(X, **two_trees(nodes_modes=tensor([6, 0, 0], np.uint8),
                                membership_values=tensor([1.0], np.float32)))


# -- TreeEnsembleRegressor against ONNX Runtime ------------------------------------------------

def random_forest(rng: np.random.Generator, trees: int, features: int, targets: int
                  ) -> tuple[dict[str, list], dict[str, list]]:
    """Random trees in the (tree id, node id) form; every leaf weighs every target."""
    nodes: dict[str, list] = {k: [] for k in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
        "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true")}
    leaves: dict[str, list] = {"tree": [], "node": [], "target": [], "weight": []}
    modes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
    for t in range(trees):
        count = [0]

        def grow(depth: int, t: int = t, count: list[int] = count) -> int:
            nid = count[0]
            count[0] += 1
            row = {k: 0 for k in nodes}
            row.update(nodes_treeids=t, nodes_nodeids=nid, nodes_modes="LEAF",
                       nodes_values=0.0)
            at = len(nodes["nodes_nodeids"])
            for k, v in row.items():
                nodes[k].append(v)
            if depth == 0 or rng.random() < 0.2:
                for target in range(targets):
                    leaves["tree"].append(t)
                    leaves["node"].append(nid)
                    leaves["target"].append(target)
                    leaves["weight"].append(float(np.float32(rng.normal())))
                return nid
            nodes["nodes_modes"][at] = str(rng.choice(modes))
            nodes["nodes_featureids"][at] = int(rng.integers(0, features))
            nodes["nodes_values"][at] = float(rng.choice([0.0, 0.5, -0.5]))
            nodes["nodes_missing_value_tracks_true"][at] = int(rng.integers(0, 2))
            nodes["nodes_truenodeids"][at] = grow(depth - 1)
            nodes["nodes_falsenodeids"][at] = grow(depth - 1)
            return nid
        grow(3)
    return nodes, leaves


@pytest.mark.parametrize("seed", range(4))
def test_regressor_matches_onnx_runtime(seed: int) -> None:
    rng = np.random.default_rng(seed)
    nodes, leaves = random_forest(rng, 3, 3, 2)
    attrs = dict(nodes, target_treeids=leaves["tree"], target_nodeids=leaves["node"],
                 target_ids=leaves["target"], target_weights=leaves["weight"], n_targets=2,
                 aggregate_function=["SUM", "AVERAGE", "MIN", "MAX"][seed],
                 post_transform=["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"][seed],
                 base_values=[0.25, -0.5])
    x = rng.choice([0.0, 0.5, -0.5, 1.0, np.nan, 0.3], size=(24, 3)).astype(np.float32)
    m = model("TreeEnsembleRegressor", x, [("y", TensorProto.FLOAT)], 3, **attrs)
    want = ort.InferenceSession(m.SerializeToString()).run(None, {"x": x})[0]
    got = dlc.compile(m, target="reference")(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# -- TreeEnsembleClassifier against ONNX Runtime -----------------------------------------------

def stump(class_ids: list[int], class_nodeids: list[int], class_weights: list[float],
          **extra: object) -> dict[str, object]:
    """One tree: x0 <= 0 ? node 1 : node 2, both leaves."""
    attrs: dict[str, object] = dict(
        nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[0, 0, 0],
        nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_values=[0.0, 0.0, 0.0],
        nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0],
        class_treeids=[0] * len(class_ids), class_nodeids=class_nodeids, class_ids=class_ids,
        class_weights=class_weights)
    attrs.update(extra)
    return attrs


CLASSIFIERS = {
    "second class only": stump([1, 1], [1, 2], [0.3, 0.8], classlabels_int64s=[10, 20]),
    "first class only": stump([0, 0], [1, 2], [0.3, 0.8], classlabels_int64s=[10, 20]),
    "first class mixed signs": stump([0, 0], [1, 2], [-0.3, 0.8], classlabels_int64s=[10, 20]),
    "first class logistic": stump([0, 0], [1, 2], [0.3, 0.8], classlabels_int64s=[10, 20],
                                  post_transform="LOGISTIC"),
    "one base value": stump([0, 0], [1, 2], [0.3, 0.8], classlabels_int64s=[10, 20],
                            base_values=[0.1]),
    "two base values": stump([1, 1], [1, 2], [0.3, 0.8], classlabels_int64s=[10, 20],
                             base_values=[0.1, 0.2], post_transform="LOGISTIC"),
    "both classes": stump([0, 1, 0, 1], [1, 1, 2, 2], [0.3, 0.7, 0.9, 0.1],
                          classlabels_int64s=[0, 1], post_transform="SOFTMAX"),
    "string labels": stump([1, 1], [1, 2], [0.3, 0.8], classlabels_strings=["no", "yes"]),
    "three classes": stump([0, 2, 1], [1, 1, 2], [0.3, 0.8, -0.5], classlabels_int64s=[7, 8, 9],
                           base_values=[0.1, 0.2, 0.3], post_transform="SOFTMAX_ZERO"),
    "three classes unscored": stump([0, 2, 1], [1, 1, 2], [0.3, 0.8, -0.5],
                                    classlabels_int64s=[7, 8, 9]),
}


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_classifier_matches_onnx_runtime(name: str) -> None:
    attrs = CLASSIFIERS[name]
    x = np.array([[-1.0], [1.0], [0.0]], np.float32)
    label = TensorProto.STRING if "classlabels_strings" in attrs else TensorProto.INT64
    m = model("TreeEnsembleClassifier", x, [("label", label), ("scores", TensorProto.FLOAT)], 3,
              **attrs)
    want = ort.InferenceSession(m.SerializeToString()).run(None, {"x": x})
    got = dlc.compile(m, target="reference")(x)
    assert [str(v) for v in got[0]] == [str(v) for v in want[0]]
    assert got[1].dtype == np.float32
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-7)


def test_classifier_needs_one_kind_of_labels() -> None:
    x = np.zeros((1, 1), np.float32)
    m = model("TreeEnsembleClassifier", x, [("label", TensorProto.INT64),
                                            ("scores", TensorProto.FLOAT)], 3,
              **stump([0], [1], [1.0]))
    with pytest.raises(ShapeError, match="classlabels"):
        dlc.compile(m, target="reference")

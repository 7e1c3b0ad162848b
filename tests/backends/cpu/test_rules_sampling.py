"""cpu rules of the sampling family (src/backends/cpu/rules/sampling.py): AffineGrid on the ONNX
conformance cases (their size operand is a graph input, bound by specialization as dlc.compile
does), interpreted and native against their expected outputs, and one-node graphs for what those
cases miss, against the op's reference. Also cases whose shape operands are graph inputs from
other families: Resize with a crop read at run time, and MelWeightMatrix."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from rule_testing import PIPELINE, close, conformance_case, run_natively, to_value

import dlc.backends.cpu  # noqa: F401 - registers the cpu rules
from dlc.api import import_graph, make_options
from dlc.ir import DType, Graph, interpret
from dlc.passes import run_passes
from dlc.passes.specialize import specialize

sys.path.insert(0, str(Path(__file__).parents[2] / "passes"))
from lowering_testing import one_node_graph  # noqa: E402

CASES = [
    "test_affine_grid_2d", "test_affine_grid_2d_align_corners",
    "test_affine_grid_3d", "test_affine_grid_3d_align_corners",
    # Resize's compute definition with a roi read at run time (src/ir/ops/resize.py)
    "test_resize_tf_crop_and_resize", "test_resize_tf_crop_and_resize_extrapolation_value",
    "test_resize_tf_crop_and_resize_axes_2_3", "test_resize_tf_crop_and_resize_axes_3_2",
    # MelWeightMatrix (its rule is in signal.py): the sizes are bound, the rate and edges not
    "test_melweightmatrix",
]


def check_specialized(name: str) -> Graph:
    """check_case for cases whose shape operands are graph inputs: each data set specializes
    the graph (binding those inputs as constants), lowers it, and runs it both ways."""
    case = conformance_case(name)
    graph = import_graph(case.model, make_options())
    lowered = graph
    for inputs, outputs in case.data_sets:
        feed = [to_value(x) for x in inputs]
        want = [to_value(x) for x in outputs]
        static, how_fed = specialize(graph, feed, make_options(target="cpu"))
        lowered = run_passes(static, PIPELINE, make_options(target="cpu"), verify_each=True)
        rest = how_fed(feed)
        for how, got in (("interpreted", interpret(lowered, rest)),
                         ("native", run_natively(lowered, rest))):
            for k, (x, w) in enumerate(zip(got, want)):
                assert close(x, w), f"{name}: output {k} differs ({how})"
    return lowered


@pytest.mark.parametrize("name", CASES)
def test_conformance_case(name: str) -> None:
    g = check_specialized(name)
    assert all(n.op == "KernelCall" for n in g.nodes)


def run_one(op: str, attrs: dict, inputs: list, known: tuple[int, ...], rtol: float = 1e-6,
            atol: float = 1e-6) -> None:
    """A one-node graph lowered for cpu, both runs against the reference."""
    g, feed = one_node_graph(op, attrs, inputs, known=known)
    want = interpret(g, feed)
    lowered = run_passes(g, PIPELINE, make_options(target="cpu"), verify_each=True)
    assert all(n.op == "KernelCall" for n in lowered.nodes)
    for got in (interpret(lowered, feed), run_natively(lowered, feed)):
        for x, w in zip(got, want):
            assert x.dtype == w.dtype and x.shape == w.shape
            np.testing.assert_allclose(x.astype(np.float64), w.astype(np.float64), rtol=rtol,
                                       atol=atol)


@pytest.mark.parametrize("align", [0, 1])
def test_affine_grid_sizes_of_one_and_f64(align: int) -> None:
    """Axes of one point (align_corners puts it at -1) and a float64 theta."""
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((2, 3, 4))
    run_one("AffineGrid", {"align_corners": align},
            [theta, np.array([2, 1, 1, 3, 2], np.int64)], known=(1,), rtol=1e-12, atol=1e-12)


CROPS = [
    {"mode": "nearest", "nearest_mode": "round_prefer_ceil"},
    {"mode": "nearest", "nearest_mode": "floor", "extrapolation_value": -2.0},
    {"mode": "cubic", "exclude_outside": 1},
    {"mode": "cubic", "antialias": 1},
    {"mode": "linear", "antialias": 1, "exclude_outside": 1},
]


@pytest.mark.parametrize("attrs", CROPS)
def test_resize_crop_known_at_run_time(attrs: dict) -> None:
    """tf_crop_and_resize with the roi a graph input: every mode, antialias and exclude_outside,
    crops inside and reaching outside the input, an axis kept at its size and one of size 1."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3, 7, 9)).astype(np.float32)
    roi = np.array([0.0, 0.2, 0.1, -0.3, 1.0, 0.9, 0.8, 1.2], np.float32)
    sizes = np.array([1, 3, 4, 5], np.int64)
    run_one("Resize", {"coordinate_transformation_mode": "tf_crop_and_resize", **attrs},
            [x, roi, None, sizes], known=(3,), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dft,rate,low,high,out", [
    (33, 16000, 125.0, 7600.0, np.float32), (64, 22050, 0.0, 11025.0, np.float64),
    (16, 8000, 300.0, 300.0, np.float32),
])
def test_mel_weight_matrix(dft: int, rate: int, low: float, high: float, out: type) -> None:
    """Odd and even dft lengths, a lower edge above 0, filters of one bin (equal edges)."""
    run_one("MelWeightMatrix", {"output_datatype": DType.from_np(np.dtype(out))},
            [np.array(10, np.int64), np.array(dft, np.int64), np.array(rate, np.int64),
             np.array(low, np.float32), np.array(high, np.float32)], known=(0, 1),
            rtol=1e-12, atol=0)

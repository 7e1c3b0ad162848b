"""NonMaxSuppression: the ONNX example, both box formats, flipped corners, thresholds, ties and
missing optional inputs, against hand-worked indices and ONNX Runtime."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper

import dlc

# The ONNX documentation's boxes: 0-2 overlap, 3-4 overlap, 5 stands alone.
BOXES = np.array([[[0.0, 0.0, 1.0, 1.0], [0.0, 0.1, 1.0, 1.1], [0.0, -0.1, 1.0, 0.9],
                   [0.0, 10.0, 1.0, 11.0], [0.0, 10.1, 1.0, 11.1],
                   [0.0, 100.0, 1.0, 101.0]]], np.float32)
SCORES = np.array([[[0.9, 0.75, 0.6, 0.95, 0.5, 0.3]]], np.float32)


def nms_model(inputs: dict[str, np.ndarray | None], **attrs: object) -> onnx.ModelProto:
    names = list(inputs)
    while inputs[names[-1]] is None:
        names.pop()
    node = helper.make_node("NonMaxSuppression",
                            [n if inputs[n] is not None else "" for n in names], ["sel"], **attrs)
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype),
                                         list(v.shape)) for n, v in inputs.items()
           if v is not None]
    g = helper.make_graph([node], "nms", ins, [helper.make_tensor_value_info("sel", T.INT64,
                                                                             None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)])


def run(inputs: dict[str, np.ndarray | None], **attrs: object) -> np.ndarray:
    m = nms_model(inputs, **attrs)
    return dlc.compile(m, target="reference")(*[v for v in inputs.values() if v is not None])


def limits(count: int, iou: float, score: float | None = None) -> dict[str, np.ndarray | None]:
    return {"m": np.array([count], np.int64), "iou": np.array([iou], np.float32),
            "score": None if score is None else np.array([score], np.float32)}


def test_suppresses_by_iou_then_by_score() -> None:
    got = run({"b": BOXES, "s": SCORES, **limits(3, 0.5)})
    np.testing.assert_array_equal(got, [[0, 0, 3], [0, 0, 0], [0, 0, 5]])
    got = run({"b": BOXES, "s": SCORES, **limits(3, 0.5, 0.4)})
    np.testing.assert_array_equal(got, [[0, 0, 3], [0, 0, 0]])


def test_center_point_format_and_flipped_corners_select_the_same_boxes() -> None:
    y0, x0, y1, x1 = (BOXES[..., k] for k in range(4))
    centers = np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1)
    flipped = BOXES[..., [2, 3, 0, 1]]
    want = run({"b": BOXES, "s": SCORES, **limits(3, 0.5)})
    np.testing.assert_array_equal(run({"b": centers, "s": SCORES, **limits(3, 0.5)},
                                      center_point_box=1), want)
    np.testing.assert_array_equal(run({"b": flipped, "s": SCORES, **limits(3, 0.5)}), want)


def test_without_a_box_limit_nothing_is_selected() -> None:
    got = run({"b": BOXES, "s": SCORES})
    assert got.shape == (0, 3) and got.dtype == np.int64


def test_equal_scores_keep_the_lower_index_first() -> None:
    scores = np.full((1, 1, 6), 0.5, np.float32)
    got = run({"b": BOXES, "s": scores, **limits(6, 0.5)})
    np.testing.assert_array_equal(got[:, 2], [0, 3, 5])


@pytest.mark.parametrize("seed", range(4))
def test_random_batches_and_classes_match_onnxruntime(seed: int) -> None:
    rng = np.random.default_rng(seed)
    corner = rng.random((2, 9, 2)) * 4
    boxes = np.concatenate([corner, corner + rng.random((2, 9, 2)) * 3 + 0.1], -1)
    inputs = {"b": boxes.astype(np.float32), "s": rng.random((2, 3, 9)).astype(np.float32),
              **limits(4, 0.3, 0.2 if seed % 2 else None)}
    got = run(inputs)
    m = nms_model(inputs)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    given = [v for v in inputs.values() if v is not None]
    want = sess.run(None, dict(zip([i.name for i in sess.get_inputs()], given)))[0]
    np.testing.assert_array_equal(got, want)

"""Object detection: NonMaxSuppression (greedy selection per batch and class by descending score;
a box is dropped when its IoU with one already kept exceeds the threshold)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dtype import DType
from ..types import TensorType, Type
from .registry import InferCtx, op


@dataclass(frozen=True)
class NonMaxSuppressionAttrs:
    center_point_box: int = 0


def _nms_infer(c: InferCtx) -> list[Type]:
    boxes, scores = c.t(0), c.t(1)
    if boxes.rank != 3 or (isinstance(boxes.shape[2], int) and boxes.shape[2] != 4):
        raise c.error(f"boxes must be [batches, boxes, 4], got {boxes}")
    if scores.rank != 3:
        raise c.error(f"scores must be [batches, classes, boxes], got {scores}")
    if c.attrs.center_point_box not in (0, 1):
        raise c.error(f"center_point_box must be 0 or 1, got {c.attrs.center_point_box}")
    return [TensorType(DType.I64, (c.sym("selected"), 3))]


def _corners(boxes: np.ndarray, center_point_box: int) -> np.ndarray:
    """[n, 4] boxes as (y_min, x_min, y_max, x_max), whichever corners or format they came in."""
    b = np.asarray(boxes, dtype=np.float64)
    if center_point_box:  # (x_center, y_center, width, height)
        xc, yc, w, h = b[:, 0], b[:, 1], b[:, 2] / 2, b[:, 3] / 2
        return np.stack([yc - h, xc - w, yc + h, xc + w], axis=1)
    return np.stack([np.minimum(b[:, 0], b[:, 2]), np.minimum(b[:, 1], b[:, 3]),
                     np.maximum(b[:, 0], b[:, 2]), np.maximum(b[:, 1], b[:, 3])], axis=1)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one box with each of `others`; 0 where a box has no area."""
    inter_h = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    inter_w = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    inter = np.where((inter_h > 0) & (inter_w > 0), inter_h * inter_w, 0.0)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    ok = (area > 0) & (areas > 0) & (union > 0) & (inter > 0)
    return np.where(ok, inter / np.where(ok, union, 1.0), 0.0)


def _first(x: np.ndarray | None, default: float) -> float:
    return default if x is None or np.size(x) == 0 else float(np.asarray(x).reshape(-1)[0])


def _nms_ref(a: NonMaxSuppressionAttrs, boxes: np.ndarray, scores: np.ndarray,
             max_output_boxes_per_class: np.ndarray | None = None,
             iou_threshold: np.ndarray | None = None,
             score_threshold: np.ndarray | None = None) -> np.ndarray:
    limit = max(int(_first(max_output_boxes_per_class, 0)), 0)
    iou_max = _first(iou_threshold, 0.0)
    selected: list[tuple[int, int, int]] = []
    for batch in range(boxes.shape[0]):
        corners = _corners(boxes[batch], a.center_point_box)
        for cls in range(scores.shape[1]):
            s = np.asarray(scores[batch, cls], dtype=np.float64)
            candidates = np.arange(s.shape[0])
            if score_threshold is not None and np.size(score_threshold):
                candidates = candidates[s > _first(score_threshold, 0.0)]
            # Highest score first; equal scores keep the lower box index first.
            order = candidates[np.argsort(-s[candidates], kind="stable")]
            kept: list[int] = []
            for i in order:
                if len(kept) >= limit:
                    break
                if kept and np.any(_iou(corners[i], corners[kept]) > iou_max):
                    continue
                kept.append(int(i))
                selected.append((batch, cls, int(i)))
    return np.array(selected, dtype=np.int64).reshape(-1, 3)


op("NonMaxSuppression", NonMaxSuppressionAttrs, versions=(10, 11), infer=_nms_infer,
   reference=_nms_ref)

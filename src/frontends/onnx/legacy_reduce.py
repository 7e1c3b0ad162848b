"""Adapters from older ONNX versions of the reduction, softmax and attention-family ops to the
op table's form: attributes that later became inputs (Reduce* axes, TopK's k) move to constant
inputs, and the softmax ops before opset 13 keep their flatten-to-2-D semantics by a flag."""
from __future__ import annotations

import numpy as np

from .adapters import Builder, NodeView, adapter

# Versions of each Reduce op in which `axes` was still an attribute.
_AXES_AS_ATTRIBUTE = {
    "ReduceSum": (1, 11),
    "ReduceMean": (1, 11, 13),
    "ReduceProd": (1, 11, 13),
    "ReduceMax": (1, 11, 12, 13),
    "ReduceMin": (1, 11, 12, 13),
    "ReduceL1": (1, 11, 13),
    "ReduceL2": (1, 11, 13),
    "ReduceSumSquare": (1, 11, 13),
    "ReduceLogSum": (1, 11, 13),
    "ReduceLogSumExp": (1, 11, 13),
}


def axes_attribute_to_input(b: Builder, n: NodeView) -> None:
    """An absent or empty `axes` attribute meant "all axes", which is also what the newest form
    does with no axes input (noop_with_empty_axes keeps its default 0)."""
    if n.attrs.get("axes"):
        n.attr_to_input(b, "axes", 1, np.int64)
    n.attrs.pop("axes", None)


for _op, _versions in _AXES_AS_ATTRIBUTE.items():
    adapter(_op, _versions)(axes_attribute_to_input)


@adapter("TopK", versions=(1,))
def topk_k_to_input(b: Builder, n: NodeView) -> None:
    """k was a scalar attribute; the input form is a 1-element int64 tensor."""
    k = n.attrs.pop("k")
    n.set_input(1, b.const(np.asarray([k], np.int64), f"{n.name}_k"))


@adapter("Softmax", versions=(1, 11))
@adapter("LogSoftmax", versions=(1, 11))
@adapter("Hardmax", versions=(1, 11))
def softmax_coerce_to_2d(b: Builder, n: NodeView) -> None:
    """Before opset 13 the input is viewed as a matrix [prod(dims[:axis]), prod(dims[axis:])] and
    normalized along its rows; the default axis was 1."""
    n.attrs.setdefault("axis", 1)
    n.attrs["coerce_2d"] = 1

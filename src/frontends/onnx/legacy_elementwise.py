"""Adapters from older ONNX versions of the element-wise ops (and casts) to the op table's form.

- `consumed_inputs` (opset 1) was an optimization hint: dropped.
- `broadcast=1, axis=k` (Add/Sub/Mul/Div-1/6, Pow-1, logic and comparisons-1) aligned B with A's
  dims starting at k; B gets trailing 1-dims so that numpy broadcasting aligns it the same way.
- Clip-1/6 took min/max as attributes; they become inputs.
- PRelu-1/6 gave a per-channel slope as a vector of C; it becomes (C, 1, ..., 1).
- Cast's and BitCast's `to` is an ONNX element-type code (a name in Cast-1); the IR holds a DType.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ...errors import InvalidModel
from ...ir import TensorType, Value
from .adapters import Builder, NodeView, adapter
from .dtypes import dtype_from_onnx

_CONSUMED_INPUTS_V1 = ("Abs", "Ceil", "Elu", "Exp", "Floor", "HardSigmoid", "LeakyRelu", "Log",
                       "Max", "Mean", "Min", "Neg", "Reciprocal", "Relu", "Selu", "Sigmoid",
                       "Sqrt", "Sum", "Tanh")
_BROADCAST_AXIS = {"Add": (1, 6), "Sub": (1, 6), "Mul": (1, 6), "Div": (1, 6), "Pow": (1,),
                   "And": (1,), "Or": (1,), "Xor": (1,), "Equal": (1,), "Greater": (1,),
                   "Less": (1,)}


def _drop_consumed_inputs(b: Builder, view: NodeView) -> None:
    view.attrs.pop("consumed_inputs", None)


for _op in _CONSUMED_INPUTS_V1:
    adapter(_op, (1,))(_drop_consumed_inputs)


def _append_ones(b: Builder, v: Value, count: int, name: str) -> Value:
    """v reshaped to its own dims followed by `count` 1-dims."""
    assert isinstance(v.type, TensorType)
    dims = [d if isinstance(d, int) else 0 for d in v.type.shape]  # 0: keep that dim (Reshape)
    shape = b.const(np.array(dims + [1] * count, dtype=np.int64), f"{name}_shape")
    return b.emit("Reshape", [v, shape])[0]


def _legacy_broadcast(b: Builder, view: NodeView) -> None:
    view.attrs.pop("consumed_inputs", None)
    enabled = view.attrs.pop("broadcast", 0)
    axis = view.attrs.pop("axis", None)
    a, y = view.input(0), view.input(1)
    if not enabled or axis is None or a is None or y is None:
        return  # no axis: B's dims align with A's last ones, which is numpy's rule
    assert isinstance(a.type, TensorType) and isinstance(y.type, TensorType)
    rank = a.type.rank
    start = axis + rank if axis < 0 else axis
    trailing = rank - start - y.type.rank
    if start < 0 or trailing < 0:
        raise InvalidModel(f"{view.op} node '{view.name}': B {y.type} does not fit A {a.type} "
                           f"from axis {axis}")
    if trailing:
        view.set_input(1, _append_ones(b, y, trailing, view.name))


for _op, _versions in _BROADCAST_AXIS.items():
    adapter(_op, _versions)(_legacy_broadcast)


@adapter("Clip", versions=(1, 6))
def _clip_bounds_to_inputs(b: Builder, view: NodeView) -> None:
    view.attrs.pop("consumed_inputs", None)
    x = view.input(0)
    assert x is not None and isinstance(x.type, TensorType)
    for index, name in ((1, "min"), (2, "max")):
        view.attr_to_input(b, name, index, dtype=x.type.dtype.np)


@adapter("PRelu", versions=(1, 6))
def _prelu_channel_slope(b: Builder, view: NodeView) -> None:
    view.attrs.pop("consumed_inputs", None)
    x, slope = view.input(0), view.input(1)
    if x is None or slope is None:
        return
    assert isinstance(x.type, TensorType) and isinstance(slope.type, TensorType)
    xs, ss = x.type.shape, slope.type.shape
    # a vector of C slopes for an (N, C, ...) input: one per channel, not per last dim
    if len(ss) == 1 and len(xs) > 2 and ss[0] != 1 and ss[0] == xs[1]:
        view.set_input(1, _append_ones(b, slope, len(xs) - 2, view.name))


@adapter("Cast", versions=(1, 6, 9, 13, 19, 21, 23, 24, 25, 28))
def _cast_to_dtype(b: Builder, view: NodeView) -> None:
    view.attrs["to"] = _element_type(view)


@adapter("BitCast", versions=(26,))
def _bitcast_to_dtype(b: Builder, view: NodeView) -> None:
    view.attrs["to"] = _element_type(view)


def _element_type(view: NodeView) -> object:
    to = view.attrs.get("to")
    if to is None:
        raise InvalidModel(f"{view.op} node '{view.name}' has no 'to' attribute")
    if isinstance(to, str):  # Cast-1 names the type: "FLOAT", "INT64", ...
        try:
            to = TensorProto.DataType.Value(to.upper())
        except ValueError:
            raise InvalidModel(f"{view.op} node '{view.name}': unknown element type "
                               f"{to!r}") from None
    return dtype_from_onnx(int(to), f"{view.op} node '{view.name}'")

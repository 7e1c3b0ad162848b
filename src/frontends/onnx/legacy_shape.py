"""Adapters from older ONNX versions of the shape, gather/scatter and sequence ops to the op
table's form: attributes that later became inputs (Reshape's shape, Squeeze/Unsqueeze axes,
Split's split, Slice's starts/ends/axes, Pad's pads and value) move to constant inputs, and
dtype attributes given as ONNX element-type codes become DTypes."""
from __future__ import annotations

import numpy as np

from ...ir import TensorType
from .adapters import Builder, NodeView, adapter
from .dtypes import dtype_from_onnx


@adapter("Reshape", versions=(1,))
def reshape_shape_to_input(b: Builder, n: NodeView) -> None:
    n.attrs.pop("consumed_inputs", None)  # an optimization hint of opset 1, with no meaning
    n.attr_to_input(b, "shape", 1)


@adapter("Squeeze", versions=(1, 11))
@adapter("Unsqueeze", versions=(1, 11))
def axes_to_input(b: Builder, n: NodeView) -> None:
    n.attr_to_input(b, "axes", 1)


@adapter("Split", versions=(1, 2, 11))
def split_to_input(b: Builder, n: NodeView) -> None:
    """An empty `split` attribute meant equal parts, as does no split input."""
    if n.attrs.get("split"):
        n.attr_to_input(b, "split", 1)
    n.attrs.pop("split", None)


@adapter("Slice", versions=(1,))
def slice_attrs_to_inputs(b: Builder, n: NodeView) -> None:
    for index, name in ((1, "starts"), (2, "ends"), (3, "axes")):
        n.attr_to_input(b, name, index)


@adapter("Pad", versions=(1, 2))
def pad_attrs_to_inputs(b: Builder, n: NodeView) -> None:
    """pads (named paddings in opset 1) and the float `value` become inputs; the value takes the
    data's dtype, as the input form wants."""
    if "paddings" in n.attrs:
        n.attrs["pads"] = n.attrs.pop("paddings")
    n.attr_to_input(b, "pads", 1)
    value = n.attrs.pop("value", 0.0)
    data = n.input(0)
    if value and data is not None and isinstance(data.type, TensorType):
        n.set_input(2, b.const(np.asarray(value).astype(data.type.dtype.np),
                               f"{n.name}_value"))


@adapter("Concat", versions=(1,))
def concat_default_axis(b: Builder, n: NodeView) -> None:
    n.attrs.setdefault("axis", 1)  # optional in opset 1, where it defaulted to 1


@adapter("EyeLike", versions=(9, 22))
@adapter("SequenceEmpty", versions=(11,))
def dtype_code_to_dtype(b: Builder, n: NodeView) -> None:
    if "dtype" in n.attrs:
        n.attrs["dtype"] = dtype_from_onnx(int(n.attrs["dtype"]), f"{n.op} node '{n.name}'")

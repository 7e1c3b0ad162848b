"""Adapters from older ONNX versions of the nn ops (conv, pooling, normalization, linear algebra,
sampling) to the op table's form.

- `consumed_inputs` (opset 1) was an optimization hint: dropped.
- BatchNormalization-1/6/7/9 chose training by `is_test` or by asking for the statistics outputs;
  it becomes `training_mode`. `spatial=0` (per-element statistics) needs no rewrite: the op reads
  (C, *spatial) parameters as such.
- Dropout-1..10 took `ratio` as an attribute (now an input); 1/6 trained unless `is_test`, 7/10
  never trained; before 10 the mask had the data's dtype (now bool: cast back).
- LpPool-1 and GlobalLpPool-1 had a float `p`; it is an int since.
- GroupNormalization-18 scaled per group; its scale and bias are repeated per channel.
- Gemm-1/6 had `broadcast`; numpy broadcasting of C covers both of its settings.
- RoiAlign-10 had no coordinate_transformation_mode: it behaved as 'output_half_pixel'.
- GridSample-16 called its modes 'bilinear' and 'bicubic'.
"""
from __future__ import annotations

import numpy as np

from ...errors import InvalidModel, UnsupportedOp
from ...ir import TensorType, Value
from .adapters import Builder, NodeView, adapter


def _drop_consumed_inputs(b: Builder, view: NodeView) -> None:
    view.attrs.pop("consumed_inputs", None)


adapter("InstanceNormalization", (1,))(_drop_consumed_inputs)


@adapter("BatchNormalization", versions=(1, 6, 7, 9))
def _batch_norm_training_flag(b: Builder, view: NodeView) -> None:
    view.attrs.pop("consumed_inputs", None)
    view.attrs.pop("spatial", None)
    is_test = view.attrs.pop("is_test", 0)
    view.attrs["training_mode"] = int(not is_test and view.num_outputs > 1)


@adapter("Dropout", versions=(1, 6, 7, 10))
def _dropout_ratio_input(b: Builder, view: NodeView) -> list[Value] | None:
    view.attrs.pop("consumed_inputs", None)
    is_test = view.attrs.pop("is_test", 0)
    training = view.version < 7 and not is_test
    x = view.input(0)
    assert x is not None and isinstance(x.type, TensorType)
    view.attr_to_input(b, "ratio", 1, dtype=np.float32)
    if training:
        if view.input(1) is None:
            view.set_input(1, b.const(np.array(0.5, dtype=np.float32), f"{view.name}_ratio"))
        view.set_input(2, b.const(np.array(True), f"{view.name}_training_mode"))
    if view.version >= 10 or view.num_outputs < 2:
        return None
    y, mask = b.emit("Dropout", view.inputs, view.attrs, 2)
    return [y, b.emit("Cast", [mask], {"to": x.type.dtype})[0]]


def _integer_p(b: Builder, view: NodeView) -> None:
    p = view.attrs.get("p")
    if p is None:
        return
    if float(p) != int(p):
        raise UnsupportedOp(f"{view.op} node '{view.name}': p={p} is not an integer; dlc "
                            "implements integer p", op=view.op, node=view.name)
    view.attrs["p"] = int(p)


adapter("LpPool", (1,))(_integer_p)
adapter("GlobalLpPool", (1,))(_integer_p)


@adapter("GroupNormalization", versions=(18,))
def _group_norm_per_channel(b: Builder, view: NodeView) -> None:
    x = view.input(0)
    groups = int(view.attrs.get("num_groups", 0))
    assert x is not None and isinstance(x.type, TensorType)
    channels = x.type.shape[1] if x.type.rank >= 2 else None
    if not isinstance(channels, int) or groups < 1 or channels % groups:
        raise InvalidModel(f"GroupNormalization node '{view.name}': {groups} groups of the "
                           f"channels of {x.type} (which must be a known multiple)")
    # channel c belongs to group c // (C / G): gather each channel's group value
    index = b.const(np.arange(channels, dtype=np.int64) // (channels // groups),
                    f"{view.name}_channel_group")
    for i in (1, 2):
        v = view.input(i)
        if v is not None:
            view.set_input(i, b.emit("Gather", [v, index], {"axis": 0})[0])


@adapter("Gemm", versions=(1, 6))
def _gemm_drop_broadcast(b: Builder, view: NodeView) -> None:
    view.attrs.pop("broadcast", None)


@adapter("RoiAlign", versions=(10,))
def _roi_align_output_half_pixel(b: Builder, view: NodeView) -> None:
    view.attrs.setdefault("coordinate_transformation_mode", "output_half_pixel")


@adapter("GridSample", versions=(16,))
def _grid_sample_mode_names(b: Builder, view: NodeView) -> None:
    mode = view.attrs.get("mode", "bilinear")
    view.attrs["mode"] = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)

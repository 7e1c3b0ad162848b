"""Adapters from ONNX forms of the control-flow, recurrent, signal, resize and random ops to the op
table's form:

- RNN-1, GRU-1/3, LSTM-1: drop `output_sequence` (whether Y is produced is said by the outputs).
- Scan-8 (a leading batch axis and sequence_lens): one Scan-9 per batch element.
- DFT-17: the axis attribute becomes input 2.
- Resize-10: the newest form with asymmetric coordinates (what Resize-10 did).
- Upsample-1/7: scales given as attributes become input 1.
- Element-type codes (`dtype`, `output_datatype`) become DTypes.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ...errors import UnsupportedOp
from ...ir import Graph, Value
from ...ir.graph import Node
from .adapters import ADAPTERS, Builder, NodeView, adapter  # noqa: F401
from .dtypes import dtype_from_onnx


@adapter("RNN", versions=(1,))
@adapter("GRU", versions=(1, 3))
@adapter("LSTM", versions=(1,))
def _drop_output_sequence(b: Builder, view: NodeView) -> None:
    view.attrs.pop("output_sequence", None)


# -- element-type codes --------------------------------------------------------------------------

def _code_to_dtype(view: NodeView, attr: str) -> None:
    if attr in view.attrs:
        view.attrs[attr] = dtype_from_onnx(int(view.attrs[attr]), f"{view.op} node '{view.name}'")


@adapter("HannWindow", versions=(17,))
@adapter("HammingWindow", versions=(17,))
@adapter("BlackmanWindow", versions=(17,))
@adapter("MelWeightMatrix", versions=(17,))
def _output_datatype(b: Builder, view: NodeView) -> None:
    _code_to_dtype(view, "output_datatype")


@adapter("RandomNormal", versions=(1, 22))
@adapter("RandomUniform", versions=(1, 22))
@adapter("RandomNormalLike", versions=(1, 22))
@adapter("RandomUniformLike", versions=(1, 22))
@adapter("Bernoulli", versions=(15, 22))
@adapter("Multinomial", versions=(7, 22))
def _random_dtype(b: Builder, view: NodeView) -> None:
    _code_to_dtype(view, "dtype")


# -- DFT, Resize, Upsample -----------------------------------------------------------------------

@adapter("DFT", versions=(17,))
def _dft_axis_to_input(b: Builder, view: NodeView) -> None:
    axis = int(view.attrs.pop("axis", 1))  # DFT-17's default is 1, DFT-20's is -2
    view.set_input(2, b.const(np.array(axis, dtype=np.int64), f"{view.name}_axis"))


def _known(b: Builder, v: Value | None) -> np.ndarray | None:
    """The value of `v` if the builder knows it at import time."""
    known: dict[Value, Any] = getattr(b, "known", {})
    return None if v is None else known.get(v)


@adapter("Resize", versions=(10,))
def _resize10(b: Builder, view: NodeView) -> None:
    x, scales = view.input(0), view.input(1)
    view.inputs = [x, None, scales]
    view.attrs["coordinate_transformation_mode"] = "asymmetric"
    # Resize-10 rounded nearest neighbours down when enlarging and up when shrinking.
    factors = _known(b, scales)
    shrinking = (factors is not None and bool(np.all(np.asarray(factors) <= 1))
                 and bool(np.any(np.asarray(factors) < 1)))
    view.attrs["nearest_mode"] = "ceil" if shrinking else "floor"


@adapter("Upsample", versions=(1,))
def _upsample1(b: Builder, view: NodeView) -> None:
    x = view.input(0)
    rank = x.type.rank if x is not None and hasattr(x.type, "rank") else 4
    scales = [1.0] * rank
    scales[-2] = float(view.attrs.pop("height_scale", 1.0))
    scales[-1] = float(view.attrs.pop("width_scale", 1.0))
    if view.attrs.get("mode") == "bilinear":
        view.attrs["mode"] = "linear"
    view.set_input(1, b.const(np.array(scales, dtype=np.float32), f"{view.name}_scales"))


@adapter("Upsample", versions=(7,))
def _upsample7(b: Builder, view: NodeView) -> None:
    view.attr_to_input(b, "scales", 1, np.float32)


# -- Scan-8 --------------------------------------------------------------------------------------

def _clone_graph(g: Graph, mapping: dict[Value, Value]) -> Graph:
    """A copy of `g` with fresh values; values of enclosing graphs stay shared."""
    def fresh(v: Value) -> Value:
        mapping[v] = Value(v.name, v.type)
        return mapping[v]

    def read(v: Value | None) -> Value | None:
        return None if v is None else mapping.get(v, v)

    copy = Graph(name=g.name)
    copy.inputs = [fresh(v) for v in g.inputs]
    copy.constants = {fresh(v): arr for v, arr in g.constants.items()}
    for n in g.nodes:
        attrs = n.attrs
        if attrs is not None and any(isinstance(x, Graph) for x in vars(attrs).values()):
            attrs = dataclasses.replace(attrs, **{
                k: _clone_graph(x, mapping) for k, x in vars(attrs).items()
                if isinstance(x, Graph)})
        copy.nodes.append(Node(n.op, [read(v) for v in n.inputs], [fresh(v) for v in n.outputs],
                               attrs, n.name))
    copy.outputs = [mapping.get(v, v) for v in g.outputs]
    return copy


@adapter("Scan", versions=(8,))
def _scan8(b: Builder, view: NodeView) -> list[Value]:
    body = view.attrs["body"]
    n_scan = int(view.attrs.get("num_scan_inputs", 0))
    directions = view.attrs.get("directions")
    seq_lens, rest = view.input(0), view.inputs[1:]
    scans = rest[len(rest) - n_scan:]
    batched = [v for v in rest if v is not None]
    batch = next((v.type.shape[0] for v in batched  # type: ignore[union-attr]
                  if isinstance(v.type.shape[0], int)), None)  # type: ignore[union-attr]
    if batch is None or not batched:
        raise UnsupportedOp(f"Scan node '{view.name}': Scan-8 needs a static batch size",
                            op="Scan", node=view.name)
    if seq_lens is not None:
        lens = _known(b, seq_lens)
        full = scans[0].type.shape[1] if scans and scans[0] is not None else None  # type: ignore
        if lens is None or not np.all(np.asarray(lens) == full):
            raise UnsupportedOp(f"Scan node '{view.name}': Scan-8 with sequence_lens shorter "
                                "than the sequence is not supported", op="Scan", node=view.name)
    attrs: dict[str, Any] = {"num_scan_inputs": n_scan}
    if directions is not None:
        attrs["scan_input_directions"] = tuple(directions)
    axes = b.const(np.array([0], dtype=np.int64), f"{view.name}_batch_axis")
    per_output: list[list[Value]] = [[] for _ in range(view.num_outputs)]
    for i in range(batch):
        index = b.const(np.array(i, dtype=np.int64), f"{view.name}_batch{i}")
        sliced = [None if v is None else b.emit("Gather", [v, index], {"axis": 0})[0]
                  for v in rest]
        attrs["body"] = body if i == 0 else _clone_graph(body, {})
        outs = b.emit("Scan", sliced, attrs, view.num_outputs)
        for k, o in enumerate(outs):
            per_output[k].append(b.emit("Unsqueeze", [o, axes])[0])
    if batch == 1:
        return [parts[0] for parts in per_output]
    return [b.emit("Concat", parts, {"axis": 0})[0] for parts in per_output]

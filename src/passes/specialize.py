"""Specialization: a graph with symbolic dims or value-dependent shapes made static for concrete
inputs, so that it can be lowered and compiled.

The input shapes are bound and every type is inferred again. Where a shape still depends on a
value that only an input knows (Reshape's target shape, TopK's k, Resize's scales, a reduction's
axes), the shape rules say which inputs they asked for; the graph inputs those values come from
become constants (small tensors only: at most MAX_VALUE_ELEMENTS elements), canonicalize folds
what now folds, and inference runs again. The caller caches the result by the input shapes and the
values of the inputs that were bound (runtime/specialize.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DlcError, InputError
from ..ir import OPS, Graph, Node, OptionalType, SequenceType, TensorType, Value
from ..ir.graph import unique_name
from ..ir.ops import InferCtx
from ..options import CompileOptions

MAX_VALUE_ELEMENTS = 4096
MAX_ROUNDS = 8
SHAPE_ONLY = frozenset({"Shape", "Size"})  # results depend on their input's shape, not values


def is_static(graph: Graph) -> bool:
    """Whether every value of `graph` (top level) is a tensor of static shape."""
    vals = [*graph.inputs, *(o for n in graph.nodes for o in n.outputs)]
    return all(isinstance(v.type, TensorType) and v.type.is_static for v in vals)


def copy_graph(graph: Graph) -> Graph:
    from ..ir.text import parse_module, print_module
    text, consts = print_module(graph)
    return parse_module(text, consts)


def reinfer(graph: Graph) -> dict[Value, set[Value]]:
    """Infer the types of every node's outputs again (in place), from the input types and the
    constants. Returns, for each value still not static, the inputs of its node whose values
    the shape rule asked for and did not get."""
    known: dict[Value, np.ndarray] = dict(graph.constants)
    missing: dict[Value, set[Value]] = {}
    for n in graph.nodes:
        d = OPS[n.op]
        types = [None if v is None else v.type for v in n.inputs]
        values = [None if v is None else known.get(v) for v in n.inputs]
        ctx = InferCtx(n.op, n.attrs, types, values, len(n.outputs), n.name)
        try:
            got = d.infer(ctx)[:len(n.outputs)]
        except DlcError as e:
            raise InputError(f"these inputs do not fit the model: {e}") from None
        for o, t in zip(n.outputs, got):
            o.type = t
        for i, arr in ctx.out_values.items():
            if i < len(n.outputs):
                known[n.outputs[i]] = np.asarray(arr)
        asked = {n.inputs[i] for i in ctx.asked
                 if i < len(n.inputs) and n.inputs[i] is not None and values[i] is None}
        for o in n.outputs:
            if not (isinstance(o.type, TensorType) and o.type.is_static):
                missing[o] = {v for v in asked if v is not None}
    return missing


def _sources(graph: Graph, wanted: set[Value]) -> set[Value]:
    """The graph inputs that the values `wanted` are computed from."""
    producers = graph.producers()
    inputs = set(graph.inputs)
    out: set[Value] = set()
    stack, seen = list(wanted), set()
    while stack:
        v = stack.pop()
        if v in seen or v in graph.constants:
            continue
        seen.add(v)
        if v in inputs:
            out.add(v)
        elif v in producers and producers[v].op not in SHAPE_ONLY:
            stack.extend(x for x in producers[v].inputs if x is not None)
    return out


@dataclass
class Feed:
    """How the inputs of the original graph become those of its specialized copy: inputs bound
    by value are left out, and a sequence (or optional) input is spread into its tensors."""

    bound: list[int] = field(default_factory=list)
    spread: set[int] = field(default_factory=set)

    def __call__(self, inputs: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        for i, x in enumerate(inputs):
            if i in self.bound:
                continue
            out.extend(_tensors(x) if i in self.spread else [x])
        return out


def _tensors(x: Any) -> list[Any]:
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return [e for item in x for e in _tensors(item)]
    return [x]


def _spread_input(g: Graph, v: Value, x: Any) -> list[Value]:
    """Replace the sequence/optional input `v` by tensor inputs and the nodes that build `v`
    from them; returns the new inputs."""
    t = v.type
    news: list[Value] = []
    taken = {w.name for w in g.inputs} | {w.name for w in g.constants}
    taken |= {o.name for n in g.nodes for o in n.outputs}

    def build(t: Any, x: Any, out: Value) -> list[Node]:
        if isinstance(t, OptionalType):
            if x is None:
                return [Node("Optional", [], [out], OPS["Optional"].make_attrs(type=t.elem),
                             out.name)]
            inner = Value(unique_name(f"{out.name}.value", taken), t.elem)
            taken.add(inner.name)
            return [*build(t.elem, x, inner),
                    Node("Optional", [inner], [out], OPS["Optional"].make_attrs(), out.name)]
        if isinstance(t, SequenceType):
            if not isinstance(x, (list, tuple)):
                raise InputError(f"input '{v.name}' must be a sequence (list) of tensors")
            if not x:
                return [Node("SequenceEmpty", [], [out],
                             OPS["SequenceEmpty"].make_attrs(dtype=t.elem.dtype), out.name)]
            elems = []
            for j, e in enumerate(x):
                a = np.asarray(e)
                w = Value(unique_name(f"{out.name}.{j}", taken),
                          TensorType(t.elem.dtype, tuple(a.shape)))
                taken.add(w.name)
                elems.append(w)
                news.append(w)
            return [Node("SequenceConstruct", list[Value | None](elems), [out], None, out.name)]
        a = np.asarray(x)
        w = Value(unique_name(f"{out.name}.t", taken), TensorType(t.dtype, tuple(a.shape)))
        taken.add(w.name)
        news.append(w)
        return [Node("Identity", [w], [out], None, out.name)]

    nodes = build(t, x, v)
    g.nodes[:0] = nodes
    return news


def specialize(graph: Graph, inputs: Sequence[object], options: CompileOptions | None = None
               ) -> tuple[Graph, Feed]:
    """A static copy of `graph` for `inputs` (by graph input) and how to feed it: inputs whose
    values shapes depend on are constants in the copy (Feed.bound), sequence and optional inputs
    are spread into their tensors (Feed.spread)."""
    from .manager import run_passes
    g = copy_graph(graph)
    feed = Feed()
    by_value: dict[Value, np.ndarray] = {}
    positions: dict[Value, int] = {}
    new_inputs: list[Value] = []
    for i, (v, x) in enumerate(zip(list(g.inputs), inputs)):
        t = v.type
        if isinstance(t, TensorType):
            by_value[v] = np.asarray(x)
            v.type = TensorType(t.dtype, tuple(by_value[v].shape))
            positions[v] = i
            new_inputs.append(v)
        else:
            feed.spread.add(i)
            new_inputs.extend(_spread_input(g, v, x))
    g.inputs = new_inputs
    for _ in range(MAX_ROUNDS):
        missing = reinfer(g)
        if missing:  # what the bound shapes decide (Shape -> Gather -> Concat) folds first
            run_passes(g, ["canonicalize"], options)
            missing = reinfer(g)
        if not missing:
            break
        wanted = set().union(*missing.values())
        new = [v for v in _sources(g, wanted)
               if v in positions and by_value[v].size <= MAX_VALUE_ELEMENTS]
        if not new:
            break
        for v in new:
            g.constants[v] = by_value[v]
            g.inputs.remove(v)
            feed.bound.append(positions[v])
        run_passes(g, ["canonicalize"], options)
    run_passes(g, ["canonicalize"], options)  # fold what the now static types allow
    feed.bound.sort()
    return g, feed

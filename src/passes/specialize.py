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

import numpy as np

from ..errors import DlcError, InputError
from ..ir import OPS, Graph, TensorType, Value
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


def specialize(graph: Graph, inputs: Sequence[object], options: CompileOptions | None = None
               ) -> tuple[Graph, list[int]]:
    """A static copy of `graph` for `inputs` (arrays, by graph input) and the indices of the inputs
    whose values it depends on (they are constants in the copy and no longer its inputs)."""
    from .manager import run_passes
    g = copy_graph(graph)
    by_value: dict[Value, np.ndarray] = {}  # tensor inputs (sequences keep their types)
    for v, x in zip(g.inputs, inputs):
        t = v.type
        if isinstance(t, TensorType):
            by_value[v] = np.asarray(x)
            v.type = TensorType(t.dtype, tuple(by_value[v].shape))
    positions = {v: i for i, v in enumerate(g.inputs)}
    bound: list[int] = []
    for _ in range(MAX_ROUNDS):
        missing = reinfer(g)
        if missing:  # what the bound shapes decide (Shape -> Gather -> Concat) folds first
            run_passes(g, ["canonicalize"], options)
            missing = reinfer(g)
        if not missing:
            break
        wanted = set().union(*missing.values())
        new = [v for v in _sources(g, wanted)
               if v in by_value and by_value[v].size <= MAX_VALUE_ELEMENTS]
        if not new:
            break
        for v in new:
            g.constants[v] = by_value[v]
            g.inputs.remove(v)
            bound.append(positions[v])
        run_passes(g, ["canonicalize"], options)
    run_passes(g, ["canonicalize"], options)  # fold what the now static types allow
    return g, sorted(bound)

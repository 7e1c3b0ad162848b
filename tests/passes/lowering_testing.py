"""Helpers for lowering tests: one-node graphs from compute cases, a pipeline run checked against
the reference, and an explicit TopK rule (the kind of rule a backend registers)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pass_testing import random_inputs

from dlc.ir import OPS, DType, Graph, Node, TensorType, Type, Value, interpret
from dlc.ir.kernel import I64, Kernel, KernelBuilder, Select, const
from dlc.ir.ops import InferCtx
from dlc.passes import lowering_rules, run_passes


def one_node_graph(op: str, attrs: dict[str, Any], inputs: Sequence[np.ndarray | None],
                   known: Sequence[int] = (), outputs: int = 1) -> tuple[Graph, list[np.ndarray]]:
    """A graph of one `op` node: inputs in `known` are constants, the others graph inputs.
    Returns it with the arrays to feed it."""
    d = OPS[op]
    a = d.make_attrs(**attrs)
    g = Graph("case")
    ins: list[Value | None] = []
    feed: list[np.ndarray] = []
    for k, x in enumerate(inputs):
        if x is None:
            ins.append(None)
        elif k in known:
            ins.append(g.add_constant(f"c{k}", x))
        else:
            ins.append(g.add_input(f"x{k}", TensorType(DType.from_np(x.dtype), x.shape)))
            feed.append(x)
    types = [None if v is None else v.type for v in ins]
    values = [None if v is None else g.constants.get(v) for v in ins]
    out_types = d.infer(InferCtx(op, a, types, values, outputs))[:outputs]
    outs = [Value(f"y{j}", t) for j, t in enumerate(out_types)]
    g.nodes.append(Node(op, ins, outs, a, "n"))
    g.outputs = outs
    return g, feed


def run_both(graph: Graph, pipeline: str, inputs: list[np.ndarray] | None = None,
             rtol: float = 1e-5, atol: float = 1e-6) -> Graph:
    """Run `pipeline` (verifying after each pass); the lowered graph, run by the reference
    interpreter (kernel calls through the kernel interpreter), must give what the graph gave."""
    inputs = random_inputs(graph) if inputs is None else inputs
    want = interpret(graph, inputs)
    graph = run_passes(graph, pipeline, verify_each=True)
    got = interpret(graph, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return graph


def kernel_calls(graph: Graph) -> list[Node]:
    assert all(n.op == "KernelCall" for n in graph.nodes), [n.op for n in graph.nodes]
    return graph.nodes


def topk_rule(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """TopK along the last axis of a 2-D input (sorted; ties: the lower index first): each
    element's rank is how many elements beat it, and the first k ranks are stored."""
    x_t, out_t = types[0], node.outputs[0].type
    assert isinstance(x_t, TensorType) and isinstance(out_t, TensorType)
    if x_t.rank != 2 or attrs.axis not in (-1, 1) or not attrs.sorted:
        return None
    rows, n = x_t.static_shape
    k = out_t.static_shape[1]
    kb = KernelBuilder("topk")
    x = kb.buffer("x", x_t.dtype, (rows, n), access="r")
    kb.buffer("k", I64, (1,), access="r")
    vals = kb.buffer("values", x_t.dtype, (rows, k), access="w")
    idx = kb.buffer("indices", I64, (rows, k), access="w")
    with kb.for_("r", 0, rows, kind="parallel", type=I64) as r, \
            kb.for_("i", 0, n, kind="parallel", type=I64) as i:
        rank = kb.let("rank", 0, I64)
        with kb.for_("m", 0, n, type=I64) as m:
            a, b = x[r, m], x[r, i]
            beats = (a > b) if attrs.largest else (a < b)
            ahead = beats | (a.eq(b) & (m < i))
            kb.assign(rank, rank + Select(ahead, const(1, I64), const(0, I64)))
        with kb.if_(rank < k):
            vals[r, rank] = x[r, i]
            idx[r, rank] = i
    return kb.finish()


def register_topk(target: str) -> None:
    lowering_rules(target).register("TopK")(topk_rule)


def static_model_inputs(model: Any, inputs: dict[str, np.ndarray]) -> None:
    """Give the model's graph inputs the shapes of `inputs` (specializing symbolic dims)."""
    for vi in model.graph.input:
        if vi.name in inputs:
            dims = vi.type.tensor_type.shape.dim
            for d, size in zip(dims, inputs[vi.name].shape):
                d.dim_value = size


def elements(t: Type) -> int:
    assert isinstance(t, TensorType)
    return math.prod(t.static_shape)

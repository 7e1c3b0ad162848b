"""Helpers for pass tests: build small graphs, run a pipeline, compare outputs before and after."""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from dlc.frontends.onnx import import_onnx
from dlc.ir import OPS, DType, Graph, TensorType, interpret
from dlc.passes import run_passes

HAVE_VERIFY = importlib.util.find_spec("dlc.ir.verify") is not None
HAVE_TEXT = importlib.util.find_spec("dlc.ir.text") is not None
F32 = onnx.TensorProto.FLOAT


def needs(*ops: str) -> pytest.MarkDecorator:
    """Skip a test until the op table declares `ops`."""
    missing = [o for o in ops if o not in OPS]
    return pytest.mark.skipif(bool(missing), reason=f"op table lacks {', '.join(missing)}")


def onnx_graph(nodes: Sequence[onnx.NodeProto], inputs: dict[str, tuple[int, Sequence[Any]]],
               outputs: Sequence[str], inits: dict[str, np.ndarray] | None = None,
               opset: int = 21) -> Graph:
    """A dlc Graph from ONNX nodes; inputs map a name to (onnx elem type, shape)."""
    g = helper.make_graph(
        list(nodes), "test",
        [helper.make_tensor_value_info(n, t, list(s)) for n, (t, s) in inputs.items()],
        [helper.make_tensor_value_info(n, onnx.TensorProto.UNDEFINED, None) for n in outputs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in (inits or {}).items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    return import_onnx(model)


def node(op: str, ins: Sequence[str], outs: Sequence[str], **attrs: Any) -> onnx.NodeProto:
    return helper.make_node(op, list(ins), list(outs), **attrs)


def random_inputs(graph: Graph, seed: int = 0, sym_size: int = 2) -> list[np.ndarray]:
    """Random values for the graph's inputs; every symbolic dim is `sym_size`."""
    rng = np.random.default_rng(seed)
    out = []
    for v in graph.inputs:
        t = v.type
        assert isinstance(t, TensorType), f"input {v} must be a tensor"
        shape = tuple(d if isinstance(d, int) else sym_size for d in t.shape)
        if t.dtype is DType.BOOL:
            out.append(rng.random(shape) < 0.5)
        elif t.dtype.is_float:
            out.append(rng.standard_normal(shape).astype(t.dtype.np))
        else:
            out.append(rng.integers(-5, 6, shape).astype(t.dtype.np))
    return out


def ops(graph: Graph) -> list[str]:
    return [n.op for n in graph.nodes]


def check(graph: Graph, pipeline: str, expect: Sequence[str] | None = None, *,
          rtol: float = 1e-5, atol: float = 1e-6, seed: int = 0) -> Graph:
    """Run `pipeline` on `graph`; the outputs on random inputs must not change, and the node list
    must become `expect` (when given)."""
    inputs = random_inputs(graph, seed)
    before = interpret(graph, inputs)
    graph = run_passes(graph, pipeline, verify_each=HAVE_VERIFY)
    after = interpret(graph, inputs)
    assert len(before) == len(after)
    for b, a in zip(before, after):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    if expect is not None:
        assert ops(graph) == list(expect)
    return graph

"""Checking cpu lowering rules on the ONNX conformance node cases, before and apart from the
cpu graph executor: the case's model is imported, run through the cpu pipeline (canonicalize,
fold-batchnorm, fuse, lower{target=cpu}), and the lowered graph is run twice — by the reference
interpreter (every kernel through the kernel interpreter) and with every kernel compiled to native
code and called in order — and both must give the case's expected outputs."""
from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

from dlc.api import import_graph, make_options
from dlc.backends.cpu import compile_kernels
from dlc.ir import Graph, interpret
from dlc.passes import run_passes

warnings.filterwarnings("ignore")
PIPELINE = "canonicalize,fold-batchnorm,fuse,lower{target=cpu}"


@functools.cache
def _all_cases() -> dict[str, Any]:
    from onnx.backend.test.case import node
    return {c.name: c for c in node.collect_testcases()}


def conformance_case(name: str) -> Any:
    return _all_cases()[name]


def to_value(x: Any) -> Any:
    from onnx import TensorProto, numpy_helper
    if isinstance(x, TensorProto):
        return numpy_helper.to_array(x)
    if isinstance(x, (list, tuple)):
        return [to_value(v) for v in x]
    return None if x is None else np.asarray(x)


def run_natively(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run a lowered graph with each kernel compiled natively (a test harness, not the executor)."""
    env: dict[Any, Any] = dict(zip(graph.inputs, inputs))
    env.update(graph.constants)
    kernels = [n.attrs.kernel for n in graph.nodes]
    compiled = compile_kernels(kernels) if kernels else []
    for n, ck in zip(graph.nodes, compiled):
        assert n.op == "KernelCall", n.op
        args, outs = [], []
        ins = iter(n.inputs)
        for p, v in zip(ck.kernel.params, ins):
            if hasattr(p, "scope"):  # a buffer
                if v is None:
                    shape = tuple(int(d.value) for d in p.shape) if p.shape is not None else 0
                    arr = np.zeros(shape, p.elem.dtype.np)  # () for a rank-0 buffer
                else:
                    arr = np.array(env[v], dtype=p.elem.dtype.np, order="C", copy=True)
                args.append(arr)
                if p.write:
                    outs.append(arr)
            else:
                args.append(np.asarray(env[v]))
        ck.run(args)
        for o, arr in zip(n.outputs, outs):
            env[o] = arr.reshape(o.type.static_shape)
    return [env[v] for v in graph.outputs]


def close(a: Any, b: Any, rtol: float = 1e-3, atol: float = 1e-7) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if b.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    if b.dtype.kind == "V":  # ml_dtypes (float8, int4, ...): compare as float32, NaN == NaN
        return bool(np.allclose(a.astype(np.float32), b.astype(np.float32), rtol=rtol,
                                atol=atol, equal_nan=True))
    return bool(np.array_equal(a, b))


def check_case(name: str) -> Graph:
    """Lower the conformance case `name` for cpu and check both runs against its expected
    outputs; returns the lowered graph."""
    case = conformance_case(name)
    g = import_graph(case.model, make_options())
    g = run_passes(g, PIPELINE, make_options(target="cpu"), verify_each=True)
    for inputs, outputs in case.data_sets:
        feed = [to_value(x) for x in inputs]
        want = [to_value(x) for x in outputs]
        for how, got in (("interpreted", interpret(g, feed)), ("native", run_natively(g, feed))):
            for k, (x, w) in enumerate(zip(got, want)):
                assert close(x, w), f"{name}: output {k} differs ({how})"
    return g


def lowered_one_node(op: str, attrs: dict[str, Any], inputs: list[np.ndarray | None],
                     outputs: int = 1, *, known: tuple[int, ...] = (),
                     late: tuple[int, ...] = (), rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """One `op` node lowered for cpu by its rule: interpreted and native runs give what the
    op's reference gives. Inputs in `known` are constants; those in `late` are constants while
    the types are inferred and graph inputs when it is lowered (static shapes, values seen only
    at run time)."""
    from lowering_testing import one_node_graph

    from dlc.passes import run_passes
    g, feed = one_node_graph(op, attrs, inputs, known + late, outputs)
    for k in late:
        v = g.nodes[0].inputs[k]
        assert v is not None
        feed.append(g.constants.pop(v))
        g.inputs.append(v)
    want = interpret(g, feed)
    g = run_passes(g, "lower{target=cpu}", verify_each=True)
    assert [n.op for n in g.nodes] == ["KernelCall"]
    for how, got in (("interpreted", interpret(g, feed)), ("native", run_natively(g, feed))):
        for k, (x, w) in enumerate(zip(got, want)):
            assert close(x, w, rtol, atol), f"{op}: output {k} differs ({how})\n{x}\n{w}"

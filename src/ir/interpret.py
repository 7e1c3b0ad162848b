"""The living definition of a graph's meaning: run it node by node with the op table's reference
implementations. The reference target, constant folding and tests all use this."""
from __future__ import annotations

from collections import ChainMap
from collections.abc import MutableMapping, Sequence
from typing import Any

import numpy as np

from ..errors import DlcError, ExecutionError, ShapeError
from .graph import Graph, Node, Value, reads
from .ops import RefCtx, lookup
from .types import OptionalType, SequenceType, Sym, TensorType, Type


class Interpreter:
    """Evaluates graphs; `check_types` compares every result with the type the IR says it has."""

    def __init__(self, check_types: bool = True):
        self.check_types = check_types
        self._frees: dict[int, list[list[Value]]] = {}

    def run(self, graph: Graph, inputs: Sequence[Any],
            outer: MutableMapping[Value, Any] | None = None) -> list[Any]:
        local: dict[Value, Any] = dict(graph.constants)
        env: MutableMapping[Value, Any] = ChainMap(local, outer) if outer is not None else local
        bindings: dict[Sym, int] = {}
        for v, x in zip(graph.inputs, inputs):
            local[v] = x
        frees = self._frees_of(graph)
        for node, dead in zip(graph.nodes, frees):
            self.run_node(node, env, bindings)
            for v in dead:  # drop values after their last reader: big graphs stay small
                local.pop(v, None)
        return [env[v] for v in graph.outputs]

    def _frees_of(self, graph: Graph) -> list[list[Value]]:
        """For each node, the values of this graph read for the last time by it."""
        key = id(graph)
        if key not in self._frees:
            last: dict[Value, int] = {}
            for i, n in enumerate(graph.nodes):
                for v in reads(n):
                    last[v] = i
            keep = set(graph.outputs)
            frees: list[list[Value]] = [[] for _ in graph.nodes]
            for v, i in last.items():
                if v not in keep:
                    frees[i].append(v)
            self._frees[key] = frees
        return self._frees[key]

    def run_node(self, node: Node, env: MutableMapping[Value, Any],
                 bindings: dict[Sym, int]) -> None:
        d = lookup(node.op)
        args = [None if v is None else env[v] for v in node.inputs]

        def run_subgraph(g: Graph, sub_inputs: Sequence[Any]) -> list[Any]:
            return self.run(g, sub_inputs, env)

        ctx = RefCtx(len(node.outputs), run_subgraph, node.name)
        try:
            results = d.run_reference(node.attrs, args, ctx)
        except DlcError:
            raise
        except Exception as e:  # a reference failing on its inputs is the input's fault
            raise ExecutionError(f"{node.op} node '{node.name}': {type(e).__name__}: {e}") from e
        if len(results) < len(node.outputs):
            raise ExecutionError(f"{node.op} node '{node.name}' produced {len(results)} "
                                 f"results for {len(node.outputs)} outputs")
        for v, r in zip(node.outputs, results):
            if self.check_types:
                check_value(v.type, r, bindings, f"{node.op} node '{node.name}' output '{v.name}'")
            env[v] = r


def check_value(t: Type, x: Any, bindings: dict[Sym, int], where: str) -> None:
    """Raise ShapeError when runtime value `x` does not have IR type `t`."""
    if isinstance(t, OptionalType):
        if x is not None:
            check_value(t.elem, x, bindings, where)
        return
    if isinstance(t, SequenceType):
        if not isinstance(x, list):
            raise ShapeError(f"{where}: expected a sequence, got {type(x).__name__}")
        for e in x:
            check_value(t.elem, e, {}, where)
        return
    if not isinstance(x, np.ndarray):
        raise ShapeError(f"{where}: expected a tensor of {t}, got {type(x).__name__}")
    if x.dtype != t.dtype.np and not (x.dtype.kind in "OUS" and t.dtype.np.kind == "O"):
        raise ShapeError(f"{where}: has dtype {x.dtype}, the IR says {t}")
    if x.ndim != len(t.shape):
        raise ShapeError(f"{where}: has shape {list(x.shape)}, the IR says {t}")
    for d, n in zip(t.shape, x.shape):
        if isinstance(d, int):
            if d != n:
                raise ShapeError(f"{where}: has shape {list(x.shape)}, the IR says {t}")
        elif bindings.setdefault(d, n) != n:
            raise ShapeError(f"{where}: dimension {d} is {n} here but {bindings[d]} elsewhere")


def interpret(graph: Graph, inputs: Sequence[Any], check_types: bool = True) -> list[Any]:
    return Interpreter(check_types).run(graph, inputs)


def tensor_type_of(x: np.ndarray) -> TensorType:
    from .dtype import DType
    return TensorType(DType.from_np(x.dtype), tuple(x.shape))

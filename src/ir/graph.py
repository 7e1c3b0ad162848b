"""Graph level of the IR: values, nodes (an op of the op table with typed attributes) and graphs.

Values are immutable and produced by exactly one node, or are a graph input or a constant. A node's
attributes are a frozen dataclass declared with its op. Subgraphs (If, Loop, Scan bodies) are Graph
attributes; their nodes may read values of the enclosing graphs.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .types import Type

_fresh = itertools.count()


class Value:
    """One tensor (or sequence/optional) in a graph; identity is the object, the name is for
    humans."""

    __slots__ = ("name", "type")

    def __init__(self, name: str, type: Type):
        self.name = name
        self.type = type

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


@dataclass(eq=False)
class Node:
    op: str
    inputs: list[Value | None]
    outputs: list[Value]
    attrs: Any = None
    name: str = ""

    def __repr__(self) -> str:
        ins = ", ".join("none" if v is None else f"%{v.name}" for v in self.inputs)
        outs = ", ".join(f"%{v.name}" for v in self.outputs)
        return f"{outs} = {self.op}({ins}) {self.attrs or ''}".rstrip()

    def subgraphs(self) -> Iterator[Graph]:
        """The Graph attributes of this node (If branches, Loop bodies, ...)."""
        if self.attrs is None:
            return
        for v in vars(self.attrs).values():
            if isinstance(v, Graph):
                yield v


@dataclass(eq=False)
class Graph:
    name: str = "main"
    inputs: list[Value] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    constants: dict[Value, np.ndarray] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)

    # -- building ---------------------------------------------------------------------------
    def add_input(self, name: str, type: Type) -> Value:
        v = Value(name, type)
        self.inputs.append(v)
        return v

    def add_constant(self, name: str, array: np.ndarray, type: Type | None = None) -> Value:
        from .dtype import DType
        from .types import TensorType
        arr = np.asarray(array)
        v = Value(name, type or TensorType(DType.from_np(arr.dtype), tuple(arr.shape)))
        self.constants[v] = arr
        return v

    def add_node(self, op: str, inputs: Sequence[Value | None], out_types: Sequence[Type],
                 attrs: Any = None, name: str = "", out_names: Sequence[str] | None = None) -> Node:
        names = list(out_names) if out_names else [self.fresh_name(name or op.lower())
                                                   for _ in out_types]
        outs = [Value(n, t) for n, t in zip(names, out_types)]
        node = Node(op, list(inputs), outs, attrs, name)
        self.nodes.append(node)
        return node

    def fresh_name(self, base: str) -> str:
        return f"{base}_{next(_fresh)}"

    # -- queries -----------------------------------------------------------------------------
    def producers(self) -> dict[Value, Node]:
        return {o: n for n in self.nodes for o in n.outputs}

    def users(self) -> dict[Value, list[Node]]:
        out: dict[Value, list[Node]] = {}
        for n in self.walk():
            for v in n.inputs:
                if v is not None:
                    out.setdefault(v, []).append(n)
        return out

    def walk(self) -> Iterator[Node]:
        """Every node, including those of subgraphs (after the node that owns them)."""
        for n in self.nodes:
            yield n
            for sg in n.subgraphs():
                yield from sg.walk()

    def ops(self) -> set[str]:
        return {n.op for n in self.walk()}

    def replace_uses(self, old: Value, new: Value) -> None:
        """Make every reader of `old` (subgraphs and outputs included) read `new` instead."""
        for n in self.walk():
            n.inputs = [new if v is old else v for v in n.inputs]
        self._replace_outputs(old, new)

    def _replace_outputs(self, old: Value, new: Value) -> None:
        self.outputs = [new if v is old else v for v in self.outputs]

    def topo_sort(self) -> None:
        """Order nodes so that every value is defined before it is read (stable)."""
        import networkx as nx
        prod = self.producers()
        g: nx.DiGraph = nx.DiGraph()
        order = {n: i for i, n in enumerate(self.nodes)}
        g.add_nodes_from(self.nodes)
        for n in self.nodes:
            for v in reads(n):
                p = prod.get(v)
                if p is not None and p is not n:
                    g.add_edge(p, n)
        self.nodes = list(nx.lexicographical_topological_sort(g, key=lambda n: order[n]))


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, or `base_1`, `base_2`, ...: the first not in `taken`, which it is added to.
    Names derived from what exists (not a global counter) print the same whatever ran before."""
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def reads(node: Node) -> Iterator[Value]:
    """Values a node reads, including outer values read inside its subgraphs."""
    for v in node.inputs:
        if v is not None:
            yield v
    for sg in node.subgraphs():
        for inner in sg.walk():
            yield from (v for v in inner.inputs if v is not None)
        yield from sg.outputs

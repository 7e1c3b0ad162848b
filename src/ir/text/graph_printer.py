"""Print a graph (and the kernels its kernel-call nodes use) as a module's text.

A node per line: `%y = Conv(%x, %w, none) {strides=[1, 1], ...} : f32[N, 64, 56, 56] @"/conv1/Conv"`
(outputs, op, inputs, attributes, output types, node name). Attributes are printed generically from
the op's attrs dataclass; tensors larger than the inline limit become `external<T: "key">` and are
returned beside the text.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Any

import numpy as np

from ..dtype import DType
from ..graph import Graph, Node, Value
from ..kernel.stmt import Kernel
from ..types import OptionalType, SequenceType, Sym, TensorType
from .kernel_printer import print_kernel
from .lexical import format_dense, format_float, quote, string

INDENT = "  "


def type_text(t: Any) -> str:
    if isinstance(t, TensorType):
        return f"{t.dtype}[{', '.join(dim_text(d) for d in t.shape)}]"
    if isinstance(t, SequenceType):
        return f"seq<{type_text(t.elem)}>"
    if isinstance(t, OptionalType):
        return f"opt<{type_text(t.elem)}>"
    raise TypeError(f"no text form for the type {t!r}")


def dim_text(d: Any) -> str:
    return quote(d.name) if isinstance(d, Sym) else str(int(d))


def array_type_text(arr: np.ndarray) -> str:
    return type_text(TensorType(DType.from_np(arr.dtype), tuple(arr.shape)))


class GraphPrinter:
    """Prints one module; `inline_limit` None inlines every tensor."""

    def __init__(self, inline_limit: int | None):
        self.inline_limit = inline_limit
        self.consts: dict[str, np.ndarray] = {}
        self.kernels: dict[Kernel, str] = {}
        self.names: dict[int, str] = {}     # id(Value) -> printed name
        self.scopes: list[set[str]] = []    # printed names visible in each enclosing graph

    # -- names -----------------------------------------------------------------------------------
    def define(self, v: Value) -> str:
        name, k = v.name, 0
        while any(name in scope for scope in self.scopes):
            k += 1
            name = f"{v.name}_{k}"
        self.scopes[-1].add(name)
        self.names[id(v)] = name
        return "%" + quote(name)

    def ref(self, v: Value | None) -> str:
        if v is None:
            return "none"
        return "%" + quote(self.names.get(id(v), v.name))

    # -- kernels ---------------------------------------------------------------------------------
    def collect_kernels(self, g: Graph) -> None:
        for n in g.walk():
            if n.attrs is not None and dataclasses.is_dataclass(n.attrs):
                for f in dataclasses.fields(n.attrs):
                    self._kernels_in(getattr(n.attrs, f.name))

    def _kernels_in(self, v: Any) -> None:
        if isinstance(v, Kernel):
            if v not in self.kernels:
                taken = set(self.kernels.values())
                ref, k = v.name, 0
                while ref in taken:
                    k += 1
                    ref = f"{v.name}_{k}"
                self.kernels[v] = ref
        elif isinstance(v, (tuple, list)):
            for x in v:
                self._kernels_in(x)

    # -- tensors and attributes ------------------------------------------------------------------
    def tensor(self, arr: np.ndarray, key_hint: str) -> str:
        arr = np.asarray(arr)
        dtype = DType.from_np(arr.dtype)
        tt = array_type_text(arr)
        if self.inline_limit is not None and arr.size > self.inline_limit:
            key, k = key_hint, 0
            while key in self.consts:
                k += 1
                key = f"{key_hint}#{k}"
            self.consts[key] = arr
            return f"external<{tt}: {string(key)}>"
        return f"dense<{tt}: {format_dense(arr, dtype)}>"

    def attr(self, v: Any, key: str, indent: str) -> str:  # noqa: C901 - one case a kind
        if v is None:
            return "none"
        if isinstance(v, (bool, np.bool_)):
            return "true" if v else "false"
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        if isinstance(v, (float, np.floating)):
            return format_float(float(v), np.dtype(np.float64))
        if isinstance(v, str):
            return string(v)
        if isinstance(v, DType):
            return str(v)
        if isinstance(v, enum.Enum):
            return v.name
        if isinstance(v, (tuple, list)):
            return "[" + ", ".join(self.attr(x, f"{key}.{i}", indent)
                                   for i, x in enumerate(v)) + "]"
        if isinstance(v, np.ndarray):
            return self.tensor(v, key)
        if isinstance(v, Graph):
            return "\n".join(self.graph_lines(v, indent)).lstrip()
        if isinstance(v, Kernel):
            return "@" + quote(self.kernels[v])
        if isinstance(v, (TensorType, SequenceType, OptionalType)):
            return f"type<{type_text(v)}>"
        if isinstance(v, Sym):
            return f"sym<{quote(v.name)}>"
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return self.attr_dict(v, key, indent)
        raise TypeError(f"attribute {key}: no text form for {type(v).__name__} values")

    def attr_dict(self, attrs: Any, key: str, indent: str) -> str:
        items = [f"{f.name}={self.attr(getattr(attrs, f.name), f'{key}.{f.name}', indent)}"
                 for f in dataclasses.fields(attrs) if f.init]
        return "{" + ", ".join(items) + "}"

    # -- graphs ----------------------------------------------------------------------------------
    def graph_lines(self, g: Graph, indent: str) -> list[str]:
        self.scopes.append(set())
        try:
            params = ", ".join(f"{self.define(v)}: {type_text(v.type)}" for v in g.inputs)
            lines = [f"{indent}graph @{quote(g.name)}({params}) {{"]
            inner = indent + INDENT
            for v, arr in g.constants.items():
                name = self.define(v)
                lines.append(f"{inner}const {name}: {type_text(v.type)} = "
                             f"{self.tensor(arr, self.names[id(v)])}")
            for n in g.nodes:
                lines.append(self.node_line(n, inner))
            outs = ", ".join(self.ref(v) for v in g.outputs)
            lines.append(f"{inner}return {outs}".rstrip())
            lines.append(f"{indent}}}")
            return lines
        finally:
            self.scopes.pop()

    def node_line(self, n: Node, indent: str) -> str:
        ins = ", ".join(self.ref(v) for v in n.inputs)
        key = self.names.get(id(n.outputs[0]), n.outputs[0].name) if n.outputs else n.op
        attrs = ""
        if n.attrs is not None:
            if not dataclasses.is_dataclass(n.attrs):
                raise TypeError(f"{n.op} node '{n.name}': attributes must be a dataclass, not "
                                f"{type(n.attrs).__name__}")
            attrs = " " + self.attr_dict(n.attrs, n.name or key, indent)
        outs = ", ".join(self.define(v) for v in n.outputs)
        head = f"{outs} = " if n.outputs else ""
        types = (" : " + ", ".join(type_text(v.type) for v in n.outputs)) if n.outputs else ""
        name = f" @{quote(n.name)}" if n.name else ""
        return f"{indent}{head}{quote(n.op)}({ins}){attrs}{types}{name}"

    def module(self, g: Graph) -> str:
        self.collect_kernels(g)
        parts = [print_kernel(k, ref) for k, ref in self.kernels.items()]
        parts.append("\n".join(self.graph_lines(g, "")) + "\n")
        return "\n".join(parts)


def print_module(g: Graph, inline_limit: int = 16) -> tuple[str, dict[str, np.ndarray]]:
    """The module's text, and the tensors larger than `inline_limit` elements by key."""
    p = GraphPrinter(inline_limit)
    text = p.module(g)
    return text, p.consts


def print_graph(g: Graph) -> str:
    """The module's text with every tensor inline."""
    return GraphPrinter(None).module(g)

"""The reference target: runs any graph with the op table's reference implementations.

Slow and simple on purpose; it is the oracle the other targets are compared with."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...ir import Graph, Interpreter
from ...options import CompileOptions

TARGET = "reference"


class ReferenceExecutor:
    def __init__(self, graph: Graph, check_types: bool = True):
        self.graph = graph
        self.interpreter = Interpreter(check_types)

    def __call__(self, inputs: Sequence[Any]) -> list[Any]:
        return self.interpreter.run(self.graph, inputs)


def compile_graph(graph: Graph, options: CompileOptions) -> ReferenceExecutor:
    return ReferenceExecutor(graph)

"""Graph and kernel passes. Placeholder until the pass manager lands."""
from __future__ import annotations

from collections.abc import Sequence

from ..ir import Graph
from ..options import CompileOptions


def default_pipeline(options: CompileOptions) -> list[str]:
    return []


def run_passes(graph: Graph, names: Sequence[str], options: CompileOptions) -> Graph:
    return graph

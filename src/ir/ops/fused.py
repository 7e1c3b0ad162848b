"""Fused: a group of nodes the fusion pass decided to run as one kernel, kept as a subgraph.

The body is a Graph without inputs whose nodes read values of the enclosing graph (like an If
branch); the node's inputs list those outer values (weights included) in the order the body first
reads them, so dataflow, liveness and drawings need not look inside. The node's outputs are the
body's outputs. `rule` names the fusion rule that formed the group (`conv-epilogue`, ...).
Running a Fused node runs its body: fusion never changes what a graph computes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..graph import Graph
from ..types import Type
from .registry import InferCtx, RefCtx, op


@dataclass(frozen=True)
class FusedAttrs:
    body: Graph | None = None
    rule: str = ""


def _infer(c: InferCtx) -> list[Type]:
    body = c.attrs.body
    if not isinstance(body, Graph):
        raise c.error("attribute body must be a graph")
    if body.inputs:
        raise c.error("a fused body takes no inputs: its nodes read the enclosing graph")
    return [v.type for v in body.outputs]


def _reference(a: FusedAttrs, *inputs: Any, ctx: RefCtx) -> tuple[Any, ...]:
    assert a.body is not None and ctx.run_subgraph is not None
    return tuple(ctx.run_subgraph(a.body, []))


op("Fused", FusedAttrs, infer=_infer, reference=_reference, traits=("fused",), domain="dlc")

"""Older ONNX op versions, rewritten into the form the op table declares.

An adapter receives a NodeView of a node of one of the versions it names and either edits it in
place (moving an attribute to an input, renaming, ...) and returns None, or builds replacement nodes
through the Builder and returns the node's output values.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ...ir import Value


class Builder(Protocol):
    def const(self, array: np.ndarray, name: str = "") -> Value: ...

    def emit(self, op: str, inputs: Sequence[Value | None], attrs: dict[str, Any] | None = None,
             num_outputs: int = 1) -> list[Value]: ...


@dataclass
class NodeView:
    op: str
    version: int
    inputs: list[Value | None]
    attrs: dict[str, Any]
    name: str
    num_outputs: int
    opset: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    def input(self, i: int) -> Value | None:
        return self.inputs[i] if i < len(self.inputs) else None

    def set_input(self, i: int, v: Value | None) -> None:
        while len(self.inputs) <= i:
            self.inputs.append(None)
        self.inputs[i] = v

    def attr_to_input(self, b: Builder, attr: str, index: int, dtype: Any = np.int64) -> None:
        """Move attribute `attr` (if present) to constant input `index`."""
        if attr in self.attrs:
            val = self.attrs.pop(attr)
            self.set_input(index, b.const(np.asarray(val, dtype=dtype), f"{self.name}_{attr}"))


Adapter = Callable[[Builder, NodeView], "list[Value] | None"]
ADAPTERS: dict[tuple[str, int], Adapter] = {}


def adapter(op: str, versions: Sequence[int]) -> Callable[[Adapter], Adapter]:
    def deco(fn: Adapter) -> Adapter:
        for v in versions:
            if (op, v) in ADAPTERS:
                raise RuntimeError(f"adapter for {op}-{v} declared twice")
            ADAPTERS[(op, v)] = fn
        return fn
    return deco

"""Whole-graph cleanups: common-subexpression elimination and dead-code elimination.

Both walk subgraphs too: a subgraph node may reuse an equal node of an enclosing graph defined
before it, and an enclosing node stays alive while a subgraph reads it.
"""
from __future__ import annotations

import dataclasses
from collections import ChainMap
from collections.abc import Hashable
from typing import Any

import numpy as np

from ..ir import OPS, Graph, Node, Value
from .fold import NOT_FOLDABLE
from .rewrite import compatible, has_side_effects

# Constants larger than this are not compared for CSE (hashing weights costs more than it saves).
CSE_CONST_LIMIT = 1 << 20


class _Unhashable(Exception):
    pass


def freeze(x: Any) -> Hashable:
    """A hashable key that is equal exactly when two attribute values are the same.

    Arrays compare by dtype, shape and bytes; floats by their bits (0.0 and -0.0 differ, NaN
    equals NaN); subgraphs are never equal.
    """
    if isinstance(x, np.ndarray):
        if x.dtype.kind == "O":
            return ("nd", "O", x.shape, tuple(x.ravel().tolist()))
        return ("nd", x.dtype.str, x.shape, x.tobytes())
    if isinstance(x, bool | int | str | None):
        return (type(x).__name__, x)
    if isinstance(x, float):
        return ("f", x.hex())
    if isinstance(x, tuple | list):
        return ("t", tuple(freeze(e) for e in x))
    if isinstance(x, dict):
        return ("d", tuple(sorted((str(k), freeze(v)) for k, v in x.items())))
    if isinstance(x, Graph):
        raise _Unhashable
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__qualname__,
                tuple((f.name, freeze(getattr(x, f.name))) for f in dataclasses.fields(x)))
    try:
        hash(x)
    except TypeError:
        raise _Unhashable from None
    return (type(x).__qualname__, x)


def node_key(n: Node) -> Hashable | None:
    """What makes two nodes compute the same thing, or None if `n` must never be merged.

    Output types are left out: shape rules name unknown dims afresh for every node."""
    if n.op in NOT_FOLDABLE or has_side_effects(n):
        return None
    try:
        attrs = freeze(n.attrs)
    except _Unhashable:
        return None
    ins = list(n.inputs)
    d = OPS.get(n.op)
    if d is not None and "commutative" in d.traits and len(ins) == 2 and None not in ins:
        ins.sort(key=id)
    return (n.op, tuple(ins), attrs, len(n.outputs))


def const_key(v: Value, arr: np.ndarray) -> Hashable | None:
    if not isinstance(arr, np.ndarray) or arr.size > CSE_CONST_LIMIT:
        return None
    return (v.type, freeze(arr))


def cse(graph: Graph) -> int:
    """Merge equal nodes and equal constants; returns how many were removed."""
    return _cse(graph, {}, ChainMap(), ChainMap())


def _cse(g: Graph, subst: dict[Value, Value], nodes: ChainMap[Hashable, Node],
         consts: ChainMap[Hashable, Value]) -> int:
    removed = 0
    for v, arr in list(g.constants.items()):
        key = const_key(v, arr)
        if key is None:
            continue
        first = consts.get(key)
        if first is None:
            consts[key] = v
        else:
            subst[v] = first
            del g.constants[v]
            removed += 1
    kept = []
    for n in g.nodes:
        n.inputs = [None if v is None else subst.get(v, v) for v in n.inputs]
        for sg in n.subgraphs():
            removed += _cse(sg, subst, nodes.new_child(), consts.new_child())
        key = node_key(n) if not any(True for _ in n.subgraphs()) else None
        prev = nodes.get(key) if key is not None else None
        if prev is not None and all(compatible(o.type, p.type)
                                    for o, p in zip(n.outputs, prev.outputs)):
            for o, p in zip(n.outputs, prev.outputs):
                subst[o] = p
            removed += 1
            continue
        if key is not None:
            nodes[key] = n
        kept.append(n)
    g.nodes = kept
    g.outputs = [subst.get(v, v) for v in g.outputs]
    return removed


def dce(graph: Graph) -> int:
    """Remove nodes nobody reads and constants nobody reads; returns how many nodes went."""
    return _dce(graph, set())


def _dce(g: Graph, live: set[Value]) -> int:
    live.update(g.outputs)
    removed = 0
    kept: list[Node] = []
    for n in reversed(g.nodes):
        if not has_side_effects(n) and not any(o in live for o in n.outputs):
            removed += 1
            continue
        for sg in n.subgraphs():
            removed += _dce(sg, live)
        live.update(v for v in n.inputs if v is not None)
        kept.append(n)
    g.nodes = kept[::-1]
    for v in [v for v in g.constants if v not in live]:
        del g.constants[v]
    return removed

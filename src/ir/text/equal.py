"""Structural equality of graphs and kernels, ignoring object identity: values correspond by
position, names and types must match, tensors and floats compare bitwise (nan == nan, 0.0 != -0.0).
`graph_difference` says where two graphs first differ, for test failure messages."""
from __future__ import annotations

import dataclasses
import struct
from typing import Any

import numpy as np

from ..graph import Graph, Value
from ..kernel.stmt import Kernel
from .lexical import quote

ValueMap = dict[int, Value]


def arrays_equal(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "OUS" or b.dtype.kind in "OUS":
        return a.dtype.kind in "OUS" and b.dtype.kind in "OUS" and a.tolist() == b.tolist()
    if a.dtype != b.dtype:
        return False
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def _float_bits(x: Any) -> bytes:
    return struct.pack("<d", float(x))


def value_difference(x: Any, y: Any, m: ValueMap, where: str) -> str | None:
    """Where attribute values x and y differ (None: they are equal)."""
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        ok = isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and arrays_equal(x, y)
        return None if ok else f"{where}: tensors differ"
    if isinstance(x, Graph) or isinstance(y, Graph):
        if not (isinstance(x, Graph) and isinstance(y, Graph)):
            return f"{where}: a graph and a {type(y if isinstance(x, Graph) else x).__name__}"
        return _graph_difference(x, y, m, where)
    if isinstance(x, (tuple, list)) and isinstance(y, (tuple, list)):
        if type(x) is not type(y) or len(x) != len(y):
            return f"{where}: {x!r} != {y!r}"
        for i, (a, b) in enumerate(zip(x, y)):
            diff = value_difference(a, b, m, f"{where}[{i}]")
            if diff:
                return diff
        return None
    if isinstance(x, (bool, np.bool_)) or isinstance(y, (bool, np.bool_)):
        same = isinstance(x, (bool, np.bool_)) and isinstance(y, (bool, np.bool_)) and x == y
        return None if same else f"{where}: {x!r} != {y!r}"
    if isinstance(x, (float, np.floating)) and isinstance(y, (float, np.floating)):
        return None if _float_bits(x) == _float_bits(y) else f"{where}: {x!r} != {y!r}"
    if isinstance(x, Kernel) or isinstance(y, Kernel):
        return None if x == y else f"{where}: kernels differ"
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        if type(x) is not type(y):
            return f"{where}: {type(x).__name__} != {type(y).__name__}"
        for f in dataclasses.fields(x):
            diff = value_difference(getattr(x, f.name), getattr(y, f.name), m,
                                    f"{where}.{f.name}")
            if diff:
                return diff
        return None
    if type(x) is not type(y) and not (isinstance(x, (int, np.integer))
                                       and isinstance(y, (int, np.integer))):
        return f"{where}: {x!r} ({type(x).__name__}) != {y!r} ({type(y).__name__})"
    return None if x == y else f"{where}: {x!r} != {y!r}"


def _define(a: Value, b: Value, m: ValueMap, where: str) -> str | None:
    if a.name != b.name:
        return f"{where}: name '{a.name}' != '{b.name}'"
    if a.type != b.type:
        return f"{where} '%{quote(a.name)}': type {a.type} != {b.type}"
    m[id(a)] = b
    return None


def _same_ref(a: Value | None, b: Value | None, m: ValueMap) -> bool:
    if a is None or b is None:
        return a is None and b is None
    mapped = m.get(id(a))
    return mapped is b if mapped is not None else (a is b)


def _graph_difference(a: Graph, b: Graph, m: ValueMap, where: str) -> str | None:
    where = f"{where}graph @{quote(a.name)}" if not where else f"{where} (graph @{a.name})"
    if a.name != b.name:
        return f"{where}: name '{a.name}' != '{b.name}'"
    for what, xs, ys in (("inputs", a.inputs, b.inputs), ("constants", list(a.constants),
                                                          list(b.constants)),
                         ("nodes", a.nodes, b.nodes), ("outputs", a.outputs, b.outputs)):
        if len(xs) != len(ys):
            return f"{where}: {len(xs)} {what} != {len(ys)}"
    for i, (x, y) in enumerate(zip(a.inputs, b.inputs)):
        if diff := _define(x, y, m, f"{where}: input {i}"):
            return diff
    for (x, xa), (y, ya) in zip(a.constants.items(), b.constants.items()):
        if diff := _define(x, y, m, f"{where}: constant"):
            return diff
        if not arrays_equal(xa, ya):
            return f"{where}: constant '%{quote(x.name)}' has different data"
    for k, (n, o) in enumerate(zip(a.nodes, b.nodes)):
        at = f"{where}: node {k} ({n.op} '{n.name}')"
        if n.op != o.op or n.name != o.name:
            return f"{at}: is {o.op} '{o.name}' in the other graph"
        if len(n.inputs) != len(o.inputs) or len(n.outputs) != len(o.outputs):
            return f"{at}: different numbers of inputs or outputs"
        for i, (xi, yi) in enumerate(zip(n.inputs, o.inputs)):
            if not _same_ref(xi, yi, m):
                xn = "none" if xi is None else xi.name
                yn = "none" if yi is None else yi.name
                return f"{at}: input {i} reads '{xn}' here and '{yn}' there"
        if diff := value_difference(n.attrs, o.attrs, m, f"{at}: attrs"):
            return diff
        for i, (x, y) in enumerate(zip(n.outputs, o.outputs)):
            if diff := _define(x, y, m, f"{at}: output {i}"):
                return diff
    for i, (x, y) in enumerate(zip(a.outputs, b.outputs)):
        if not _same_ref(x, y, m):
            return f"{where}: output {i} is '{x.name}' here and '{y.name}' there"
    return None


def graph_difference(a: Graph, b: Graph) -> str | None:
    """Where two graphs first differ, or None when they are structurally equal."""
    return _graph_difference(a, b, {}, "")


def graphs_equal(a: Graph, b: Graph) -> bool:
    return graph_difference(a, b) is None


def kernels_equal(a: Kernel, b: Kernel) -> bool:
    """Kernels are frozen dataclasses: structural equality is `==` (constants compare bitwise)."""
    return a == b

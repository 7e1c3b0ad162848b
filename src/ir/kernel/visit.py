"""Generic traversal of kernel IR: children, pre-order walk, bottom-up rebuild, and the affine
form of index expressions. Generic over the dataclass fields, so new node kinds need no code here.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .expr import Binary, Buffer, Builtin, Const, Expr, Load, Unary, Var
from .stmt import Alloc, Atomic, Kernel, Stmt, Store

Node = Expr | Stmt
N = TypeVar("N", bound=Node)


_FIELDS: dict[type, tuple[str, ...]] = {}


def field_names(cls: type) -> tuple[str, ...]:
    """A node class's dataclass fields (looked up once per class: traversals are hot)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def children(node: Node) -> Iterator[Node]:
    """Direct sub-expressions and sub-statements, in field order. A buffer's shape is a child of
    the Alloc that declares it, not of the loads and stores that use it."""
    for name in field_names(type(node)):
        v = getattr(node, name)
        if isinstance(v, (Expr, Stmt)):
            yield v
        elif isinstance(v, tuple):
            yield from (x for x in v if isinstance(x, (Expr, Stmt)))
        elif isinstance(v, Buffer) and isinstance(node, Alloc) and v.shape is not None:
            yield from v.shape


def walk(node: Node | Kernel) -> Iterator[Node]:
    """Every expression and statement under `node`, pre-order (the node itself first)."""
    if isinstance(node, Kernel):
        yield from walk(node.body)
        return
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(list(children(n))))


def transform(node: N, fn: Callable[[Node], Node | None]) -> N:
    """Rebuild `node` bottom-up: each rebuilt sub-node is passed to `fn`, which returns a
    replacement or None to keep it. Unchanged subtrees are shared, not copied."""
    changes: dict[str, Any] = {}
    for name in field_names(type(node)):
        v = getattr(node, name)
        if isinstance(v, (Expr, Stmt)):
            nv: Any = transform(v, fn)
        elif isinstance(v, tuple) and any(isinstance(x, (Expr, Stmt)) for x in v):
            items = tuple(transform(x, fn) if isinstance(x, (Expr, Stmt)) else x for x in v)
            nv = v if all(a is b for a, b in zip(items, v)) else items
        elif isinstance(v, Buffer) and isinstance(node, Alloc) and v.shape is not None:
            shape = tuple(transform(x, fn) for x in v.shape)
            same = all(a is b for a, b in zip(shape, v.shape))
            nv = v if same else dataclasses.replace(v, shape=shape)
        else:
            continue
        if nv is not v:
            changes[name] = nv
    new = dataclasses.replace(node, **changes) if changes else node  # type: ignore[type-var]
    out = fn(new)
    return new if out is None else out  # type: ignore[return-value]


def substitute(node: N, mapping: dict[Expr, Expr]) -> N:
    """Replace sub-expressions equal to a key of `mapping` (e.g. a Var by an expression)."""
    return transform(node, lambda n: mapping.get(n) if isinstance(n, Expr) else None)


def replace_buffers(node: N, mapping: dict[Buffer, Buffer]) -> N:
    """Make loads, stores, atomics and allocs of the keys use the values instead."""
    def fn(n: Node) -> Node | None:
        if isinstance(n, (Load, Store, Atomic, Alloc)) and n.buffer in mapping:
            return dataclasses.replace(n, buffer=mapping[n.buffer])
        return None
    return transform(node, fn)


def free_vars(node: Node) -> set[Var]:
    """Variables read under `node` (declared or not)."""
    return {n for n in walk(node) if isinstance(n, Var)}


def affine(e: Expr) -> tuple[dict[Expr, int], int] | None:
    """`e` as sum(coeff * atom) + constant, where atoms are variables and builtins; None when `e`
    is not affine (a product of two variables, a division, a load, ...)."""
    if isinstance(e, Const):
        return ({}, int(e.value)) if isinstance(e.value, int) else None
    if isinstance(e, (Var, Builtin)):
        return ({e: 1}, 0)
    if isinstance(e, Unary) and e.op == "neg":
        inner = affine(e.x)
        return None if inner is None else _scale(inner, -1)
    if isinstance(e, Binary) and e.op in ("add", "sub", "mul"):
        a, b = affine(e.a), affine(e.b)
        if a is None or b is None:
            return None
        if e.op == "mul":
            if not a[0]:
                return _scale(b, a[1])
            if not b[0]:
                return _scale(a, b[1])
            return None
        sign = 1 if e.op == "add" else -1
        coeffs = dict(a[0])
        for k, c in b[0].items():
            coeffs[k] = coeffs.get(k, 0) + sign * c
        return ({k: c for k, c in coeffs.items() if c != 0}, a[1] + sign * b[1])
    return None


def _scale(form: tuple[dict[Expr, int], int], k: int) -> tuple[dict[Expr, int], int]:
    return ({v: c * k for v, c in form[0].items() if c * k != 0}, form[1] * k)


def is_affine(e: Expr) -> bool:
    return affine(e) is not None

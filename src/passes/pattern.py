"""Patterns over graph values: the left-hand side of a rewrite rule.

A pattern matches a value (or, at the root of a rule, a node) and binds names to what it saw:
`P.var("x")` binds a Value, `P.const("c")` binds a Value known at compile time, and
`P.op("Add", x, c, name="add")` binds the Node. Predicates look at types, constant values and
attributes. Matching backtracks, so commutative ops match their operands in either order.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..ir import OPS, Node, TensorType, Type, Value

Bindings = dict[str, Any]


class MatchContext(Protocol):
    """What a pattern may ask about the graph it is matched in."""

    def producer(self, v: Value) -> Node | None: ...

    def constant(self, v: Value) -> np.ndarray | None: ...

    def num_uses(self, v: Value) -> int:
        """Readers of `v`, counting graph outputs (a value that is an output is never unused)."""
        ...


class Pattern:
    """Matches one value (an operand position); `match` yields every consistent binding."""

    name: str | None = None

    def match(self, v: Value | None, cx: MatchContext, b: Bindings) -> Iterator[Bindings]:
        raise NotImplementedError

    def names(self) -> set[str]:
        return {self.name} if self.name else set()


def _bind(b: Bindings, name: str | None, thing: Any) -> Bindings | None:
    """b plus name -> thing, or None when name is already bound to something else."""
    if name is None:
        return b
    if name in b:
        return b if b[name] is thing else None
    out = dict(b)
    out[name] = thing
    return out


@dataclass(frozen=True)
class VarPat(Pattern):
    """Any value (absent optional inputs only with optional=True), with an optional type test."""

    name: str | None = None
    type: Callable[[Type], bool] | None = None
    optional: bool = False

    def match(self, v: Value | None, cx: MatchContext, b: Bindings) -> Iterator[Bindings]:
        if v is None and not self.optional:
            return
        if v is not None and self.type is not None and not self.type(v.type):
            return
        nb = _bind(b, self.name, v)
        if nb is not None:
            yield nb


@dataclass(frozen=True)
class NonePat(Pattern):
    """An absent optional input."""

    def match(self, v: Value | None, cx: MatchContext, b: Bindings) -> Iterator[Bindings]:
        if v is None:
            yield b


@dataclass(frozen=True)
class ConstPat(Pattern):
    """A value known at compile time whose array satisfies `where` (binds the Value)."""

    name: str | None = None
    where: Callable[[np.ndarray], bool] | None = None

    def match(self, v: Value | None, cx: MatchContext, b: Bindings) -> Iterator[Bindings]:
        if v is None:
            return
        arr = cx.constant(v)
        if arr is None or not isinstance(arr, np.ndarray):
            return
        try:
            ok = self.where is None or bool(self.where(arr))
        except (TypeError, ValueError):  # a predicate meant for numbers, given strings
            ok = False
        if ok:
            nb = _bind(b, self.name, v)
            if nb is not None:
                yield nb


@dataclass(frozen=True)
class OpPat(Pattern):
    """A value produced (as output `output`) by a node of one of `ops` whose inputs match `inputs`.

    `inputs=None` accepts any inputs; otherwise inputs beyond the patterns given must be absent
    unless `rest` is set. `attrs` tests the node's attribute dataclass, `one_use` asks that the
    matched value has no reader but the pattern's parent (never true of a graph output).
    """

    ops: frozenset[str] | None
    inputs: tuple[Pattern, ...] | None = None
    name: str | None = None
    attrs: Callable[[Any], bool] | None = None
    output: int = 0
    one_use: bool = False
    rest: bool = False
    commutative: bool | None = None  # None: as the op table's "commutative" trait says

    def match(self, v: Value | None, cx: MatchContext, b: Bindings) -> Iterator[Bindings]:
        if v is None:
            return
        node = cx.producer(v)
        if node is None or node.outputs.index(v) != self.output:
            return
        if self.one_use and cx.num_uses(v) != 1:
            return
        yield from self.match_node(node, cx, b)

    def match_node(self, node: Node, cx: MatchContext, b: Bindings) -> Iterator[Bindings]:
        if self.ops is not None and node.op not in self.ops:
            return
        if self.attrs is not None and not self.attrs(node.attrs):
            return
        nb = _bind(b, self.name, node)
        if nb is None:
            return
        if self.inputs is None:
            yield nb
            return
        n = len(self.inputs)
        args = list(node.inputs[:n]) + [None] * max(0, n - len(node.inputs))
        if not self.rest and any(v is not None for v in node.inputs[n:]):
            return
        orders = [args]
        if n == 2 and self._commutes(node.op) and args[0] is not args[1]:
            orders.append([args[1], args[0]])
        for order in orders:
            yield from _match_seq(self.inputs, order, cx, nb)

    def _commutes(self, op: str) -> bool:
        if self.commutative is not None:
            return self.commutative
        d = OPS.get(op)
        return d is not None and "commutative" in d.traits

    def names(self) -> set[str]:
        out = super().names()
        for p in self.inputs or ():
            out |= p.names()
        return out


def _match_seq(pats: Sequence[Pattern], vals: Sequence[Value | None], cx: MatchContext,
               b: Bindings) -> Iterator[Bindings]:
    if not pats:
        yield b
        return
    for nb in pats[0].match(vals[0], cx, b):
        yield from _match_seq(pats[1:], vals[1:], cx, nb)


@dataclass(frozen=True)
class AnyOf(Pattern):
    """The first of several alternatives that matches (all of them, on backtracking)."""

    alternatives: tuple[Pattern, ...] = field(default_factory=tuple)

    def match(self, v: Value | None, cx: MatchContext, b: Bindings) -> Iterator[Bindings]:
        for p in self.alternatives:
            yield from p.match(v, cx, b)

    def names(self) -> set[str]:
        return set().union(*(p.names() for p in self.alternatives))


# -- predicates on constants and types -----------------------------------------------------------

def _numeric(a: np.ndarray) -> bool:
    return a.dtype.kind in "biufc" or a.dtype.name in _ML_FLOATS


_ML_FLOATS = {"bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz"}


def splat(value: float) -> Callable[[np.ndarray], bool]:
    """Every element equals `value` (and there is at least one)."""
    def pred(a: np.ndarray) -> bool:
        return a.size > 0 and _numeric(a) and bool(np.all(a.astype(np.float64) == value))
    return pred


def is_true(a: np.ndarray) -> bool:
    return a.size > 0 and a.dtype == np.bool_ and bool(np.all(a))


def is_false(a: np.ndarray) -> bool:
    return a.size > 0 and a.dtype == np.bool_ and not bool(np.any(a))


def is_tensor(t: Type) -> bool:
    return isinstance(t, TensorType)


def is_static(t: Type) -> bool:
    return isinstance(t, TensorType) and t.is_static


class P:
    """Constructors for patterns, named the way rules read: `P.op("Mul", P.var("x"), P.one)`."""

    @staticmethod
    def var(name: str | None = None, type: Callable[[Type], bool] | None = None,
            optional: bool = False) -> VarPat:
        return VarPat(name, type, optional)

    @staticmethod
    def const(name: str | None = None,
              where: Callable[[np.ndarray], bool] | None = None) -> ConstPat:
        return ConstPat(name, where)

    @staticmethod
    def splat(value: float, name: str | None = None) -> ConstPat:
        """A constant all of whose elements are `value`."""
        return ConstPat(name, splat(value))

    @staticmethod
    def none() -> NonePat:
        return NonePat()

    @staticmethod
    def op(ops: str | Sequence[str] | None, *inputs: Pattern, name: str | None = None,
           attrs: Callable[[Any], bool] | None = None, output: int = 0, one_use: bool = False,
           rest: bool = False, any_inputs: bool = False,
           commutative: bool | None = None) -> OpPat:
        """Node of op(s) `ops` (None: any op). With no input patterns and `any_inputs`, any inputs
        match; with no input patterns otherwise, the node must have no inputs."""
        names = frozenset([ops] if isinstance(ops, str) else ops) if ops is not None else None
        ins = None if any_inputs else tuple(inputs)
        return OpPat(names, ins, name, attrs, output, one_use, rest, commutative)

    @staticmethod
    def any_of(*alternatives: Pattern) -> AnyOf:
        return AnyOf(tuple(alternatives))


def attr(attrs: Any, name: str, default: Any = None) -> Any:
    """An attribute by name, or `default` when the op's dataclass has no such field (or none)."""
    return getattr(attrs, name, default) if attrs is not None else default


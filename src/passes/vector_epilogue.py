"""A fused epilogue (the lets and stores after a reduction) rewritten to handle `lanes`
consecutive output columns at once, so that a register-blocked kernel applies bias, activation
or a residual add to its accumulator vectors directly.

`VectorEpilogue.build(stmts, col, acc)` checks once that the statements can be widened: the
column variable may appear only as the last index of loads and stores (`buf[..., col + k]`),
everything else is uniform across the columns (broadcast) or computed lane-wise. `emit(...)` then
gives the widened statements for one accumulator vector, with the other loop variables bound.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from ..ir.kernel.expr import (
    Binary,
    Broadcast,
    Cast,
    Const,
    Expr,
    Load,
    Math,
    Select,
    Unary,
    Var,
)
from ..ir.kernel.stmt import Let, Stmt, Store
from ..ir.kernel.visit import affine, substitute, walk


class NotVectorizable(Exception):
    """The epilogue cannot be widened along columns."""


@dataclass(frozen=True)
class VectorEpilogue:
    stmts: tuple[Stmt, ...]
    col: Var
    acc: Var
    lanes: int

    @staticmethod
    def build(stmts: Sequence[Stmt], col: Var | None, acc: Var, lanes: int) -> VectorEpilogue:
        """Inline the lets into the stores and check every store can be widened."""
        if col is None:
            raise NotVectorizable("no column loop")
        lets: dict[Expr, Expr] = {}
        stores: list[Stmt] = []
        for s in stmts:
            if isinstance(s, Let) and s.value is not None:
                lets[s.var] = substitute(s.value, lets)
            elif isinstance(s, Store):
                stores.append(substitute(s, lets))
            else:
                raise NotVectorizable(f"a {type(s).__name__} in the epilogue")
        ep = VectorEpilogue(tuple(stores), col, acc, lanes)
        probe = Var("__probe", acc.type.with_lanes(lanes))
        ep.emit({}, Var("__col", col.type), probe, "__")  # raises where it cannot widen
        return ep

    def emit(self, env: dict[Expr, Expr], col: Expr, acc: Expr, prefix: str) -> list[Stmt]:
        """The widened stores for columns col .. col + lanes - 1 (`acc` holds their
        accumulators; `env` binds the other loop variables)."""
        out: list[Stmt] = []
        for s in self.stmts:
            assert isinstance(s, Store)
            index = self._index(s.index, env, col)
            value = self._vec(s.value, env, col, acc)
            if value.type.lanes != self.lanes:
                value = Broadcast(value, self.lanes)
            out.append(dataclasses.replace(s, index=index, value=value))
        return out

    def _varies(self, e: Expr) -> bool:
        return any(isinstance(n, Var) and n in (self.col, self.acc) for n in walk(e))

    def _index(self, index: tuple[Expr, ...], env: dict[Expr, Expr],
               col: Expr) -> tuple[Expr, ...]:
        if any(self._varies(i) for i in index[:-1]):
            raise NotVectorizable("a column-dependent index before the last axis")
        last = index[-1]
        form = affine(last)
        if form is None or form[0].get(self.col, 0) != 1 or self.acc in form[0]:
            raise NotVectorizable("the last index is not column + constant")
        bound = {**env, self.col: col}
        return tuple(substitute(i, bound) for i in index)

    def _vec(self, e: Expr, env: dict[Expr, Expr], col: Expr, acc: Expr) -> Expr:
        """`e` for `lanes` columns: a vector, or a scalar where it is the same for all."""
        if e == self.acc:
            return acc
        if not self._varies(e):
            return substitute(e, env)
        if isinstance(e, Load):
            if e.lanes != 1 or e.buffer.elem.lanes != 1:
                raise NotVectorizable("a vector load")
            return Load(e.buffer, self._index(e.index, env, col), self.lanes)
        if isinstance(e, Binary):
            a, b = self._vec(e.a, env, col, acc), self._vec(e.b, env, col, acc)
            op = {"land": "and", "lor": "or"}.get(e.op, e.op)  # both sides are evaluated anyway
            return Binary(op, *self._widen(a, b))
        if isinstance(e, Unary):
            return Unary(e.op, self._vec(e.x, env, col, acc))
        if isinstance(e, Math):
            args = self._widen(*(self._vec(x, env, col, acc) for x in e.args))
            return Math(e.fn, args)
        if isinstance(e, Select):
            c, a, b = (self._vec(x, env, col, acc) for x in (e.cond, e.a, e.b))
            a, b = self._widen(a, b)
            return Select(c if c.type.lanes == self.lanes else Broadcast(c, self.lanes), a, b)
        if isinstance(e, Cast):
            x = self._vec(e.x, env, col, acc)
            return Cast(x, e.type.with_lanes(x.type.lanes))
        if isinstance(e, (Const, Var)):
            return substitute(e, env)
        raise NotVectorizable(f"cannot widen {type(e).__name__}")

    def _widen(self, *xs: Expr) -> tuple[Expr, ...]:
        return tuple(x if x.type.lanes == self.lanes else Broadcast(x, self.lanes) for x in xs)

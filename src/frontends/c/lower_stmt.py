"""Lowering of C statements and local declarations: blocks, if, loops (canonical `for` loops
become IR For), break/continue/return, switch, variables, arrays, pointers and structs."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from ...ir.kernel import (
    BOOL,
    Assign,
    Binary,
    Block,
    Break,
    Const,
    Continue,
    Expr,
    For,
    If,
    Let,
    Return,
    Unary,
    Var,
    While,
)
from . import ast as A
from .ctype import Scalar, Void, is_int
from .emit import FuncCtx, LoopCtx, const_of
from .lower_decl import DeclLowerer
from .scope import unsupported
from .values import RV, Obj, VarLV

SIZE_BUILTINS = frozenset({"get_local_size", "get_global_size", "get_num_groups",
                           "get_enqueued_local_size"})
PURE_CALLS = SIZE_BUILTINS | {"get_global_id", "get_local_id", "get_group_id", "min", "max",
                              "get_global_offset"}


def nodes(x: Any) -> Iterator[Any]:
    """Every syntax node under x (pre-order)."""
    if isinstance(x, (list, tuple)):
        for y in x:
            yield from nodes(y)
        return
    if not dataclasses.is_dataclass(x) or isinstance(x, type):
        return
    yield x
    for f in dataclasses.fields(x):
        if f.name != "pos":
            yield from nodes(getattr(x, f.name))


class StmtLowerer(DeclLowerer):
    # -- helpers the statement code needs from the kernel lowerer --------------------------------
    def assigned_names(self, x: Any) -> set[str]:
        """Names C code under x may change: assigned, incremented, address taken, or passed to
        a helper's reference parameter."""
        out: set[str] = set()
        for n in nodes(x):
            target = None
            if isinstance(n, A.Assign):
                target = n.target
            elif isinstance(n, A.IncDec):
                target = n.x
            elif isinstance(n, A.UnOp) and n.op == "&":
                target = n.x
            elif isinstance(n, A.Call) and isinstance(n.func, A.Name):
                f = self.scope.lookup(n.func.id)
                if isinstance(f, A.FunctionDef):
                    for p, a in zip(f.func.params, n.args):
                        if any(isinstance(op, A.RefOp) for op in p.declarator.ops):
                            out |= {m.id for m in nodes(a) if isinstance(m, A.Name)}
            # storing through a pointer (p[i] = ..., p->f = ...) does not change p itself
            while isinstance(target, A.Paren) or (isinstance(target, A.Member)
                                                   and not target.arrow):
                target = target.x if isinstance(target, A.Paren) else target.base
            if isinstance(target, A.Name):
                out.add(target.id)
        return out

    # -- statements ------------------------------------------------------------------------------
    def stmt(self, s: A.Stmt) -> None:
        outer = self.stmt_pos
        if s.pos is not None:
            self.stmt_pos = s.pos
        try:
            getattr(self, "s_" + type(s).__name__)(s)
        finally:
            self.stmt_pos = outer

    def block_of(self, s: A.Stmt) -> Block:
        outer = self.scope
        self.scope = outer.child()
        try:
            with self.nested() as body:
                self.stmt(s)
        finally:
            self.scope = outer
        return Block(tuple(body))

    def s_Compound(self, s: A.Compound) -> None:
        outer = self.scope
        self.scope = outer.child()
        try:
            for item in s.items:
                self.stmt(item)
        finally:
            self.scope = outer

    def s_DeclStmt(self, s: A.DeclStmt) -> None:
        self.declaration(s.decl)

    def s_ExprStmt(self, s: A.ExprStmt) -> None:
        self.expr(s.x, discard=True)

    def s_Empty(self, s: A.Empty) -> None:
        pass

    def s_If(self, s: A.If) -> None:
        c = self.cond(s.cond)
        then = self.block_of(s.then)
        orelse = self.block_of(s.orelse) if s.orelse is not None else None
        if isinstance(c, Const):   # `if (0)` / `if (1)`: keep only the branch that runs
            chosen = then if c.value else orelse
            if chosen is not None:
                for st in chosen.stmts:
                    self.emit(st)
            return
        self.emit(If(c, then, orelse))

    def loop_body(self, s: A.Stmt, ctx: LoopCtx) -> Block:
        self.loops.append(ctx)
        self.func().c_loops += 1
        try:
            return self.block_of(s)
        finally:
            self.func().c_loops -= 1
            self.loops.pop()

    def after_loop(self, ctx: LoopCtx) -> None:
        """A return inside the loop of an inlined helper leaves the enclosing loops too."""
        f = self.func()
        if ctx.has_return[0] and f.done is not None:
            self.emit(If(f.done, Block((Break(),))))

    def s_While(self, s: A.While) -> None:
        ctx = LoopCtx()
        with self.nested() as pre:
            c = self.cond(s.cond)
        body = self.loop_body(s.body, ctx)
        if not pre:
            self.emit(While(c, body))
        else:
            test = Block(tuple(pre) + (If(Unary("not", c), Block((Break(),))),))
            self.emit(While(Const(True, BOOL), Block(test.stmts + body.stmts)))
        self.after_loop(ctx)

    def s_DoWhile(self, s: A.DoWhile) -> None:
        ctx = LoopCtx()
        with self.nested() as pre:
            c = self.cond(s.cond)
        if pre:
            def check() -> None:
                c2 = self.cond(s.cond)
                self.emit(If(Unary("not", c2), Block((Break(),))))
            ctx.on_continue = check
        body = self.loop_body(s.body, ctx)
        if not pre:
            self.emit(While(c, body, test_first=False))
        else:
            tail = tuple(pre) + (If(Unary("not", c), Block((Break(),))),)
            self.emit(While(Const(True, BOOL), Block(body.stmts + tail)))
        self.after_loop(ctx)

    def s_For(self, s: A.For) -> None:
        outer = self.scope
        self.scope = outer.child()
        try:
            if not self.canonical_for(s):
                self.general_for(s)
        finally:
            self.scope = outer

    def general_for(self, s: A.For) -> None:
        if isinstance(s.init, A.DeclStmt):
            self.declaration(s.init.decl)
        elif s.init is not None:
            self.expr(s.init, discard=True)
        step = s.step
        ctx = LoopCtx()
        if step is not None:
            def run_step() -> None:
                assert step is not None
                self.expr(step, discard=True)
            ctx.on_continue = run_step
        with self.nested() as pre:
            c = self.cond(s.cond) if s.cond is not None else Const(True, BOOL)
        body = self.loop_body(s.body, ctx)
        with self.nested() as tail:
            if step is not None:
                self.expr(step, discard=True)
        if not pre:
            self.emit(While(c, Block(body.stmts + tuple(tail))))
        else:
            test = tuple(pre) + (If(Unary("not", c), Block((Break(),))),)
            self.emit(While(Const(True, BOOL), Block(test + body.stmts + tuple(tail))))
        self.after_loop(ctx)

    def canonical_for(self, s: A.For) -> bool:
        """`for (T i = a; i < b; i += c)` with i untouched by the body, b invariant and c a
        positive constant (or a launch size): an IR For. False: not this shape."""
        if not isinstance(s.init, A.DeclStmt) or s.cond is None or s.step is None:
            return False
        d = s.init.decl
        if len(d.declarators) != 1 or d.declarators[0].init is None \
                or d.declarators[0].declarator.ops:
            return False
        name = d.declarators[0].declarator.name
        assert name is not None
        changed = self.assigned_names(s.body) | self.assigned_names(s.cond)
        if name in changed:
            return False
        bound = loop_bound(s.cond, name)
        inc = loop_step(s.step, name)
        if bound is None or inc is None:
            return False
        op, limit = bound
        if not self.invariant(limit, changed) or not self.positive(inc, changed):
            return False
        base, info = self.base_type(d.specs, self.scope)
        if not (isinstance(base, Scalar) and is_int(base) and base.lanes == 1
                and not base.st.is_bool) or info.has("static"):
            return False
        t = base
        start = self.rvalue(d.declarators[0].init)
        lim = self.rvalue(limit)
        if not is_int(lim.ctype) or lim.ctype.lanes != 1:
            return False
        from .ctype import common_type
        ct = common_type(t, lim.ctype)
        if ct is None or (ct.st != t.st and not self.nonnegative(start)):
            return False
        pos = s.pos
        v = Var(self.var_name(name), t.st)
        start_e = self.convert(start, t, pos)
        stop_e = self.convert(lim, t, pos)
        if op == "<=":
            stop_e = Binary("add", stop_e, const_of(1, t.st))
        step_e = self.convert(self.rvalue(inc), t, pos)
        self.scope.names[name] = VarLV(v, t)
        ctx = LoopCtx()
        body = self.loop_body(s.body, ctx)
        self.emit(For(v, start_e, stop_e, step_e, body))
        self.after_loop(ctx)
        return True

    def nonnegative(self, rv: RV) -> bool:
        e = rv.ir
        return (isinstance(e, Const) and e.value >= 0) or not rv.ctype.st.dtype.is_signed

    def invariant(self, e: A.Expr, changed: set[str]) -> bool:
        for n in nodes(e):
            if isinstance(n, A.Name) and n.id in changed:
                return False
            if isinstance(n, (A.Index, A.Assign, A.IncDec)):
                return False
            if isinstance(n, A.UnOp) and n.op in ("*", "&"):
                return False
            if isinstance(n, A.Member) and n.arrow:
                return False
            if isinstance(n, A.Call) and not (isinstance(n.func, A.Name)
                                              and n.func.id in PURE_CALLS):
                return False
        return True

    def positive(self, e: A.Expr, changed: set[str]) -> bool:
        """Whether e is surely positive: a positive constant, or launch sizes times such."""
        if isinstance(e, A.Paren):
            return self.positive(e.x, changed)
        if isinstance(e, (A.Number, A.Name)) or isinstance(e, A.BinOp):
            if isinstance(e, A.BinOp) and e.op in ("*", "+"):
                return self.positive(e.a, changed) and self.positive(e.b, changed)
            try:
                return self.const_int(e, self.scope) > 0
            except Exception:  # noqa: BLE001 - not a constant: no
                return False
        if isinstance(e, A.Member) and isinstance(e.base, A.Name) \
                and e.base.id in ("blockDim", "gridDim") and self.language == "cuda" \
                and self.scope.lookup(e.base.id) is None:
            return True
        if isinstance(e, A.Call) and isinstance(e.func, A.Name) and e.func.id in SIZE_BUILTINS \
                and self.scope.lookup(e.func.id) is None:
            return True
        return False

    def s_Break(self, s: A.Break) -> None:
        if self.func().c_loops == 0:
            raise s.pos.error("'break' outside a loop or switch")
        self.emit(Break())

    def s_Continue(self, s: A.Continue) -> None:
        if self.func().c_loops == 0:
            raise s.pos.error("'continue' outside a loop")
        ctx = self.loops[-1]
        if ctx.is_switch:
            raise unsupported(s.pos, "'continue' inside a switch is not supported")
        if ctx.on_continue is not None:
            ctx.on_continue()
        self.emit(Continue())

    def s_Return(self, s: A.Return) -> None:
        f = self.func()
        if len(self.funcs) == 1:     # the kernel itself
            if s.value is not None:
                raise s.pos.error("a kernel returns void; 'return' takes no value here")
            self.emit(Return())
            return
        if s.value is not None:
            if f.result is None:
                raise s.pos.error(f"'{f.name}' returns void; 'return' takes no value here")
            self.assign(f.result, self.returned(s.value, f), s.pos)
        elif not isinstance(f.ret_type, Void):
            raise self.stmt_pos.error(f"'{f.name}' returns {f.ret_type}; 'return' needs a value")
        if f.c_loops > 0 and f.done is not None:
            self.emit(Assign(f.done, Const(True, BOOL)))
            for ctx in self.loops[len(self.loops) - f.c_loops:]:
                ctx.has_return[0] = True
        self.emit(Break())

    def returned(self, e: A.Expr, f: FuncCtx) -> Obj:
        o = self.expr(e)
        if isinstance(f.ret_type, Scalar):
            return RV(f.ret_type, self.convert(self.to_rv(o, e.pos), f.ret_type, e.pos,
                                                "the returned value"))
        return o

    def s_Switch(self, s: A.Switch) -> None:
        v = self.rvalue(s.value)
        if not is_int(v.ctype) or v.ctype.lanes != 1:
            raise s.value.pos.error(f"switch needs an integer, not {v.ctype}")
        val = self.temp(self.value(promote_int(self, v)), "switch")
        items = s.body.items if isinstance(s.body, A.Compound) else (s.body,)
        groups: list[tuple[list[A.Expr | None], list[A.Stmt]]] = []
        for it in items:
            labels: list[A.Expr | None] = []
            while isinstance(it, A.Case):
                labels.append(it.value)
                it = it.body
            if labels:
                groups.append((labels, []))
            elif not groups:
                continue   # statements before the first label never run
            groups[-1][1].append(it)
        values = [lab for g in groups for lab in g[0] if lab is not None]
        consts = [const_of(self.const_int(x, self.scope), val.type) for x in values]
        any_case: Expr = Const(False, BOOL)
        for c in consts:
            any_case = Binary("lor", any_case, Binary("eq", val, c)) \
                if not (isinstance(any_case, Const)) else Binary("eq", val, c)
        matched = Var(self.fresh("matched"), BOOL)
        self.emit(Let(matched, Const(False, BOOL)))
        ctx = LoopCtx(is_switch=True)
        self.loops.append(ctx)
        self.func().c_loops += 1
        outer = self.scope
        self.scope = outer.child()
        try:
            with self.nested() as body:
                k = 0
                for labels, stmts in groups:
                    test: Expr = matched
                    for lab in labels:
                        hit = Unary("not", any_case) if lab is None \
                            else Binary("eq", val, consts[k])
                        k += lab is not None
                        test = Binary("lor", test, hit)
                    with self.nested() as seg:
                        self.emit(Assign(matched, Const(True, BOOL)))
                        for st in stmts:
                            self.stmt(st)
                    self.emit(If(test, Block(tuple(seg))))
        finally:
            self.scope = outer
            self.func().c_loops -= 1
            self.loops.pop()
        self.emit(While(Const(False, BOOL), Block(tuple(body)), test_first=False))
        self.after_loop(ctx)

    def s_Case(self, s: A.Case) -> None:
        raise s.pos.error("'case' outside a switch" if s.value is not None
                          else "'default' outside a switch")

    def s_Goto(self, s: A.Goto) -> None:
        raise unsupported(s.pos, "goto is not supported")



def loop_bound(cond: A.Expr, name: str) -> tuple[str, A.Expr] | None:
    while isinstance(cond, A.Paren):
        cond = cond.x
    if not isinstance(cond, A.BinOp):
        return None
    flip = {">": "<", ">=": "<="}
    if cond.op in ("<", "<=") and is_name(cond.a, name):
        return cond.op, cond.b
    if cond.op in (">", ">=") and is_name(cond.b, name):
        return flip[cond.op], cond.a
    return None


def loop_step(step: A.Expr, name: str) -> A.Expr | None:
    if isinstance(step, A.IncDec) and step.op == "++" and is_name(step.x, name):
        return A.Number(step.pos, "1")
    if isinstance(step, A.Assign) and is_name(step.target, name):
        if step.op == "+=":
            return step.value
        if step.op == "=" and isinstance(step.value, A.BinOp) and step.value.op == "+":
            if is_name(step.value.a, name):
                return step.value.b
            if is_name(step.value.b, name):
                return step.value.a
    return None


def is_name(e: A.Expr, name: str) -> bool:
    while isinstance(e, A.Paren):
        e = e.x
    return isinstance(e, A.Name) and e.id == name


def promote_int(lw: StmtLowerer, v: RV) -> RV:
    from .ctype import promote
    t = promote(v.ctype)
    return RV(t, lw.cast(lw.value(v), t.st))

"""Differential test of the interpreter's divergence machinery: random kernels of nested if /
for / while with break, continue, return and short-circuit conditions, run by the interpreter
(all work-items in lockstep, with masks) and by a plain walk of the IR one work-item at a time."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from dlc.ir import verify_kernel
from dlc.ir.kernel import (
    I32,
    Assign,
    Binary,
    Block,
    Break,
    Builtin,
    Const,
    Continue,
    Expr,
    For,
    If,
    Kernel,
    Let,
    Return,
    Select,
    Stmt,
    Store,
    Var,
    While,
)
from dlc.ir.kernel.expr import Buffer
from dlc.ir.kernel.interpret import run_kernel

SLOTS = 24
OUT = Buffer("out", I32, None, write=True, read=False)
GID = Builtin("global_id", 0, I32)
LID = Builtin("local_id", 0, I32)


class Gen:
    def __init__(self, seed: int):
        self.r = random.Random(seed)
        self.vars = [Var(f"v{i}", I32) for i in range(3)]
        self.loops = 0
        self.slot = 0
        self.n = 0

    def c(self, lo: int = -9, hi: int = 9) -> Const:
        return Const(self.r.randint(lo, hi), I32)

    def expr(self, depth: int = 2) -> Expr:
        r = self.r
        if depth == 0 or r.random() < 0.3:
            return r.choice([*self.vars, GID, LID, self.c(), self.c()])
        op = r.choice(["add", "sub", "mul", "and", "or", "xor", "min", "max", "shr", "sel"])
        if op == "shr":
            return Binary("shr", self.expr(depth - 1), Const(r.randint(0, 3), I32))
        if op == "sel":
            return Select(self.cond(depth - 1), self.expr(depth - 1), self.expr(depth - 1))
        return Binary(op, self.expr(depth - 1), self.expr(depth - 1))

    def cond(self, depth: int = 1) -> Expr:
        r = self.r
        c = Binary(r.choice(["lt", "le", "gt", "ge", "eq", "ne"]), self.expr(depth), self.c())
        if depth > 0 and r.random() < 0.3:
            return Binary(r.choice(["land", "lor"]), c, self.cond(depth - 1))
        return c

    def small(self) -> Expr:
        return Binary("and", self.expr(1), Const(self.r.randint(1, 7), I32))

    def store(self) -> Store:
        self.slot = (self.slot + 1) % SLOTS
        return Store(OUT, (Binary("add", Binary("mul", GID, Const(SLOTS, I32)),
                                  Const(self.slot, I32)),), self.expr())

    def block(self, depth: int) -> Block:
        return Block(tuple(self.stmt(depth) for _ in range(self.r.randint(1, 3))))

    def stmt(self, depth: int) -> Stmt:
        r = self.r
        kinds = ["assign", "assign", "store"]
        if depth > 0:
            kinds += ["if", "if", "for", "while"]
        if self.loops:
            kinds += ["exit"]
        kind = r.choice(kinds)
        if kind == "assign":
            return Assign(r.choice(self.vars), self.expr())
        if kind == "store":
            return self.store()
        if kind == "if":
            return If(self.cond(), self.block(depth - 1),
                      self.block(depth - 1) if r.random() < 0.5 else None)
        if kind == "exit":
            leave = r.choice([Break(), Continue(), Continue(), Return()])
            return If(self.cond(), Block((self.store(), leave)))
        self.n += 1
        self.loops += 1
        try:
            if kind == "for":
                return For(Var(f"i{self.n}", I32), self.c(-2, 2), self.small(), Const(
                    r.randint(1, 2), I32), self.block(depth - 1))
            count = Var(f"c{self.n}", I32)  # counts first, so continue cannot loop forever
            loop = While(Binary("lt", count, self.small()),
                         Block((Assign(count, Binary("add", count, Const(1, I32))),
                                *self.block(depth - 1).stmts)), r.random() < 0.7)
            return Block((Let(count, Const(0, I32)), loop))
        finally:
            self.loops -= 1

    def kernel(self) -> Kernel:
        body: list[Stmt] = [Let(v, Binary(self.r.choice(["add", "mul", "xor"]),
                                          self.r.choice([GID, LID]), self.c()))
                            for v in self.vars]
        body += [self.stmt(3) for _ in range(4)]
        for v in self.vars:
            self.slot = (self.slot + 1) % SLOTS
            body.append(Store(OUT, (Binary("add", Binary("mul", GID, Const(SLOTS, I32)),
                                           Const(self.slot, I32)),), v))
        from dlc.ir.kernel import Domain
        return Kernel("fuzz", (OUT,), Block(tuple(body)), Domain(1))


# -- the oracle: one work-item at a time, Python ints wrapped to 32 bits --------------------------

class Leave(Exception):
    pass


class BreakLoop(Leave):
    pass


class ContinueLoop(Leave):
    pass


class ReturnKernel(Leave):
    pass


def wrap(x: int) -> int:
    return (x + 2**31) % 2**32 - 2**31


def ev(e: Expr, env: dict[str, Any], ids: dict[str, int]) -> Any:
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Var):
        return env[e.name]
    if isinstance(e, Builtin):
        return ids[e.name]
    if isinstance(e, Select):
        return ev(e.a, env, ids) if ev(e.cond, env, ids) else ev(e.b, env, ids)
    assert isinstance(e, Binary)
    a = ev(e.a, env, ids)
    if e.op == "land":
        return a and ev(e.b, env, ids)
    if e.op == "lor":
        return a or ev(e.b, env, ids)
    b = ev(e.b, env, ids)
    ops = {"add": lambda: wrap(a + b), "sub": lambda: wrap(a - b), "mul": lambda: wrap(a * b),
           "and": lambda: a & b, "or": lambda: a | b, "xor": lambda: a ^ b,
           "min": lambda: min(a, b), "max": lambda: max(a, b), "shr": lambda: a >> b,
           "lt": lambda: a < b, "le": lambda: a <= b, "gt": lambda: a > b,
           "ge": lambda: a >= b, "eq": lambda: a == b, "ne": lambda: a != b}
    return ops[e.op]()


def run(s: Stmt, env: dict[str, Any], ids: dict[str, int], out: np.ndarray) -> None:
    if isinstance(s, Block):
        for x in s.stmts:
            run(x, env, ids, out)
    elif isinstance(s, (Let, Assign)):
        assert s.value is not None
        env[s.var.name] = ev(s.value, env, ids)
    elif isinstance(s, Store):
        out[ev(s.index[0], env, ids)] = ev(s.value, env, ids)
    elif isinstance(s, If):
        if ev(s.cond, env, ids):
            run(s.then, env, ids, out)
        elif s.orelse is not None:
            run(s.orelse, env, ids, out)
    elif isinstance(s, For):
        i, stop, step = (ev(x, env, ids) for x in (s.start, s.stop, s.step))
        while i < stop:
            env[s.var.name] = i
            try:
                run(s.body, env, ids, out)
            except BreakLoop:
                break
            except ContinueLoop:
                pass
            i += step
    elif isinstance(s, While):
        first = not s.test_first
        while first or ev(s.cond, env, ids):
            first = False
            try:
                run(s.body, env, ids, out)
            except BreakLoop:
                break
            except ContinueLoop:
                pass
    elif isinstance(s, Break):
        raise BreakLoop
    elif isinstance(s, Continue):
        raise ContinueLoop
    elif isinstance(s, Return):
        raise ReturnKernel


@pytest.mark.parametrize("seed", range(60))
def test_lockstep_with_masks_equals_one_work_item_at_a_time(seed: int) -> None:
    k = Gen(seed).kernel()
    verify_kernel(k)
    n, group = 40, 8
    got = np.full(n * SLOTS, -1, np.int32)
    run_kernel(k, [got], n, group)
    want = np.full(n * SLOTS, -1, np.int64)
    for g in range(n):
        try:
            run(k.body, {}, {"global_id": g, "local_id": g % group}, want)
        except ReturnKernel:
            pass
    np.testing.assert_array_equal(got, want, err_msg=str(k))


def test_the_generator_makes_every_construct() -> None:
    kinds: set[str] = set()
    from dlc.ir.kernel import walk
    for seed in range(60):
        kinds |= {type(n).__name__ for n in walk(Gen(seed).kernel().body)}
        kinds |= {n.op for n in walk(Gen(seed).kernel().body) if isinstance(n, Binary)}
    assert {"Break", "Continue", "Return", "For", "While", "If", "Select", "land",
            "lor"} <= kinds

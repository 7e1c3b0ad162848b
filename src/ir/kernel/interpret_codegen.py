"""Compile a Kernel once into a Python function that runs one batch of work-items in lockstep.

Every kernel value becomes a numpy value over the batch (a scalar where it is the same for every
work-item); control flow becomes masks, as a SIMT machine runs it: `m` is the set of work-items
executing the current statement (None: all of them), each loop keeps `lm` (work-items still
looping) and `im` (those still in this iteration), and `im0` the work-items not yet returned. An
assignment under a partial mask merges; loads, stores, atomics, integer division and warp votes
see the mask, so work-items that do not execute an access cannot fault. A barrier checks that each
group arrives whole. Lockstep order is one valid schedule of a race-free kernel, so results equal
those of any conforming device.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import interpret_numeric as N
from .expr import (
    ActiveMask,
    Ballot,
    Binary,
    Bitcast,
    Broadcast,
    Buffer,
    Builtin,
    Cast,
    Const,
    Expr,
    Extract,
    Insert,
    Load,
    MakeVector,
    Math,
    Select,
    Shuffle,
    Swizzle,
    Unary,
    Var,
    Vote,
)
from .interpret_analysis import INT_DIVS, exits, masked, parallel_nest
from .interpret_lanes import Site
from .interpret_memory import poison
from .stmt import (
    Alloc,
    Assign,
    Atomic,
    Barrier,
    Block,
    Break,
    Continue,
    For,
    If,
    Kernel,
    Let,
    Return,
    Stmt,
    Store,
    While,
)
from .types import BarrierScope, ScalarType

_OPERATORS = {"add": "+", "sub": "-", "mul": "*", "and": "&", "or": "|", "xor": "^", "eq": "==",
              "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _bcast(x: Any, n: int) -> Any:
    return np.repeat(np.asarray(x)[..., None], n, -1)


def _vec(*xs: Any) -> Any:
    return np.stack(np.broadcast_arrays(*xs), -1)


def _insert(x: Any, lane: int, v: Any) -> Any:
    xa, va = np.asarray(x), np.asarray(v)
    shape = np.broadcast_shapes(xa.shape[:-1], va.shape) + xa.shape[-1:]
    r = np.array(np.broadcast_to(xa, shape))
    r[..., lane] = va
    return r


@dataclass
class Compiled:
    """A kernel compiled for the interpreter: `fn(lanes, *params)` runs one batch."""

    fn: Any
    source: str
    sites: list[Site]
    barriers: int


class KernelCompiler:
    def __init__(self, k: Kernel):
        self.k = k
        self.lines: list[str] = []
        self.prologue: list[str] = []
        self.depth = 1
        self.globals: dict[str, Any] = {"np": np, "N": N, "_bcast": _bcast, "_vec": _vec,
                                        "_insert": _insert}
        self._global_keys: dict[tuple[str, Any], str] = {}
        self.scopes: list[dict[str, str]] = [{}]
        self.counter = 0
        self.sites: list[Site] = []
        self.stmt: Stmt | None = None
        self.stmt_site: int | None = None
        self.loops: list[tuple[str, str]] = []
        self.barriers = 0
        self.builtins: dict[tuple[str, int, str], str] = {}
        self.in_lanes_loop = False

    # -- names -----------------------------------------------------------------------------------
    def fresh(self, prefix: str, hint: str = "") -> str:
        self.counter += 1
        tail = re.sub(r"\W", "_", hint)[:24]
        return f"{prefix}{self.counter}{'_' + tail if tail else ''}"

    def declare(self, name: str, prefix: str) -> str:
        py = self.fresh(prefix, name)
        self.scopes[-1][name] = py
        return py

    def lookup(self, name: str) -> str:
        for s in reversed(self.scopes):
            if name in s:
                return s[name]
        raise KeyError(f"kernel '{self.k.name}': %{name} is not declared (run the verifier)")

    def glob(self, value: Any, prefix: str, key: Any = None) -> str:
        k = (prefix, key if key is not None else value)
        name = self._global_keys.get(k)
        if name is None:
            name = self._global_keys[k] = f"{prefix}{len(self._global_keys)}"
            self.globals[name] = value
        return name

    def dtype(self, t: ScalarType) -> str:
        return self.glob(t.dtype.np, "D", str(t.dtype))

    def stype(self, t: ScalarType) -> str:
        return self.glob(t, "T")

    def site(self) -> int:
        if self.stmt_site is None:
            from ..text.kernel_printer import stmt_summary
            assert self.stmt is not None
            self.sites.append(Site(stmt_summary(self.stmt), 0, getattr(self.stmt, "loc", None)))
            self.stmt_site = len(self.sites) - 1
        return self.stmt_site

    # -- output ----------------------------------------------------------------------------------
    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    @contextmanager
    def indented(self) -> Iterator[None]:
        self.depth += 1
        n = len(self.lines)
        try:
            yield
        finally:
            if len(self.lines) == n:
                self.emit("pass")
            self.depth -= 1

    @contextmanager
    def scope(self) -> Iterator[None]:
        self.scopes.append({})
        try:
            yield
        finally:
            self.scopes.pop()

    def temp(self, code: str, hint: str = "t") -> str:
        name = self.fresh(hint)
        self.emit(f"{name} = {code}")
        return name

    # -- the kernel ------------------------------------------------------------------------------
    def compile(self) -> Compiled:
        params = []
        for p in self.k.params:
            params.append(self.declare(p.name, "b" if isinstance(p, Buffer) else "p"))
        self.emit("m = None")
        self.emit("im0 = None")
        self.block(self.k.body)
        body = self.lines
        self.lines = []
        fname = "kernel_" + re.sub(r"\W", "_", self.k.name)
        source = f"def {fname}({', '.join(['R', *params])}):\n"
        source += "\n".join(self.prologue + body) + "\n"
        namespace = dict(self.globals)
        code = compile(source, f"<dlc kernel {self.k.name}>", "exec")
        exec(code, namespace)  # noqa: S102 - our own generated source
        fn = namespace[fname]
        return Compiled(fn, source, self.sites, self.barriers)

    # -- statements ------------------------------------------------------------------------------
    def block(self, b: Block) -> bool:
        """Emit the statements; True when the block always leaves early (the rest of the
        enclosing sequence is unreachable)."""
        with self.scope():
            for s in b.stmts:
                if self.statement(s):
                    return True
        return False

    def current_alive(self) -> str:
        return self.loops[-1][1] if self.loops else "im0"

    def statement(self, s: Stmt) -> bool:  # noqa: C901 - one case a statement kind
        outer = self.stmt, self.stmt_site
        self.stmt, self.stmt_site = s, None
        try:
            if isinstance(s, Let):
                t = s.var.type
                value = self.ex(s.value) if s.value is not None else self.poison(t)
                self.emit(f"{self.declare(s.var.name, 'v')} = {value}")
            elif isinstance(s, Assign):
                py = self.lookup(s.var.name)
                value = self.ex(s.value)
                vec = ", True" if s.var.type.lanes > 1 else ""
                self.emit(f"{py} = R.merge(m, {value}, {py}{vec})")
            elif isinstance(s, Store):
                self.store(s)
            elif isinstance(s, Atomic):
                self.atomic(s)
            elif isinstance(s, Alloc):
                b = s.buffer
                assert b.shape is not None
                dims = ", ".join(self.ex(d) for d in b.shape)
                py = self.declare(b.name, "b")
                self.emit(f"{py} = R.alloc({b.name!r}, {self.dtype(b.elem)}, {b.elem.lanes}, "
                          f"({dims},), {str(b.scope)!r})")
            elif isinstance(s, Barrier):
                self.barriers += 1
                from ..text.kernel_printer import stmt_summary
                self.sites.append(Site(stmt_summary(s), self.barriers, getattr(s, "loc", None)))
                if s.scope is not BarrierScope.WARP:  # a warp is in lockstep here already
                    self.emit(f"R.barrier(m, {len(self.sites) - 1})")
            elif isinstance(s, If):
                self.if_(s)
            elif isinstance(s, For):
                self.for_(s)
            elif isinstance(s, While):
                self.while_(s)
            elif isinstance(s, Block):
                ms = self.temp("m", "ms")
                if self.block(s):
                    return True
                if exits(s):
                    self.emit(f"m = R.both({ms}, {self.current_alive()})")
            elif isinstance(s, Return):
                for lm, im in self.loops:
                    self.emit(f"{lm} = R.minus({lm}, m)")
                    self.emit(f"{im} = R.minus({im}, m)")
                self.emit("im0 = R.minus(im0, m)")
                self.emit("m = R.EMPTY")
                return True
            elif isinstance(s, Break):
                lm, im = self.loops[-1]
                self.emit(f"{lm} = R.minus({lm}, m)")
                self.emit(f"{im} = R.minus({im}, m)")
                self.emit("m = R.EMPTY")
                return True
            elif isinstance(s, Continue):
                im = self.loops[-1][1]
                self.emit(f"{im} = R.minus({im}, m)")
                self.emit("m = R.EMPTY")
                return True
            else:
                raise TypeError(f"the interpreter has no rule for {type(s).__name__}")
            return False
        finally:
            self.stmt, self.stmt_site = outer

    def poison(self, t: ScalarType) -> str:
        p = poison(t.dtype.np, 1, t.lanes)[0]
        return self.glob(p, "P", str(t))

    def store(self, s: Store) -> None:
        b = s.buffer
        vl = s.value.type.lanes if b.elem.lanes == 1 else 1
        idx = self.index(s.index)
        value = self.ex(s.value)
        self.emit(f"R.store({self.lookup(b.name)}, {idx}, {value}, m, {self.site()}, {vl})")

    def atomic(self, s: Atomic) -> None:
        b = s.buffer
        idx = self.index(s.index)
        value = self.ex(s.value) if s.value is not None else "None"
        compare = self.ex(s.compare) if s.compare is not None else "None"
        op = self.glob(s.op, "OP", str(s.op))
        call = (f"R.atomic({self.lookup(b.name)}, {op}, {idx}, {value}, {compare}, m, "
                f"{self.site()}, {s.result is not None})")
        if s.result is not None:
            self.emit(f"{self.declare(s.result.name, 'v')} = {call}")
        else:
            self.emit(call)

    def if_(self, s: If) -> None:
        cond = self.ex(s.cond)
        ms = self.temp("m", "ms")
        c = self.temp(cond, "c")
        self.emit(f"m = R.and_({ms}, {c})")
        self.emit("if R.any(m):")
        with self.indented():
            self.block(s.then)
        if s.orelse is not None:
            self.emit(f"m = R.andnot({ms}, {c})")
            self.emit("if R.any(m):")
            with self.indented():
                self.block(s.orelse)
        if exits(s):
            self.emit(f"m = R.both({ms}, {self.current_alive()})")
        else:
            self.emit(f"m = {ms}")

    @contextmanager
    def loop(self) -> Iterator[tuple[str, str]]:
        lm, im = self.fresh("lm"), self.fresh("im")
        self.loops.append((lm, im))
        try:
            yield lm, im
        finally:
            self.loops.pop()

    def after_loop(self, s: For | While, ms: str) -> None:
        if exits(s):
            self.emit(f"m = R.both({ms}, {self.current_alive()})")
        else:
            self.emit(f"m = {ms}")

    def for_(self, s: For) -> None:
        if self.k.domain is None and not self.in_lanes_loop:
            nest = parallel_nest(s)
            if nest:
                return self.parallel_for(nest)
        ms = self.temp("m", "ms")
        start, stop, step = self.ex(s.start), self.ex(s.stop), self.ex(s.step)
        stop, step = self.temp(stop, "stop"), self.temp(step, "step")
        with self.scope(), self.loop() as (lm, im):
            v = self.declare(s.var.name, "v")
            self.emit(f"{v} = {start}")
            self.emit(f"{lm} = m")
            self.emit("while True:")
            with self.indented():
                self.emit(f"{lm} = R.and_({lm}, {v} < {stop})")
                self.emit(f"if not R.any({lm}):")
                with self.indented():
                    self.emit("break")
                self.emit(f"{im} = m = {lm}")
                self.block(s.body)
                self.emit(f"{v} = {v} + {step}")
        self.after_loop(s, ms)

    def parallel_for(self, nest: list[For]) -> None:
        """Parallel loops of a kernel without a domain: all iterations at once, as lanes."""
        ms = self.temp("m", "ms")
        loops = []
        for f in nest:
            start, stop, step = (self.temp(self.ex(e), h) for e, h in
                                 ((f.start, "start"), (f.stop, "stop"), (f.step, "step")))
            loops.append(f"({f.var.name!r}, {start}, {stop}, {step}, {self.dtype(f.var.type)})")
        outer = self.temp("R", "Rp")
        self.emit("if R.any(m):")  # not after the kernel returned
        with self.indented(), self.scope(), self.loop() as (lm, im):
            names = [self.declare(f.var.name, "v") for f in nest]
            self.emit(f"for R, ({''.join(n + ', ' for n in names)}) in "
                      f"{outer}.parallel(({''.join(x + ', ' for x in loops)})):")
            with self.indented():
                self.emit(f"m = {lm} = {im} = None")
                self.in_lanes_loop = True
                try:
                    self.block(nest[-1].body)
                finally:
                    self.in_lanes_loop = False
        self.emit(f"R = {outer}")
        self.emit(f"m = {ms}")

    def while_(self, s: While) -> None:
        ms = self.temp("m", "ms")
        with self.loop() as (lm, im):
            self.emit(f"{lm} = m")
            self.emit("while True:")
            with self.indented():
                if s.test_first:
                    self.loop_test(s, lm)
                self.emit(f"{im} = m = {lm}")
                self.block(s.body)
                if not s.test_first:
                    self.loop_test(s, lm)
        self.after_loop(s, ms)

    def loop_test(self, s: While, lm: str) -> None:
        outer = self.stmt, self.stmt_site
        self.stmt, self.stmt_site = s, None
        self.emit(f"m = {lm}")
        cond = self.ex(s.cond)
        self.emit(f"{lm} = R.and_({lm}, {cond})")
        self.emit(f"if not R.any({lm}):")
        with self.indented():
            self.emit("break")
        self.stmt, self.stmt_site = outer

    # -- expressions -----------------------------------------------------------------------------
    def index(self, index: tuple[Expr, ...], m: str = "m") -> str:
        return "(" + "".join(self.ex(i, m) + ", " for i in index) + ")"

    def ex(self, e: Expr, m: str = "m") -> str:  # noqa: C901 - one case an expression kind
        if isinstance(e, Const):
            return self.glob(np.asarray(e.value, e.type.dtype.np)[()], "K", e)
        if isinstance(e, Var):
            return self.lookup(e.name)
        if isinstance(e, Builtin):
            key = (e.name, e.axis, str(e.type.dtype))
            name = self.builtins.get(key)
            if name is None:
                name = self.builtins[key] = f"g_{e.name}_{e.axis}_{e.type.dtype}"
                self.prologue.append(f"    {name} = R.builtin({e.name!r}, {e.axis}, "
                                     f"{self.dtype(e.type)})")
            return name
        if isinstance(e, Load):
            vl = f", {e.lanes}" if e.lanes > 1 else ""
            return f"R.load({self.lookup(e.buffer.name)}, {self.index(e.index, m)}, {m}, " \
                   f"{self.site()}{vl})"
        if isinstance(e, Unary):
            fn = {"neg": "np.negative", "not": "np.logical_not", "bitnot": "np.invert"}[e.op]
            return f"{fn}({self.ex(e.x, m)})"
        if isinstance(e, Binary):
            return self.binary(e, m)
        if isinstance(e, Math):
            fn = self.glob(N.MATH_IMPL[e.fn], "F", e.fn)
            return f"{fn}({', '.join(self.ex(a, m) for a in e.args)})"
        if isinstance(e, Cast):
            if e.type == e.x.type:
                return self.ex(e.x, m)
            return f"N.cast({self.ex(e.x, m)}, {self.stype(e.x.type)}, {self.stype(e.type)})"
        if isinstance(e, Bitcast):
            return f"N.bitcast({self.ex(e.x, m)}, {self.stype(e.x.type)}, {self.stype(e.type)})"
        if isinstance(e, Select):
            return self.select(e, m)
        if isinstance(e, Broadcast):
            return f"_bcast({self.ex(e.x, m)}, {e.lanes})"
        if isinstance(e, MakeVector):
            return f"_vec({', '.join(self.ex(x, m) for x in e.elems)})"
        if isinstance(e, Extract):
            return f"np.asarray({self.ex(e.x, m)})[..., {e.lane}]"
        if isinstance(e, Insert):
            return f"_insert({self.ex(e.x, m)}, {e.lane}, {self.ex(e.value, m)})"
        if isinstance(e, Swizzle):
            return f"np.asarray({self.ex(e.x, m)})[..., {list(e.lanes)}]"
        if isinstance(e, Shuffle):
            mode = self.glob(e.mode, "SH", str(e.mode))
            return (f"R.shuffle({mode}, {self.ex(e.x, m)}, {self.ex(e.lane, m)}, {e.width}, "
                    f"{e.x.type.lanes > 1})")
        if isinstance(e, Ballot):
            return f"R.ballot({self.ex(e.pred, m)}, {m}, {self.dtype(e.type)})"
        if isinstance(e, ActiveMask):
            return f"R.ballot(True, {m}, {self.dtype(e.type)})"
        if isinstance(e, Vote):
            mode = self.glob(e.mode, "VM", str(e.mode))
            return f"R.vote({mode}, {self.ex(e.pred, m)}, {m})"
        raise TypeError(f"the interpreter has no rule for {type(e).__name__}")

    def binary(self, e: Binary, m: str) -> str:
        t = e.a.type
        if e.op in ("land", "lor"):
            a = self.ex(e.a, m)
            if t.lanes == 1 and masked(e.b):  # short-circuit: b only where it is evaluated
                ta = self.temp(a)
                mb = self.temp(f"R.{'and_' if e.op == 'land' else 'andnot'}({m}, {ta})", "mb")
                return f"({ta} {'&' if e.op == 'land' else '|'} {self.ex(e.b, mb)})"
            return f"({a} {'&' if e.op == 'land' else '|'} {self.ex(e.b, m)})"
        a, b = self.ex(e.a, m), self.ex(e.b, m)
        if e.op in INT_DIVS:
            if t.is_int:
                return f"R.int_div({e.op!r}, {a}, {b}, {m}, {self.site()})"
            return f"({a} / {b})" if e.op == "div" else f"np.fmod({a}, {b})"
        if e.op in ("min", "max"):
            fn = ("np.fmin" if e.op == "min" else "np.fmax") if t.is_float else \
                ("np.minimum" if e.op == "min" else "np.maximum")
            return f"{fn}({a}, {b})"
        if e.op in ("shl", "shr"):
            return f"N.shift({a}, {b}, {e.op == 'shl'}, {t.dtype.bits})"
        return f"({a} {_OPERATORS[e.op]} {b})"

    def select(self, e: Select, m: str) -> str:
        widen = e.cond.type.lanes == 1 and e.type.lanes > 1
        cond = self.ex(e.cond, m)
        if e.cond.type.lanes == 1 and (masked(e.a) or masked(e.b)):
            c = self.temp(cond, "c")
            a = self.ex(e.a, self.temp(f"R.and_({m}, {c})", "ma"))
            b = self.ex(e.b, self.temp(f"R.andnot({m}, {c})", "mb"))
            return f"R.select({c}, {a}, {b}, {widen})"
        return f"R.select({cond}, {self.ex(e.a, m)}, {self.ex(e.b, m)}, {widen})"


def compile_kernel(k: Kernel) -> Compiled:
    """The batch function of `k` (the kernel should have passed the verifier)."""
    return KernelCompiler(k).compile()


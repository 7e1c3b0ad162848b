"""Check a kernel's invariants: names in scope, operand types, integer index expressions, buffer
scopes and access, SPMD-only constructs. Errors name the kernel and the statement (its first line
of text). Used through dlc.ir.verify.verify_kernel."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from ...errors import VerifyError
from .expr import (
    AXIS_BUILTINS,
    BINARY_OPS,
    BUILTINS,
    MATH,
    UNARY_OPS,
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
from .types import (
    BOOL,
    AtomicOp,
    BarrierScope,
    ForKind,
    MemScope,
    ScalarType,
    ShuffleMode,
    VoteMode,
)

PARAM_SCOPES = (MemScope.GLOBAL, MemScope.CONSTANT, MemScope.LOCAL)
ALLOC_SCOPES = (MemScope.LOCAL, MemScope.PRIVATE)


class KernelVerifier:
    def __init__(self, k: Kernel, prefix: str = ""):
        self.k = k
        self.prefix = f"{prefix}kernel '{k.name}'"
        self.scopes: list[dict[str, Var | Buffer]] = []
        self.stmt: Stmt | None = None
        self.loops = 0

    def fail(self, message: str) -> NoReturn:
        where = self.prefix
        if self.stmt is not None:
            from ..text.kernel_printer import stmt_summary
            try:
                where += f", at `{stmt_summary(self.stmt)}`"
            except Exception:  # noqa: BLE001 - a statement too broken to print
                where += f", at a {type(self.stmt).__name__} statement"
        raise VerifyError(f"{where}: {message}")

    # -- scopes ----------------------------------------------------------------------------------
    @contextmanager
    def scope(self) -> Iterator[None]:
        self.scopes.append({})
        try:
            yield
        finally:
            self.scopes.pop()

    def visible(self, name: str) -> Var | Buffer | None:
        for s in reversed(self.scopes):
            if name in s:
                return s[name]
        return None

    def declare(self, item: Var | Buffer, what: str) -> None:
        if self.visible(item.name) is not None:
            self.fail(f"{what} %{item.name} is declared again while the first is in scope")
        self.scopes[-1][item.name] = item

    def use_var(self, v: Var) -> None:
        d = self.visible(v.name)
        if d is None:
            self.fail(f"variable %{v.name} is not declared here")
        if not isinstance(d, Var):
            self.fail(f"%{v.name} is a buffer, used as a variable")
        if d.type != v.type:
            self.fail(f"variable %{v.name} is declared {d.type} but used as {v.type}")

    def use_buffer(self, b: Buffer) -> None:
        d = self.visible(b.name)
        if d is None:
            self.fail(f"buffer %{b.name} is not declared here")
        if d != b:
            self.fail(f"buffer %{b.name} is used with a different declaration than it has "
                      f"({b.elem} {b.scope} vs {d.elem if isinstance(d, Buffer) else d.type})")

    # -- the kernel ------------------------------------------------------------------------------
    def run(self) -> None:
        k = self.k
        if k.domain is not None:
            d = k.domain
            if not 1 <= d.ndim <= 3:
                self.fail(f"an SPMD domain has 1 to 3 axes, not {d.ndim}")
            if d.local_size is not None and (len(d.local_size) != d.ndim
                                             or any(x <= 0 for x in d.local_size)):
                self.fail(f"local size {list(d.local_size)} does not fit {d.ndim} axes")
        with self.scope():
            for p in k.params:
                if isinstance(p, Var):
                    self.declare(p, "parameter")
                    self.check_type(p.type)
            for p in k.params:
                if isinstance(p, Buffer):
                    self.declare(p, "parameter")
                    self.buffer_decl(p, PARAM_SCOPES, "a parameter")
                elif not isinstance(p, Var):
                    self.fail(f"parameter {p!r} is neither a Buffer nor a Var")
            if k.dynamic_shared is not None:
                self.dynamic_shared(k.dynamic_shared)
            self.block(k.body)

    def dynamic_shared(self, name: str) -> None:
        self.spmd("dynamic shared memory")
        b = next((p for p in self.k.params if p.name == name), None)
        if not isinstance(b, Buffer) or b.scope is not MemScope.LOCAL or b.shape is not None:
            self.fail(f"dynamic_shared(%{name}) must name a flat local buffer parameter")

    def check_type(self, t: ScalarType) -> None:
        if not isinstance(t, ScalarType) or t.lanes < 1:
            self.fail(f"{t!r} is not a kernel type")

    def buffer_decl(self, b: Buffer, scopes: tuple[MemScope, ...], what: str) -> None:
        self.check_type(b.elem)
        if b.scope not in scopes:
            self.fail(f"buffer %{b.name} is in {b.scope!s} memory, which {what} cannot be "
                      f"(it can be {', '.join(str(s) for s in scopes)})")
        if not (b.read or b.write):
            self.fail(f"buffer %{b.name} is neither read nor written")
        if b.scope is MemScope.CONSTANT and b.write:
            self.fail(f"buffer %{b.name} is in constant memory, which is read-only")
        for d in b.shape or ():
            self.index(d, f"dimension of buffer %{b.name}")

    # -- statements ------------------------------------------------------------------------------
    def block(self, b: Block) -> None:
        if not isinstance(b, Block):
            self.fail(f"expected a Block, got {type(b).__name__}")
        with self.scope():
            for s in b.stmts:
                self.statement(s)

    def statement(self, s: Stmt) -> None:  # noqa: C901 - one case a statement kind
        outer, self.stmt = self.stmt, s
        try:
            if isinstance(s, Let):
                self.check_type(s.var.type)
                if s.value is not None:
                    self.expect(s.value, s.var.type, f"the value of %{s.var.name}")
                self.declare(s.var, "variable")
            elif isinstance(s, Assign):
                self.use_var(s.var)
                self.expect(s.value, s.var.type, f"the value of %{s.var.name}")
            elif isinstance(s, Store):
                self.writable(s.buffer, "stores to")
                self.indices(s.buffer, s.index)
                self.stored(s.buffer, s.value)
            elif isinstance(s, For):
                self.loop(s)
            elif isinstance(s, While):
                self.expect(s.cond, BOOL, "a loop condition")
                self.in_loop(s.body)
            elif isinstance(s, If):
                self.expect(s.cond, BOOL, "an if condition")
                self.block(s.then)
                if s.orelse is not None:
                    self.block(s.orelse)
            elif isinstance(s, Block):
                self.block(s)
            elif isinstance(s, Alloc):
                self.buffer_decl(s.buffer, ALLOC_SCOPES, "an alloc")
                if s.buffer.shape is None:
                    self.fail(f"alloc %{s.buffer.name} needs a shape")
                self.declare(s.buffer, "buffer")
            elif isinstance(s, Barrier):
                if not isinstance(s.scope, BarrierScope):
                    self.fail(f"barrier scope {s.scope!r} is not a BarrierScope")
                self.spmd("a barrier")
            elif isinstance(s, Atomic):
                self.atomic(s)
            elif isinstance(s, (Break, Continue)):
                if self.loops == 0:
                    self.fail(f"{type(s).__name__.lower()} outside a loop")
            elif not isinstance(s, Return):
                self.fail(f"{type(s).__name__} is not a kernel statement")
        finally:
            self.stmt = outer

    def loop(self, s: For) -> None:
        if not isinstance(s.kind, ForKind):
            self.fail(f"loop kind {s.kind!r} is not a ForKind")
        t = s.var.type
        if not t.is_int or t.lanes != 1:
            self.fail(f"loop variable %{s.var.name} must be a scalar integer, not {t}")
        for what, e in (("start", s.start), ("stop", s.stop), ("step", s.step)):
            self.expect(e, t, f"the loop's {what}")
        with self.scope():
            self.declare(s.var, "loop variable")
            self.in_loop(s.body)

    def in_loop(self, body: Block) -> None:
        self.loops += 1
        try:
            self.block(body)
        finally:
            self.loops -= 1

    def atomic(self, s: Atomic) -> None:
        b, et = s.buffer, s.buffer.elem
        if not isinstance(s.op, AtomicOp):
            self.fail(f"atomic op {s.op!r} is not an AtomicOp")
        self.writable(b, "updates")
        if b.scope not in (MemScope.GLOBAL, MemScope.LOCAL):
            self.fail(f"atomics work on global or local buffers, not {b.scope!s} %{b.name}")
        if et.lanes != 1 or not (et.is_int or et.is_float):
            self.fail(f"atomics work on scalar ints and floats, not {et}")
        if s.op in (AtomicOp.AND, AtomicOp.OR, AtomicOp.XOR) and not et.is_int:
            self.fail(f"atomic {s.op} needs an integer buffer, not {et}")
        self.indices(b, s.index)
        no_value = s.op in (AtomicOp.INC, AtomicOp.DEC)
        if no_value and s.value is not None:
            self.fail(f"atomic {s.op} takes no value")
        if not no_value:
            if s.value is None:
                self.fail(f"atomic {s.op} needs a value")
            self.expect(s.value, et, f"the value of atomic {s.op}")
        if (s.op is AtomicOp.CAS) != (s.compare is not None):
            self.fail("a compare value goes with atomic cas, and only with it")
        if s.compare is not None:
            self.expect(s.compare, et, "the compare value")
        if s.result is not None:
            if s.result.type != et:
                self.fail(f"the result %{s.result.name} is {s.result.type}, the buffer holds {et}")
            self.declare(s.result, "variable")

    def writable(self, b: Buffer, verb: str) -> None:
        self.use_buffer(b)
        if not b.write:
            self.fail(f"{verb} buffer %{b.name}, which is read-only")

    def stored(self, b: Buffer, value: Expr) -> None:
        t = self.expr(value)
        if t == b.elem:
            return
        if b.elem.lanes == 1 and t.dtype == b.elem.dtype and t.lanes > 1:
            return  # a vector store of consecutive elements
        self.fail(f"stores a {t} value into buffer %{b.name} of {b.elem}")

    # -- expressions -----------------------------------------------------------------------------
    def expect(self, e: Expr, t: ScalarType, what: str) -> None:
        got = self.expr(e)
        if got != t:
            self.fail(f"{what} is {got}, expected {t}")

    def index(self, e: Expr, what: str) -> None:
        t = self.expr(e)
        if not t.is_int or t.lanes != 1:
            self.fail(f"{what} must be a scalar integer, not {t} (`{e}`)")

    def indices(self, b: Buffer, index: tuple[Expr, ...]) -> None:
        if len(index) != b.rank:
            self.fail(f"buffer %{b.name} takes {b.rank} index(es), got {len(index)}")
        for i, e in enumerate(index):
            self.index(e, f"index {i} of %{b.name}")

    def spmd(self, what: str) -> None:
        if self.k.domain is None:
            self.fail(f"{what} is only allowed in SPMD kernels (this kernel has no domain)")

    def expr(self, e: Expr) -> ScalarType:  # noqa: C901 - one case an expression kind
        if not isinstance(e, Expr):
            self.fail(f"{e!r} is not a kernel expression")
        if isinstance(e, Const):
            if e.type.lanes != 1:
                self.fail(f"constant {e.value!r} has vector type {e.type}; use broadcast")
            if e.type.is_int:
                bits = e.type.dtype.bits
                lo, hi = ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if e.type.dtype.is_signed
                          else (0, (1 << bits) - 1))
                if not lo <= int(e.value) <= hi:
                    self.fail(f"constant {e.value} does not fit {e.type}")
            return e.type
        if isinstance(e, Var):
            self.use_var(e)
            return e.type
        if isinstance(e, Builtin):
            self.spmd(f"builtin {e.name}()")
            if e.name not in BUILTINS:
                self.fail(f"unknown builtin '{e.name}'")
            assert self.k.domain is not None
            if e.name in AXIS_BUILTINS and not 0 <= e.axis < self.k.domain.ndim:
                self.fail(f"{e.name}({e.axis}): the domain has {self.k.domain.ndim} axes")
            if not e.type.is_int or e.type.lanes != 1:
                self.fail(f"builtin {e.name}() must have a scalar integer type, not {e.type}")
            return e.type
        if isinstance(e, Load):
            self.use_buffer(e.buffer)
            if not e.buffer.read:
                self.fail(f"reads buffer %{e.buffer.name}, which is write-only")
            self.indices(e.buffer, e.index)
            if e.lanes < 1 or (e.lanes > 1 and e.buffer.elem.lanes != 1):
                self.fail(f"a {e.lanes}-lane load needs a buffer of scalars")
            return e.type
        if isinstance(e, Unary):
            t = self.expr(e.x)
            kind = UNARY_OPS.get(e.op)
            if kind is None:
                self.fail(f"unknown unary op '{e.op}'")
            self.kind_ok(kind, t, e.op)
            return t
        if isinstance(e, Binary):
            if e.op not in BINARY_OPS:
                self.fail(f"unknown binary op '{e.op}'")
            ta, tb = self.expr(e.a), self.expr(e.b)
            if ta != tb:
                self.fail(f"operands of {e.op} have types {ta} and {tb} (`{e}`); cast one")
            self.kind_ok(BINARY_OPS[e.op], ta, e.op)
            return e.type
        if isinstance(e, Math):
            info = MATH.get(e.fn)
            if info is None:
                self.fail(f"unknown math function '{e.fn}'")
            if len(e.args) != info.arity:
                self.fail(f"{e.fn} takes {info.arity} operand(s), got {len(e.args)}")
            types = {self.expr(a) for a in e.args}
            if len(types) != 1:
                self.fail(f"operands of {e.fn} have types {', '.join(sorted(map(str, types)))}")
            self.kind_ok(info.domain, types.pop(), e.fn)
            return e.type
        if isinstance(e, (Cast, Bitcast)):
            t = self.expr(e.x)
            self.check_type(e.type)
            if isinstance(e, Cast) and t.lanes != e.type.lanes:
                self.fail(f"cast from {t} to {e.type} changes the lane count")
            if isinstance(e, Bitcast) and t.bits != e.type.bits:
                self.fail(f"bitcast from {t} to {e.type} changes the width")
            return e.type
        if isinstance(e, Select):
            tc, ta, tb = self.expr(e.cond), self.expr(e.a), self.expr(e.b)
            if not tc.is_bool or tc.lanes not in (1, ta.lanes):
                self.fail(f"select's condition is {tc}; it must be bool or bool x{ta.lanes}")
            if ta != tb:
                self.fail(f"select's operands have types {ta} and {tb}")
            return ta
        return self.vector_or_warp(e)

    def vector_or_warp(self, e: Expr) -> ScalarType:  # noqa: C901
        if isinstance(e, Broadcast):
            t = self.expr(e.x)
            if t.lanes != 1 or e.lanes < 2:
                self.fail(f"broadcast takes a scalar to 2 or more lanes, not {t} to {e.lanes}")
        elif isinstance(e, MakeVector):
            types = {self.expr(x) for x in e.elems}
            if len(e.elems) < 2 or len(types) != 1 or next(iter(types)).lanes != 1:
                self.fail("vec(...) takes two or more scalars of one type")
        elif isinstance(e, (Extract, Insert)):
            t = self.expr(e.x)
            if not 0 <= e.lane < t.lanes or t.lanes < 2:
                self.fail(f"lane {e.lane} of a {t} value")
            if isinstance(e, Insert) and self.expr(e.value) != t.element:
                self.fail(f"inserts a {self.expr(e.value)} into a {t} value")
        elif isinstance(e, Swizzle):
            t = self.expr(e.x)
            if len(e.lanes) < 2 or any(not 0 <= i < t.lanes for i in e.lanes):
                self.fail(f"swizzle lanes {list(e.lanes)} of a {t} value")
        elif isinstance(e, Shuffle):
            self.spmd("a warp shuffle")
            if not isinstance(e.mode, ShuffleMode):
                self.fail(f"shuffle mode {e.mode!r} is not a ShuffleMode")
            self.expr(e.x)
            self.index(e.lane, "a shuffle's lane")
            if e.width is not None and (e.width <= 0 or e.width & (e.width - 1)):
                self.fail(f"shuffle width {e.width} is not a power of two")
        elif isinstance(e, (Ballot, Vote)):
            self.spmd(f"warp {type(e).__name__.lower()}")
            if isinstance(e, Vote) and not isinstance(e.mode, VoteMode):
                self.fail(f"vote mode {e.mode!r} is not a VoteMode")
            t = self.expr(e.pred)
            if not t.is_bool or t.lanes != 1:
                self.fail(f"a warp vote's predicate must be bool, not {t}")
        elif isinstance(e, ActiveMask):
            self.spmd("activemask()")
        else:
            self.fail(f"{type(e).__name__} is not a kernel expression")
        return e.type

    def kind_ok(self, kind: str, t: ScalarType, op: str) -> None:
        ok = {"num": (t.is_int or t.is_float), "float": t.is_float, "int": t.is_int,
              "bits": t.is_int or t.is_bool, "bool": t.is_bool, "cmp": True}[kind]
        if not ok:
            what = {"num": "numbers", "float": "floats", "int": "integers",
                    "bits": "integers or bools", "bool": "bools"}[kind]
            self.fail(f"{op} takes {what}, not {t}")


def verify_kernel(k: Kernel, prefix: str = "") -> None:
    """Raise VerifyError naming the kernel and statement where an invariant does not hold."""
    if not isinstance(k, Kernel):
        raise VerifyError(f"{prefix}expected a Kernel, got {type(k).__name__}")
    KernelVerifier(k, prefix).run()

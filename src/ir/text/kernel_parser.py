"""Build kernels from the parse tree of their text form (see dlc_ir.lark).

Names resolve through nested scopes (kernel parameters, then each block); bare literals take the
type their context expects, by the same rule the printer used to leave their type off.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ...errors import ParseError
from ..kernel.expr import (
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
from ..kernel.stmt import (
    Alloc,
    Assign,
    Atomic,
    Barrier,
    Block,
    Break,
    Continue,
    Domain,
    For,
    If,
    Kernel,
    Let,
    Param,
    Return,
    Stmt,
    Store,
    While,
)
from ..kernel.types import (
    BOOL,
    I32,
    U32,
    AtomicOp,
    BarrierScope,
    ForKind,
    MemScope,
    ScalarType,
    ShuffleMode,
    VoteMode,
)
from .kernel_printer import literal_type, result_expectation
from .lexical import parse_float, unquote

LITERALS = frozenset({"lit_int", "lit_float", "lit_true", "lit_false"})
ACCESS = {"r": (True, False), "w": (False, True), "rw": (True, True), "none": (False, False)}
Syn = Any  # a lark tree or token (their children are untyped)


class KernelReader:
    def __init__(self, error: Callable[[Syn, str], ParseError]):
        self.error_at = error
        self.scopes: list[dict[str, Var | Buffer]] = []

    def fail(self, at: Syn, message: str) -> NoReturn:
        raise self.error_at(at, message)

    # -- names and types -------------------------------------------------------------------------
    def declare(self, tok: Syn, item: Var | Buffer) -> None:
        self.scopes[-1][item.name] = item

    def lookup(self, tok: Syn) -> Var | Buffer:
        name = unquote(str(tok)[1:])
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        self.fail(tok, f"'%{name}' is not declared here")

    def var(self, tok: Syn) -> Var:
        v = self.lookup(tok)
        if not isinstance(v, Var):
            self.fail(tok, f"'{tok}' is a buffer; index it (`{tok}[i]`) to read an element")
        return v

    def buffer(self, tok: Syn) -> Buffer:
        b = self.lookup(tok)
        if not isinstance(b, Buffer):
            self.fail(tok, f"'{tok}' is a variable, not a buffer")
        return b

    def scalar_type(self, tok: Syn) -> ScalarType:
        try:
            return ScalarType.parse(str(tok))
        except ValueError as e:
            self.fail(tok, str(e))

    def enum(self, cls: Any, tok: Syn) -> Any:
        try:
            return cls(str(tok))
        except ValueError:
            self.fail(tok, f"'{tok}' is not one of {', '.join(m.value for m in cls)}")

    # -- kernels ---------------------------------------------------------------------------------
    def kernel(self, t: Syn) -> tuple[Kernel, str]:
        name_tok, params_t, domain_t, dyn_t, ref_tok, body_t = t.children
        self.scopes = [{}]
        decls = params_t.children if params_t is not None else []
        # scalars first: buffer shapes may name any scalar parameter
        for d in decls:
            if d.data == "scalar_param":
                self.declare(d.children[0], Var(unquote(d.children[0][1:]),
                                                self.scalar_type(d.children[1])))
        params: list[Param] = []
        for d in decls:
            if d.data == "scalar_param":
                params.append(self.var(d.children[0]))
            else:
                b = self.bufdecl(d)
                self.declare(d.children[0], b)
                params.append(b)
        domain = None
        if domain_t is not None:
            ndim, local = domain_t.children
            sizes = None if local is None else tuple(int(x) for x in local.children)
            domain = Domain(int(ndim), sizes)
        body = self.block(body_t)
        name = unquote(name_tok[1:])
        ref = unquote(ref_tok[1:]) if ref_tok is not None else name
        dyn = unquote(dyn_t.children[0][1:]) if dyn_t is not None else None
        return Kernel(name, tuple(params), body, domain, dyn), ref

    def bufdecl(self, t: Syn) -> Buffer:
        name_tok, elem_tok, shape_t, scope_tok, access_tok = t.children
        shape = None
        if shape_t.data == "shaped":
            shape = tuple(self.expr(d, None) for d in shape_t.children if d is not None)
        if str(access_tok) not in ACCESS:
            self.fail(access_tok, f"access must be r, w or rw, not '{access_tok}'")
        read, write = ACCESS[str(access_tok)]
        return Buffer(unquote(name_tok[1:]), self.scalar_type(elem_tok), shape,
                      self.enum(MemScope, scope_tok), read, write)

    # -- statements ------------------------------------------------------------------------------
    def block(self, t: Syn, declared: Sequence[tuple[Syn, Var]] = ()) -> Block:
        self.scopes.append({})
        try:
            for tok, v in declared:
                self.declare(tok, v)
            return Block(tuple(self.stmt(s) for s in t.children))
        finally:
            self.scopes.pop()

    def stmt(self, t: Syn) -> Stmt:  # noqa: C901 - one case a statement kind
        d, c = t.data, t.children
        if d == "let":
            var = Var(unquote(c[0][1:]), self.scalar_type(c[1]))
            value = None if c[2] is None else self.expr(c[2], var.type)
            self.declare(c[0], var)
            return Let(var, value)
        if d in ("atomic", "atomic_let"):
            result = None
            if d == "atomic_let":
                result = Var(unquote(c[0][1:]), self.scalar_type(c[1]))
                c = c[2:]
            op = self.enum(AtomicOp, c[0])
            buf = self.buffer(c[1])
            index = tuple(self.expr(i, None) for i in c[2].children)
            extra = [self.expr(x, buf.elem) for x in c[3:]]
            if len(extra) > 2:
                self.fail(t, "an atomic takes at most a compare value and a value")
            compare = extra[0] if len(extra) == 2 else None
            value = extra[-1] if extra else None
            if result is not None:
                self.declare(t.children[0], result)
            return Atomic(op, buf, index, value, compare, result)
        if d == "assign":
            var = self.var(c[0])
            return Assign(var, self.expr(c[1], var.type))
        if d == "store":
            buf = self.buffer(c[0])
            return Store(buf, tuple(self.expr(i, None) for i in c[1].children),
                         self.expr(c[2], buf.elem))
        if d == "for_":
            kind_tok = c[0].children[0]
            var = Var(unquote(c[1][1:]), self.scalar_type(c[2]))
            start, stop = self.expr(c[3], var.type), self.expr(c[4], var.type)
            step = Const(1, var.type) if c[5] is None else self.expr(c[5], var.type)
            kind = ForKind.SERIAL if kind_tok is None else ForKind(str(kind_tok))
            return For(var, start, stop, step, self.block(c[6], [(c[1], var)]), kind)
        if d == "if_stmt":
            cond = self.expr(c[0], BOOL)
            then = self.block(c[1])
            orelse = None
            if c[2] is not None:
                orelse = (self.block(c[2]) if c[2].data == "block"
                          else Block((self.stmt(c[2]),)))
            return If(cond, then, orelse)
        if d == "while_":
            return While(self.expr(c[0], BOOL), self.block(c[1]))
        if d == "do_while":
            body = self.block(c[0])
            return While(self.expr(c[1], BOOL), body, test_first=False)
        if d == "barrier":
            return Barrier(self.enum(BarrierScope, c[0]))
        if d == "alloc":
            b = self.bufdecl(c[0])
            self.declare(c[0].children[0], b)
            return Alloc(b)
        if d == "block":
            return self.block(t)
        simple: dict[str, Stmt] = {"return_": Return(), "break_": Break(),
                                   "continue_": Continue()}
        if d in simple:
            return simple[d]
        self.fail(t, f"unexpected statement '{d}'")

    # -- expressions -----------------------------------------------------------------------------
    def operands(self, trees: Sequence[Syn], pe: ScalarType | None) -> list[Expr]:
        """Operands that share a type: non-literals first, then literals typed like the first
        non-literal (mirrors kernel_printer.operand_expectations)."""
        out: list[Expr | None] = [None] * len(trees)
        typed: ScalarType | None = None
        for i, t in enumerate(trees):
            if t.data not in LITERALS:
                out[i] = self.expr(t, pe)
                typed = typed or out[i].type  # type: ignore[union-attr]
        for i, t in enumerate(trees):
            if out[i] is None:
                out[i] = self.expr(t, typed if typed is not None else pe)
        return out  # type: ignore[return-value]

    def literal(self, t: Syn, kind: str, expected: ScalarType | None) -> Const:
        tok, suffix = t.children
        typ = self.scalar_type(suffix) if suffix is not None else literal_type(kind, expected)
        value: int | float = int(tok) if kind == "int" else parse_float(str(tok))
        return Const(value, typ)

    def expr(self, t: Syn, expected: ScalarType | None) -> Expr:
        d, c = t.data, t.children
        if d == "ref":
            return self.var(c[0])
        if d == "load":
            return Load(self.buffer(c[0]), tuple(self.expr(i, None) for i in c[1].children))
        if d == "lit_int":
            return self.literal(t, "int", expected)
        if d == "lit_float":
            return self.literal(t, "float", expected)
        if d in ("lit_true", "lit_false"):
            return Const(d == "lit_true", BOOL)
        if d in BINARY_OPS:
            a, b = self.operands(c, result_expectation(BINARY_OPS[d], expected))
            return Binary(str(d), a, b)
        if d in UNARY_OPS:
            return Unary(str(d), self.expr(c[0], BOOL if d == "not" else expected))
        if d == "call":
            return self.call(t, expected)
        self.fail(t, f"unexpected expression '{d}'")

    def call(self, t: Syn, expected: ScalarType | None) -> Expr:  # noqa: C901
        name_tok, params_t, args_t, suffix = t.children
        name = str(name_tok)
        params = [str(p) for p in params_t.children] if params_t is not None else []
        args: list[Syn] = list(args_t.children) if args_t is not None else []
        typ = self.scalar_type(suffix) if suffix is not None else None

        def want(n_args: int, n_params: int = 0, typed: bool = False) -> None:
            if len(args) != n_args:
                self.fail(t, f"{name} takes {n_args} operand(s), got {len(args)}")
            if len(params) != n_params:
                self.fail(t, f"{name} takes {n_params} <parameter(s)>, got {len(params)}")
            if typ is not None and not typed:
                self.fail(t, f"{name}(...) takes no :type suffix")

        def ints() -> list[int]:
            try:
                return [int(p) for p in params]
            except ValueError:
                self.fail(t, f"{name}<...> takes integers")

        el = expected.element if expected is not None else None
        if name in ("cast", "bitcast"):
            want(1, 1)
            x, to = self.expr(args[0], None), self.scalar_type(params_t.children[0])
            return Cast(x, to) if name == "cast" else Bitcast(x, to)
        if name == "vload":
            want(1, 1)
            if args[0].data != "load":
                self.fail(t, "vload<N>(...) takes a buffer element `%buf[i]`")
            ld = self.expr(args[0], None)
            assert isinstance(ld, Load)
            return Load(ld.buffer, ld.index, ints()[0])
        if name == "select":
            want(3)
            a, b = self.operands(args[1:], expected)
            return Select(self.expr(args[0], BOOL), a, b)
        if name == "broadcast":
            want(1, 1)
            return Broadcast(self.expr(args[0], el), ints()[0])
        if name == "vec":
            want(len(args))
            return MakeVector(tuple(self.operands(args, el)))
        if name == "extract":
            want(1, 1)
            return Extract(self.expr(args[0], None), ints()[0])
        if name == "insert":
            want(2, 1)
            vec = self.expr(args[0], None)
            return Insert(vec, ints()[0], self.expr(args[1], vec.type.element))
        if name == "swizzle":
            want(1, len(params))
            return Swizzle(self.expr(args[0], None), tuple(ints()))
        if name == "shuffle":
            if len(params) not in (1, 2):
                self.fail(t, "shuffle<mode> or shuffle<mode, width>")
            width = int(params[1]) if len(params) == 2 else None
            params = params[:1]
            want(2, 1)
            mode = self.enum(ShuffleMode, params_t.children[0])
            return Shuffle(mode, self.expr(args[0], expected), self.expr(args[1], None), width)
        if name == "ballot":
            want(1, typed=True)
            return Ballot(self.expr(args[0], BOOL), typ or U32)
        if name == "activemask":
            want(0, typed=True)
            return ActiveMask(typ or U32)
        if name == "vote":
            want(1, 1, typed=True)
            return Vote(self.enum(VoteMode, params_t.children[0]), self.expr(args[0], BOOL),
                        typ or BOOL)
        if name in BUILTINS:
            if len(args) > 1 or (args and args[0].data != "lit_int"):
                self.fail(t, f"{name}(axis) takes an integer axis")
            want(len(args), typed=True)
            axis = int(args[0].children[0]) if args else 0
            return Builtin(name, axis, typ or I32)
        if name in BINARY_OPS:
            want(2)
            a, b = self.operands(args, result_expectation(BINARY_OPS[name], expected))
            return Binary(name, a, b)
        if name in MATH:
            want(MATH[name].arity)
            pe = None if MATH[name].returns_bool else expected
            return Math(name, tuple(self.operands(args, pe)))
        self.fail(name_tok, f"unknown function '{name}'")

"""OpenQASM text to the syntax tree of ast.py, with lark (one LALR grammar per language version).

The version comes from the `OPENQASM x.y;` header (a file without one is read as OpenQASM 3, whose
header is optional). Syntax errors become ParseError with file:line:col and what was expected.
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Transformer, v_args

from ...errors import ParseError
from . import ast as A

_HERE = Path(__file__).parent
_HEADER = re.compile(r"\A(?:\s|//[^\n]*\n|/\*.*?\*/)*OPENQASM\s+([0-9.]+)\s*;", re.S)


@cache
def _parser(version: int) -> Lark:
    grammar = (_HERE / f"qasm{version}.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def detect_version(text: str, source: A.Source) -> int:
    m = _HEADER.match(text)
    if m is None:
        return 3
    v = m.group(1)
    if v in ("2", "2.0"):
        return 2
    if re.fullmatch(r"3(\.[0-9]+)?", v):
        return 3
    line = text.count("\n", 0, m.start(1)) + 1
    col = m.start(1) - (text.rfind("\n", 0, m.start(1)) + 1) + 1
    raise ParseError(f"OpenQASM version {v} is not supported (dlc reads 2.0 and 3)", source.name,
                     line, col, source.line(line))


def parse(text: str, filename: str | None = None, version: int | None = None) -> A.Program:
    """Parse OpenQASM source; `version` forces the grammar (for included files)."""
    source = A.Source(filename, text)
    if version is None:
        version = detect_version(text, source)
    parser = _parser(version)
    try:
        tree = parser.parse(text)
    except lark.exceptions.UnexpectedInput as e:
        raise _syntax_error(e, parser, source) from None
    stmts = _ToAst(source, version).transform(tree)
    return A.Program(version, tuple(stmts))


# -- syntax errors ---------------------------------------------------------------------------

_TERMINAL_WORDS = {"ID": "an identifier", "INT": "an integer", "REAL": "a number",
                   "STRING": 'a "file name"', "PHYSICAL": "a hardware qubit ($n)",
                   "DURATION": "a duration", "$END": "the end of the input"}


def _describe(name: str, parser: Lark) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if isinstance(pattern, lark.lexer.PatternStr):
        return f"'{pattern.value}'"
    return name.lower()


def _expected(names: Any, parser: Lark) -> str:
    words = sorted({_describe(n, parser) for n in names or ()})
    if not words:
        return ""
    if len(words) > 8:
        words = words[:8] + ["..."]
    return "; expected " + (words[0] if len(words) == 1 else "one of " + ", ".join(words))


def _syntax_error(e: lark.exceptions.UnexpectedInput, parser: Lark,
                  source: A.Source) -> ParseError:
    line, col = getattr(e, "line", None), getattr(e, "column", None)
    if isinstance(e, lark.exceptions.UnexpectedToken):
        tok = e.token
        what = ("end of input" if tok.type == "$END" else f"'{tok.value}'")
        msg = f"unexpected {what}{_expected(e.expected, parser)}"
        if tok.type == "$END" or line is None or line < 0:
            line, col = _end(source.text)
    elif isinstance(e, lark.exceptions.UnexpectedCharacters):
        msg = f"unexpected character '{e.char}'{_expected(e.allowed, parser)}"
    else:
        msg = f"unexpected end of input{_expected(getattr(e, 'expected', ()), parser)}"
        line, col = _end(source.text)
    if line is None or line < 1:
        line, col = _end(source.text)
    return ParseError(msg, source.name, line, col, source.line(line))


def _end(text: str) -> tuple[int, int]:
    lines = text.rstrip("\n").split("\n") if text.strip() else [""]
    return len(lines), len(lines[-1]) + 1


# -- parse tree to syntax tree ---------------------------------------------------------------

class _Params(tuple):  # type: ignore[type-arg]
    pass


class _Ids(tuple):  # type: ignore[type-arg]
    pass


class _Args(tuple):  # type: ignore[type-arg]
    pass


class _Block(tuple):  # type: ignore[type-arg]
    pass


def _flat(items: Any) -> list[A.Stmt]:
    out: list[A.Stmt] = []
    for s in items:
        if isinstance(s, _Block):
            out.extend(_flat(s))
        elif isinstance(s, A.Stmt):
            out.append(s)
    return out


@v_args(meta=True)
class _ToAst(Transformer):  # type: ignore[type-arg]
    def __init__(self, source: A.Source, version: int):
        super().__init__()
        self.source, self.qasm_version = source, version

    def _pos(self, meta: Any, token: Token | None = None) -> A.Pos:
        if token is not None and token.line is not None and token.column is not None:
            return A.Pos(self.source, token.line, token.column)
        if getattr(meta, "empty", True):
            return A.Pos(self.source, 1, 1)
        return A.Pos(self.source, meta.line, meta.column)

    # program structure
    def start(self, meta: Any, items: list[Any]) -> list[A.Stmt]:
        return _flat(items)

    def header(self, meta: Any, items: list[Any]) -> None:
        return None

    def version(self, meta: Any, items: list[Any]) -> None:
        return None

    def include(self, meta: Any, items: list[Token]) -> A.Include:
        return A.Include(self._pos(meta), items[0][1:-1])

    def designator(self, meta: Any, items: list[Token]) -> int:
        return int(items[0])

    def _reg(self, meta: Any, items: list[Any], quantum: bool, id_first: bool) -> A.RegDecl:
        if id_first:
            name, size = items[0], items[1]
        else:
            size, name = items[0], items[1]
        return A.RegDecl(self._pos(meta), str(name), None if size is None else int(size), quantum)

    def qreg(self, meta: Any, items: list[Any]) -> A.RegDecl:
        return self._reg(meta, items, True, True)

    def creg(self, meta: Any, items: list[Any]) -> A.RegDecl:
        return self._reg(meta, items, False, True)

    def qubit_decl(self, meta: Any, items: list[Any]) -> A.RegDecl:
        return self._reg(meta, items, True, False)

    def bit_decl(self, meta: Any, items: list[Any]) -> A.RegDecl:
        return self._reg(meta, items, False, False)

    # gates
    def gate_params(self, meta: Any, items: list[Any]) -> _Params:
        return _Params(items[0] or ())

    def idlist(self, meta: Any, items: list[Token]) -> _Ids:
        return _Ids(str(t) for t in items)

    def _gatedef(self, meta: Any, items: list[Any], opaque: bool) -> A.GateDef:
        name = items[0]
        params: tuple[str, ...] = ()
        qubits: tuple[str, ...] = ()
        body: list[Any] = []
        for it in items[1:]:
            if isinstance(it, _Params):
                params = tuple(it)
            elif isinstance(it, _Ids):
                qubits = tuple(it)
            elif it is not None:
                body.append(it)
        return A.GateDef(self._pos(meta, name), str(name), params, qubits,
                         None if opaque else tuple(_flat(body)))

    def gatedef(self, meta: Any, items: list[Any]) -> A.GateDef:
        return self._gatedef(meta, items, False)

    def opaque(self, meta: Any, items: list[Any]) -> A.GateDef:
        return self._gatedef(meta, items, True)

    def call_params(self, meta: Any, items: list[Any]) -> _Params:
        return _Params(items[0] or ())

    def explist(self, meta: Any, items: list[A.Expr]) -> list[A.Expr]:
        return items

    def arglist(self, meta: Any, items: list[A.Arg]) -> _Args:
        return _Args(items)

    def gate_call(self, meta: Any, items: list[Any]) -> A.GateCall:
        mods = tuple(it for it in items if isinstance(it, A.Modifier))
        name = next(it for it in items if isinstance(it, Token))
        params = next((it for it in items if isinstance(it, _Params)), _Params())
        args = next((it for it in items if isinstance(it, _Args)), _Args())
        pos = mods[0].pos if mods else self._pos(meta, name)
        return A.GateCall(pos, str(name), tuple(params), tuple(args), mods)

    def inv_mod(self, meta: Any, items: list[Any]) -> A.Modifier:
        return A.Modifier(self._pos(meta), "inv")

    def pow_mod(self, meta: Any, items: list[Any]) -> A.Modifier:
        return A.Modifier(self._pos(meta), "pow", items[0])

    def ctrl_mod(self, meta: Any, items: list[Any]) -> A.Modifier:
        return A.Modifier(self._pos(meta), "ctrl", items[0])

    def negctrl_mod(self, meta: Any, items: list[Any]) -> A.Modifier:
        return A.Modifier(self._pos(meta), "negctrl", items[0])

    # non-unitary statements
    def measure(self, meta: Any, items: list[Any]) -> A.Measure:
        return A.Measure(self._pos(meta), items[0], items[1] if len(items) > 1 else None)

    def measure_assign(self, meta: Any, items: list[Any]) -> A.Measure:
        return A.Measure(self._pos(meta), items[1], items[0])

    def reset(self, meta: Any, items: list[Any]) -> A.Reset:
        return A.Reset(self._pos(meta), items[0])

    def barrier(self, meta: Any, items: list[Any]) -> A.Barrier:
        return A.Barrier(self._pos(meta), tuple(items[0] if items and items[0] else ()))

    def delay(self, meta: Any, items: list[Any]) -> None:
        return None

    def block(self, meta: Any, items: list[Any]) -> _Block:
        return _Block(_flat(items))

    def if_stmt(self, meta: Any, items: list[Any]) -> A.If:
        pos = self._pos(meta)
        if self.qasm_version == 2:
            reg, value, stmt = items
            arg = A.Arg(self._pos(meta, reg), str(reg))
            cond = A.Condition(arg.pos, arg, A.Num(self._pos(meta, value), float(value)))
            return A.If(pos, cond, (stmt,))
        cond, then = items[0], items[1]
        orelse = items[2] if len(items) > 2 else None
        return A.If(pos, cond, tuple(_flat([then])), tuple(_flat([orelse] if orelse else [])))

    def cond_eq(self, meta: Any, items: list[Any]) -> A.Condition:
        return A.Condition(self._pos(meta), items[0], items[1])

    def cond_ne(self, meta: Any, items: list[Any]) -> A.Condition:
        return A.Condition(self._pos(meta), items[0], items[1], negate=True)

    def cond_bit(self, meta: Any, items: list[Any]) -> A.Condition:
        pos = self._pos(meta)
        return A.Condition(pos, items[0], A.Num(pos, 0.0), negate=True)

    def cond_not(self, meta: Any, items: list[Any]) -> A.Condition:
        pos = self._pos(meta)
        return A.Condition(pos, items[0], A.Num(pos, 0.0))

    # operands
    def arg(self, meta: Any, items: list[Any]) -> A.Arg:
        return A.Arg(self._pos(meta, items[0]), str(items[0]), items[1] if len(items) > 1 else None)

    def physical(self, meta: Any, items: list[Token]) -> A.Arg:
        return A.Arg(self._pos(meta, items[0]), str(items[0]), None, physical=True)

    def index(self, meta: Any, items: list[Token]) -> A.Index:
        return A.Index(A.Num(self._pos(meta, items[0]), float(items[0])))

    def index_one(self, meta: Any, items: list[A.Expr]) -> A.Index:
        return A.Index(items[0])

    def index_range(self, meta: Any, items: list[A.Expr]) -> A.Index:
        return A.Index(items[0], items[1])

    def index_step(self, meta: Any, items: list[A.Expr]) -> A.Index:
        return A.Index(items[0], items[2], items[1])

    # expressions
    def num(self, meta: Any, items: list[Token]) -> A.Num:
        return A.Num(self._pos(meta, items[0]), float(items[0]))

    def true(self, meta: Any, items: list[Any]) -> A.Num:
        return A.Num(self._pos(meta), 1.0)

    def false(self, meta: Any, items: list[Any]) -> A.Num:
        return A.Num(self._pos(meta), 0.0)

    def name(self, meta: Any, items: list[Token]) -> A.Name:
        return A.Name(self._pos(meta, items[0]), str(items[0]))

    def call(self, meta: Any, items: list[Any]) -> A.Call:
        return A.Call(self._pos(meta, items[0]), str(items[0]), items[1])

    def neg(self, meta: Any, items: list[A.Expr]) -> A.Neg:
        return A.Neg(self._pos(meta), items[0])

    def _bin(self, op: str, meta: Any, items: list[A.Expr]) -> A.BinOp:
        return A.BinOp(self._pos(meta), op, items[0], items[1])

    def add(self, meta: Any, items: list[A.Expr]) -> A.BinOp:
        return self._bin("+", meta, items)

    def sub(self, meta: Any, items: list[A.Expr]) -> A.BinOp:
        return self._bin("-", meta, items)

    def mul(self, meta: Any, items: list[A.Expr]) -> A.BinOp:
        return self._bin("*", meta, items)

    def div(self, meta: Any, items: list[A.Expr]) -> A.BinOp:
        return self._bin("/", meta, items)

    def mod(self, meta: Any, items: list[A.Expr]) -> A.BinOp:
        return self._bin("%", meta, items)

    def pow(self, meta: Any, items: list[A.Expr]) -> A.BinOp:
        return self._bin("**", meta, items)

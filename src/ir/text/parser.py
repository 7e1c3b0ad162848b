"""Parse the text form back into IR: lark (LALR) builds the tree, the readers here build graphs,
attributes (generically, from the op's attrs dataclass and its field annotations) and kernels."""
from __future__ import annotations

import dataclasses
import enum
import typing
from collections import ChainMap
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ...errors import ParseError
from ..dtype import DType
from ..graph import Graph, Node, Value
from ..kernel.stmt import Kernel
from ..ops import OPS
from ..types import Dim, OptionalType, SequenceType, Sym, TensorType, Type
from .kernel_parser import KernelReader
from .lexical import parse_dense, parse_float, unquote

Scope = ChainMap[str, Value]
Syn = Any  # a lark tree or token (their children are untyped)


@cache
def _lark() -> Lark:
    grammar = (Path(__file__).parent / "dlc_ir.lark").read_text()
    return Lark(grammar, parser="lalr", start=["start_module", "start_kernel"],
                maybe_placeholders=True)


_TOKEN_WORDS = {"VAR": "a %name", "GREF": "an @name", "NAME": "a name", "STRING": "a string",
                "INT": "an integer", "FLOAT": "a float", "DENSE": "tensor data"}


def _expected(names: set[str]) -> str:
    words = []
    for n in sorted(names):
        if n in _TOKEN_WORDS:
            words.append(_TOKEN_WORDS[n])
            continue
        try:
            pat = _lark().get_terminal(n).pattern
        except KeyError:
            continue
        words.append(f"'{pat.value}'" if pat.type == "str" else n.lower())
    words = sorted(set(words))
    return ", ".join(words[:12]) + (", ..." if len(words) > 12 else "")


def parse_tree(text: str, start: str, file: str | None = None) -> Tree:
    lines = text.splitlines()

    def err(message: str, line: int, col: int) -> ParseError:
        src = lines[line - 1] if 0 < line <= len(lines) else None
        return ParseError(message, file, line, col, src)

    try:
        return _lark().parse(text, start=start)
    except UnexpectedToken as e:
        tok = e.token
        what = "end of input" if tok.type == "$END" else f"'{tok}'"
        raise err(f"unexpected {what}; expected {_expected(set(e.expected))}",
                  e.line, e.column) from None
    except UnexpectedCharacters as e:
        ch = text[e.pos_in_stream] if e.pos_in_stream is not None else "?"
        raise err(f"unexpected character {ch!r}", e.line, e.column) from None
    except UnexpectedEOF as e:
        raise err("unexpected end of input", e.line, e.column) from None
    except UnexpectedInput as e:  # pragma: no cover - the cases above cover lark's errors
        raise err(str(e), e.line, e.column) from None


class ModuleReader:
    def __init__(self, text: str, consts: dict[str, np.ndarray] | None, file: str | None = None):
        self.lines = text.splitlines()
        self.consts = consts
        self.file = file
        self.kernels: dict[str, Kernel] = {}

    # -- errors ----------------------------------------------------------------------------------
    def error(self, at: Syn, message: str) -> ParseError:
        line = col = None
        tok = _first_token(at)
        if tok is not None:
            line, col = tok.line, tok.column
        src = self.lines[line - 1] if line is not None and 0 < line <= len(self.lines) else None
        return ParseError(message, self.file, line, col, src)

    def fail(self, at: Syn, message: str) -> NoReturn:
        raise self.error(at, message)

    # -- module ----------------------------------------------------------------------------------
    def module(self, tree: Syn) -> Graph:
        *kernel_defs, graph_t = tree.children
        for kt in kernel_defs:
            self.kernel_def(kt)
        return self.graph(graph_t, ChainMap())

    def kernel_def(self, t: Syn) -> Kernel:
        k, ref = KernelReader(self.error).kernel(t)
        if ref in self.kernels:
            self.fail(t, f"kernel @{ref} is defined twice")
        self.kernels[ref] = k
        return k

    # -- graphs ----------------------------------------------------------------------------------
    def define(self, scope: Scope, tok: Syn, type: Type) -> Value:
        name = unquote(str(tok)[1:])
        if name in scope:
            self.fail(tok, f"'%{name}' is already defined")
        v = Value(name, type)
        scope.maps[0][name] = v
        return v

    def value(self, scope: Scope, tok: Syn) -> Value:
        name = unquote(str(tok)[1:])
        if name not in scope:
            self.fail(tok, f"'%{name}' is not defined before this use")
        return scope[name]

    def graph(self, t: Syn, outer: Scope) -> Graph:
        name_tok, params_t, *items, outs_t = t.children
        g = Graph(name=unquote(name_tok[1:]))
        scope = outer.new_child()
        for p in params_t.children if params_t is not None else []:
            g.inputs.append(self.define(scope, p.children[0], self.value_type(p.children[1])))
        for it in items:
            if it.data == "gconst":
                v = self.define(scope, it.children[0], self.value_type(it.children[1]))
                g.constants[v] = self.tensor(it.children[2])
            else:
                g.nodes.append(self.node(it, scope))
        if outs_t is not None:
            g.outputs = [self.value(scope, tok) for tok in outs_t.children]
        return g

    def node(self, t: Syn, scope: Scope) -> Node:
        outs_t, op_t, ins_t, attrs_t, types_t, name_tok = t.children
        op = unquote(str(op_t.children[0]))
        inputs = [None if i.data == "no_input" else self.value(scope, i.children[0])
                  for i in (ins_t.children if ins_t is not None else [])]
        d = OPS.get(op)
        if d is None:
            self.fail(op_t, f"unknown op '{op}' (not in the op table)")
        attrs = None
        if attrs_t is not None:
            if d.attrs is None:
                self.fail(attrs_t, f"{op} takes no attributes")
            attrs = self.struct(d.attrs, attrs_t, scope)
        elif d.attrs is not None:  # no braces: every attribute takes its default
            try:
                attrs = d.attrs()
            except TypeError:
                self.fail(op_t, f"{op} needs attributes: "
                          f"{', '.join(f.name for f in dataclasses.fields(d.attrs))}")
        out_toks = outs_t.children if outs_t is not None else []
        types = [self.value_type(x) for x in (types_t.children if types_t is not None else [])]
        if len(types) != len(out_toks):
            self.fail(t, f"{op} node has {len(out_toks)} result(s) but {len(types)} type(s)")
        outputs = [self.define(scope, tok, ty) for tok, ty in zip(out_toks, types)]
        name = unquote(str(name_tok)[1:]) if name_tok is not None else ""
        return Node(op, inputs, outputs, attrs, name)

    # -- types and tensors -----------------------------------------------------------------------
    def dtype(self, tok: Syn) -> DType:
        try:
            return DType(str(tok))
        except ValueError:
            self.fail(tok, f"unknown dtype '{tok}'")

    def value_type(self, t: Syn) -> Type:
        if t.data == "seq_type":
            return SequenceType(self.tensor_type(t.children[0]))
        if t.data == "opt_type":
            inner = self.value_type(t.children[0])
            if isinstance(inner, OptionalType):
                self.fail(t, "optionals do not nest")
            return OptionalType(inner)
        return self.tensor_type(t)

    def tensor_type(self, t: Syn) -> TensorType:
        dtype_tok, *dims = t.children
        shape: list[Dim] = []
        for d in dims:
            if d is None:
                continue
            tok = d.children[0]
            shape.append(int(tok) if tok.type == "INT" else Sym(unquote(str(tok))))
        return TensorType(self.dtype(dtype_tok), tuple(shape))

    def tensor(self, t: Syn) -> np.ndarray:
        tt = self.tensor_type(t.children[0])
        if not tt.is_static:
            self.fail(t, f"a tensor's type must have a static shape, not {tt}")
        data = t.children[1]
        if t.data == "dense":
            try:
                return parse_dense(str(data), tt.dtype, tt.static_shape)
            except (ValueError, OverflowError) as e:
                self.fail(data, f"bad data for {tt}: {e}")
        key = unquote(str(data))
        if self.consts is None or key not in self.consts:
            self.fail(data, f"external tensor \"{key}\" is not among the constants given to "
                            "parse_module")
        return self.external(data, key, tt)

    def external(self, at: Syn, key: str, tt: TensorType) -> np.ndarray:
        assert self.consts is not None
        arr = np.asarray(self.consts[key])
        want = tt.dtype.np
        if arr.dtype != want:
            if want.kind == "O" and arr.dtype.kind in "OUS":
                arr = arr.astype(object)
            elif arr.dtype.kind == "V" and arr.dtype.itemsize == want.itemsize:
                arr = arr.view(want)  # ml_dtypes arrays come back from .npy as raw bytes
            else:
                self.fail(at, f"external tensor \"{key}\" has dtype {arr.dtype}; the text says "
                              f"{tt}")
        if tuple(arr.shape) != tt.static_shape:
            self.fail(at, f"external tensor \"{key}\" has shape {list(arr.shape)}; the text says "
                          f"{tt}")
        return arr

    # -- attributes ------------------------------------------------------------------------------
    def struct(self, cls: type, t: Syn, scope: Scope) -> Any:
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        hints = _hints(cls)
        values: dict[str, Any] = {}
        for a in t.children:
            if a is None:
                continue
            key_tok, val_t = a.children
            key = str(key_tok)
            if key not in fields:
                self.fail(key_tok, f"{cls.__name__} has no attribute '{key}' (it has "
                                   f"{', '.join(fields) or 'none'})")
            if key in values:
                self.fail(key_tok, f"attribute '{key}' is given twice")
            values[key] = self.aval(val_t, hints.get(key), scope)
        try:
            return cls(**values)
        except (TypeError, ValueError) as e:
            self.fail(t, f"{cls.__name__}: {e}")

    def aval(self, t: Syn, hint: Any, scope: Scope) -> Any:  # noqa: C901 - one case a kind
        d, c = t.data, t.children
        if d == "a_int":
            return int(c[0])
        if d == "a_float":
            return parse_float(str(c[0]))
        if d == "a_str":
            return unquote(str(c[0]))
        if d in ("a_true", "a_false"):
            return d == "a_true"
        if d == "a_none":
            return None
        if d == "a_name":
            return self.enum_value(c[0], hint)
        if d == "a_list":
            return tuple(self.aval(x, _element_hint(hint, i), scope)
                         for i, x in enumerate(y for y in c if y is not None))
        if d in ("dense", "external"):
            return self.tensor(t)
        if d == "graph_def":
            return self.graph(t, scope)
        if d == "a_type":
            return self.value_type(c[0])
        if d == "a_sym":
            return Sym(unquote(str(c[0].children[0])))
        if d == "a_kernel":
            ref = unquote(str(c[0])[1:])
            if ref not in self.kernels:
                self.fail(c[0], f"kernel @{ref} is not defined in this module")
            return self.kernels[ref]
        if d == "a_struct":
            cls = _find(hint, lambda h: isinstance(h, type) and dataclasses.is_dataclass(h))
            if cls is None:
                self.fail(t, "cannot tell which dataclass this {...} value is")
            return self.struct(cls, c[0], scope)
        self.fail(t, f"unexpected attribute value '{d}'")

    def enum_value(self, tok: Syn, hint: Any) -> Any:
        name = str(tok)
        cls = _find(hint, lambda h: isinstance(h, type) and issubclass(h, enum.Enum))
        if cls is None or cls is DType:
            try:
                return DType(name)
            except ValueError:
                self.fail(tok, f"'{name}' is not a dtype (and the attribute's annotation names no "
                               "enum)")
        try:
            return cls[name]
        except KeyError:
            try:
                return cls(name)
            except ValueError:
                self.fail(tok, f"'{name}' is not a member of {cls.__name__}")


def _first_token(at: Syn) -> Token | None:
    """Where a tree starts: its first token (trees carry no positions, to parse faster)."""
    if isinstance(at, Token):
        return at
    if isinstance(at, Tree):
        for child in at.children:
            tok = _first_token(child)
            if tok is not None:
                return tok
    return None


@cache
def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - annotations are only hints for enum/dataclass values
        return {}


def _find(hint: Any, pred: Any) -> Any:
    """The first type inside an annotation (unions, containers) that satisfies `pred`."""
    if hint is None:
        return None
    try:
        if pred(hint):
            return hint
    except TypeError:
        pass
    for arg in typing.get_args(hint):
        found = _find(arg, pred)
        if found is not None:
            return found
    return None


def _element_hint(hint: Any, i: int) -> Any:
    seq = _find(hint, lambda h: typing.get_origin(h) in (tuple, list))
    if seq is None:
        seq = _find(hint, lambda h: typing.get_origin(h) is not None and
                    getattr(typing.get_origin(h), "__name__", "") == "Sequence")
    if seq is None:
        return None
    args = typing.get_args(seq)
    if len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return args[i] if i < len(args) else (args[0] if args else None)


def parse_module(text: str, consts: dict[str, np.ndarray] | None = None,
                 file: str | None = None) -> Graph:
    """A module's graph (kernels it defines are bound to the kernel-call nodes that use them)."""
    tree = parse_tree(text, "start_module", file)
    return ModuleReader(text, consts, file).module(tree)


def parse_kernel(text: str, file: str | None = None) -> Kernel:
    tree = parse_tree(text, "start_kernel", file)
    return ModuleReader(text, None, file).kernel_def(tree.children[0])

"""Preprocessed tokens to the syntax tree of ast.py, through the lark grammar c.lark.

The token stream is classified here (the classic "lexer hack"): typedef names and template type
parameters become TYPE_NAME, function templates TEMPLATE_NAME, the language's keywords their
terminals, and `__attribute__((...))`-style annotations one ATTRIBUTE token. Syntax errors are
ParseError with file:line:col, what was expected, and the line.
"""
from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Transformer
from lark.lexer import Lexer

from ...errors import DlcError, ParseError
from . import ast as A
from .lexer import Pos, Tok, char_value, string_value
from .scope import unsupported

_HERE = Path(__file__).parent

SCALAR_WORDS = ("char uchar short ushort int uint long ulong float double half bool _Bool void "
                "unsigned signed __half auto").split()
OPENCL_VECTORS = [f"{b}{n}" for b in "char uchar short ushort int uint long ulong float double "
                  "half".split() for n in (2, 3, 4, 8, 16)]
CUDA_VECTORS = [f"{b}{n}" for b in "char uchar short ushort int uint long ulong longlong "
                "ulonglong float double".split() for n in (2, 3, 4)] + ["half2", "__half2"]
COMMON_QUALIFIERS = ("const volatile restrict __restrict __restrict__ static inline __inline "
                     "__inline__ extern register typedef").split()
OPENCL_QUALIFIERS = ("__kernel kernel __global global __local local __constant constant "
                     "__private private __read_only __write_only __read_write read_only "
                     "write_only read_write").split()
CUDA_QUALIFIERS = ("__device__ __host__ __global__ __shared__ __constant__ __forceinline__ "
                   "__noinline__ __managed__ __grid_constant__ constexpr").split()
# OpenCL types dlc does not model: named as unsupported instead of "unknown type name".
UNSUPPORTED_TYPES = frozenset({"image1d_t", "image2d_t", "image3d_t", "image1d_array_t",
                               "image2d_array_t", "image1d_buffer_t", "sampler_t", "event_t",
                               "pipe", "queue_t", "clk_event_t", "reserve_id_t"})
ATTRIBUTE_WORDS = frozenset({"__attribute__", "__launch_bounds__", "__align__", "alignas",
                             "__declspec", "__cluster_dims__"})
# Typedef names every kernel may use without declaring them (resolved by the type checker).
BUILTIN_TYPEDEFS = frozenset("""size_t ptrdiff_t intptr_t uintptr_t int8_t int16_t int32_t
int64_t uint8_t uint16_t uint32_t uint64_t uchar_t""".split())
ASSIGN_OPS = frozenset({"*=", "/=", "%=", "+=", "-=", "<<=", ">>=", "&=", "^=", "|="})
CPP_CASTS = frozenset({"static_cast", "reinterpret_cast", "const_cast"})
STATEMENT_WORDS = frozenset({"if", "while", "do", "for", "break", "continue", "return",
                             "switch", "case", "default", "goto"})


class PTok(Token):
    """A lark token that remembers the preprocessor token it came from."""

    __slots__ = ("src", "attr")
    src: Tok
    attr: A.Attribute | None


class _Passthrough(Lexer):
    def __init__(self, conf: Any):
        pass

    def lex(self, data: Any) -> Iterator[Token]:  # type: ignore[override]
        yield from data


@cache
def _parser() -> Lark:
    grammar = (_HERE / "c.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer=_Passthrough, maybe_placeholders=True)


@cache
def _literal_terminals() -> dict[str, str]:
    out = {}
    for t in _parser().terminals:
        if isinstance(t.pattern, lark.lexer.PatternStr):
            out[t.pattern.value] = t.name
    return out


class Classifier:
    """Gives each preprocessed token its grammar terminal, tracking typedef names and
    templates as the tokens go by (the parser pulls tokens one at a time)."""

    def __init__(self, toks: list[Tok], language: str):
        self.toks = toks
        self.opencl = language == "opencl"
        self.literals = _literal_terminals()
        vectors = OPENCL_VECTORS if self.opencl else CUDA_VECTORS
        self.type_words = frozenset(SCALAR_WORDS + vectors)
        self.qualifiers = frozenset(COMMON_QUALIFIERS + (OPENCL_QUALIFIERS if self.opencl
                                                         else CUDA_QUALIFIERS))
        self.type_names: set[str] = set(BUILTIN_TYPEDEFS)
        self.template_names: set[str] = set()
        self.scoped: list[tuple[int, set[str]]] = []   # template params: (brace depth, names)
        self.previous: PTok | None = None

    def tokens(self) -> Iterator[PTok]:
        """The classified tokens; `previous` is the one before the last handed out."""
        last: PTok | None = None
        for t in self._tokens():
            self.previous = last
            last = t
            yield t

    def _tokens(self) -> Iterator[PTok]:
        toks, n = self.toks, len(self.toks)
        depth = 0                     # brace depth
        paren = 0
        typedef_at: int | None = None  # brace depth of an open typedef declaration
        last_id: str | None = None
        after_struct = False
        template: list[str] | None = None   # collecting template parameters
        template_fn = False           # waiting for the name of a function template
        template_body = False
        i = 0
        while i < n:
            t = toks[i]
            text = t.text
            kind = ""
            if t.kind == "id":
                if after_struct:
                    kind = "IDENT"
                    if not self.opencl:
                        self.type_names.add(text)
                elif text in UNSUPPORTED_TYPES and self.opencl:
                    raise unsupported(t.pos, f"{text} (images, samplers, events, pipes) is not "
                                             "supported")
                elif text in ATTRIBUTE_WORDS:
                    j = self._balanced(i + 1) if i + 1 < n and toks[i + 1].text == "(" else i
                    yield self._tok("ATTRIBUTE", A.Attribute(t.pos, text,
                                                             tuple(toks[i + 1:j + 1])), t)
                    i = j + 1
                    continue
                elif text == "extern":
                    kind = ("EXTERN" if i + 1 < n and toks[i + 1].kind == "str"
                            else "QUALIFIER")
                elif text in ("struct", "union"):
                    kind = "STRUCT"
                elif text in CPP_CASTS:
                    kind = "CPP_CAST"
                elif text in STATEMENT_WORDS:
                    kind = text.upper()
                elif text in self.literals and text.isidentifier():
                    kind = self.literals[text]
                elif text in self.qualifiers:
                    kind = "QUALIFIER"
                elif text in self.type_words:
                    kind = "TYPE_KEYWORD"
                elif text in self.template_names:
                    kind = "TEMPLATE_NAME"
                elif self._is_type(text):
                    kind = "TYPE_NAME"
                else:
                    kind = "IDENT"
                    if template is not None and i > 0 and toks[i - 1].text in ("typename",
                                                                                 "class"):
                        template.append(text)
                    if template_fn and paren == 0 and i + 1 < n and toks[i + 1].text == "(":
                        self.template_names.add(text)
                        template_fn = False
                    last_id = text
                after_struct = kind == "STRUCT"
                if kind in ("TYPE_KEYWORD", "TYPE_NAME") and i + 2 < n \
                        and toks[i + 1].text == "(" and toks[i + 2].text in ("*", "^"):
                    raise unsupported(toks[i + 2].pos, "function pointers are not supported")
            elif t.kind == "num":
                kind = "NUMBER"
            elif t.kind == "str":
                kind = "STRING"
            elif t.kind == "char":
                kind = "CHAR"
            elif text in ASSIGN_OPS:
                kind = "ASSIGN_OP"
            elif text in self.literals:
                kind = self.literals[text]
            else:
                raise t.pos.error(f"unexpected '{text}'")
            if t.kind != "id":
                after_struct = False
            if text == "template" and t.kind == "id":
                template = []
            elif template is not None and text == ">" and paren == 0:
                self.scoped.append((depth, set(template)))
                template, template_fn, template_body = None, True, True
            yield self._tok(kind, t, t)
            if text == "typedef":
                typedef_at, last_id = depth, None
            elif text in ("(", "["):
                paren += 1
            elif text in (")", "]"):
                paren -= 1
            elif text == "{":
                depth += 1
            elif text == "}":
                depth -= 1
                if template_body and self.scoped and depth == self.scoped[-1][0]:
                    self.scoped.pop()
                    template_body = bool(self.scoped)
            elif text in (";", ",") and typedef_at == depth and paren == 0:
                if last_id is not None:
                    self.type_names.add(last_id)
                last_id = None
                if text == ";":
                    typedef_at = None
            i += 1

    def _is_type(self, name: str) -> bool:
        return name in self.type_names or any(name in s for _, s in self.scoped)

    def _balanced(self, i: int) -> int:
        """Index of the ')' closing the '(' at i."""
        depth = 0
        for j in range(i, len(self.toks)):
            if self.toks[j].text == "(":
                depth += 1
            elif self.toks[j].text == ")":
                depth -= 1
                if depth == 0:
                    return j
        raise self.toks[i].pos.error("unbalanced parentheses")

    @staticmethod
    def _tok(kind: str, value: Tok | A.Attribute, t: Tok) -> PTok:
        p = PTok(kind, value.text if isinstance(value, Tok) else value.name,
                 line=t.pos.line, column=t.pos.col)
        p.src = t
        p.attr = value if isinstance(value, A.Attribute) else None
        return p


def parse(toks: list[Tok], language: str, eof: Pos) -> A.Unit:
    """Parse preprocessed tokens; `eof` is where the input ends (for 'unexpected end')."""
    parser = _parser()
    cls = Classifier(toks, language)
    try:
        tree = parser.parse(cls.tokens())  # type: ignore[arg-type]
    except lark.exceptions.UnexpectedToken as e:
        raise _syntax_error(e, eof, cls.previous) from None
    except lark.exceptions.UnexpectedEOF as e:
        raise eof.error(f"unexpected end of input; expected {_expected(e.expected)}") from None
    try:
        return _ToAst().transform(tree)  # type: ignore[no-any-return]
    except lark.exceptions.VisitError as e:
        if isinstance(e.orig_exc, DlcError):
            raise e.orig_exc from None
        raise


_WORDS = {"IDENT": "an identifier", "TYPE_NAME": "a type name", "NUMBER": "a number",
          "STRING": "a string", "CHAR": "a character constant", "QUALIFIER": "a qualifier",
          "TYPE_KEYWORD": "a type", "ATTRIBUTE": "an attribute", "ASSIGN_OP": "an assignment",
          "STRUCT": "'struct'", "CPP_CAST": "a cast", "TEMPLATE_NAME": "a template",
          "$END": "the end of the input"}


def _expected(names: Any) -> str:
    inverse = {v: k for k, v in _literal_terminals().items()}
    words = sorted({_WORDS.get(n) or f"'{inverse.get(n, n.lower())}'" for n in names or ()})
    if len(words) > 8:
        # the parser accepts many things here: name the most telling ones
        prefer = [w for w in words if w in ("';'", "')'", "']'", "'}'", "','", "an identifier",
                                             "a type", "'('")]
        words = prefer or words[:8]
        return "one of " + ", ".join(words) + ", ..."
    return words[0] if len(words) == 1 else "one of " + ", ".join(words)


def _syntax_error(e: lark.exceptions.UnexpectedToken, eof: Pos,
                  previous: PTok | None) -> ParseError:
    tok = e.token
    src: Tok | None = getattr(tok, "src", None)
    names = set(e.expected or ())
    expected = _expected(names)
    if src is None:
        return eof.error(f"unexpected end of input; expected {expected}")
    if previous is not None and previous.type == "IDENT" and tok.type in (
            "IDENT", "TYPE_KEYWORD", "QUALIFIER", "TYPE_NAME"):
        prev = previous.src
        return prev.pos.error(f"unknown type name '{prev.text}'")
    if "SEMICOLON" in names and previous is not None and src.pos.line != previous.src.pos.line:
        # C compilers point after the token the ';' should follow
        prev = previous.src
        at = Pos(prev.pos.source, prev.pos.line, prev.pos.col + len(prev.text))
        return at.error(f"expected ';' after '{prev.text}' (before '{src.text}')")
    return src.pos.error(f"unexpected '{src.text}'; expected {expected}")


def _pos(x: Any) -> Pos:
    if isinstance(x, PTok):
        return x.src.pos
    if hasattr(x, "pos"):
        return x.pos  # type: ignore[no-any-return]
    raise TypeError(f"no position for {x!r}")


class _ToAst(Transformer):  # type: ignore[type-arg]
    """Parse tree -> ast.py nodes (one method per grammar rule alias)."""

    # -- top level -------------------------------------------------------------------------------
    def start(self, items: list[Any]) -> A.Unit:
        out: list[Any] = []
        for it in items:
            out.extend(it if isinstance(it, list) else [it] if it is not None else [])
        return A.Unit(tuple(out))

    def empty(self, _: list[Any]) -> None:
        return None

    def extern_block(self, c: list[Any]) -> list[Any]:
        return [x for x in c[1:] if x is not None]

    def extern_one(self, c: list[Any]) -> Any:
        return c[1]

    def template_def(self, c: list[Any]) -> A.FunctionDef:
        params, fn = c
        return A.FunctionDef(fn.pos, fn.specs, fn.declarator, fn.body, tuple(params))

    def tparams(self, c: list[Any]) -> list[A.TemplateParam]:
        return c

    def type_tparam(self, c: list[Any]) -> A.TemplateParam:
        return A.TemplateParam(_pos(c[-1]), str(c[-1]), None)

    def value_tparam(self, c: list[Any]) -> A.TemplateParam:
        return A.TemplateParam(_pos(c[1]), str(c[1]), c[0])

    def function_def(self, c: list[Any]) -> A.FunctionDef:
        specs, decl, body = c
        if not decl.ops or not isinstance(decl.ops[-1], A.FuncOp):
            raise decl.pos.error(f"'{decl.name}' has a body but is not a function")
        # the function's own op is the outermost; what it returns is built from the rest
        return A.FunctionDef(specs.pos, specs, A.Declarator(decl.pos, decl.name,
                                                            (decl.ops[-1],) + decl.ops[:-1],
                                                            decl.attributes), body)

    # -- declarations ----------------------------------------------------------------------------
    def declaration(self, c: list[Any]) -> A.Declaration:
        specs, inits = c
        return A.Declaration(specs.pos, specs, tuple(inits or ()))

    def init_declarators(self, c: list[Any]) -> list[Any]:
        return c

    def init_declarator(self, c: list[Any]) -> A.InitDeclarator:
        return A.InitDeclarator(c[0], c[1])

    def init_braces(self, c: list[Any]) -> A.InitList:
        items = c[0] or []
        pos = items[0].pos if items else None
        return A.InitList(pos, tuple(items))  # type: ignore[arg-type]

    def init_list(self, c: list[Any]) -> list[Any]:
        return [x for x in c if x is not None]

    def specs(self, c: list[Any]) -> A.Specs:
        return A.Specs(c[0].pos, tuple(c))

    def qualifier(self, c: list[Any]) -> A.Qualifier:
        return A.Qualifier(_pos(c[0]), str(c[0]))

    def attribute(self, c: list[Any]) -> A.Attribute:
        return c[0].attr  # type: ignore[no-any-return]

    def type_keyword(self, c: list[Any]) -> A.TypeKeyword:
        return A.TypeKeyword(_pos(c[0]), str(c[0]))

    def type_name_ref(self, c: list[Any]) -> A.TypeRef:
        return A.TypeRef(_pos(c[0]), str(c[0]))

    def struct_def(self, c: list[Any]) -> A.StructSpec:
        kw, name, *fields = c
        return A.StructSpec(_pos(kw), str(kw), str(name) if name is not None else None,
                            tuple(fields))

    def struct_ref(self, c: list[Any]) -> A.StructSpec:
        kw, name = c
        return A.StructSpec(_pos(kw), str(kw), str(name), None)

    def field_decl(self, c: list[Any]) -> A.FieldDecl:
        return A.FieldDecl(c[0].pos, c[0], tuple(c[1:]))

    def enum_def(self, c: list[Any]) -> A.EnumSpec:
        name, *items = c
        return A.EnumSpec(items[0][1] if items else _pos(name),
                          str(name) if name is not None else None,
                          tuple(i for i in items if i is not None))

    def enum_ref(self, c: list[Any]) -> A.EnumSpec:
        return A.EnumSpec(_pos(c[0]), str(c[0]), None)

    def enumerator(self, c: list[Any]) -> tuple[str, Pos, A.Expr | None]:
        return (str(c[0]), _pos(c[0]), c[1])

    def declarator(self, c: list[Any]) -> A.Declarator:
        ptrs = [x for x in c if isinstance(x, (A.PtrOp, A.RefOp))]
        direct = next(x for x in c if isinstance(x, A.Declarator))
        attrs = tuple(x.attr for x in c if isinstance(x, PTok) and x.attr is not None)
        # pointers apply to the base type first, then what the direct declarator adds
        return A.Declarator(direct.pos, direct.name, tuple(ptrs) + direct.ops,
                            direct.attributes + attrs)

    def ptr(self, c: list[Any]) -> A.PtrOp:
        return A.PtrOp(tuple(str(q) for q in c))

    def ref(self, _: list[Any]) -> A.RefOp:
        return A.RefOp()

    def dname(self, c: list[Any]) -> A.Declarator:
        return A.Declarator(_pos(c[0]), str(c[0]))

    def dparen(self, c: list[Any]) -> A.Declarator:
        return c[0]  # type: ignore[no-any-return]

    def darray(self, c: list[Any]) -> A.Declarator:
        d, size = c
        # `d[n]`: d's own constructors apply to "array of n (element)"
        return A.Declarator(d.pos, d.name, (A.ArrayOp(size),) + d.ops, d.attributes)

    def dfunc(self, c: list[Any]) -> A.Declarator:
        d, params = c
        ps, variadic = params if params is not None else ((), False)
        return A.Declarator(d.pos, d.name, (A.FuncOp(ps, variadic),) + d.ops, d.attributes)

    def params(self, c: list[Any]) -> tuple[tuple[A.Param, ...], bool]:
        ps = tuple(x for x in c if isinstance(x, A.Param))
        return ps, len(c) > len(ps) and c[-1] is not None

    def param(self, c: list[Any]) -> A.Param:
        specs, d = c
        if d is None:
            d = A.Declarator(specs.pos, None)
        return A.Param(specs.pos, specs, d)

    def abstract(self, c: list[Any]) -> A.Declarator:
        ptrs = [x for x in c if isinstance(x, (A.PtrOp, A.RefOp))]
        arrays = [A.ArrayOp(x) for x in c if not isinstance(x, (A.PtrOp, A.RefOp))]
        return A.Declarator(None, None, tuple(ptrs) + tuple(reversed(arrays)))  # type: ignore

    def type_name(self, c: list[Any]) -> A.TypeName:
        specs, d = c
        return A.TypeName(specs.pos, specs, d or A.Declarator(specs.pos, None))

    # -- statements ------------------------------------------------------------------------------
    def compound(self, c: list[Any]) -> A.Compound:
        items = tuple(A.DeclStmt(x.pos, x) if isinstance(x, A.Declaration) else x for x in c)
        pos = items[0].pos if items else None
        return A.Compound(pos, items)  # type: ignore[arg-type]

    def expr_stmt(self, c: list[Any]) -> A.ExprStmt:
        return A.ExprStmt(c[0].pos, c[0])

    def empty_stmt(self, _: list[Any]) -> A.Empty:
        return A.Empty(None)  # type: ignore[arg-type]

    def if_stmt(self, c: list[Any]) -> A.If:
        return A.If(_pos(c[0]), c[1], c[2], c[3])

    def while_stmt(self, c: list[Any]) -> A.While:
        return A.While(_pos(c[0]), c[1], c[2])

    def do_stmt(self, c: list[Any]) -> A.DoWhile:
        return A.DoWhile(_pos(c[0]), c[1], c[2])

    def for_init(self, c: list[Any]) -> Any:
        x = c[0]
        return A.DeclStmt(x.pos, x) if isinstance(x, A.Declaration) else x

    def for_stmt(self, c: list[Any]) -> A.For:
        kw, init, cond, step, body = c
        return A.For(_pos(kw), init, cond, step, body)

    def break_stmt(self, c: list[Any]) -> A.Break:
        return A.Break(_pos(c[0]))

    def continue_stmt(self, c: list[Any]) -> A.Continue:
        return A.Continue(_pos(c[0]))

    def return_stmt(self, c: list[Any]) -> A.Return:
        return A.Return(_pos(c[0]), c[1])

    def switch_stmt(self, c: list[Any]) -> A.Switch:
        return A.Switch(_pos(c[0]), c[1], c[2])

    def case_stmt(self, c: list[Any]) -> A.Case:
        return A.Case(_pos(c[0]), c[1], c[2])

    def default_stmt(self, c: list[Any]) -> A.Case:
        return A.Case(_pos(c[0]), None, c[1])

    def goto_stmt(self, c: list[Any]) -> A.Goto:
        return A.Goto(_pos(c[0]), str(c[1]))

    # -- expressions -----------------------------------------------------------------------------
    def comma(self, c: list[Any]) -> A.Comma:
        return A.Comma(c[0].pos, c[0], c[1])

    def assign(self, c: list[Any]) -> A.Assign:
        return A.Assign(c[0].pos, "=", c[0], c[1])

    def assign_op(self, c: list[Any]) -> A.Assign:
        return A.Assign(c[0].pos, str(c[1]), c[0], c[2])

    def ternary(self, c: list[Any]) -> A.Ternary:
        return A.Ternary(c[0].pos, c[0], c[1], c[2])

    def binop(self, c: list[Any]) -> A.BinOp:
        return A.BinOp(c[0].pos, str(c[1]), c[0], c[2])

    def cast(self, c: list[Any]) -> A.Cast:
        return A.Cast(c[0].pos, c[0], c[1])

    def preinc(self, c: list[Any]) -> A.IncDec:
        return A.IncDec(_pos(c[0]), str(c[0]), c[1], False)

    def unop(self, c: list[Any]) -> A.UnOp:
        return A.UnOp(_pos(c[0]), str(c[0]), c[1])

    def sizeof_expr(self, c: list[Any]) -> A.SizeOf:
        return A.SizeOf(_pos(c[0]), c[1])

    def sizeof_type(self, c: list[Any]) -> A.SizeOf:
        return A.SizeOf(_pos(c[0]), next(x for x in c if isinstance(x, A.TypeName)))

    def index(self, c: list[Any]) -> A.Index:
        return A.Index(c[0].pos, c[0], c[1])

    def call(self, c: list[Any]) -> A.Call:
        return A.Call(c[0].pos, c[0], tuple(c[1] or ()))

    def template_call(self, c: list[Any]) -> A.Call:
        name, targs, args = c
        return A.Call(_pos(name), A.Name(_pos(name), str(name)), tuple(args or ()),
                      tuple(targs))

    def template_call_deduced(self, c: list[Any]) -> A.Call:
        name, args = c
        return A.Call(_pos(name), A.Name(_pos(name), str(name)), tuple(args or ()))

    def args(self, c: list[Any]) -> list[Any]:
        return c

    def targs(self, c: list[Any]) -> list[Any]:
        return c

    def member(self, c: list[Any]) -> A.Member:
        return A.Member(c[0].pos, c[0], str(c[1]))

    def arrow(self, c: list[Any]) -> A.Member:
        return A.Member(c[0].pos, c[0], str(c[1]), True)

    def postinc(self, c: list[Any]) -> A.IncDec:
        return A.IncDec(c[0].pos, "++", c[0], True)

    def postdec(self, c: list[Any]) -> A.IncDec:
        return A.IncDec(c[0].pos, "--", c[0], True)

    def cpp_cast(self, c: list[Any]) -> A.Cast:
        kind, t, x = c
        if str(kind) != "static_cast":
            raise _pos(kind).error(f"{kind} is not supported (use static_cast or a C cast)")
        return A.Cast(_pos(kind), t, x)

    def functional_cast(self, c: list[Any]) -> A.Expr:
        """C++ `T(x)` (and `float4(a, b, c, d)`): a cast, or a vector literal."""
        kw, args = c
        pos = _pos(kw)
        spec: A.Spec = (A.TypeKeyword(pos, str(kw)) if kw.type == "TYPE_KEYWORD"
                        else A.TypeRef(pos, str(kw)))
        tn = A.TypeName(pos, A.Specs(pos, (spec,)), A.Declarator(pos, None))
        items = list(args or [])
        if not items:
            raise pos.error(f"'{kw}()' needs a value")
        x: A.Expr = items[0]
        for it in items[1:]:
            x = A.Comma(x.pos, x, it)
        return A.Cast(pos, tn, A.Paren(pos, x))

    def name(self, c: list[Any]) -> A.Name:
        return A.Name(_pos(c[0]), str(c[0]))

    def number(self, c: list[Any]) -> A.Number:
        return A.Number(_pos(c[0]), str(c[0]))

    def char(self, c: list[Any]) -> A.CharLit:
        return A.CharLit(_pos(c[0]), char_value(str(c[0]), _pos(c[0])))

    def string(self, c: list[Any]) -> A.StringLit:
        return A.StringLit(_pos(c[0]), "".join(string_value(str(s)) for s in c))

    def paren(self, c: list[Any]) -> A.Paren:
        return A.Paren(c[0].pos, c[0])

"""dlc's C preprocessor: #define (object-like and function-like, # and ##, variadic), #undef,
#if/#ifdef/#ifndef/#elif/#else/#endif, #include "file" (relative to the including file),
#pragma (once; others are ignored), #error, and the predefined macros of OpenCL C or CUDA.

Works on lexer tokens; expanded tokens keep the position of the macro use, so errors in them
point at the line the user wrote.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ...errors import ParseError
from .lexer import Pos, Source, Tok, char_value, lines_of, tokenize

MAX_INCLUDE_DEPTH = 64
# Headers that real kernels include for declarations dlc already knows: ignored.
SYSTEM_HEADERS = frozenset("""
cuda.h cuda_runtime.h cuda_runtime_api.h device_launch_parameters.h cuda_fp16.h math.h cmath
stdint.h stddef.h stdio.h float.h limits.h math_constants.h device_functions.h
sm_20_atomic_functions.h sm_60_atomic_functions.h cstdint cstdio cfloat climits assert.h
cassert stdbool.h
""".split())

_COMMON = {
    "FLT_MAX": "0x1.fffffep127f", "FLT_MIN": "0x1p-126f", "FLT_EPSILON": "0x1p-23f",
    "DBL_MAX": "0x1.fffffffffffffp1023", "DBL_MIN": "0x1p-1022", "DBL_EPSILON": "0x1p-52",
    "INFINITY": "__builtin_inff()", "NAN": "__builtin_nanf(\"\")", "HUGE_VALF": "__builtin_inff()",
    "HUGE_VAL": "__builtin_inf()",
    "CHAR_BIT": "8", "SCHAR_MAX": "127", "SCHAR_MIN": "(-127-1)", "CHAR_MAX": "127",
    "CHAR_MIN": "(-127-1)", "UCHAR_MAX": "255", "SHRT_MAX": "32767", "SHRT_MIN": "(-32767-1)",
    "USHRT_MAX": "65535", "INT_MAX": "2147483647", "INT_MIN": "(-2147483647-1)",
    "UINT_MAX": "0xffffffffU", "LONG_MAX": "0x7fffffffffffffffL",
    "LONG_MIN": "(-0x7fffffffffffffffL-1)", "ULONG_MAX": "0xffffffffffffffffUL",
    "LLONG_MAX": "0x7fffffffffffffffLL", "LLONG_MIN": "(-0x7fffffffffffffffLL-1)",
    "ULLONG_MAX": "0xffffffffffffffffULL",
    "M_E": "2.718281828459045", "M_LOG2E": "1.4426950408889634", "M_LOG10E": "0.4342944819032518",
    "M_LN2": "0.6931471805599453", "M_LN10": "2.302585092994046", "M_PI": "3.141592653589793",
    "M_PI_2": "1.5707963267948966", "M_PI_4": "0.7853981633974483",
    "M_1_PI": "0.3183098861837907", "M_2_PI": "0.6366197723675814",
    "M_2_SQRTPI": "1.1283791670955126", "M_SQRT2": "1.4142135623730951",
    "M_SQRT1_2": "0.7071067811865476",
}
OPENCL_MACROS = {
    **_COMMON,
    "__OPENCL_VERSION__": "120", "__OPENCL_C_VERSION__": "120", "CL_VERSION_1_0": "100",
    "CL_VERSION_1_1": "110", "CL_VERSION_1_2": "120", "CL_VERSION_2_0": "200",
    "__ENDIAN_LITTLE__": "1", "MAXFLOAT": "0x1.fffffep127f",
    "CLK_LOCAL_MEM_FENCE": "1", "CLK_GLOBAL_MEM_FENCE": "2",
    **{f"{k}_F": f"{v}f" for k, v in _COMMON.items() if k.startswith("M_")},
    "M_PI_F": "3.14159265f",
}
CUDA_MACROS = {
    **_COMMON,
    "__CUDACC__": "1", "__NVCC__": "1", "__CUDA_ARCH__": "800", "__CUDACC_RTC__": "1",
    "CUDART_INF_F": "__builtin_inff()", "CUDART_NAN_F": "__builtin_nanf(\"\")",
    "CUDART_PI_F": "3.141592654f", "CUDART_PI": "3.141592653589793",
    "FULL_MASK": "0xffffffffu", "__cplusplus": "201703L",
}


@dataclass
class Macro:
    name: str
    params: list[str] | None      # None: object-like
    variadic: bool
    body: list[Tok]


class Preprocessor:
    def __init__(self, language: str, defines: Mapping[str, str] | None = None,
                 base_dir: Path | None = None):
        self.base_dir = base_dir
        self.macros: dict[str, Macro] = {}
        builtin = Source("<built-in>", "")
        pre = OPENCL_MACROS if language == "opencl" else CUDA_MACROS
        for name, value in pre.items():
            self.define_text(name, value, builtin)
        cmdline = Source("<command line>", "")
        for name, value in (defines or {}).items():
            self.define_text(name, value, cmdline)
        self.once: set[Path] = set()
        self.depth = 0

    def define_text(self, name: str, value: str, source: Source) -> None:
        """`#define name value` (from the predefined table or the build options)."""
        pos = Pos(source, 1, 1)
        body = [t.at(pos) for t in tokenize(value, Source(source.name, value))]
        if body:
            body[0] = Tok(body[0].kind, body[0].text, pos, False)
        self.macros[name] = Macro(name, None, False, body)

    # -- files -----------------------------------------------------------------------------------
    def run(self, text: str, filename: str | None) -> list[Tok]:
        out: list[Tok] = []
        self.file(Source(filename, text), self.base_dir, out)
        return out

    def file(self, source: Source, directory: Path | None, out: list[Tok]) -> None:
        lines = lines_of(tokenize(source.text, source))
        stack: list[list[bool]] = []   # [active, some branch taken, else seen] per #if
        pending: list[Tok] = []

        def active() -> bool:
            return all(s[0] for s in stack)

        for line in lines:
            if line[0].text != "#":
                if active():
                    pending.extend(line)
                continue
            out.extend(self.expand(pending))
            pending = []
            d = line[1] if len(line) > 1 else None
            name = d.text if d is not None else ""
            rest = line[2:]
            if name in ("if", "ifdef", "ifndef"):
                if not active():
                    stack.append([False, True, False])
                    continue
                assert d is not None
                ok = (self.eval_if(rest, d) if name == "if" else
                      (self.ident(rest, d).text in self.macros) == (name == "ifdef"))
                stack.append([ok, ok, False])
            elif name in ("elif", "else"):
                assert d is not None
                if not stack or stack[-1][2]:
                    raise d.pos.error(f"#{name} without a matching #if")
                top = stack[-1]
                outer = all(s[0] for s in stack[:-1])
                if name == "else":
                    top[2] = True
                    top[0] = outer and not top[1]
                else:
                    top[0] = outer and not top[1] and self.eval_if(rest, d)
                top[1] = top[1] or top[0]
            elif name == "endif":
                assert d is not None
                if not stack:
                    raise d.pos.error("#endif without a matching #if")
                stack.pop()
            elif not active():
                continue
            elif d is None:
                continue   # a lone '#' is a null directive
            elif name == "define":
                self.define(rest, d)
            elif name == "undef":
                self.macros.pop(self.ident(rest, d).text, None)
            elif name == "include":
                self.include(rest, d, directory, out)
            elif name == "pragma":
                if [t.text for t in rest] == ["once"]:
                    self.once.add(Path(source.name or "<input>").resolve())
            elif name == "error":
                raise d.pos.error("#error " + " ".join(t.text for t in rest))
            elif name not in ("warning", "line") and d.kind != "num":
                raise d.pos.error(f"unknown preprocessor directive #{name}")
        if stack:
            raise lines[-1][0].pos.error("#if without #endif at the end of the file")
        out.extend(self.expand(pending))

    def include(self, rest: list[Tok], d: Tok, directory: Path | None, out: list[Tok]) -> None:
        if rest and rest[0].kind != "str" and rest[0].text != "<":
            rest = self.expand(rest)
        if not rest:
            raise d.pos.error('#include expects "file" or <file>')
        if rest[0].kind == "str":
            name, angled = rest[0].text[1:-1], False
        elif rest[0].text == "<" and rest[-1].text == ">":
            name, angled = "".join(t.text for t in rest[1:-1]), True
        else:
            raise d.pos.error('#include expects "file" or <file>')
        places = [p for p in (directory, self.base_dir) if p is not None] or [Path.cwd()]
        path = next((p / name for p in places if (p / name).is_file()), None)
        if path is None:
            if angled and name in SYSTEM_HEADERS:
                return
            looked = ", ".join(str(p) for p in dict.fromkeys(places))
            raise rest[0].pos.error(f"cannot find include file '{name}' (looked in {looked})")
        if path.resolve() in self.once:
            return
        if self.depth >= MAX_INCLUDE_DEPTH:
            raise d.pos.error(f"#include nested more than {MAX_INCLUDE_DEPTH} deep "
                              "(does a file include itself?)")
        self.depth += 1
        try:
            self.file(Source(str(path), path.read_text(encoding="utf-8")), path.parent, out)
        finally:
            self.depth -= 1

    # -- #define ---------------------------------------------------------------------------------
    def ident(self, rest: list[Tok], d: Tok) -> Tok:
        if not rest or rest[0].kind != "id":
            raise d.pos.error(f"#{d.text} expects a macro name")
        return rest[0]

    def define(self, rest: list[Tok], d: Tok) -> None:
        name = self.ident(rest, d)
        if name.text == "defined":
            raise name.pos.error("'defined' cannot be a macro name")
        body = rest[1:]
        if body and body[0].text == "(" and not body[0].space:
            params: list[str] = []
            variadic = False
            i = 1
            while True:
                if i >= len(body):
                    raise body[0].pos.error(f"macro {name.text}: unterminated parameter list")
                t = body[i]
                if t.text == ")" and not params and not variadic:
                    i += 1
                    break
                if t.text == "...":
                    variadic = True
                elif t.kind == "id":
                    params.append(t.text)
                else:
                    raise t.pos.error(f"macro {name.text}: expected a parameter name, got "
                                      f"'{t.text}'")
                i += 1
                if i < len(body) and body[i].text == ")":
                    i += 1
                    break
                if i >= len(body) or body[i].text != "," or variadic:
                    where = body[i] if i < len(body) else t
                    raise where.pos.error(f"macro {name.text}: expected ',' or ')' in the "
                                          "parameter list")
                i += 1
            self.macros[name.text] = Macro(name.text, params, variadic, body[i:])
        else:
            self.macros[name.text] = Macro(name.text, None, False, body)

    # -- expansion -------------------------------------------------------------------------------
    def expand(self, toks: list[Tok]) -> list[Tok]:
        out: list[Tok] = []
        work = deque(toks)
        while work:
            t = work.popleft()
            if t.text == "_Pragma" and work and work[0].text == "(":
                depth = 0
                while work:   # `_Pragma("unroll")`: a pragma, ignored like #pragma
                    x = work.popleft()
                    depth += (x.text == "(") - (x.text == ")")
                    if depth == 0:
                        break
                continue
            m = self.macros.get(t.text) if t.kind == "id" else None
            if m is None or t.text in t.hide:
                if t.kind == "id" and t.text in ("__LINE__", "__FILE__"):
                    t = (Tok("num", str(t.pos.line), t.pos, t.space) if t.text == "__LINE__"
                         else Tok("str", f'"{t.pos.source.name or "<input>"}"', t.pos, t.space))
                out.append(t)
                continue
            if m.params is None:
                body = self.substitute(m, {}, t.hide | {m.name}, t)
            else:
                if not work or work[0].text != "(":
                    out.append(t)
                    continue
                args, close = self.collect_args(work, m, t)
                body = self.substitute(m, args, (t.hide & close.hide) | {m.name}, t)
            work.extendleft(reversed(body))
        return out

    def collect_args(self, work: deque[Tok], m: Macro, name: Tok) -> tuple[dict[str, list[Tok]],
                                                                           Tok]:
        work.popleft()  # '('
        args: list[list[Tok]] = [[]]
        depth = 0
        while True:
            if not work:
                raise name.pos.error(f"unterminated call of macro {m.name}")
            t = work.popleft()
            if t.text in ("(", "[", "{"):
                depth += 1
            elif t.text in (")", "]", "}"):
                if depth == 0 and t.text == ")":
                    break
                depth -= 1
            rest_args = m.variadic and len(args) > len(m.params or [])
            if t.text == "," and depth == 0 and not rest_args:
                args.append([])
                continue
            args[-1].append(t)
        params = m.params or []
        if len(args) == 1 and not args[0] and not params:
            args = []
        want = len(params) + (1 if m.variadic else 0)
        if m.variadic and len(args) == len(params):
            args.append([])
        if len(args) != want:
            raise name.pos.error(f"macro {m.name} takes {len(params)} argument(s)"
                                 f"{' or more' if m.variadic else ''}, got {len(args)}")
        named = dict(zip(params + (["__VA_ARGS__"] if m.variadic else []), args))
        return named, t

    def substitute(self, m: Macro, args: dict[str, list[Tok]], hide: frozenset[str],
                   use: Tok) -> list[Tok]:
        body = m.body
        out: list[Tok] = []
        i = 0
        while i < len(body):
            t = body[i]
            if t.text == "#" and m.params is not None and i + 1 < len(body) \
                    and body[i + 1].text in args:
                arg = args[body[i + 1].text]
                text = "".join((" " if k and a.space else "") + a.text for k, a in enumerate(arg))
                text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
                out.append(Tok("str", text, use.pos, t.space))
                i += 2
                continue
            pasting = (i + 1 < len(body) and body[i + 1].text == "##") or \
                (i > 0 and body[i - 1].text == "##")
            if t.text == "##" and out and i + 1 < len(body):
                right = body[i + 1]
                rtoks = args[right.text] if right.kind == "id" and right.text in args else [right]
                left = out.pop()
                joined = left.text + (rtoks[0].text if rtoks else "")
                new = tokenize(joined, Source(use.pos.source.name, joined)) if joined else []
                if len(new) > 1:
                    raise use.pos.error(f"macro {m.name}: '##' makes '{joined}', which is not "
                                        "one token")
                out.extend(Tok(x.kind, x.text, use.pos, left.space) for x in new)
                out.extend(x.at(use.pos) for x in rtoks[1:])
                i += 2
                continue
            if t.kind == "id" and t.text in args:
                arg = args[t.text]
                exp = arg if pasting else self.expand(arg)
                for k, a in enumerate(exp):
                    out.append(Tok(a.kind, a.text, use.pos, t.space if k == 0 else a.space,
                                   False, a.hide))
            else:
                out.append(Tok(t.kind, t.text, use.pos, t.space, False, t.hide))
            i += 1
        result = [Tok(x.kind, x.text, x.pos, x.space, False, x.hide | hide) for x in out]
        if result:
            result[0] = Tok(result[0].kind, result[0].text, use.pos, use.space, False,
                            result[0].hide)
        return result

    # -- #if expressions -------------------------------------------------------------------------
    def eval_if(self, rest: list[Tok], d: Tok) -> bool:
        toks: list[Tok] = []
        i = 0
        while i < len(rest):
            t = rest[i]
            if t.text == "defined":
                paren = i + 1 < len(rest) and rest[i + 1].text == "("
                j = i + 2 if paren else i + 1
                if j >= len(rest) or rest[j].kind != "id":
                    raise t.pos.error("'defined' expects a macro name")
                toks.append(Tok("num", "1" if rest[j].text in self.macros else "0", t.pos))
                i = j + (2 if paren else 1)
                continue
            toks.append(t)
            i += 1
        toks = [Tok("num", "0", t.pos) if t.kind == "id" else t for t in self.expand(toks)]
        if not toks:
            raise d.pos.error(f"#{d.text} expects an expression")
        return IfExpr(toks, d).value() != 0


def _apply(op: str, v: int, w: int) -> int:
    if op in ("/", "%"):
        q = abs(v) // abs(w) * (1 if (v < 0) == (w < 0) else -1)   # C truncates
        return q if op == "/" else v - q * w
    table = {"||": int(bool(v or w)), "&&": int(bool(v and w))} if op in ("||", "&&") else {}
    if table:
        return table[op]
    ops = {"|": int.__or__, "^": int.__xor__, "&": int.__and__, "==": lambda a, b: int(a == b),
           "!=": lambda a, b: int(a != b), "<": lambda a, b: int(a < b),
           ">": lambda a, b: int(a > b), "<=": lambda a, b: int(a <= b),
           ">=": lambda a, b: int(a >= b), "<<": int.__lshift__, ">>": int.__rshift__,
           "+": int.__add__, "-": int.__sub__, "*": int.__mul__}
    return ops[op](v, w)  # type: ignore[no-any-return,operator]


class IfExpr:
    """Integer constant expressions of #if (C's operators and precedence)."""

    BINARY = [("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", ">", "<=", ">="),
              ("<<", ">>"), ("+", "-"), ("*", "/", "%")]

    def __init__(self, toks: list[Tok], d: Tok):
        self.toks, self.i, self.d = toks, 0, d

    def peek(self) -> str:
        return self.toks[self.i].text if self.i < len(self.toks) else ""

    def error(self, message: str) -> ParseError:
        t = self.toks[min(self.i, len(self.toks) - 1)]
        return t.pos.error(f"in #{self.d.text}: {message}")

    def value(self) -> int:
        v = self.cond()
        if self.i != len(self.toks):
            raise self.error(f"unexpected '{self.peek()}'")
        return v

    def cond(self) -> int:
        c = self.binary(0)
        if self.peek() != "?":
            return c
        self.i += 1
        a = self.cond()
        if self.peek() != ":":
            raise self.error("expected ':'")
        self.i += 1
        b = self.cond()
        return a if c else b

    def binary(self, level: int) -> int:
        if level == len(self.BINARY):
            return self.unary()
        v = self.binary(level + 1)
        while self.peek() in self.BINARY[level]:
            op = self.peek()
            self.i += 1
            w = self.binary(level + 1)
            if op in ("/", "%") and w == 0:
                raise self.error("division by zero")
            v = _apply(op, v, w)
        return v

    def unary(self) -> int:
        op = self.peek()
        if op in ("!", "~", "-", "+"):
            self.i += 1
            v = self.unary()
            return {"!": int(not v), "~": ~v, "-": -v, "+": v}[op]
        if op == "(":
            self.i += 1
            v = self.cond()
            if self.peek() != ")":
                raise self.error("expected ')'")
            self.i += 1
            return v
        if self.i >= len(self.toks):
            raise self.error("unexpected end of the expression")
        t = self.toks[self.i]
        self.i += 1
        if t.kind == "char":
            return char_value(t.text, t.pos)
        if t.kind == "num":
            text = t.text.rstrip("uUlL")
            try:
                return int(text, 0) if not (len(text) > 1 and text[0] == "0" and
                                            text.isdigit()) else int(text, 8)
            except ValueError:
                raise self.error(f"'{t.text}' is not an integer") from None
        raise self.error(f"unexpected '{t.text}'")

"""Tokens of C source text, with the file, line and column each came from.

The preprocessor works on these tokens; the parser reads the preprocessed stream. Comments and
backslash-newlines vanish here; every token records whether whitespace preceded it and whether it
starts a line (what `#` directives and function-like macro definitions need).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from ...errors import ParseError


@dataclass(frozen=True)
class Source:
    """One file (or the source text) as read: its name and lines, for error messages."""

    name: str | None
    text: str = field(repr=False)

    def line(self, n: int) -> str:
        lines = self.text.splitlines()
        return lines[n - 1] if 0 < n <= len(lines) else ""


@dataclass(frozen=True)
class Pos:
    source: Source
    line: int
    col: int

    def __repr__(self) -> str:
        return f"{self.source.name or '<input>'}:{self.line}:{self.col}"

    def error(self, message: str) -> ParseError:
        return ParseError(message, self.source.name, self.line, self.col,
                          self.source.line(self.line))

    def where(self) -> str:
        """`file:line:col: ` for messages of errors that are not ParseErrors."""
        return f"{self!r}: "


@dataclass(frozen=True)
class Tok:
    """kind: "id", "num", "str", "char", "punct" (or "eof")."""

    kind: str
    text: str
    pos: Pos
    space: bool = False          # whitespace before it
    bol: bool = False            # first token of a line
    hide: frozenset[str] = frozenset()   # macros that must not expand this token again

    def at(self, pos: Pos, space: bool | None = None) -> Tok:
        return replace(self, pos=pos, space=self.space if space is None else space)


PUNCTUATORS = sorted("""
... <<= >>= -> ++ -- << >> <= >= == != && || *= /= %= += -= &= ^= |= ## ::
[ ] ( ) { } . & * + - ~ ! / % < > ^ | ? : ; = , #
""".split(), key=len, reverse=True)

_TOKEN = re.compile(r"""
  (?P<id>[A-Za-z_$][A-Za-z_0-9$]*)
| (?P<num>(?:\d|\.\d)(?:[eEpP][+-]|[A-Za-z0-9_.])*)
| (?P<str>(?:u8|[uUL])?"(?:[^"\\\n]|\\.)*")
| (?P<char>[uUL]?'(?:[^'\\\n]|\\.)+')
| (?P<punct>""" + "|".join(re.escape(p) for p in PUNCTUATORS) + r""")
""", re.X)
_SPACE = re.compile(r"[ \t\f\v\r]+")


def tokenize(text: str, source: Source) -> list[Tok]:
    """The tokens of one file. Raises ParseError for a character that starts no token or an
    unterminated comment."""
    # join backslash-newlines, remembering where each kept character was
    chars: list[str] = []
    where: list[tuple[int, int]] = []
    line, col, i, n = 1, 1, 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and text.startswith("\n", i + 1):
            i, line, col = i + 2, line + 1, 1
            continue
        if c == "\\" and text.startswith("\r\n", i + 1):
            i, line, col = i + 3, line + 1, 1
            continue
        chars.append(c)
        where.append((line, col))
        if c == "\n":
            line, col = line + 1, 1
        else:
            col += 1
        i += 1
    s = "".join(chars)
    toks: list[Tok] = []
    i, n, space, bol = 0, len(s), False, True
    while i < n:
        c = s[i]
        if c == "\n":
            i, space, bol = i + 1, False, True
            continue
        m = _SPACE.match(s, i)
        if m:
            i, space = m.end(), True
            continue
        if s.startswith("//", i):
            j = s.find("\n", i)
            i, space = (n if j < 0 else j), True
            continue
        if s.startswith("/*", i):
            j = s.find("*/", i + 2)
            if j < 0:
                ln, cl = where[i]
                raise Pos(source, ln, cl).error("unterminated /* comment")
            i, space = j + 2, True
            continue
        m = _TOKEN.match(s, i)
        ln, cl = where[i]
        if m is None:
            raise Pos(source, ln, cl).error(f"unexpected character {c!r}")
        kind = m.lastgroup or "punct"
        toks.append(Tok(kind, m.group(), Pos(source, ln, cl), space, bol))
        i, space, bol = m.end(), False, False
    return toks


def lines_of(toks: list[Tok]) -> list[list[Tok]]:
    """Group tokens by the source line they start on (directives are one line each)."""
    out: list[list[Tok]] = []
    for t in toks:
        if t.bol or not out:
            out.append([])
        out[-1].append(t)
    return out


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"',
            "a": "\a", "b": "\b", "f": "\f", "v": "\v", "?": "?"}


def char_value(text: str, pos: Pos) -> int:
    """The value of a character constant like 'a' or '\\n'."""
    body = text[text.index("'") + 1:-1]
    if body.startswith("\\"):
        rest = body[1:]
        if rest[:1] in ("x", "X"):
            return int(rest[1:], 16)
        if rest[:1].isdigit():
            return int(rest, 8)
        if rest in _ESCAPES:
            return ord(_ESCAPES[rest])
        raise pos.error(f"unknown escape sequence in {text}")
    if len(body) != 1:
        raise pos.error(f"character constant {text} must hold one character")
    return ord(body)


def string_value(text: str) -> str:
    body = text[text.index('"') + 1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)

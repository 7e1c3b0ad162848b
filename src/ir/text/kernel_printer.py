"""Print kernels, statements and expressions as text (C-like, one statement per line).

Literals are written bare where the parser gives them the right type from their context (the other
operand's type, the variable or buffer they go to) and with a `:type` suffix elsewhere (`3:i64`);
`literal_type` is that rule, shared with the parser.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..kernel.expr import (
    AXIS_BUILTINS,
    BINARY_OPS,
    MATH,
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
    For,
    If,
    Kernel,
    Let,
    Return,
    Stmt,
    Store,
    While,
)
from ..kernel.types import BOOL, F32, I32, U32, ScalarType
from .lexical import format_const_float, quote

# Binary precedence (C's); higher binds tighter. Ops not listed print as calls: min(a, b).
PREC = {"lor": 1, "land": 2, "or": 3, "xor": 4, "and": 5, "eq": 6, "ne": 6, "lt": 7, "le": 7,
        "gt": 7, "ge": 7, "shl": 8, "shr": 8, "add": 9, "sub": 9, "mul": 10, "div": 10, "rem": 10}
SYMBOL = {"lor": "||", "land": "&&", "or": "|", "xor": "^", "and": "&", "eq": "==", "ne": "!=",
          "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "shl": "<<", "shr": ">>", "add": "+",
          "sub": "-", "mul": "*", "div": "/", "rem": "%"}
UNARY_SYMBOL = {"neg": "-", "not": "!", "bitnot": "~"}
UNARY_PREC, ATOM_PREC = 11, 12
INDENT = "  "


def literal_type(kind: str, expected: ScalarType | None) -> ScalarType:
    """The type the parser gives a bare literal of `kind` ("int", "float", "bool") where the
    context expects `expected` (None: no expectation)."""
    if kind == "bool":
        return BOOL
    if expected is not None and expected.lanes == 1:
        if kind == "int" and expected.is_int or kind == "float" and expected.is_float:
            return expected
    return I32 if kind == "int" else F32


def operand_expectations(args: Sequence[Expr], pe: ScalarType | None) -> list[ScalarType | None]:
    """Expected types of operands that share one type: a literal takes the type of the first
    operand that is not a literal; the others (and all-literal lists) get the parent's `pe`."""
    typed = next((a.type for a in args if not isinstance(a, Const)), None)
    return [typed if isinstance(a, Const) and typed is not None else pe for a in args]


def result_expectation(op_kind: str, expected: ScalarType | None) -> ScalarType | None:
    """What operands of a binary op of this kind may assume from the op's own expected type."""
    if op_kind == "bool":
        return BOOL
    return None if op_kind == "cmp" else expected


def type_suffix(t: ScalarType, default: ScalarType) -> str:
    return "" if t == default else f":{t}"


def expr_text(e: Expr, expected: ScalarType | None = None) -> str:
    return _ex(e, expected)[0]


def _const(c: Const) -> tuple[str, str]:
    t = c.type
    if t.is_bool:
        return ("true" if c.value else "false"), "bool"
    if t.is_int:
        return str(int(c.value)), "int"
    if t.is_float:
        return format_const_float(float(c.value), t.dtype), "float"
    raise ValueError(f"kernel constants of type {t} have no text form")


def _args(args: Sequence[Expr], pe: ScalarType | None) -> str:
    return ", ".join(expr_text(a, x) for a, x in zip(args, operand_expectations(args, pe)))


def _ex(e: Expr, expected: ScalarType | None) -> tuple[str, int]:  # noqa: C901 - one case a kind
    if isinstance(e, Const):
        text, kind = _const(e)
        if literal_type(kind, expected) != e.type:
            text += f":{e.type}"
        return text, ATOM_PREC
    if isinstance(e, Var):
        return "%" + quote(e.name), ATOM_PREC
    if isinstance(e, Load):
        text = f"%{quote(e.buffer.name)}[{', '.join(expr_text(i) for i in e.index)}]"
        return (text if e.lanes == 1 else f"vload<{e.lanes}>({text})"), ATOM_PREC
    if isinstance(e, Binary):
        kind = BINARY_OPS.get(e.op, "num")
        ea, eb = operand_expectations((e.a, e.b), result_expectation(kind, expected))
        if e.op not in PREC:
            return f"{e.op}({expr_text(e.a, ea)}, {expr_text(e.b, eb)})", ATOM_PREC
        p = PREC[e.op]
        (ta, pa), (tb, pb) = _ex(e.a, ea), _ex(e.b, eb)
        ta = f"({ta})" if pa < p else ta
        tb = f"({tb})" if pb <= p else tb
        return f"{ta} {SYMBOL[e.op]} {tb}", p
    if isinstance(e, Unary):
        text, p = _ex(e.x, BOOL if e.op == "not" else expected)
        if p < UNARY_PREC or isinstance(e.x, Const):
            text = f"({text})"
        return f"{UNARY_SYMBOL.get(e.op, e.op)}{text}", UNARY_PREC
    if isinstance(e, Builtin):
        axis = str(e.axis) if e.name in AXIS_BUILTINS or e.axis != 0 else ""
        return f"{e.name}({axis}){type_suffix(e.type, I32)}", ATOM_PREC
    if isinstance(e, Math):
        info = MATH.get(e.fn)
        pe = None if info is None or info.returns_bool else expected
        return f"{e.fn}({_args(e.args, pe)})", ATOM_PREC
    if isinstance(e, Cast):
        return f"cast<{e.type}>({expr_text(e.x)})", ATOM_PREC
    if isinstance(e, Bitcast):
        return f"bitcast<{e.type}>({expr_text(e.x)})", ATOM_PREC
    if isinstance(e, Select):
        ea, eb = operand_expectations((e.a, e.b), expected)
        return (f"select({expr_text(e.cond, BOOL)}, {expr_text(e.a, ea)}, "
                f"{expr_text(e.b, eb)})"), ATOM_PREC
    if isinstance(e, Broadcast):
        el = expected.element if expected is not None else None
        return f"broadcast<{e.lanes}>({expr_text(e.x, el)})", ATOM_PREC
    if isinstance(e, MakeVector):
        el = expected.element if expected is not None else None
        return f"vec({_args(e.elems, el)})", ATOM_PREC
    if isinstance(e, Extract):
        return f"extract<{e.lane}>({expr_text(e.x)})", ATOM_PREC
    if isinstance(e, Insert):
        return (f"insert<{e.lane}>({expr_text(e.x)}, "
                f"{expr_text(e.value, e.x.type.element)})"), ATOM_PREC
    if isinstance(e, Swizzle):
        return f"swizzle<{', '.join(map(str, e.lanes))}>({expr_text(e.x)})", ATOM_PREC
    if isinstance(e, Shuffle):
        params = str(e.mode) if e.width is None else f"{e.mode}, {e.width}"
        return f"shuffle<{params}>({expr_text(e.x, expected)}, {expr_text(e.lane)})", ATOM_PREC
    if isinstance(e, Ballot):
        return f"ballot({expr_text(e.pred, BOOL)}){type_suffix(e.type, U32)}", ATOM_PREC
    if isinstance(e, ActiveMask):
        return f"activemask(){type_suffix(e.type, U32)}", ATOM_PREC
    if isinstance(e, Vote):
        return f"vote<{e.mode}>({expr_text(e.pred, BOOL)}){type_suffix(e.type, BOOL)}", ATOM_PREC
    raise TypeError(f"no text form for kernel expression {type(e).__name__}")


# -- statements ----------------------------------------------------------------------------------

def access_text(b: Buffer) -> str:
    return ("r" if b.read else "") + ("w" if b.write else "") or "none"


def buffer_decl_text(b: Buffer) -> str:
    shape = "*" if b.shape is None else f"[{', '.join(expr_text(d) for d in b.shape)}]"
    return f"%{quote(b.name)}: {b.elem}{shape} {b.scope} {access_text(b)}"


def _ref(buffer: Buffer, index: Sequence[Expr]) -> str:
    return f"%{quote(buffer.name)}[{', '.join(expr_text(i) for i in index)}]"


def _block(b: Block, indent: str) -> list[str]:
    """Lines of a block's body; the caller writes the braces."""
    out: list[str] = []
    for s in b.stmts:
        out.extend(_stmt(s, indent))
    return out


def _braced(head: str, b: Block, indent: str, tail: str = "") -> list[str]:
    if not b.stmts:
        return [f"{indent}{head}{{}}{tail}"]
    return [f"{indent}{head}{{", *_block(b, indent + INDENT), f"{indent}}}{tail}"]


def _stmt(s: Stmt, indent: str) -> list[str]:  # noqa: C901 - one case a kind
    if isinstance(s, Let):
        head = f"let %{quote(s.var.name)}: {s.var.type}"
        val = "" if s.value is None else f" = {expr_text(s.value, s.var.type)}"
        return [f"{indent}{head}{val}"]
    if isinstance(s, Assign):
        return [f"{indent}%{quote(s.var.name)} = {expr_text(s.value, s.var.type)}"]
    if isinstance(s, Store):
        return [f"{indent}{_ref(s.buffer, s.index)} = {expr_text(s.value, s.buffer.elem)}"]
    if isinstance(s, For):
        kind = "" if s.kind == "serial" else f"{s.kind} "
        t = s.var.type
        step = "" if s.step == Const(1, t) else f" step {expr_text(s.step, t)}"
        head = (f"{kind}for %{quote(s.var.name)}: {t} in {expr_text(s.start, t)} to "
                f"{expr_text(s.stop, t)}{step} ")
        return _braced(head, s.body, indent)
    if isinstance(s, If):
        return _if(s, indent, indent)
    if isinstance(s, While):
        if s.test_first:
            return _braced(f"while {expr_text(s.cond, BOOL)} ", s.body, indent)
        return _braced("do ", s.body, indent, f" while {expr_text(s.cond, BOOL)}")
    if isinstance(s, Block):
        return _braced("", s, indent)
    if isinstance(s, Alloc):
        return [f"{indent}alloc {buffer_decl_text(s.buffer)}"]
    if isinstance(s, Barrier):
        return [f"{indent}barrier {s.scope}"]
    if isinstance(s, Atomic):
        et = s.buffer.elem
        args = [_ref(s.buffer, s.index)] + [expr_text(x, et) for x in (s.compare, s.value)
                                            if x is not None]
        call = f"atomic {s.op}({', '.join(args)})"
        if s.result is not None:
            return [f"{indent}let %{quote(s.result.name)}: {s.result.type} = {call}"]
        return [f"{indent}{call}"]
    if isinstance(s, Return):
        return [f"{indent}return"]
    if isinstance(s, Break):
        return [f"{indent}break"]
    if isinstance(s, Continue):
        return [f"{indent}continue"]
    raise TypeError(f"no text form for kernel statement {type(s).__name__}")


def _if(s: If, indent: str, first: str) -> list[str]:
    """An if statement; `first` is what precedes `if` on its line (indent, or `} else `)."""
    head = f"{first}if {expr_text(s.cond, BOOL)} "
    lines = [f"{head}{{", *_block(s.then, indent + INDENT)] if s.then.stmts else [f"{head}{{"]
    if s.orelse is None:
        lines.append(f"{indent}}}")
        return lines
    inner = s.orelse.stmts
    if len(inner) == 1 and isinstance(inner[0], If):
        return lines + _if(inner[0], indent, f"{indent}}} else ")
    if not inner:
        return lines + [f"{indent}}} else {{}}"]
    return lines + [f"{indent}}} else {{", *_block(s.orelse, indent + INDENT), f"{indent}}}"]


def stmt_text(s: Stmt) -> str:
    return "\n".join(_stmt(s, ""))


def stmt_summary(s: Stmt, width: int = 72) -> str:
    """The first line of a statement, shortened: how the verifier names a statement."""
    line = _stmt(s, "")[0].rstrip(" {")
    return line if len(line) <= width else line[:width - 3] + "..."


def print_kernel(k: Kernel, ref: str | None = None) -> str:
    """A kernel's text; `ref`, when it differs from the name, is how a module refers to it."""
    params = ", ".join(buffer_decl_text(p) if isinstance(p, Buffer)
                       else f"%{quote(p.name)}: {p.type}" for p in k.params)
    head = f"kernel @{quote(k.name)}({params})"
    if k.domain is not None:
        head += f" spmd({k.domain.ndim})"
        if k.domain.local_size is not None:
            head += f" local_size({', '.join(map(str, k.domain.local_size))})"
    if k.dynamic_shared is not None:
        head += f" dynamic_shared(%{quote(k.dynamic_shared)})"
    if ref is not None and ref != k.name:
        head += f" as @{quote(ref)}"
    return "\n".join(_braced(head + " ", k.body, "")) + "\n"

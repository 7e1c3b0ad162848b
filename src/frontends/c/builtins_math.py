"""Math builtins (with their native_/half_/CUDA __ and f-suffixed spellings), conversions
(convert_*, as_*, CUDA __float2int_rn ...), vector constructors and vload/vstore."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...ir.dtype import DType
from ...ir.kernel import (
    I32,
    Binary,
    Bitcast,
    Broadcast,
    Const,
    Expr,
    Load,
    MakeVector,
    Math,
    ScalarType,
    Select,
    Unary,
)
from . import ast as A
from .builtins import VOID, Handler, builtin, nargs
from .ctype import (
    DOUBLE,
    FLOAT,
    INT,
    Scalar,
    common_type,
    is_float,
    is_int,
    vector_word,
)
from .emit import const_of, fold_binary
from .lexer import Pos
from .values import RV, Obj

if TYPE_CHECKING:
    from .lower import KernelLowerer


# -- math ----------------------------------------------------------------------------------------
FLOAT1 = ("exp exp2 exp10 log log2 log10 log1p expm1 sqrt rsqrt cbrt sin cos tan asin acos atan "
          "sinh cosh tanh asinh acosh atanh erf erfc tgamma lgamma floor ceil round trunc "
          "rint").split()
FLOAT2 = {"pow": "pow", "powr": "pow", "atan2": "atan2", "fmod": "fmod", "hypot": "hypot",
          "copysign": "copysign"}
PREDICATES = ("isnan", "isinf", "isfinite", "signbit")


def float_args(lw: KernelLowerer, name: str, args: list[A.Expr],
               force_f32: bool) -> tuple[Scalar, list[Expr]]:
    rvs = [lw.rvalue(a) for a in args]
    t: Scalar | None = rvs[0].ctype
    for rv in rvs[1:]:
        t = common_type(t, rv.ctype) if t is not None else None
        if t is None:
            raise args[0].pos.error(f"{name}: arguments of types "
                                    f"{', '.join(str(r.ctype) for r in rvs)} do not match")
    assert t is not None
    if force_f32:
        t = Scalar(FLOAT.st.with_lanes(t.lanes))
    elif not is_float(t):
        base = FLOAT if lw.language == "opencl" else DOUBLE
        t = Scalar(base.st.with_lanes(t.lanes))
    return t, [lw.convert(rv, t, a.pos, f"{name}") for rv, a in zip(rvs, args)]


def num_args(lw: KernelLowerer, name: str, args: list[A.Expr]) -> tuple[Scalar, list[Expr]]:
    rvs = [lw.rvalue(a) for a in args]
    t: Scalar | None = rvs[0].ctype
    for rv in rvs[1:]:
        t = common_type(t, rv.ctype) if t is not None else None
    if t is None:
        raise args[0].pos.error(f"{name}: arguments of types "
                                f"{', '.join(str(r.ctype) for r in rvs)} do not match")
    from .ctype import promote
    t = promote(t) if t.st.is_bool or t.st.dtype.bits < 32 and is_int(t) else t
    return t, [lw.convert(rv, t, a.pos, f"{name}") for rv, a in zip(rvs, args)]


def strip(name: str) -> tuple[str, bool]:
    """The plain math name of a prefixed/suffixed variant, and whether it forces float."""
    base = name
    for pre in ("native_", "half_", "fast_"):
        if base.startswith(pre):
            base = base[len(pre):]
    forced = False
    if base.startswith("__") and base.endswith("f"):
        base, forced = base[2:-1], True
    elif base.startswith("__f") and base.endswith(("_rn", "_rz", "_ru", "_rd")):
        base, forced = base[3:-3], True   # __fsqrt_rn -> sqrt
    elif base.endswith("f") and base[:-1] in FLOAT1 + list(FLOAT2) + [
            "fabs", "fmin", "fmax", "fma", "fdim", "ldexp", "frexp"]:
        base, forced = base[:-1], True
    return base, forced


def pattern_builtin(name: str) -> Handler | None:
    """Builtins recognized by their spelling: math variants, convert_*, as_*, make_*, vload."""
    base, forced = strip(name)
    if base in FLOAT1:
        return lambda lw, n, e, d: _math1(lw, n, e, base, forced)
    if base in FLOAT2:
        return lambda lw, n, e, d: _math2(lw, n, e, FLOAT2[base], forced)
    if base in ("fabs", "fmin", "fmax", "fma", "recip", "divide", "fdivide", "div", "mul",
                "add", "sub", "rcp", "saturate") and (forced or base != "fabs"
                                                         or name == "fabs"):
        return lambda lw, n, e, d: _fmisc(lw, n, e, base, forced)
    if base in PREDICATES:
        return _predicate
    if re.fullmatch(r"convert_[a-z]+\d*(_sat)?(_rt[enpz])?", name):
        return _convert
    if re.fullmatch(r"as_[a-z]+\d*", name):
        return _as_type
    if re.fullmatch(r"make_[a-z]+\d", name):
        return _make_vector
    if re.fullmatch(r"vload\d+", name):
        return _vload
    if re.fullmatch(r"vstore\d+", name):
        return _vstore
    return None


def _math1(lw: KernelLowerer, name: str, e: A.Call, fn: str, forced: bool) -> Obj:
    args = nargs(e, name, 1)
    t, (x,) = float_args(lw, name, args, forced)
    return RV(t, Math(fn, (x,)))


def _math2(lw: KernelLowerer, name: str, e: A.Call, fn: str, forced: bool) -> Obj:
    args = nargs(e, name, 2)
    t, (x, y) = float_args(lw, name, args, forced)
    return RV(t, Math(fn, (x, y)))


def _fmisc(lw: KernelLowerer, name: str, e: A.Call, base: str, forced: bool) -> Obj:
    if base == "fabs":
        t, (x,) = float_args(lw, name, nargs(e, name, 1), forced)
        return RV(t, Math("abs", (x,)))
    if base in ("fmin", "fmax"):
        t, (x, y) = float_args(lw, name, nargs(e, name, 2), forced)
        return RV(t, Binary(base[1:], x, y))
    if base == "fma":
        t, xs = float_args(lw, name, nargs(e, name, 3), forced)
        return RV(t, Math("fma", tuple(xs)))
    if base in ("recip", "rcp"):
        t, (x,) = float_args(lw, name, nargs(e, name, 1), forced)
        return RV(t, Binary("div", lw.cast(Const(1.0, t.st.element), t.st), x))
    if base == "saturate":
        t, (x,) = float_args(lw, name, nargs(e, name, 1), forced)
        return RV(t, Math("clamp", (x, lw.cast(Const(0.0, t.st.element), t.st),
                                     lw.cast(Const(1.0, t.st.element), t.st))))
    op = {"divide": "div", "fdivide": "div", "div": "div", "mul": "mul", "add": "add",
          "sub": "sub"}[base]
    t, (x, y) = float_args(lw, name, nargs(e, name, 2), forced)
    return RV(t, Binary(op, x, y))


def _predicate(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    base, _ = strip(name)
    t, (x,) = float_args(lw, name, nargs(e, name, 1), False)
    return RV(lw.compare_type(t), Math(base, (x,)))


@builtin("abs")
def _abs(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t, (x,) = num_args(lw, name, nargs(e, name, 1))
    return RV(t, Math("abs", (x,)))


@builtin("min", "max", "umin", "umax", "llmin", "llmax", "ullmin", "ullmax")
def _minmax(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t, (x, y) = num_args(lw, name, nargs(e, name, 2))
    return RV(t, fold_binary(name.lstrip("ul")[-3:], x, y))


@builtin("clamp")
def _clamp(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t, xs = num_args(lw, name, nargs(e, name, 3))
    return RV(t, Math("clamp", tuple(xs)))


@builtin("mad", "mad24", "__fmaf_rn")
def _mad(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    args = nargs(e, name, 3)
    t, (a, b, c) = (num_args(lw, name, args) if name == "mad24"
                    else float_args(lw, name, args, name.endswith("rn")))
    if name == "__fmaf_rn":
        return RV(t, Math("fma", (a, b, c)))
    return RV(t, Binary("add", Binary("mul", a, b), c))


@builtin("mul24", "__mul24", "__umul24")
def _mul24(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t, (a, b) = num_args(lw, name, nargs(e, name, 2))
    return RV(t, Binary("mul", a, b))


@builtin("mul_hi", "__mulhi", "__umulhi", "__mul64hi", "__umul64hi")
def _mulhi(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t, (a, b) = num_args(lw, name, nargs(e, name, 2))
    return RV(t, Math("mulhi", (a, b)))


@builtin("popcount", "__popc", "__popcll", "clz", "__clz", "__clzll", "ctz")
def _bits(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t, (x,) = num_args(lw, name, nargs(e, name, 1))
    if not is_int(t):
        raise e.pos.error(f"{name} needs an integer, not {t}")
    fn = "popcount" if "pop" in name else name.strip("_").removesuffix("ll")
    r = Math(fn, (x,))
    if name.startswith("__"):   # CUDA returns int
        return RV(INT, lw.cast(r, I32))
    return RV(t, r)


@builtin("rotate")
def _rotate(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t, (x, n) = num_args(lw, name, nargs(e, name, 2))
    bits = t.st.dtype.bits
    ut = ScalarType({8: DType.U8, 16: DType.U16, 32: DType.U32, 64: DType.U64}[bits], t.lanes)
    ux, un = lw.cast(x, ut), lw.cast(n, ut)
    mask = lw.cast(Const(bits - 1, ut.element), ut)
    k = Binary("and", un, mask)
    back = Binary("and", Binary("sub", lw.cast(Const(bits, ut.element), ut), k), mask)
    r = Binary("or", Binary("shl", ux, k), Binary("shr", ux, back))
    return RV(t, lw.cast(r, t.st))


@builtin("mix")
def _mix(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t, (a, b, c) = float_args(lw, name, nargs(e, name, 3), False)
    return RV(t, Binary("add", a, Binary("mul", Binary("sub", b, a), c)))


@builtin("step")
def _step(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t, (edge, x) = float_args(lw, name, nargs(e, name, 2), False)
    zero, one = (lw.cast(Const(v, t.st.element), t.st) for v in (0.0, 1.0))
    return RV(t, Select(Binary("lt", x, edge), zero, one))


@builtin("smoothstep")
def _smoothstep(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t, (e0, e1, x) = float_args(lw, name, nargs(e, name, 3), False)
    zero, one, two, three = (lw.cast(Const(v, t.st.element), t.st) for v in (0.0, 1.0, 2.0, 3.0))
    s = Math("clamp", (Binary("div", Binary("sub", x, e0), Binary("sub", e1, e0)), zero, one))
    sv = lw.temp(s, "smooth")
    return RV(t, Binary("mul", Binary("mul", sv, sv), Binary("sub", three, Binary("mul", two,
                                                                                   sv))))


@builtin("sign")
def _sign(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t, (x,) = float_args(lw, name, nargs(e, name, 1), False)
    zero, one = (lw.cast(Const(v, t.st.element), t.st) for v in (0.0, 1.0))
    xv = lw.temp(x, "sign")
    return RV(t, Select(Binary("gt", xv, zero), one,
                        Select(Binary("lt", xv, zero), Unary("neg", one), Binary("mul", xv,
                                                                                  zero))))


@builtin("degrees", "radians")
def _degrees(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t, (x,) = float_args(lw, name, nargs(e, name, 1), False)
    import math
    k = 180.0 / math.pi if name == "degrees" else math.pi / 180.0
    return RV(t, Binary("mul", x, lw.cast(Const(k, t.st.element), t.st)))


@builtin("pown", "rootn", "ldexp")
def _pown(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    a, b = nargs(e, name, 2)
    t, (x,) = float_args(lw, name, [a], False)
    n = lw.convert(lw.rvalue(b), Scalar(t.st), b.pos, name)
    if name == "pown":
        return RV(t, Math("pow", (x, n)))
    if name == "ldexp":
        return RV(t, Binary("mul", x, Math("exp2", (n,))))
    return RV(t, Math("pow", (x, Binary("div", lw.cast(Const(1.0, t.st.element), t.st), n))))


def _lane_sum(lw: KernelLowerer, v: Expr, t: Scalar) -> Expr:
    from ...ir.kernel import Extract
    if t.lanes == 1:
        return v
    total: Expr = Extract(v, 0)
    for k in range(1, t.lanes):
        total = Binary("add", total, Extract(v, k))
    return total


@builtin("dot", "length", "distance", "normalize", "fast_length", "fast_distance",
         "fast_normalize")
def _geometry(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    base = name.removeprefix("fast_")
    args = nargs(e, name, 2 if base in ("dot", "distance") else 1)
    t, xs = float_args(lw, name, args, False)
    if base == "distance":
        xs = [lw.temp(Binary("sub", xs[0], xs[1]), "d")]
        base = "length"
    v = lw.temp(xs[0], "v") if base != "dot" else xs[0]
    w = xs[1] if base == "dot" else v
    dot = _lane_sum(lw, Binary("mul", v, w), t)
    if base == "dot":
        return RV(t.element, dot)
    length = Math("sqrt", (dot,))
    if base == "length":
        return RV(t.element, length)
    return RV(t, Binary("div", v, lw.cast(length, t.st)))


@builtin("cross")
def _cross(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    from ...ir.kernel import Extract
    t, (a, b) = float_args(lw, name, nargs(e, name, 2), False)
    if t.lanes not in (3, 4):
        raise e.pos.error(f"cross takes 3- or 4-lane vectors, not {t}")
    av, bv = lw.temp(a, "a"), lw.temp(b, "b")

    def c(i: int, j: int) -> Expr:
        return Binary("sub", Binary("mul", Extract(av, i), Extract(bv, j)),
                      Binary("mul", Extract(av, j), Extract(bv, i)))
    elems = [c(1, 2), c(2, 0), c(0, 1)] + ([Const(0.0, t.st.element)] if t.lanes == 4 else [])
    return RV(t, MakeVector(tuple(elems)))


@builtin("select")
def _select(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    a, b, c = nargs(e, name, 3)
    t, (x, y) = num_args(lw, name, [a, b])
    cv = lw.rvalue(c)
    if t.lanes == 1:
        return RV(t, Select(lw.cond_bool(cv), y, x))
    cond = lw.value(cv)
    if cv.ctype.st.dtype.is_signed:   # vectors select on the most significant bit
        zero = Broadcast(const_of(0, cv.ctype.st.element), cv.ctype.lanes)
        mask: Expr = Binary("lt", cond, zero)
    else:
        mask = lw.vector_mask(cv)
    return RV(t, Select(mask, y, x))


# -- conversions and vectors ---------------------------------------------------------------------
def type_word(lw: KernelLowerer, word: str, pos: Pos) -> Scalar:
    from .ctype import SCALAR_WORDS
    if word in SCALAR_WORDS:
        return Scalar(ScalarType(SCALAR_WORDS[word]), word)
    v = vector_word(word)
    if v is None:
        raise pos.error(f"'{word}' is not a type")
    return v


def _convert(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    m = re.fullmatch(r"convert_([a-z]+\d*)(_sat)?(_rt[enpz])?", name)
    assert m is not None
    t = type_word(lw, m.group(1), e.pos)
    (a,) = nargs(e, name, 1)
    rv = lw.rvalue(a)
    if rv.ctype.lanes != t.lanes:
        raise e.pos.error(f"{name} converts {t.lanes} lane(s), got {rv.ctype}")
    x = lw.value(rv)
    if is_float(rv.ctype) and is_int(t) and m.group(3) in ("_rte", "_rtp", "_rtn"):
        x = Math({"_rte": "rint", "_rtp": "ceil", "_rtn": "floor"}[m.group(3)], (x,))
    if m.group(2) and is_int(t):
        x = saturate(lw, x, rv.ctype.st, t.st)
    return RV(t, lw.cast(x, t.st))


def saturate(lw: KernelLowerer, x: Expr, src: ScalarType, dst: ScalarType) -> Expr:
    """x clamped to what the integer type dst can hold (NaN becomes 0), still of type src."""
    import numpy as np
    info = np.iinfo(dst.dtype.np)
    if src.is_float:
        lo, hi = (lw.cast(Const(float(v), src.element), src) for v in (info.min, info.max))
        xv = lw.temp(x, "sat")
        clamped = Binary("max", Binary("min", xv, hi), lo)
        return Select(Math("isnan", (xv,)), lw.cast(Const(0.0, src.element), src), clamped)
    sinfo = np.iinfo(src.dtype.np)
    lo_v, hi_v = max(info.min, sinfo.min), min(info.max, sinfo.max)
    if lo_v > sinfo.min:
        x = Binary("max", x, lw.cast(const_of(lo_v, src.element), src))
    if hi_v < sinfo.max:
        x = Binary("min", x, lw.cast(const_of(hi_v, src.element), src))
    return x


def _as_type(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t = type_word(lw, name[3:], e.pos)
    (a,) = nargs(e, name, 1)
    rv = lw.rvalue(a)
    if rv.ctype.st.bits != t.st.bits:
        raise e.pos.error(f"{name}: {rv.ctype} and {t} differ in size")
    return RV(t, Bitcast(lw.value(rv), t.st))


BITCASTS = {"__float_as_int": ("float", "int"), "__float_as_uint": ("float", "uint"),
            "__int_as_float": ("int", "float"), "__uint_as_float": ("uint", "float"),
            "__double_as_longlong": ("double", "long"), "__longlong_as_double": ("long",
                                                                                 "double")}


@builtin(*BITCASTS)
def _cuda_bitcast(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    src, dst = (type_word(lw, w, e.pos) for w in BITCASTS[name])
    (a,) = nargs(e, name, 1)
    x = lw.convert(lw.rvalue(a), src, a.pos, name)
    return RV(dst, Bitcast(x, dst.st))


@builtin(*(f"__{a}2{b}_{r}" for a in ("float", "double") for b in ("int", "uint", "ll", "ull")
           for r in ("rn", "rz", "ru", "rd")),
         *(f"__{a}2{b}_{r}" for a in ("int", "uint", "ll", "ull") for b in ("float", "double")
           for r in ("rn", "rz", "ru", "rd")),
         "__float2half", "__float2half_rn", "__half2float", "__double2float_rn",
         "__float2double")
def _cuda_convert(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    m = re.fullmatch(r"__([a-z]+)2([a-z]+)(?:_(r[nzud]))?", name)
    assert m is not None
    words = {"ll": "long", "ull": "ulong", "half": "half"}
    src = type_word(lw, words.get(m.group(1), m.group(1)), e.pos)
    dst = type_word(lw, words.get(m.group(2), m.group(2)), e.pos)
    (a,) = nargs(e, name, 1)
    x = lw.convert(lw.rvalue(a), src, a.pos, name)
    if is_float(src) and is_int(dst) and m.group(3) in ("rn", "ru", "rd"):
        x = Math({"rn": "rint", "ru": "ceil", "rd": "floor"}[m.group(3)], (x,))
    return RV(dst, lw.cast(x, dst.st))


def _make_vector(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t = type_word(lw, name[5:], e.pos)
    args = nargs(e, name, t.lanes)
    elems = [lw.convert(lw.rvalue(a), t.element, a.pos, name) for a in args]
    return RV(t, MakeVector(tuple(elems)))


def _vload(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    n = int(name[5:])
    off, p = nargs(e, name, 2)
    ptr = lw.pointer(lw.expr(p), p.pos)
    elem = ptr.ctype.pointee
    if not isinstance(elem, Scalar) or elem.lanes != 1 or ptr.buffer is None:
        raise p.pos.error(f"{name} needs a pointer to scalars")
    i = lw.scaled(lw.rvalue(off), n, off.pos)
    idx = lw.offset_add(ptr.offset, i)
    t = Scalar(elem.st.with_lanes(n))
    return RV(t, Load(ptr.buffer, ptr.prefix + (idx,), n))


def _vstore(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    n = int(name[6:])
    data, off, p = nargs(e, name, 3)
    ptr = lw.pointer(lw.expr(p), p.pos)
    elem = ptr.ctype.pointee
    if not isinstance(elem, Scalar) or elem.lanes != 1 or ptr.buffer is None:
        raise p.pos.error(f"{name} needs a pointer to scalars")
    if ptr.ctype.const:
        raise p.pos.error(f"{name} writes through a pointer to const")
    t = Scalar(elem.st.with_lanes(n))
    v = lw.convert(lw.rvalue(data), t, data.pos, name)
    i = lw.scaled(lw.rvalue(off), n, off.pos)
    from ...ir.kernel import Store
    lw.emit(Store(ptr.buffer, ptr.prefix + (lw.offset_add(ptr.offset, i),), v))
    return VOID


@builtin("__ldg")
def _ldg(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    (p,) = nargs(e, name, 1)
    return lw.to_rv(lw.deref(lw.pointer(lw.expr(p), p.pos), None, p.pos), p.pos)


__all__ = ["pattern_builtin"]


@builtin("any", "all")
def _any_all(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    """OpenCL any/all: whether the most significant bit of any / every lane is set."""
    (a,) = nargs(e, name, 1)
    rv = lw.rvalue(a)
    t = rv.ctype
    if not is_int(t) or not t.st.dtype.is_signed:
        raise a.pos.error(f"{name} takes signed integers, not {t}")
    x = lw.value(rv)
    neg = Binary("lt", x, lw.cast(const_of(0, t.st.element), t.st))
    if t.lanes == 1:
        return RV(INT, neg)
    from ...ir.kernel import Extract
    acc: Expr = Extract(neg, 0)
    for k in range(1, t.lanes):
        acc = Binary("lor" if name == "any" else "land", acc, Extract(neg, k))
    return RV(INT, acc)


HALF_OPS = {"__hadd": "add", "__hsub": "sub", "__hmul": "mul", "__hdiv": "div",
            "__hmin": "min", "__hmax": "max"}


@builtin(*HALF_OPS, "__hfma", "__hneg", "__habs")
def _half_ops(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    """CUDA's __half arithmetic intrinsics (cuda_fp16.h)."""
    from .ctype import HALF
    n = 3 if name == "__hfma" else 1 if name in ("__hneg", "__habs") else 2
    xs = [lw.convert(lw.rvalue(a), HALF, a.pos, name) for a in nargs(e, name, n)]
    if name == "__hfma":
        return RV(HALF, Math("fma", tuple(xs)))
    if name == "__hneg":
        return RV(HALF, Unary("neg", xs[0]))
    if name == "__habs":
        return RV(HALF, Math("abs", (xs[0],)))
    return RV(HALF, Binary(HALF_OPS[name], xs[0], xs[1]))

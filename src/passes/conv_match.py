"""Recognizing a lowered 2-D convolution: what `lower` makes of a Conv (NCHW, any groups,
strides, pads, dilations) and the element-wise epilogue fused after it, read back from the
kernel's loop nest so that schedule_conv can rebuild it.

The nest is parallel loops over the output (n, m, oh, ow; loops of extent 1 dropped), lets, an
f32 accumulator, serial reduction loops over (c, kh, kw) whose body adds `x_term * w[m, c, kh,
kw]` (x_term: `x[n, ch, ih, iw]`, or a select that reads 0 outside x), then the epilogue (lets
and stores reading the accumulator). The geometry is taken from the affine index expressions and
then checked by evaluating the x access at sampled points, padding included.
"""
from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..ir.kernel.expr import Binary, Buffer, Cast, Const, Expr, Load, Select, Unary, Var
from ..ir.kernel.stmt import Assign, For, Kernel, Let, Stmt, Store, While
from ..ir.kernel.types import F32, ForKind
from ..ir.kernel.visit import affine, substitute, walk


class NoMatch(Exception):
    """The kernel is not a convolution this schedule handles."""


@dataclass(frozen=True)
class ConvNest:
    """A lowered convolution: shapes, geometry, the loop variables of the output axes (None
    where lowering dropped a loop of extent 1) and the statements around the reduction."""

    kernel: Kernel
    x: Buffer
    w: Buffer
    n: int
    c: int
    h: int
    w_in: int
    m: int  # output channels
    cg: int  # input channels per group
    kh: int
    kw: int
    oh: int
    ow: int
    stride: tuple[int, int]
    pad: tuple[int, int]  # begin pads (h, w)
    dilation: tuple[int, int]
    vars: dict[str, Var | None]  # "n", "m", "oh", "ow" -> loop variable
    acc: Var
    prologue: tuple[Let, ...]  # lets outside the reduction, in order (outer loops first)
    epilogue: tuple[Stmt, ...]

    @property
    def groups(self) -> int:
        return self.c // self.cg

    @property
    def mg(self) -> int:
        """Output channels per group."""
        return self.m // self.groups

    @property
    def depthwise(self) -> bool:
        return self.cg == 1 and self.mg == 1

    @property
    def flops(self) -> int:
        return 2 * self.n * self.m * self.oh * self.ow * self.cg * self.kh * self.kw


def _const_int(e: Expr) -> int:
    if isinstance(e, Const) and isinstance(e.value, int) and not isinstance(e.value, bool):
        return e.value
    raise NoMatch("a loop bound or buffer dimension is not a constant")


def _shape(b: Buffer, rank: int) -> tuple[int, ...]:
    if b.shape is None or len(b.shape) != rank:
        raise NoMatch(f"buffer {b.name} is not of rank {rank}")
    return tuple(_const_int(d) for d in b.shape)


def _loop(s: For) -> int:
    if _const_int(s.start) != 0 or _const_int(s.step) != 1:
        raise NoMatch("a loop does not count from 0 by 1")
    return _const_int(s.stop)


def _split_lets(stmts: tuple[Stmt, ...]) -> tuple[list[Let], list[Stmt]]:
    lets: list[Let] = []
    i = 0
    while i < len(stmts) and isinstance(stmts[i], Let):
        lets.append(stmts[i])  # type: ignore[arg-type]
        i += 1
    return lets, list(stmts[i:])


def _inline(e: Expr, lets: list[Let]) -> Expr:
    for let in reversed(lets):  # later lets may read earlier ones
        if let.value is None:
            raise NoMatch("an uninitialized let")
        e = substitute(e, {let.var: let.value})
    return e


# -- evaluating index expressions at sample points --------------------------------------------
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "min": min, "max": max, "floordiv": operator.floordiv, "floormod": operator.mod,
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
    "eq": operator.eq, "ne": operator.ne, "and": operator.and_, "or": operator.or_,
    "land": lambda a, b: a and b, "lor": lambda a, b: a or b,
}


def evaluate(e: Expr, env: dict[str, int]) -> Any:
    """An integer or boolean index expression's value with loop variables bound by `env`."""
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Var):
        if e.name not in env:
            raise NoMatch(f"%{e.name} is not a loop variable of the nest")
        return env[e.name]
    if isinstance(e, Binary) and e.op in _OPS:
        return _OPS[e.op](evaluate(e.a, env), evaluate(e.b, env))
    if isinstance(e, Unary) and e.op in ("neg", "not"):
        v = evaluate(e.x, env)
        return -v if e.op == "neg" else not v
    if isinstance(e, Select):
        return evaluate(e.a, env) if evaluate(e.cond, env) else evaluate(e.b, env)
    if isinstance(e, Cast) and e.type.is_int and e.type.lanes == 1:
        return int(evaluate(e.x, env))
    raise NoMatch(f"cannot evaluate {e} at sample points")


def _unclamped(e: Expr) -> Expr:
    """An index without the min/max clamps lowering puts around padded accesses."""
    while isinstance(e, Binary) and e.op in ("min", "max") and isinstance(e.b, Const):
        e = e.a
    return e


def _affine_in(e: Expr, allowed: set[Var]) -> tuple[dict[Var, int], int]:
    form = affine(_unclamped(e))
    if form is None or any(v not in allowed for v in form[0]):
        raise NoMatch(f"index {e} is not affine in the window's variables")
    return {v: c for v, c in form[0].items() if isinstance(v, Var)}, form[1]


def _var_or_zero(e: Expr, among: set[Var]) -> bool:
    return (isinstance(e, Var) and e in among) or (isinstance(e, Const) and e.value == 0)


def _samples(extent: int) -> list[int]:
    return sorted({i for i in (0, 1, extent // 2, extent - 2, extent - 1) if 0 <= i < extent})


# -- the matcher -------------------------------------------------------------------------------
def match_conv(kernel: Kernel) -> ConvNest:  # noqa: C901 - one check per part of the nest
    """The convolution `kernel` computes, or NoMatch saying why it is not one."""
    if kernel.is_spmd:
        raise NoMatch("an SPMD kernel")
    stmts = kernel.body.stmts
    par: list[tuple[Var, int]] = []
    prologue: list[Let] = []
    while True:
        lets, rest = _split_lets(stmts)
        if len(rest) == 1 and isinstance(rest[0], For) and rest[0].kind is ForKind.PARALLEL:
            prologue += lets
            par.append((rest[0].var, _loop(rest[0])))
            stmts = rest[0].body.stmts
            continue
        rest = list(stmts)
        break
    if not par:
        raise NoMatch("no parallel loops over the output")
    # the innermost parallel body: [lets...] let acc = 0.0; reduction loops; epilogue
    k = next((i for i, s in enumerate(rest) if isinstance(s, For)), None)
    if k is None or k == 0 or not isinstance(rest[k - 1], Let):
        raise NoMatch("no accumulator and reduction loop")
    acc_let = rest[k - 1]
    assert isinstance(acc_let, Let)
    if any(not isinstance(s, Let) for s in rest[:k - 1]):
        raise NoMatch("statements before the accumulator")
    prologue += [s for s in rest[:k - 1] if isinstance(s, Let)]
    acc = acc_let.var
    if acc.type != F32 or not (isinstance(acc_let.value, Const) and acc_let.value.value == 0.0):
        raise NoMatch("not an f32 accumulator starting at 0")
    epilogue = tuple(rest[k + 1:])
    if any(isinstance(s, (For, While)) for st in epilogue for s in walk(st)):
        raise NoMatch("loops in the epilogue")
    if any(isinstance(s, Assign) and s.var == acc for st in epilogue for s in walk(st)):
        raise NoMatch("the epilogue assigns the accumulator")

    red: list[tuple[Var, int]] = []
    inner_lets: list[Let] = []
    loop: Stmt = rest[k]
    while isinstance(loop, For):
        if loop.kind is not ForKind.SERIAL:
            raise NoMatch("a reduction loop is not serial")
        red.append((loop.var, _loop(loop)))
        lets, body = _split_lets(loop.body.stmts)
        inner_lets += lets
        if len(body) != 1:
            raise NoMatch("the reduction body is not one accumulation")
        loop = body[0]
    if not (isinstance(loop, Assign) and loop.var == acc):
        raise NoMatch("the reduction body does not assign the accumulator")
    e = _inline(_inline(loop.value, inner_lets), prologue)
    if not (isinstance(e, Binary) and e.op == "add" and e.a == acc and isinstance(e.b, Binary)
            and e.b.op == "mul"):
        raise NoMatch("the accumulation is not acc + a * b")
    prod = e.b

    par_vars = {v for v, _ in par}
    red_vars = {v for v, _ in red}
    extent = {v.name: n for v, n in par + red}

    def as_weight(t: Expr) -> Load | None:
        if not (isinstance(t, Load) and t.lanes == 1 and len(t.index) == 4):
            return None
        i = t.index
        ok = _var_or_zero(i[0], par_vars) and all(_var_or_zero(x, red_vars) for x in i[1:])
        return t if ok else None

    wl, xt = as_weight(prod.b), prod.a
    if wl is None:
        wl, xt = as_weight(prod.a), prod.b
    if wl is None:
        raise NoMatch("no weight load w[m, c, kh, kw]")
    xl: Expr = xt.a if isinstance(xt, Select) else xt
    if isinstance(xt, Select) and not (isinstance(xt.b, Const) and xt.b.value == 0.0):
        raise NoMatch("padding reads a value other than 0")
    if not (isinstance(xl, Load) and xl.lanes == 1 and len(xl.index) == 4):
        raise NoMatch("no input load x[n, c, ih, iw]")
    x, w = xl.buffer, wl.buffer
    if x.elem != F32 or w.elem != F32 or x == w:
        raise NoMatch("not an f32 convolution")
    n, c, h, wi = _shape(x, 4)
    m, cg, kh, kw = _shape(w, 4)
    roles: dict[str, Var | None] = {}
    for role, ix in zip(("m", "c", "kh", "kw"), wl.index):
        roles[role] = ix if isinstance(ix, Var) else None
    named = [v for v in roles.values() if v is not None]
    if len(set(named)) != len(named):
        raise NoMatch("a reduction variable indexes two weight axes")
    for role, size in zip(("c", "kh", "kw"), (cg, kh, kw)):
        v = roles[role]
        if (v is None) != (size == 1) or (v is not None and extent[v.name] != size):
            raise NoMatch(f"the {role} loop does not cover the weight")
    if set(red_vars) != {roles[r] for r in ("c", "kh", "kw")} - {None}:
        raise NoMatch("reduction loops other than (c, kh, kw)")
    if roles["m"] is None and m != 1:
        raise NoMatch("the output channel is not a loop")
    if c % cg or m % (c // cg):
        raise NoMatch("channels do not split into groups")
    # spatial geometry from the input's index: ih = oh * s + kh * d - pad
    geo: list[tuple[Var | None, int, int, int]] = []
    for ix, kv in ((xl.index[2], roles["kh"]), (xl.index[3], roles["kw"])):
        coeffs, off = _affine_in(ix, par_vars | red_vars)
        outer = [v for v in coeffs if v in par_vars]
        if len(outer) > 1 or any(v in red_vars and v != kv for v in coeffs):
            raise NoMatch("a spatial index mixes axes")
        ov = outer[0] if outer else None
        geo.append((ov, coeffs.get(ov, 1) if ov is not None else 1,
                    coeffs.get(kv, 1) if kv is not None else 1, -off))
    (ohv, sh, dh, ph), (owv, sw, dw, pw) = geo
    nv = xl.index[0] if isinstance(xl.index[0], Var) else None
    if nv is None and not (isinstance(xl.index[0], Const) and xl.index[0].value == 0 and n == 1):
        raise NoMatch("the batch index is not a loop")
    out_vars = {"n": nv, "m": roles["m"], "oh": ohv, "ow": owv}
    used = [v for v in out_vars.values() if v is not None]
    if len(set(used)) != len(used) or set(used) != par_vars:
        raise NoMatch("the parallel loops are not the output axes")
    if min(sh, sw, dh, dw) < 1:
        raise NoMatch("strides and dilations must be positive")
    sizes = {"n": n, "m": m}
    for role, size in sizes.items():
        v = out_vars[role]
        if v is not None and extent[v.name] != size:
            raise NoMatch(f"the {role} loop does not match the tensors")
    oh = extent[ohv.name] if ohv is not None else 1
    ow = extent[owv.name] if owv is not None else 1
    nest = ConvNest(kernel, x, w, n, c, h, wi, m, cg, kh, kw, oh, ow, (sh, sw), (ph, pw),
                    (dh, dw), out_vars, acc, tuple(prologue), epilogue)
    _check_input_access(nest, xt, xl, roles)
    return nest


def _check_input_access(cv: ConvNest, xt: Expr, xl: Load, roles: dict[str, Var | None]) -> None:
    """The x term reads x[n, g * cg + c, oh*s + k*d - p] inside x and 0 outside, at samples of
    every axis (all taps, the borders and middle of the output)."""
    names = {**{r: v.name for r, v in cv.vars.items() if v is not None},
             **{r: v.name for r, v in roles.items() if v is not None and r != "m"}}
    mg = cv.mg
    ms = sorted({0, cv.m - 1, mg % cv.m})
    cs = sorted({0, cv.cg - 1})
    for n in sorted({0, cv.n - 1}):
        for m in ms:
            for c in cs:
                ch = m // mg * cv.cg + c
                for oh in _samples(cv.oh):
                    for ow in _samples(cv.ow):
                        for a in range(cv.kh):
                            for b in range(cv.kw):
                                vals = {"n": n, "m": m, "c": c, "oh": oh, "ow": ow, "kh": a,
                                        "kw": b}
                                env = {names[r]: vals[r] for r in names}
                                ih = oh * cv.stride[0] + a * cv.dilation[0] - cv.pad[0]
                                iw = ow * cv.stride[1] + b * cv.dilation[1] - cv.pad[1]
                                inside = 0 <= ih < cv.h and 0 <= iw < cv.w_in
                                if isinstance(xt, Select) and not evaluate(xt.cond, env):
                                    if inside:
                                        raise NoMatch("padding where the input is read")
                                    continue
                                if not inside:
                                    raise NoMatch("the input is read outside its bounds")
                                got = tuple(evaluate(i, env) for i in xl.index)
                                if got != (n, ch, ih, iw):
                                    raise NoMatch(f"input index {got} is not {(n, ch, ih, iw)}")


def output_stores(cv: ConvNest) -> list[Store]:
    """The stores of the epilogue."""
    return [s for st in cv.epilogue for s in walk(st) if isinstance(s, Store)]

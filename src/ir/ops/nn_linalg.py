"""Linear algebra: Gemm, MatMul (numpy's batched, 1-D-promoting rule) and Einsum.

Half-precision floats multiply in float32 and round once at the end, as GPU and CPU libraries do.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import INDEX, Stage, TensorArg, broadcast_index, reduce, widen
from ..dtype import DType
from ..kernel.expr import Const, Expr
from ..types import Dim, TensorType, Type
from .nn_window import is_float, widened
from .registry import InferCtx, broadcast_shapes, op

NUMERIC = (DType.F16, DType.F32, DType.F64, DType.BF16, DType.I32, DType.I64, DType.U32, DType.U64)


def same_dim(c: InferCtx, a: Dim, b: Dim, what: str) -> Dim:
    """Two dims that must agree: the int if either is one, else the first symbol."""
    if isinstance(a, int) and isinstance(b, int) and a != b:
        raise c.error(f"{what}: {a} != {b}")
    return a if isinstance(a, int) else b


# -- MatMul ------------------------------------------------------------------------------------

def matmul_shape(c: InferCtx, a: TensorType, b: TensorType) -> tuple[Dim, ...]:
    if a.rank == 0 or b.rank == 0:
        raise c.error(f"MatMul does not take scalars, got {a} and {b}")
    sa = (1,) + a.shape if a.rank == 1 else a.shape
    sb = b.shape + (1,) if b.rank == 1 else b.shape
    same_dim(c, sa[-1], sb[-2], f"inner dims of {a} and {b}")
    batch = broadcast_shapes(c, [sa[:-2], sb[:-2]])
    out = batch + (sa[-2], sb[-1])
    if a.rank == 1:
        out = out[:-2] + out[-1:]
    if b.rank == 1:
        out = out[:-1]
    return out


def _infer_matmul(c: InferCtx) -> list[Type]:
    a, b = c.t(0), c.t(1)
    if a.dtype not in NUMERIC or b.dtype != a.dtype:
        raise c.error(f"MatMul takes two numeric inputs of one dtype, got {a} and {b}")
    return [TensorType(a.dtype, matmul_shape(c, a, b))]


def _matmul(attrs: None, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(np.matmul(widened(a), widened(b))).astype(a.dtype, copy=False)


Product = Callable[[Expr, Expr, Expr, Expr], Expr]


def matmul_stage(a: TensorArg, b: TensorArg, dtype: DType, term: Product,
                 post: Callable[[Expr, Expr, Expr], Expr] | None = None) -> Stage:
    """The compute definition of every matmul: out[..., m, n] = post(acc, m, n) where acc sums
    term(a[..., m, k], b[..., k, n], m, n) over k, batch dims broadcast; a 1-D operand is a row
    (a) or a column (b) whose axis the output drops."""
    sa = (1,) + a.shape if a.rank == 1 else a.shape
    sb = b.shape + (1,) if b.rank == 1 else b.shape
    batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
    shape = batch + (sa[-2], sb[-1])
    drop = [len(shape) - 1] * (b.rank == 1) + [len(shape) - 2] * (a.rank == 1)
    out_shape = tuple(d for k, d in enumerate(shape) if k not in drop)
    zero = Const(0, INDEX)

    def fn(*i: Expr) -> Expr:
        full = list(i)
        for k in sorted(drop):
            full.insert(k, zero)
        *bi, m, n = full

        def product(k: Expr) -> Expr:
            ai = (k,) if a.rank == 1 else broadcast_index(bi, a.shape[:-2]) + (m, k)
            bj = (k,) if b.rank == 1 else broadcast_index(bi, b.shape[:-2]) + (k, n)
            return term(a[ai], b[bj], m, n)
        acc = reduce("sum", sa[-1], product)
        return acc if post is None else post(acc, m, n)
    return cp.tensor(out_shape, dtype, fn)


def _matmul_compute(attrs: None, a: TensorArg, b: TensorArg) -> Stage:
    return matmul_stage(a, b, a.dtype, lambda u, v, m, n: widen(u) * widen(v))


op("MatMul", versions=(1, 9, 13), traits=("reduction", "contraction"), infer=_infer_matmul,
   reference=_matmul, compute=_matmul_compute)


# -- Gemm --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GemmAttrs:
    alpha: float = 1.0
    beta: float = 1.0
    transA: int = 0
    transB: int = 0


def _infer_gemm(c: InferCtx) -> list[Type]:
    a, b = c.t(0), c.t(1)
    at: GemmAttrs = c.attrs
    if a.dtype not in NUMERIC or b.dtype != a.dtype or a.rank != 2 or b.rank != 2:
        raise c.error(f"Gemm takes two 2-D numeric inputs of one dtype, got {a} and {b}")
    m, k = a.shape[::-1] if at.transA else a.shape
    k2, n = b.shape[::-1] if at.transB else b.shape
    same_dim(c, k, k2, f"inner dims of {a} and {b}")
    if c.has(2):
        bias = c.t(2)
        if bias.dtype != a.dtype or bias.rank > 2:
            raise c.error(f"C must be a {a.dtype} tensor of rank <= 2, got {bias}")
        broadcast_shapes(c, [(m, n), bias.shape])
    return [TensorType(a.dtype, (m, n))]


def _scaled(x: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1.0:
        return x
    if is_float(x.dtype):
        return x * x.dtype.type(factor)
    return (x * factor).astype(x.dtype)


def _gemm(at: GemmAttrs, a: np.ndarray, b: np.ndarray, bias: np.ndarray | None = None,
          ) -> np.ndarray:
    x = widened(a).T if at.transA else widened(a)
    y = widened(b).T if at.transB else widened(b)
    out = _scaled(np.matmul(x, y), at.alpha)
    if bias is not None and at.beta != 0.0:
        out = out + _scaled(widened(bias), at.beta)
    return out.astype(a.dtype, copy=False)


def _scaled_expr(e: Expr, factor: float) -> Expr:
    if factor == 1.0:
        return e
    if e.type.is_float:
        return e * factor
    return cp.cast(cp.cast(e, DType.F64) * factor, e.type)  # as numpy: via float64, truncated


def _gemm_compute(at: GemmAttrs, a: TensorArg, b: TensorArg,
                  c: TensorArg | None = None) -> Stage:
    m, k = a.shape[::-1] if at.transA else a.shape
    n = b.shape[0] if at.transB else b.shape[1]

    def fn(i: Expr, j: Expr) -> Expr:
        acc = reduce("sum", k, lambda r: widen(a[r, i] if at.transA else a[i, r])
                     * widen(b[j, r] if at.transB else b[r, j]))
        out = _scaled_expr(acc, at.alpha)
        if c is not None and at.beta != 0.0:
            out = out + _scaled_expr(widen(c.at((i, j))), at.beta)
        return out
    return cp.tensor((m, n), a.dtype, fn)


op("Gemm", GemmAttrs, versions=(1, 6, 7, 9, 11, 13), traits=("reduction", "contraction"),
   infer=_infer_gemm, reference=_gemm, compute=_gemm_compute)


# -- Einsum ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EinsumAttrs:
    equation: str = ""


def parse_equation(c: InferCtx | None, equation: str, n_inputs: int
                   ) -> tuple[list[str], str]:
    """Terms of the inputs ('...' kept) and of the output (implicit form: the letters used once,
    sorted, after the broadcast dims)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")

    def fail(message: str) -> Exception:
        return c.error(message) if c is not None else ValueError(message)

    if len(terms) != n_inputs:
        raise fail(f"equation '{equation}' has {len(terms)} terms for {n_inputs} inputs")
    for t in terms + ([rhs] if arrow else []):
        if not re.fullmatch(r"[A-Za-z]*(\.\.\.)?[A-Za-z]*", t):
            raise fail(f"equation '{equation}': cannot read term '{t}'")
    if not arrow:
        letters = "".join(terms).replace(".", "")
        once = sorted(ch for ch in set(letters) if letters.count(ch) == 1)
        rhs = ("..." if any("..." in t for t in terms) else "") + "".join(once)
    return terms, rhs


def _infer_einsum(c: InferCtx) -> list[Type]:
    ts = [c.t(i) for i in range(len(c.types))]
    if not ts or any(t.dtype != ts[0].dtype for t in ts) or ts[0].dtype not in NUMERIC:
        raise c.error(f"Einsum takes numeric inputs of one dtype, got {', '.join(map(str, ts))}")
    terms, rhs = parse_equation(c, c.attrs.equation, len(ts))
    sizes: dict[str, Dim] = {}
    ellipses: list[tuple[Dim, ...]] = []
    for term, t in zip(terms, ts):
        head, dots, tail = term.partition("...")
        named = len(head) + len(tail)
        if (not dots and named != t.rank) or named > t.rank:
            raise c.error(f"term '{term}' does not fit input {t}")
        dims = list(t.shape)
        labelled = list(zip(head, dims[:len(head)])) + list(zip(tail, dims[t.rank - len(tail):]))
        if dots:
            ellipses.append(tuple(dims[len(head):t.rank - len(tail)]))
        for letter, d in labelled:
            if letter in sizes:
                old = sizes[letter]
                if isinstance(old, int) and isinstance(d, int) and 1 in (old, d):
                    sizes[letter] = max(old, d)   # numpy broadcasts a size-1 label
                    continue
                sizes[letter] = same_dim(c, old, d, f"label '{letter}'")
            else:
                sizes[letter] = d
    batch = broadcast_shapes(c, ellipses) if ellipses else ()
    head, dots, tail = rhs.partition("...")
    for letter in head + tail:
        if letter not in sizes:
            raise c.error(f"output label '{letter}' appears in no input")
    shape = tuple(sizes[ch] for ch in head) + (batch if dots else ()) + tuple(
        sizes[ch] for ch in tail)
    return [TensorType(ts[0].dtype, shape)]


def _einsum(a: EinsumAttrs, *xs: np.ndarray) -> np.ndarray:
    terms, rhs = parse_equation(None, a.equation, len(xs))
    eq = ",".join(terms) + "->" + rhs
    out = np.einsum(eq, *[widened(x) for x in xs], optimize=len(xs) > 1)
    return np.asarray(out).astype(xs[0].dtype, copy=False)


def _einsum_compute(a: EinsumAttrs, *xs: TensorArg) -> Stage:
    """out[output labels] = sum over the other labels of the product of the inputs, each read at
    its labels (a label of size 1 in one input broadcasts; '...' labels its dims by position)."""
    terms, rhs = parse_equation(None, a.equation, len(xs))
    dots = max((x.rank - len(t.replace("...", "")) for t, x in zip(terms, xs) if "..." in t),
               default=0)
    ell = [chr(0x100 + k) for k in range(dots)]   # stand-in labels of the '...' dims

    def labels(term: str, rank: int) -> list[str]:
        head, has, tail = term.partition("...")
        n = rank - len(head) - len(tail)
        return list(head) + (ell[dots - n:] if has else []) + list(tail)

    spelled = [labels(t, x.rank) for t, x in zip(terms, xs)]
    sizes: dict[str, int] = {}
    for ls, x in zip(spelled, xs):
        for ch, d in zip(ls, x.shape):
            sizes[ch] = max(sizes.get(ch, 1), d)
    head, has, tail = rhs.partition("...")
    out = list(head) + (ell if has else []) + list(tail)
    summed = [ch for ch in sizes if ch not in out]

    def product(where: dict[str, Expr]) -> Expr:
        factors = [widen(x[tuple(where[ch] if d == sizes[ch] else 0 for ch, d in zip(ls, x.shape))])
                   for ls, x in zip(spelled, xs)]
        total = factors[0]
        for f in factors[1:]:
            total = total * f
        return total

    def fn(*i: Expr) -> Expr:
        where = dict(zip(out, i))
        if not summed:
            return product(where)
        return reduce("sum", [sizes[ch] for ch in summed],
                      lambda *r: product({**where, **dict(zip(summed, r))}))
    return cp.tensor([sizes[ch] for ch in out], xs[0].dtype, fn)


op("Einsum", EinsumAttrs, versions=(12, 28), traits=("reduction", "contraction"),
   infer=_infer_einsum, reference=_einsum, compute=_einsum_compute)

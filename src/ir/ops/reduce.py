"""Reductions: the Reduce* ops (axes as an input, noop_with_empty_axes, identities of empty sets),
ArgMax/ArgMin, the running scans CumSum/CumProd, TopK and Det.

Older ONNX forms (axes or k as attributes) are rewritten by frontends/onnx/legacy_reduce.py.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import Stage, TensorArg, reduce, reduced_index, reduced_shape, select, widen
from ..dtype import DType
from ..kernel.expr import Expr, Math
from ..types import Dim, TensorType, Type
from .registry import InferCtx, as_ints, norm_axis, op

# -- helpers shared by the family ------------------------------------------------------------

def accumulate_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype numpy should accumulate in: 16-bit floats lose too much when summed as such."""
    if dtype == DType.F16.np or dtype == DType.BF16.np:
        return np.dtype(np.float32)
    return np.dtype(dtype)


def float_dtype_of(c: InferCtx, i: int, what: str = "input") -> TensorType:
    """Input i, which must have a floating-point element type."""
    t = c.t(i)
    if not t.dtype.is_float:
        raise c.error(f"{what} {i} must be floating point, got {t}")
    return t


def numeric_input(c: InferCtx, i: int, allow_bool: bool = False) -> TensorType:
    t = c.t(i)
    if t.dtype is DType.STRING or t.dtype.is_complex or (t.dtype is DType.BOOL and not allow_bool):
        raise c.error(f"input {i} has element type {t.dtype}, which this op does not take")
    return t


def _axes_of_input(x: np.ndarray, axes: np.ndarray | None, noop: int) -> tuple[int, ...] | None:
    """The axes a Reduce op works on: None means all of them, () means none."""
    if axes is None or np.size(axes) == 0:
        return () if noop else None
    rank = x.ndim
    out = []
    for a in np.asarray(axes).reshape(-1).tolist():
        if not -rank <= a < max(rank, 1):
            raise ValueError(f"axis {a} is out of range for rank {rank}")
        out.append(a % max(rank, 1))
    return tuple(sorted(set(out)))


# -- Reduce* --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReduceAttrs:
    keepdims: int = 1
    noop_with_empty_axes: int = 0


def _reduce_rule(allow_bool: bool = False, float_only: bool = False) -> Callable[[InferCtx],
                                                                                list[Type]]:
    def rule(c: InferCtx) -> list[Type]:
        t = numeric_input(c, 0, allow_bool)
        if float_only and not t.dtype.is_float:
            raise c.error(f"input 0 must be floating point, got {t}")
        keep, noop, rank = bool(c.attrs.keepdims), bool(c.attrs.noop_with_empty_axes), t.rank
        axes: tuple[int, ...] | None
        if not c.has(1):
            axes = () if noop else None
        else:
            at = c.t(1)
            if at.dtype is not DType.I64 or at.rank != 1:
                raise c.error(f"axes must be a 1-D int64 tensor, got {at}")
            known = as_ints(c.value(1))
            if known is None and at.shape[0] == 0:
                known = ()
            if known is None:
                return [t.with_shape(_unknown_axes_shape(c, t, at.shape[0], keep))]
            axes = () if not known and noop else (
                None if not known else tuple(sorted({norm_axis(c, a, rank) for a in known})))
        if axes is None:
            axes = tuple(range(rank))
        if keep:
            shape = tuple(1 if k in axes else d for k, d in enumerate(t.shape))
        else:
            shape = tuple(d for k, d in enumerate(t.shape) if k not in axes)
        return [t.with_shape(shape)]
    return rule


def _unknown_axes_shape(c: InferCtx, t: TensorType, count: Dim, keep: bool) -> tuple[Dim, ...]:
    """Output shape when the axes are known only at run time: every dim may become 1."""
    if keep:
        return tuple(1 if d == 1 else c.sym("reduced") for d in t.shape)
    if not isinstance(count, int):
        raise c.error("with keepdims=0 the output rank depends on how many axes there are; "
                      "give axes a static length")
    return tuple(c.sym("reduced") for _ in range(t.rank - count))


def _empty_max(dtype: np.dtype) -> float:
    """The identity of max: -inf, or the smallest value of an integer or bool type."""
    if dtype == np.bool_:
        return False
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    return -np.inf


def _empty_min(dtype: np.dtype) -> float:
    if dtype == np.bool_:
        return True
    if dtype.kind in "iu":
        return np.iinfo(dtype).max
    return np.inf


def _sum(x: np.ndarray, axes: tuple[int, ...] | None, keep: bool) -> np.ndarray:
    return np.sum(x, axis=axes, keepdims=keep, dtype=accumulate_dtype(x.dtype))


def _count(x: np.ndarray, axes: tuple[int, ...] | None) -> int:
    n = 1
    for k in (range(x.ndim) if axes is None else axes):
        n *= x.shape[k]
    return n


def _as_float(x: np.ndarray) -> np.ndarray:
    """Values to take logs/roots of: integers go through float64, 16-bit floats through float32."""
    return x.astype(np.float64 if x.dtype.kind in "iub" else accumulate_dtype(x.dtype))


def _log_sum_exp(x: np.ndarray, axes: tuple[int, ...] | None, keep: bool) -> np.ndarray:
    xf = _as_float(x)
    big = np.maximum.reduce(xf, axis=axes, keepdims=True, initial=-np.inf)
    # Shift by the maximum for stability; an all -inf (or empty) slice shifts by 0 and stays -inf.
    shift = np.where(np.isfinite(big), big, 0)
    with np.errstate(divide="ignore"):
        out = np.log(np.add.reduce(np.exp(xf - shift), axis=axes, keepdims=True)) + shift
    return out if keep else np.squeeze(out, axis=axes if axes is not None else None)


def _mean(x: np.ndarray, axes: tuple[int, ...] | None, keep: bool) -> np.ndarray:
    total = _sum(x, axes, keep)
    n = _count(x, axes)
    if x.dtype.kind in "iu":
        # Integer means truncate toward zero, as a C division would.
        return np.trunc(total.astype(np.float64) / max(n, 1))
    return total / n if n else np.full_like(total, np.nan)


REDUCTIONS: dict[str, Callable[[np.ndarray, tuple[int, ...] | None, bool], np.ndarray]] = {
    "ReduceSum": _sum,
    "ReduceMean": _mean,
    "ReduceProd": lambda x, ax, k: np.prod(x, axis=ax, keepdims=k,
                                           dtype=accumulate_dtype(x.dtype)),
    # Empty maxima and minima are the identities (-inf, the type's minimum, False; and back).
    "ReduceMax": lambda x, ax, k: np.max(x, axis=ax, keepdims=k, initial=_empty_max(x.dtype)),
    "ReduceMin": lambda x, ax, k: np.min(x, axis=ax, keepdims=k, initial=_empty_min(x.dtype)),
    "ReduceL1": lambda x, ax, k: _sum(np.abs(x), ax, k),
    "ReduceL2": lambda x, ax, k: np.sqrt(_sum(np.square(_as_float(x)), ax, k)),
    "ReduceSumSquare": lambda x, ax, k: _sum(np.square(x), ax, k),
    "ReduceLogSum": lambda x, ax, k: np.log(_sum(_as_float(x), ax, k)),
    "ReduceLogSumExp": _log_sum_exp,
}


def _reduce_reference(name: str) -> Callable[..., np.ndarray]:
    fn = REDUCTIONS[name]

    def reference(a: ReduceAttrs, data: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
        ax = _axes_of_input(data, axes, a.noop_with_empty_axes)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = fn(data, ax, bool(a.keepdims))
        if data.dtype.kind in "iu" and np.asarray(out).dtype.kind == "f":
            out = np.trunc(out)
        return np.asarray(out).astype(data.dtype)
    return reference


# The versions each Reduce op went through; before 13 (ReduceSum) or 18 (the others) axes was an
# attribute, which the ONNX frontend moves to input 1.
REDUCE_VERSIONS: dict[str, tuple[int, ...]] = {
    "ReduceSum": (1, 11, 13),
    "ReduceMean": (1, 11, 13, 18),
    "ReduceProd": (1, 11, 13, 18),
    "ReduceMax": (1, 11, 12, 13, 18, 20),
    "ReduceMin": (1, 11, 12, 13, 18, 20),
    "ReduceL1": (1, 11, 13, 18),
    "ReduceL2": (1, 11, 13, 18),
    "ReduceSumSquare": (1, 11, 13, 18),
    "ReduceLogSum": (1, 11, 13, 18, 28),
    "ReduceLogSumExp": (1, 11, 13, 18, 28),
}

# -- their compute definitions: what each element contributes, how contributions combine and
# what becomes of the result (n: how many elements were reduced)

def _as_float_expr(e: Expr) -> Expr:
    return cp.cast(e, DType.F64) if not e.type.is_float else widen(e)


def _mean_post(acc: Expr, n: int) -> Expr:
    if acc.type.is_float:
        return acc / float(n)  # n == 0: 0/0, NaN
    return cp.cast(acc, DType.F64) / float(max(n, 1))  # the store truncates


ReducePlan = tuple[Callable[[Expr], Expr], str, Callable[[Expr, int], Expr]]
REDUCE_PLANS: dict[str, ReducePlan] = {
    "ReduceSum": (widen, "sum", lambda acc, n: acc),
    "ReduceMean": (widen, "sum", _mean_post),
    "ReduceProd": (widen, "prod", lambda acc, n: acc),
    "ReduceMax": (lambda e: e, "max", lambda acc, n: acc),
    "ReduceMin": (lambda e: e, "min", lambda acc, n: acc),
    "ReduceL1": (lambda e: widen(abs(e)), "sum", lambda acc, n: acc),
    "ReduceL2": (lambda e: _as_float_expr(e) * _as_float_expr(e), "sum",
                 lambda acc, n: Math("sqrt", (acc,))),
    # squared in the input's type, as the reference does, then summed wider
    "ReduceSumSquare": (lambda e: cp.rounded(widen(e) * widen(e), e.type.dtype), "sum",
                        lambda acc, n: acc),
    "ReduceLogSum": (_as_float_expr, "sum", lambda acc, n: Math("log", (acc,))),
}


def reduce_axes(a: ReduceAttrs, data: TensorArg, axes: TensorArg | None) -> tuple[int, ...]:
    """The reduced axes, sorted: the axes operand (it must be known), all, or none (noop)."""
    given = () if axes is None else axes.ints("axes")
    if not given:
        return () if a.noop_with_empty_axes else tuple(range(data.rank))
    return tuple(sorted({v % max(data.rank, 1) for v in given}))


def _reduce_compute(name: str) -> Callable[..., Stage | tuple[Stage, ...]]:
    def compute(a: ReduceAttrs, data: TensorArg, axes: TensorArg | None = None) -> Stage:
        ax, keep = reduce_axes(a, data, axes), bool(a.keepdims)
        ext = [data.shape[k] for k in ax]
        shape = reduced_shape(data.shape, ax, keep)

        def over(fn: Callable[[Expr], Expr], how: str, i: tuple[Expr, ...]) -> Expr:
            return reduce(how, ext, lambda *r: fn(data[reduced_index(data.rank, ax, keep, i, r)]))
        if name == "ReduceLogSumExp":
            # shifted by the maximum for stability; an all -inf (or empty) slice shifts by 0
            wide = DType.F64 if not data.dtype.is_float else cp.work_type(data.type).dtype
            big = cp.tensor(shape, wide, lambda *i: over(_as_float_expr, "max", i))
            shift = cp.tensor(shape, big.dtype, lambda *i: select(
                Math("isfinite", (big[i],)), big[i], 0.0))
            return cp.tensor(shape, data.dtype, lambda *i: Math("log", (over(
                lambda e: Math("exp", (_as_float_expr(e) - shift[i],)), "sum", i),)) + shift[i])
        pre, how, post = REDUCE_PLANS[name]
        n = int(np.prod(ext, dtype=np.int64))
        return cp.tensor(shape, data.dtype, lambda *i: post(over(pre, how, i), n))
    return compute


for _name, _versions in REDUCE_VERSIONS.items():
    op(_name, ReduceAttrs, versions=_versions, traits=("reduction",),
       infer=_reduce_rule(allow_bool=_name in ("ReduceMax", "ReduceMin"),
                          float_only=_name in ("ReduceLogSum", "ReduceLogSumExp")),
       reference=_reduce_reference(_name), compute=_reduce_compute(_name))


# -- ArgMax / ArgMin ------------------------------------------------------------------------

@dataclass(frozen=True)
class ArgReduceAttrs:
    axis: int = 0
    keepdims: int = 1
    select_last_index: int = 0


def _arg_rule(c: InferCtx) -> list[Type]:
    t = numeric_input(c, 0, allow_bool=True)
    axis = norm_axis(c, c.attrs.axis, t.rank)
    shape = tuple(1 if k == axis else d for k, d in enumerate(t.shape)) if c.attrs.keepdims \
        else tuple(d for k, d in enumerate(t.shape) if k != axis)
    return [TensorType(DType.I64, shape)]


def _arg_reference(pick: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def reference(a: ArgReduceAttrs, x: np.ndarray) -> np.ndarray:
        axis = a.axis % max(x.ndim, 1)
        if a.select_last_index:
            # The last of equal extremes is the first one in the reversed slice.
            idx = x.shape[axis] - 1 - pick(np.flip(x, axis=axis), axis=axis)
        else:
            idx = pick(x, axis=axis)
        if a.keepdims:
            idx = np.expand_dims(idx, axis)
        return np.asarray(idx, dtype=np.int64)
    return reference


def arg_compute(how: str) -> Callable[..., Stage]:
    """The extreme (`how`: max, min) along the axis, then the first (or last) index holding it;
    a NaN is the extreme wherever there is one, as for numpy."""
    def compute(a: ArgReduceAttrs, x: TensorArg) -> Stage:
        axis, keep = a.axis % max(x.rank, 1), bool(a.keepdims)
        n, shape = x.shape[axis], reduced_shape(x.shape, (axis,), keep)

        def at(i: tuple[Expr, ...], r: Expr) -> Expr:
            return x[reduced_index(x.rank, (axis,), keep, i, (r,))]
        best = cp.tensor(shape, x.dtype, lambda *i: reduce(how, n, lambda r: at(i, r)))

        def hit(i: tuple[Expr, ...], r: Expr) -> Expr:
            v = at(i, r)
            return (v.eq(best[i]) | Math("isnan", (v,))) if x.dtype.is_float else v.eq(best[i])
        if a.select_last_index:
            return cp.tensor(shape, DType.I64, lambda *i: reduce(
                "max", n, lambda r: select(hit(i, r), r, -1)))
        return cp.tensor(shape, DType.I64, lambda *i: reduce(
            "min", n, lambda r: select(hit(i, r), r, n)))
    return compute


op("ArgMax", ArgReduceAttrs, versions=(1, 11, 12, 13), traits=("reduction",),
   infer=_arg_rule, reference=_arg_reference(np.argmax), compute=arg_compute("max"))
op("ArgMin", ArgReduceAttrs, versions=(1, 11, 12, 13), traits=("reduction",),
   infer=_arg_rule, reference=_arg_reference(np.argmin), compute=arg_compute("min"))


# -- CumSum / CumProd -----------------------------------------------------------------------

@dataclass(frozen=True)
class CumulativeAttrs:
    exclusive: int = 0
    reverse: int = 0


def _cumulative_rule(c: InferCtx) -> list[Type]:
    t = numeric_input(c, 0)
    at = c.t(1)
    if at.dtype not in (DType.I32, DType.I64) or at.rank > 1:
        raise c.error(f"axis must be an int32/int64 scalar, got {at}")
    known = as_ints(c.value(1))
    if known is not None:
        if len(known) != 1:
            raise c.error(f"axis must hold one value, got {list(known)}")
        norm_axis(c, known[0], t.rank)
    return [t]


def _cumulative_reference(scan: Callable[..., np.ndarray],
                          identity: int) -> Callable[..., np.ndarray]:
    def reference(a: CumulativeAttrs, x: np.ndarray, axis: np.ndarray) -> np.ndarray:
        ax = int(np.asarray(axis).reshape(-1)[0])
        if not -x.ndim <= ax < x.ndim:
            raise ValueError(f"axis {ax} is out of range for rank {x.ndim}")
        ax %= x.ndim
        y = np.flip(x, ax) if a.reverse else x
        out = scan(y, axis=ax, dtype=accumulate_dtype(x.dtype))
        if a.exclusive and out.shape[ax]:
            # Element i holds the scan of the elements before it: shift by one along the axis.
            first = np.full_like(np.take(out, [0], axis=ax), identity)
            out = np.concatenate([first, np.take(out, np.arange(out.shape[ax] - 1), axis=ax)],
                                 axis=ax)
        if a.reverse:
            out = np.flip(out, ax)
        return np.ascontiguousarray(out).astype(x.dtype)
    return reference


op("CumSum", CumulativeAttrs, versions=(11, 14), infer=_cumulative_rule,
   reference=_cumulative_reference(np.cumsum, 0))
op("CumProd", CumulativeAttrs, versions=(26,), infer=_cumulative_rule,
   reference=_cumulative_reference(np.cumprod, 1))


# -- TopK -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TopKAttrs:
    axis: int = -1
    largest: int = 1
    sorted: int = 1


def _topk_rule(c: InferCtx) -> list[Type]:
    t = numeric_input(c, 0)
    kt = c.t(1)
    if kt.dtype is not DType.I64 or kt.rank > 1:
        raise c.error(f"k must be a 1-element int64 tensor, got {kt}")
    axis = norm_axis(c, c.attrs.axis, t.rank)
    known = as_ints(c.value(1))
    k: Dim
    if known is None:
        k = c.sym("k")
    else:
        if len(known) != 1 or known[0] < 0:
            raise c.error(f"k must be one non-negative value, got {list(known)}")
        k = known[0]
        n = t.shape[axis]
        if isinstance(n, int) and k > n:
            raise c.error(f"k={k} is larger than axis {axis} of {t}")
    shape = tuple(k if i == axis else d for i, d in enumerate(t.shape))
    return [t.with_shape(shape), TensorType(DType.I64, shape)]


def _topk_reference(a: TopKAttrs, x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kk = int(np.asarray(k).reshape(-1)[0])
    axis = a.axis % x.ndim
    n = x.shape[axis]
    if not 0 <= kk <= n:
        raise ValueError(f"k={kk} is out of range for axis {axis} of size {n}")
    if a.largest:
        # Equal values keep their order (lower index first): a stable ascending sort of the
        # reversed axis, read backwards, is descending with ties in increasing index.
        flipped = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
        order = n - 1 - np.flip(flipped, axis)
    else:
        order = np.argsort(x, axis=axis, kind="stable")
    idx = np.take(order, np.arange(kk), axis=axis)
    return np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)


op("TopK", TopKAttrs, versions=(1, 10, 11, 24), infer=_topk_rule, reference=_topk_reference)


# -- Det ------------------------------------------------------------------------------------

def _det_rule(c: InferCtx) -> list[Type]:
    t = float_dtype_of(c, 0)
    if t.rank < 2:
        raise c.error(f"Det needs a tensor of rank >= 2, got {t}")
    m, n = t.shape[-2:]
    if isinstance(m, int) and isinstance(n, int) and m != n:
        raise c.error(f"Det needs square matrices, got {t}")
    return [t.with_shape(t.shape[:-2])]


def _det_reference(a: None, x: np.ndarray) -> np.ndarray:
    wide = x.astype(np.float64)
    return np.asarray(np.linalg.det(wide)).astype(x.dtype)


op("Det", versions=(11, 22), infer=_det_rule, reference=_det_reference)

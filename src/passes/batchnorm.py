"""fold-batchnorm: inference-mode BatchNormalization folded into the op before it.

BN(y) = y * s + t with s = scale / sqrt(var + eps) and t = bias - mean * s, per channel (axis 1).
After a Conv, Gemm or MatMul with constant weights, s scales the weights' output channels and t
joins the bias; a BN on its own becomes Mul and Add. Folded weights are computed in float64 and
rounded once to the weights' dtype.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import Graph, Node, TensorType, Value
from .manager import Pass, PassContext, register_pass
from .pattern import OpPat, P, Pattern, attr
from .rewrite import Rewriter, RuleSet, apply_rules

X = P.var("x")


def _inference(a: Any) -> bool:
    return not attr(a, "training_mode", 0)


def _bn(producer: Pattern) -> OpPat:
    """BatchNormalization of `producer`'s output with constant parameters, in inference form."""
    return P.op("BatchNormalization", producer, P.const("scale"), P.const("beta"),
                P.const("mean"), P.const("var"), name="bn", attrs=_inference)


def _float(a: np.ndarray | None) -> bool:
    return a is not None and a.dtype.kind == "f"


def scale_shift(b: Rewriter, bn: Node, scale: Value, beta: Value, mean: Value,
                var: Value) -> tuple[np.ndarray, np.ndarray] | None:
    """(s, t) in float64, or None when the parameters are not per-channel float vectors."""
    arrs = [b.array(v) for v in (scale, beta, mean, var)]
    if not all(_float(a) for a in arrs):
        return None
    sc, be, mu, va = (np.asarray(a, dtype=np.float64) for a in arrs)  # type: ignore[arg-type]
    if not (sc.ndim == be.ndim == mu.ndim == va.ndim == 1):
        return None
    eps = float(attr(bn.attrs, "epsilon", 1e-5))
    s = sc / np.sqrt(va + eps)
    return s, be - mu * s


def _only_y(b: Rewriter, y: Value, bn: Node) -> list[Value | None]:
    """BN's result replaced by y; its training outputs must be unused (the driver checks)."""
    return [y] + [None] * (len(bn.outputs) - 1)


def fold_into_conv(b: Rewriter, bn: Node, conv: Node, x: Value, w: Value, bias: Value | None,
                   scale: Value, beta: Value, mean: Value, var: Value) -> list[Value | None] | None:
    st, wa = scale_shift(b, bn, scale, beta, mean, var), b.array(w)
    if st is None or not _float(wa):
        return None
    s, t = st
    assert wa is not None
    if wa.ndim < 2 or s.shape != (wa.shape[0],):
        return None
    ba = b.array(bias) if bias is not None else np.zeros(wa.shape[0])
    if ba is None or ba.shape != s.shape:
        return None
    w2 = wa.astype(np.float64) * s.reshape((-1,) + (1,) * (wa.ndim - 1))
    b2 = ba.astype(np.float64) * s + t
    y = b.emit("Conv", [x, b.const(w2, like=w, name="weight"), b.const(b2, like=w, name="bias")],
               attrs=conv.attrs)
    return _only_y(b, y, bn)


def fold_into_gemm(b: Rewriter, bn: Node, gemm: Node, x: Value, w: Value, c: Value | None,
                   scale: Value, beta: Value, mean: Value, var: Value) -> list[Value | None] | None:
    st, wa = scale_shift(b, bn, scale, beta, mean, var), b.array(w)
    if st is None or not _float(wa) or gemm.attrs is None:
        return None
    s, t = st
    assert wa is not None
    trans_b = bool(attr(gemm.attrs, "transB", 0))
    n_axis = 0 if trans_b else 1
    if wa.ndim != 2 or s.shape != (wa.shape[n_axis],):
        return None
    ca = b.array(c) if c is not None else np.zeros(())
    if ca is None:
        return None
    w2 = wa.astype(np.float64) * (s[:, None] if trans_b else s[None, :])
    c2 = float(attr(gemm.attrs, "beta", 1.0)) * ca.astype(np.float64) * s + t
    attrs = dataclasses.replace(gemm.attrs, beta=1.0)
    y = b.emit("Gemm", [x, b.const(w2, like=w, name="weight"), b.const(c2, like=w, name="bias")],
               attrs=attrs)
    return _only_y(b, y, bn)


def fold_into_matmul(b: Rewriter, bn: Node, mm: Node, x: Value, w: Value, scale: Value,
                     beta: Value, mean: Value, var: Value) -> list[Value | None] | None:
    st, wa = scale_shift(b, bn, scale, beta, mean, var), b.array(w)
    out = mm.outputs[0].type
    if st is None or not _float(wa) or not isinstance(out, TensorType) or out.rank != 2:
        return None  # BN's channel axis is MatMul's last axis only for 2-D results
    s, t = st
    assert wa is not None
    if wa.ndim != 2 or s.shape != (wa.shape[1],):
        return None
    w2 = wa.astype(np.float64) * s[None, :]
    y = b.emit("MatMul", [x, b.const(w2, like=w, name="weight")], attrs=mm.attrs)
    return _only_y(b, b.emit("Add", [y, b.const(t, like=w, name="bias")]), bn)


def bn_to_mul_add(b: Rewriter, bn: Node, x: Value, scale: Value, beta: Value, mean: Value,
                  var: Value) -> list[Value | None] | None:
    st = scale_shift(b, bn, scale, beta, mean, var)
    if st is None or not isinstance(x.type, TensorType) or x.type.rank < 2:
        return None
    s, t = st
    shape = (-1,) + (1,) * (x.type.rank - 2)
    y = b.emit("Mul", [x, b.const(s.reshape(shape), like=x, name="bn_scale")])
    return _only_y(b, b.emit("Add", [y, b.const(t.reshape(shape), like=x, name="bn_shift")]), bn)


BATCHNORM_RULES = RuleSet([
    # BN(Conv(x, W, B)) -> Conv(x, W*s, B*s + t)
    (_bn(P.op("Conv", X, P.const("w"), P.any_of(P.none(), P.const("bias")), name="conv",
              one_use=True)), fold_into_conv),
    # BN(Gemm(x, W, C)) -> Gemm(x, W*s, beta*C*s + t) with beta = 1
    (_bn(P.op("Gemm", X, P.const("w"), P.any_of(P.none(), P.const("c")), name="gemm",
              one_use=True)), fold_into_gemm),
    # BN(MatMul(x, W)) -> MatMul(x, W*s) + t   (2-D results)
    (_bn(P.op("MatMul", X, P.const("w"), name="mm", one_use=True)), fold_into_matmul),
    # BN(x) -> x * s + t
    (_bn(X), bn_to_mul_add),
])


@register_pass
@dataclass(frozen=True)
class FoldBatchNorm(Pass):
    """Fold inference-mode BatchNormalization into Conv/Gemm/MatMul weights, or into Mul+Add."""

    name = "fold-batchnorm"
    summary = "fold BatchNormalization into the weights before it"

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        apply_rules(graph, BATCHNORM_RULES)
        return graph

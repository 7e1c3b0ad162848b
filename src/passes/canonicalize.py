"""canonicalize: constant folding, algebraic identities, CSE and DCE, to a fixed point.

Every rule is exact: the driver refuses a replacement whose type differs from what it replaces, so
`x * 1 -> x` never fires when the product broadcast x, and rules that are exact only for some types
say so in their pattern. The one liberty taken is the sign of a zero (`-0.0 + 0.0 -> -0.0`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import DType, Graph, Node, TensorType, Value
from ..ir.dtype import FLOATS, SIGNED, UNSIGNED
from .cleanup import cse, dce
from .fold import FoldPolicy
from .manager import Pass, PassContext, register_pass
from .pattern import P, Pattern, attr, is_false
from .rewrite import Rewriter, RuleSet, apply_rules

X = P.var("x")
RESHAPE_LIKE = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")
IDEMPOTENT = ("Relu", "Abs", "Ceil", "Floor", "Round", "Sign")
SINGLE_REDUCE = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd")


# -- helpers of the rules below --------------------------------------------------------------------

def _perm(n: Node, rank: int) -> tuple[int, ...]:
    p = attr(n.attrs, "perm")
    return tuple(int(i) % max(rank, 1) for i in p) if p else tuple(range(rank))[::-1]


def _rank(v: Value) -> int | None:
    return v.type.rank if isinstance(v.type, TensorType) else None


def transpose_identity(t: Node, x: Value) -> Value | None:
    rank = _rank(x)
    return x if rank is not None and _perm(t, rank) == tuple(range(rank)) else None


def transpose_of_transpose(b: Rewriter, x: Value, inner: Node, outer: Node) -> Value | None:
    rank = _rank(x)
    if rank is None:
        return None
    p1, p2 = _perm(inner, rank), _perm(outer, rank)
    q = tuple(p1[i] for i in p2)
    if q == tuple(range(rank)):
        return x
    return b.emit("Transpose", [x], perm=q, same_as=outer.outputs[0])


def reshape_of_reshape(b: Rewriter, x: Value, s: Value, r: Node) -> Value | None:
    shape = b.array(s)
    if shape is None or (0 in shape.tolist() and not attr(r.attrs, "allowzero", 0)):
        return None  # a 0 copies a dimension of the (inner) input
    return b.emit("Reshape", [x, s], attrs=r.attrs, same_as=r.outputs[0])


def reshapes_to_one(b: Rewriter, x: Value, node: Node) -> Value | None:
    t = node.outputs[0].type
    if not isinstance(t, TensorType) or not t.is_static or 0 in t.static_shape:
        return None
    shape = b.const(np.array(t.static_shape, dtype=np.int64), name="shape")
    return b.emit("Reshape", [x, shape])


# Integers a float type holds exactly: 2**(mantissa bits + 1).
_EXACT_INT_BITS = {DType.F16: 11, DType.BF16: 8, DType.F32: 24, DType.F64: 53}
_WIDER_FLOAT = {DType.F16: {DType.F32, DType.F64}, DType.BF16: {DType.F32, DType.F64},
                DType.F32: {DType.F64}}


def cast_is_exact(a: DType, b: DType) -> bool:
    """Every value of `a` survives a cast to `b` unchanged."""
    if a is b:
        return True
    if a is DType.BOOL:
        return b is not DType.STRING
    if a in FLOATS:
        return b in _WIDER_FLOAT.get(a, ())
    if a in SIGNED or a in UNSIGNED:
        magnitude = a.bits - (1 if a in SIGNED else 0)
        if b in SIGNED:
            return b.bits > a.bits or (a in SIGNED and b.bits == a.bits)
        if b in UNSIGNED:
            return a in UNSIGNED and b.bits >= a.bits
        return b in _EXACT_INT_BITS and magnitude <= _EXACT_INT_BITS[b]
    return False


def cast_of_cast(b: Rewriter, x: Value, inner: Node, node: Node) -> Value | None:
    out = node.outputs[0].type
    if not (isinstance(x.type, TensorType) and isinstance(inner.outputs[0].type, TensorType)
            and isinstance(out, TensorType)) or out.dtype is DType.STRING:
        return None
    if not cast_is_exact(x.type.dtype, inner.outputs[0].type.dtype):
        return None
    if x.type == out:
        return x
    return b.emit("Cast", [x], attrs=node.attrs, same_as=node.outputs[0])


def dropout_inference(b: Rewriter, x: Value, node: Node) -> list[Value | None] | None:
    if len(node.outputs) < 2 or not b.num_uses(node.outputs[1]):
        return [x]
    t = node.outputs[1].type
    if not isinstance(t, TensorType) or not t.is_static:
        return None
    return [x, b.const(np.ones(t.static_shape, dtype=np.bool_), name="mask")]


def inline_if(b: Rewriter, cond: Value, node: Node) -> list[Value] | None:
    c = b.array(cond)
    if c is None or c.size != 1:
        return None
    branch = attr(node.attrs, "then_branch" if bool(c.reshape(-1)[0]) else "else_branch")
    return b.inline(branch) if isinstance(branch, Graph) else None


def _training(p: str = "training") -> Pattern:
    return P.any_of(P.none(), P.const(p, is_false))


# -- the rules -------------------------------------------------------------------------------------

ARITHMETIC_RULES = RuleSet([
    # x + 0 -> x
    (P.op("Add", X, P.splat(0)), lambda x: x),
    # x - 0 -> x
    (P.op("Sub", X, P.splat(0)), lambda x: x),
    # x * 1 -> x
    (P.op("Mul", X, P.splat(1)), lambda x: x),
    # x / 1 -> x
    (P.op("Div", X, P.splat(1)), lambda x: x),
    # x ** 1 -> x
    (P.op("Pow", X, P.splat(1)), lambda x: x),
    # -(-x) -> x ; not(not x) -> x
    (P.op(("Neg", "Not"), P.op(("Neg", "Not"), X, name="inner"), name="outer"),
     lambda x, inner, outer: x if inner.op == outer.op else None),
    # f(f(x)) -> f(x) for idempotent f
    (P.op(IDEMPOTENT, P.op(IDEMPOTENT, X, name="inner"), name="outer"),
     lambda inner, outer: inner.outputs[0] if inner.op == outer.op else None),
    # max(x, x) / min(x, x) / and(x, x) / or(x, x) -> x
    (P.op(("Max", "Min", "And", "Or"), X, X), lambda x: x),
    # where(c, x, x) -> x
    (P.op("Where", P.var(), X, X), lambda x: x),
    # sum/max/min/mean of one input -> x
    (P.op(("Sum", "Max", "Min", "Mean", "Concat"), X), lambda x: x),
    # a reduction over axes of size 1 (that keeps them) -> x
    (P.op(SINGLE_REDUCE, X, rest=True), lambda x: x),
])

DATA_MOVEMENT_RULES = RuleSet([
    # Identity(x) -> x
    (P.op("Identity", X), lambda x: x),
    # Dropout in inference (no training_mode, or false) -> x, mask all true
    (P.op("Dropout", X, P.var(optional=True), _training()), dropout_inference),
    # Cast / CastLike to x's own dtype -> x
    (P.op(("Cast", "CastLike"), X, rest=True), lambda x: x),
    # Cast(Cast(x)) where the first cast loses nothing -> Cast(x)
    (P.op("Cast", P.op("Cast", X, name="inner")), cast_of_cast),
    # reshape-like or Expand to x's own shape -> x
    (P.op((*RESHAPE_LIKE, "Expand"), X, rest=True), lambda x: x),
    # Pad by zeros -> x
    (P.op("Pad", X, P.splat(0), rest=True), lambda x: x),
    # Tile by ones -> x
    (P.op("Tile", X, P.splat(1)), lambda x: x),
    # reshape-like of reshape-like back to x's shape -> x
    (P.op(RESHAPE_LIKE, P.op(RESHAPE_LIKE, X, rest=True), rest=True), lambda x: x),
    # Reshape(reshape-like(x), s) -> Reshape(x, s)   (s constant, no 0 that copies a dim)
    (P.op("Reshape", P.op(RESHAPE_LIKE, X, rest=True), P.const("s"), name="r"),
     reshape_of_reshape),
    # reshape-like(reshape-like(x)) to a static shape -> Reshape(x, shape)
    (P.op(RESHAPE_LIKE, P.op(RESHAPE_LIKE, X, rest=True), rest=True),
     reshapes_to_one),
    # Transpose by the identity permutation -> x
    (P.op("Transpose", X, name="t"), transpose_identity),
    # Transpose(Transpose(x, p1), p2) -> Transpose(x, p1[p2]), or x
    (P.op("Transpose", P.op("Transpose", X, name="inner"), name="outer"),
     transpose_of_transpose),
    # If with a known condition -> the nodes of that branch
    (P.op("If", P.const("cond")), inline_if),
    # Split into one piece -> x
    (P.op("Split", X, rest=True),
     lambda x, node: x if len(node.outputs) == 1 else None),
])

CANONICAL_RULES = ARITHMETIC_RULES + DATA_MOVEMENT_RULES


@register_pass
@dataclass(frozen=True)
class Canonicalize(Pass):
    """Fold constants, apply the algebraic identities, merge equal nodes, drop dead ones."""

    name = "canonicalize"
    summary = "constant folding, algebraic identities, CSE and DCE"

    fold: bool = True
    fold_limit: int = 1 << 16  # bytes a folded result may take beyond its inputs' size
    cse: bool = True
    max_iterations: int = 8

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        canonicalize(graph, self)
        return graph


def canonicalize(graph: Graph, config: Canonicalize | None = None) -> Graph:
    """Canonicalize `graph` in place (and return it)."""
    c = config or Canonicalize()
    policy = FoldPolicy(c.fold_limit) if c.fold else None
    for _ in range(max(c.max_iterations, 1)):
        apply_rules(graph, CANONICAL_RULES, fold=policy)
        merged = cse(graph) if c.cse else 0
        dce(graph)
        if not merged:  # only merging can open new matches after the driver's fixed point
            break
    return graph

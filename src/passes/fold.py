"""Constant folding: run a node's reference implementation when its inputs are known.

The op table's reference implementation is the semantics, so folding is exact by construction. A
size policy keeps folding from materialising large tensors (a broadcast of a scalar, a dequantized
weight) that the graph is better off computing, and results must match the declared types.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import OPS, Node, TensorType, Value
from ..ir.ops import InferCtx, RefCtx

# Ops whose result is not a function of their inputs; and kernel calls, which are the target's
# code to run (folding one would run it in the kernel interpreter at compile time).
NOT_FOLDABLE = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                          "Bernoulli", "Multinomial", "KernelCall"})
# Ops that only name a value already stored in the graph: folding them costs no space.
ALWAYS_FOLD = frozenset({"Constant"})


@dataclass(frozen=True)
class FoldPolicy:
    """Fold a node when its results take at most `max(limit_bytes, bytes of its inputs)`."""

    limit_bytes: int = 1 << 16
    use_shape_rules: bool = True  # also take values shape rules publish (Shape of a static shape)


def _nbytes(x: Any) -> int:
    return int(x.nbytes) if isinstance(x, np.ndarray) else 0


def _out_bytes(v: Value) -> int | None:
    t = v.type
    if not isinstance(t, TensorType) or not t.is_static:
        return None
    return int(np.prod(t.static_shape, dtype=np.int64)) * max(t.dtype.bits, 8) // 8


def _fits(v: Value, arr: Any) -> bool:
    """The folded array has exactly the type the IR gives `v`."""
    t = v.type
    if not isinstance(t, TensorType) or not t.is_static or not isinstance(arr, np.ndarray):
        return False
    if arr.shape != t.static_shape:
        return False
    if t.dtype.np.kind == "O":
        return arr.dtype.kind in "OUS"
    return bool(arr.dtype == t.dtype.np)


def fold_node(node: Node, consts: Mapping[Value, np.ndarray],
              policy: FoldPolicy) -> dict[int, np.ndarray] | None:
    """Values of `node`'s outputs known at compile time, by output index (None: nothing folds).

    Returns every output when all inputs are constants; otherwise, with `use_shape_rules`, the
    outputs the op's shape rule can decide from the input types alone.
    """
    d = OPS.get(node.op)
    if d is None or node.op in NOT_FOLDABLE or any(True for _ in node.subgraphs()):
        return None
    if "side_effects" in d.traits:
        return None
    values = [None if v is None else consts.get(v) for v in node.inputs]
    if all(x is not None for v, x in zip(node.inputs, values) if v is not None):
        return _fold_all(node, values, policy)
    if not policy.use_shape_rules:
        return None
    types = [None if v is None else v.type for v in node.inputs]
    ctx = InferCtx(node.op, node.attrs, types, values, len(node.outputs), node.name)
    try:
        d.infer(ctx)
    except Exception:  # noqa: BLE001 - folding is an optimisation; the verifier reports errors
        return None
    out = {i: np.asarray(a) for i, a in ctx.out_values.items()
           if i < len(node.outputs) and _fits(node.outputs[i], np.asarray(a))}
    return out or None


def _fold_all(node: Node, values: list[Any], policy: FoldPolicy) -> dict[int, np.ndarray] | None:
    sizes = [_out_bytes(o) for o in node.outputs]
    if any(s is None for s in sizes):
        return None
    in_bytes = sum(_nbytes(x) for x in values)
    if node.op not in ALWAYS_FOLD and sum(s or 0 for s in sizes) > max(policy.limit_bytes,
                                                                        in_bytes):
        return None
    d = OPS[node.op]
    try:
        res = d.run_reference(node.attrs, values, RefCtx(len(node.outputs), None, node.name))
    except Exception:  # noqa: BLE001 - not folding is always allowed; running will report it
        return None
    if len(res) < len(node.outputs):
        return None
    out = {}
    for i, (v, r) in enumerate(zip(node.outputs, res)):
        if not _fits(v, r):
            return None
        out[i] = r
    return out

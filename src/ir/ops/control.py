"""Control flow: If, Loop and Scan. Their bodies are Graph attributes whose nodes may read values of
the enclosing graphs; references run them through `ctx.run_subgraph`. Output types come from the
bodies' output types: where two types a value may take disagree (the two branches of an If, a loop
state before and after its body), the differing dims become fresh symbols."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..graph import Graph, Value
from ..types import Dim, OptionalType, SequenceType, TensorType, Type
from .registry import InferCtx, RefCtx, norm_axis, op
from .sequence import RANK_MAY_BE_UNKNOWN, elem_rank_known, merge_elem, unranked_sequence

# Every ONNX version of If/Loop/Scan since 11 only widens the types they accept.
_CONTROL_VERSIONS = (11, 13, 16, 19, 21, 23, 24, 25)


def merge_types(c: InferCtx, a: Type, b: Type, what: str) -> Type:
    """The type of a value that is sometimes of type `a`, sometimes of type `b`."""
    if a == b:
        return a
    if isinstance(a, OptionalType) or isinstance(b, OptionalType):
        inner_a = a.elem if isinstance(a, OptionalType) else a
        inner_b = b.elem if isinstance(b, OptionalType) else b
        inner = merge_types(c, inner_a, inner_b, what)
        assert not isinstance(inner, OptionalType)
        return OptionalType(inner)
    if isinstance(a, SequenceType) and isinstance(b, SequenceType):
        if a.elem.dtype != b.elem.dtype:
            raise c.error(f"{what} is {a} in one case and {b} in another")
        if not (elem_rank_known(a) and elem_rank_known(b)):
            return unranked_sequence(a.elem.dtype)
        if a.elem.rank != b.elem.rank and not RANK_MAY_BE_UNKNOWN:
            # Until the IR types sequences of unknown rank, the ranked elements win over a
            # scalar placeholder (an empty sequence declared without a shape).
            return a if b.elem.rank == 0 else b
        return merge_elem(c, a.elem, b.elem)
    if isinstance(a, TensorType) and isinstance(b, TensorType):
        if a.dtype != b.dtype or a.rank != b.rank:
            raise c.error(f"{what} is {a} in one case and {b} in another")
        shape: tuple[Dim, ...] = tuple(x if x == y else c.sym("d") for x, y in
                                       zip(a.shape, b.shape))
        return TensorType(a.dtype, shape)
    raise c.error(f"{what} is {a} in one case and {b} in another")


def _outputs_of(c: InferCtx, g: Any, what: str) -> list[Type]:
    if not isinstance(g, Graph):
        raise c.error(f"attribute {what} must be a graph")
    return [v.type for v in g.outputs]


# -- If ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IfAttrs:
    then_branch: Graph | None = None
    else_branch: Graph | None = None


def _if_infer(c: InferCtx) -> list[Type]:
    a: IfAttrs = c.attrs
    then_t = _outputs_of(c, a.then_branch, "then_branch")
    else_t = _outputs_of(c, a.else_branch, "else_branch")
    if len(then_t) != len(else_t):
        raise c.error(f"then_branch has {len(then_t)} outputs, else_branch {len(else_t)}")
    cond = c.t(0)
    if cond.numel not in (1, None):
        raise c.error(f"cond must hold one element, got {cond}")
    known = c.value(0)
    if known is not None:  # the branch is decided now: its types are exact
        return then_t if bool(np.asarray(known).reshape(-1)[0]) else else_t
    return [merge_types(c, t, e, f"output {i}") for i, (t, e) in
            enumerate(zip(then_t, else_t))]


def _if_ref(a: IfAttrs, cond: np.ndarray, ctx: RefCtx) -> tuple[Any, ...]:
    branch = a.then_branch if bool(np.asarray(cond).reshape(-1)[0]) else a.else_branch
    assert branch is not None and ctx.run_subgraph is not None
    return tuple(ctx.run_subgraph(branch, []))


op("If", IfAttrs, versions=(1, *_CONTROL_VERSIONS), infer=_if_infer, reference=_if_ref)


# -- Loop ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoopAttrs:
    body: Graph | None = None


def _identity_source(g: Graph, v: Value) -> Value:
    """Follow Identity nodes back to the value they copy."""
    producers = g.producers()
    while v in producers and producers[v].op == "Identity" and producers[v].inputs[0] is not None:
        src = producers[v].inputs[0]
        assert src is not None
        v = src
    return v


def _runs_to_trip_count(c: InferCtx, body: Graph) -> bool:
    """Whether the body's condition output is provably always true, so M decides the count."""
    cond_out = _identity_source(body, body.outputs[0])
    if cond_out in body.constants:
        return bool(np.all(body.constants[cond_out]))
    if len(body.inputs) > 1 and cond_out is body.inputs[1]:
        cond = c.value(1)
        return not c.has(1) or (cond is not None and bool(np.all(cond)))
    return False


def _loop_infer(c: InferCtx) -> list[Type]:
    body = c.attrs.body
    outs = _outputs_of(c, body, "body")
    n_state = len(body.inputs) - 2
    n_scan = len(outs) - 1 - n_state
    if n_state < 0 or n_scan < 0:
        raise c.error(f"body has {len(body.inputs)} inputs and {len(outs)} outputs; it needs "
                      "(iteration, cond, states...) -> (cond, states..., scan outputs...)")
    if len(c.types) - 2 != n_state:
        raise c.error(f"{len(c.types) - 2} initial loop states for a body of {n_state}")
    trip = c.value(0)
    iterations: Dim = (int(np.asarray(trip).reshape(-1)[0])
                       if trip is not None and _runs_to_trip_count(c, body) else c.sym("iters"))
    result: list[Type] = []
    for k in range(n_state):
        init = c.types[2 + k]
        if init is None:
            raise c.error(f"loop state {k} has no initial value")
        result.append(merge_types(c, init, outs[1 + k], f"loop state {k}"))
    for k in range(n_scan):
        t = outs[1 + n_state + k]
        if not isinstance(t, TensorType):
            raise c.error(f"scan output {k} must be a tensor, got {t}")
        result.append(t.with_shape((iterations, *t.shape)))
    return result


def _empty_like(t: Type, lead: Sequence[int] = ()) -> np.ndarray:
    """A zero-element tensor of body output type `t` (symbolic dims taken as 0)."""
    assert isinstance(t, TensorType)
    dims = [d if isinstance(d, int) else 0 for d in t.shape]
    return np.zeros((*lead, *dims), dtype=t.dtype.np)


def _loop_ref(a: LoopAttrs, trip: np.ndarray | None, cond: np.ndarray | None, *states: Any,
              ctx: RefCtx) -> tuple[Any, ...]:
    body = a.body
    assert body is not None and ctx.run_subgraph is not None
    n_state = len(states)
    n_scan = len(body.outputs) - 1 - n_state
    max_iters = None if trip is None else int(np.asarray(trip).reshape(-1)[0])
    keep_going = True if cond is None else bool(np.asarray(cond).reshape(-1)[0])
    carried = list(states)
    scans: list[list[np.ndarray]] = [[] for _ in range(n_scan)]
    i = 0
    while keep_going and (max_iters is None or i < max_iters):
        outs = ctx.run_subgraph(body, [np.array(i, dtype=np.int64), np.array(keep_going),
                                       *carried])
        keep_going = bool(np.asarray(outs[0]).reshape(-1)[0])
        carried = list(outs[1:1 + n_state])
        for k in range(n_scan):
            scans[k].append(np.asarray(outs[1 + n_state + k]))
        i += 1
    stacked = [np.stack(s) if s else _empty_like(body.outputs[1 + n_state + k].type, (0,))
               for k, s in enumerate(scans)]
    return (*carried, *stacked)


op("Loop", LoopAttrs, versions=(1, *_CONTROL_VERSIONS), infer=_loop_infer, reference=_loop_ref)


# -- Scan ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScanAttrs:
    body: Graph | None = None
    num_scan_inputs: int = 0
    scan_input_axes: tuple[int, ...] | None = None
    scan_input_directions: tuple[int, ...] | None = None
    scan_output_axes: tuple[int, ...] | None = None
    scan_output_directions: tuple[int, ...] | None = None


def _nth(values: tuple[int, ...] | None, k: int) -> int:
    return values[k] if values is not None and k < len(values) else 0


def _scan_infer(c: InferCtx) -> list[Type]:
    a: ScanAttrs = c.attrs
    outs = _outputs_of(c, a.body, "body")
    n_scan_in = a.num_scan_inputs
    n_state = len(c.types) - n_scan_in
    n_scan_out = len(outs) - n_state
    if n_scan_in < 1 or n_state < 0 or n_scan_out < 0:
        raise c.error(f"{len(c.types)} inputs with num_scan_inputs={n_scan_in} do not fit a "
                      f"body of {len(outs)} outputs")
    lengths: list[Dim] = []
    for k in range(n_scan_in):
        scanned = c.t(n_state + k)
        lengths.append(scanned.shape[norm_axis(c, _nth(a.scan_input_axes, k), scanned.rank)])
    static = {d for d in lengths if isinstance(d, int)}
    if len(static) > 1:
        raise c.error(f"scan inputs have different sequence lengths {sorted(static)}")
    seq_len: Dim = static.pop() if static else lengths[0]
    result: list[Type] = []
    for k in range(n_state):
        result.append(merge_types(c, c.t(k), outs[k], f"scan state {k}"))
    for k in range(n_scan_out):
        t = outs[n_state + k]
        if not isinstance(t, TensorType):
            raise c.error(f"scan output {k} must be a tensor, got {t}")
        axis = norm_axis(c, _nth(a.scan_output_axes, k), t.rank + 1)
        result.append(t.with_shape((*t.shape[:axis], seq_len, *t.shape[axis:])))
    return result


def _scan_ref(a: ScanAttrs, *inputs: np.ndarray, ctx: RefCtx) -> tuple[Any, ...]:
    body = a.body
    assert body is not None and ctx.run_subgraph is not None
    n_state = len(inputs) - a.num_scan_inputs
    n_scan_out = len(body.outputs) - n_state
    states = list(inputs[:n_state])
    scan_ins = [np.moveaxis(x, _nth(a.scan_input_axes, k) % max(x.ndim, 1), 0)
                for k, x in enumerate(inputs[n_state:])]
    for k, x in enumerate(scan_ins):
        if _nth(a.scan_input_directions, k) == 1:
            scan_ins[k] = x[::-1]
    steps = scan_ins[0].shape[0]
    collected: list[list[np.ndarray]] = [[] for _ in range(n_scan_out)]
    for t in range(steps):
        outs = ctx.run_subgraph(body, [*states, *(x[t] for x in scan_ins)])
        states = list(outs[:n_state])
        for k in range(n_scan_out):
            collected[k].append(np.asarray(outs[n_state + k]))
    results: list[np.ndarray] = []
    for k, parts in enumerate(collected):
        if _nth(a.scan_output_directions, k) == 1:
            parts = parts[::-1]
        stacked = (np.stack(parts) if parts
                   else _empty_like(body.outputs[n_state + k].type, (0,)))
        axis = _nth(a.scan_output_axes, k) % stacked.ndim
        results.append(np.moveaxis(stacked, 0, axis))
    return (*states, *results)


# Scan-8 (a batch axis and sequence_lens) is rewritten by frontends/onnx/legacy_misc.py.
op("Scan", ScanAttrs, versions=(8, 9, *_CONTROL_VERSIONS), infer=_scan_infer,
   reference=_scan_ref)

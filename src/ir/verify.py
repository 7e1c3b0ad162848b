"""The verifier: every invariant of the IR, checked, with a message that names what it rejects.

Graphs: every value is defined before it is read (subgraphs may read values of enclosing graphs
defined before their node), produced once, and named uniquely among the values it can see; a
node's attributes are its op's dataclass; its output types are what the op's shape rule infers from
its input types (and the input values known at compile time); graph outputs are defined.
Kernels (also those of kernel-call nodes): see dlc.ir.kernel.verifier.
"""
from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator
from typing import Any, NoReturn

import numpy as np

from ..errors import DlcError, VerifyError
from .graph import Graph, Node, Value
from .kernel.stmt import Kernel
from .kernel.verifier import verify_kernel
from .ops import OPS, InferCtx, RefCtx
from .types import OptionalType, SequenceType, Sym, TensorType, Type

# Inputs at most this large are folded to learn values that shape rules use (as the importer does).
FOLD_LIMIT = 1 << 16
NOT_FOLDABLE = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                          "Bernoulli", "Multinomial"})

__all__ = ["verify", "verify_kernel"]


def _syms(t: Type | None) -> Iterator[Sym]:
    if isinstance(t, TensorType):
        yield from (d for d in t.shape if isinstance(d, Sym))
    elif isinstance(t, (SequenceType, OptionalType)):
        yield from _syms(t.elem)


def types_match(recorded: Type, inferred: Type, fresh: set[Sym], bound: dict[Sym, Any]) -> bool:
    """`recorded` is what the rule inferred, where a symbol the rule made up (`fresh`) stands for
    whatever dim the recorded type has (the same one wherever it appears)."""
    if isinstance(inferred, TensorType):
        if not isinstance(recorded, TensorType) or recorded.dtype != inferred.dtype \
                or recorded.rank != inferred.rank:
            return False
        for r, i in zip(recorded.shape, inferred.shape):
            if isinstance(i, Sym) and i in fresh:
                if bound.setdefault(i, r) != r:
                    return False
            elif r != i:
                return False
        return True
    if isinstance(inferred, SequenceType):
        return isinstance(recorded, SequenceType) and types_match(recorded.elem, inferred.elem,
                                                                  fresh, bound)
    if isinstance(inferred, OptionalType):
        return isinstance(recorded, OptionalType) and types_match(recorded.elem, inferred.elem,
                                                                  fresh, bound)
    return False


def _graphs_in(v: Any) -> Iterator[Graph]:
    if isinstance(v, Graph):
        yield v
    elif isinstance(v, (tuple, list)):
        for x in v:
            yield from _graphs_in(x)


def _fits(t: Type, arr: Any) -> bool:
    if not isinstance(t, TensorType) or not isinstance(arr, np.ndarray):
        return False
    if arr.ndim != t.rank or any(isinstance(d, int) and d != n for d, n in zip(t.shape, arr.shape)):
        return False
    if t.dtype.np.kind == "O":
        return arr.dtype.kind in "OUS"
    return bool(arr.dtype == t.dtype.np)


class _RecordingCtx(InferCtx):
    """Remembers the symbols the rule makes up: those stand for any dim (even where a saved graph
    from another process uses the same name)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.made: set[Sym] = set()

    def sym(self, hint: str = "d") -> Sym:
        s = super().sym(hint)
        self.made.add(s)
        return s


class GraphVerifier:
    def __init__(self) -> None:
        self.producer: dict[int, str] = {}      # id(Value) -> what defines it
        self.later: dict[int, str] = {}         # values defined later in an enclosing graph
        self.known: dict[int, np.ndarray] = {}  # values known at compile time

    @staticmethod
    def fail(message: str) -> NoReturn:
        raise VerifyError(message)

    def define(self, v: Any, by: str, scope: ChainMap[int, Value],
               names: ChainMap[str, str]) -> None:
        if not isinstance(v, Value):
            self.fail(f"{by}: {v!r} is not a Value")
        if id(v) in self.producer:
            self.fail(f"value '%{v.name}' is produced twice: by {self.producer[id(v)]} and by {by}")
        if v.name in names:
            self.fail(f"{by}: the name '%{v.name}' is already used by {names[v.name]}")
        self.producer[id(v)] = by
        scope.maps[0][id(v)] = v
        names.maps[0][v.name] = by

    def graph(self, g: Graph, scope: ChainMap[int, Value], names: ChainMap[str, str]) -> None:
        where = f"graph @{g.name}"
        scope, names = scope.new_child(), names.new_child()
        mine = {id(o): f"{n.op} node '{n.name}'" for n in g.nodes for o in n.outputs}
        self.later.update({k: v for k, v in mine.items() if k not in self.producer})
        for i, v in enumerate(g.inputs):
            self.define(v, f"{where} input {i}", scope, names)
        for v, arr in g.constants.items():
            self.define(v, f"{where} constant '%{getattr(v, 'name', '?')}'", scope, names)
            if not _fits(v.type, np.asarray(arr)) or not isinstance(v.type, TensorType) \
                    or not v.type.is_static:
                a = np.asarray(arr)
                self.fail(f"{where}: constant '%{v.name}' holds {a.dtype} data of shape "
                          f"{list(a.shape)}, but its type is {v.type}")
            self.known[id(v)] = np.asarray(arr)
        for n in g.nodes:
            self.node(n, scope, names)
        for i, v in enumerate(g.outputs):
            if not isinstance(v, Value) or id(v) not in scope:
                name = getattr(v, "name", repr(v))
                self.fail(f"{where}: output {i} '%{name}' is not defined in the graph or an "
                          "enclosing one")

    def node(self, n: Node, scope: ChainMap[int, Value], names: ChainMap[str, str]) -> None:
        who = f"{n.op} node '{n.name}'"
        d = OPS.get(n.op)
        if d is None:
            self.fail(f"{who}: unknown op '{n.op}'")
        if d.attrs is None and n.attrs is not None:
            self.fail(f"{who}: {n.op} takes no attributes, got {type(n.attrs).__name__}")
        if d.attrs is not None and type(n.attrs) is not d.attrs:
            self.fail(f"{who}: attributes must be {d.attrs.__name__}, not "
                      f"{type(n.attrs).__name__}")
        for i, v in enumerate(n.inputs):
            if v is None:
                continue
            if not isinstance(v, Value):
                self.fail(f"{who}: input {i} is {v!r}, not a Value")
            if id(v) not in scope:
                when = (f"is defined later (by {self.later[id(v)]})" if id(v) in self.later
                        else "is not defined in this graph or an enclosing one")
                self.fail(f"{who}: input {i} '%{v.name}' {when}")
        if n.attrs is not None:
            for value in vars(n.attrs).values():
                for sg in _graphs_in(value):
                    self.graph(sg, scope, names)
                if isinstance(value, Kernel):
                    verify_kernel(value, prefix=f"{who}: ")
        self.types(n, d)
        for i, v in enumerate(n.outputs):
            self.define(v, who if len(n.outputs) == 1 else f"{who} (output {i})", scope, names)

    def types(self, n: Node, d: Any) -> None:
        who = f"{n.op} node '{n.name}'"
        types = [None if v is None else v.type for v in n.inputs]
        values = [None if v is None else self.known.get(id(v)) for v in n.inputs]
        ctx = _RecordingCtx(n.op, n.attrs, types, values, len(n.outputs), n.name)
        try:
            inferred = d.infer(ctx)
        except DlcError as e:
            msg = str(e)
            self.fail(msg if msg.startswith(n.op) else f"{who}: {msg}")
        except Exception as e:  # noqa: BLE001 - a rule crashing on these inputs is their fault
            self.fail(f"{who}: its shape rule fails on these inputs ({type(e).__name__}: {e})")
        if len(inferred) < len(n.outputs):
            self.fail(f"{who}: has {len(n.outputs)} outputs; the op gives at most "
                      f"{len(inferred)}")
        given = {s for t in types for s in _syms(t)}
        fresh = ({s for t in inferred for s in _syms(t)} - given) | ctx.made
        bound: dict[Sym, Any] = {}
        for i, (v, t) in enumerate(zip(n.outputs, inferred)):
            if not isinstance(v, Value):
                self.fail(f"{who}: output {i} is {v!r}, not a Value")
            if not types_match(v.type, t, fresh, bound):
                self.fail(f"{who}: output {i} '%{v.name}' has type {v.type}, but the op's rule "
                          f"gives {t}")
        for i, val in getattr(ctx, "out_values", {}).items():
            if i < len(n.outputs) and _fits(n.outputs[i].type, np.asarray(val)):
                self.known[id(n.outputs[i])] = np.asarray(val)
        self.fold(n, d, values)

    def fold(self, n: Node, d: Any, values: list[np.ndarray | None]) -> None:
        """Learn the outputs of small all-constant nodes, so later shape rules see them."""
        if n.op in NOT_FOLDABLE or "side_effects" in d.traits or n.op == "KernelCall":
            return
        if any(v is not None and x is None for v, x in zip(n.inputs, values)):
            return
        if sum(x.size for x in values if x is not None) > FOLD_LIMIT:
            return
        if n.attrs is not None and any(True for v in vars(n.attrs).values() for _ in
                                       _graphs_in(v)):
            return
        for v in n.outputs:  # never materialize a large result (ConstantOfShape, Expand, ...)
            t = v.type
            if not isinstance(t, TensorType) or t.numel is None or t.numel > FOLD_LIMIT:
                return
        try:
            res = d.run_reference(n.attrs, values, RefCtx(len(n.outputs), None, n.name))
        except Exception:  # noqa: BLE001 - not folding is always allowed
            return
        for v, r in zip(n.outputs, res):
            if _fits(v.type, r) and np.asarray(r).size <= FOLD_LIMIT:
                self.known[id(v)] = np.asarray(r)


def verify(graph: Graph) -> None:
    """Raise VerifyError, naming the node, where an invariant of `graph` does not hold."""
    if not isinstance(graph, Graph):
        raise VerifyError(f"expected a Graph, got {type(graph).__name__}")
    GraphVerifier().graph(graph, ChainMap(), ChainMap())

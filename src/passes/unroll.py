"""unroll: Loop, Scan and If nodes, sequences and optionals become plain tensor dataflow where their
structure is known at compile time, so that targets without control flow lower them to kernels.

A Loop whose trip count and per-iteration condition fold to constants, and a Scan of static length,
have their body inlined once per iteration (at most `max_iterations`), loop-carried values threaded
through and scan outputs stacked with Unsqueeze and Concat. An If on a constant takes its branch; on
a run-time condition both branches run and Where picks (tensors of one static type, pure branches).
Sequences and optionals of known structure become the tensors they hold (a sequence is a list of
values, an optional a value or none), so their ops resolve to those values.

Inlining is a walk rather than rewrite rules: every inlined node's types are inferred afresh from
what its inputs now are (an iteration number is a constant, so slices it bounds become static),
and the rewrite driver only accepts replacements of unchanged type. The pass is all or nothing: a
graph with anything it cannot resolve (a run-time trip count, a sequence among the graph's inputs)
is returned unchanged, and the target reports the op it cannot run. A sequence or optional the graph
returns becomes the tensors it holds; `output_structure` tells the backend how to rebuild it.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DlcError
from ..ir import OPS, DType, Graph, Node, TensorType, Value
from ..ir.graph import unique_name
from ..ir.ops import InferCtx
from ..ir.ops.shape_slicing import split_sizes
from ..ir.types import OptionalType, SequenceType
from .cleanup import dce
from .fold import NOT_FOLDABLE, FoldPolicy, fold_node
from .manager import Pass, PassContext, register_pass
from .rewrite import has_side_effects

MAX_NODES = 50_000  # nodes one unrolling may create, whatever the trip counts multiply to
SEQUENCE_OPS = frozenset({"SequenceConstruct", "SequenceEmpty", "SequenceInsert", "SequenceErase",
                          "SequenceAt", "SequenceLength", "SplitToSequence", "ConcatFromSequence",
                          "Optional", "OptionalHasElement", "OptionalGetElement"})
CONTROL_OPS = frozenset({"Loop", "Scan", "If"})


class Cannot(Exception):
    """Why this graph stays as it is."""


@dataclass(frozen=True)
class SeqOf:
    """A sequence whose elements are known values."""

    items: tuple[Value, ...]


@dataclass(frozen=True)
class OptOf:
    """An optional whose presence is known: its value, or None."""

    item: Value | SeqOf | None


Binding = Value | SeqOf | OptOf


class Unroller:
    """One walk over a graph: every value is bound to what it now is (a value of the new graph, or
    a known sequence/optional); bodies are inlined in scopes of their own."""

    def __init__(self, graph: Graph, max_iterations: int):
        self.graph, self.max_iterations = graph, max_iterations
        self.consts: dict[Value, np.ndarray] = dict(graph.constants)
        self.new_consts: dict[Value, np.ndarray] = {}
        self.const_cache: dict[tuple[str, tuple[int, ...], bytes], Value] = {}
        self.body_consts: dict[Value, Value] = {}
        self.nodes: list[Node] = []
        self.scopes: list[dict[Value, Binding]] = [{}]
        self.taken = {v.name for v in [*graph.inputs, *graph.constants]}
        for n in graph.walk():
            self.taken.update(o.name for o in n.outputs)
        for n in graph.nodes:
            for sg in n.subgraphs():
                self.taken.update(v.name for v in [*sg.inputs, *sg.constants])
        self.created = 0
        self.fold = FoldPolicy()

    # -- values ------------------------------------------------------------------------------
    def lookup(self, v: Value) -> Binding:
        for scope in reversed(self.scopes):
            if v in scope:
                return scope[v]
        return v

    def const(self, arr: np.ndarray, name: str) -> Value:
        arr = np.asarray(arr)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        v = self.const_cache.get(key)
        if v is None:
            v = Value(unique_name(name, self.taken), TensorType(DType.from_np(arr.dtype),
                                                                tuple(arr.shape)))
            self.new_consts[v] = self.consts[v] = arr
            self.const_cache[key] = v
        return v

    def ints(self, values: Sequence[int], name: str = "axes") -> Value:
        return self.const(np.array(list(values), dtype=np.int64), name)

    def value_of(self, b: Binding | None) -> np.ndarray | None:
        return self.consts.get(b) if isinstance(b, Value) else None

    def scalar_of(self, b: Binding | None, what: str) -> Any:
        arr = self.value_of(b)
        if arr is None or arr.size != 1:
            raise Cannot(f"{what} is not known at compile time")
        return arr.reshape(-1)[0]

    # -- nodes -------------------------------------------------------------------------------
    def emit(self, op: str, inputs: Sequence[Value | None], attrs: Any = None, name: str = "",
             out_names: Sequence[str] = (), num_outputs: int = 1, reuse: bool = False
             ) -> list[Value]:
        """A new node (its types inferred from its inputs now); outputs that fold are constants.
        With `reuse`, outputs take `out_names` as they are (the values they replace leave)."""
        for v in inputs:
            if v is not None and not isinstance(v.type, TensorType):
                raise Cannot(f"{op} node '{name}' reads {v.type} '%{v.name}'")
        d = OPS[op]
        if attrs is None and d.attrs is not None:
            attrs = d.make_attrs()
        n_out = len(out_names) or num_outputs
        types = [None if v is None else v.type for v in inputs]
        values = [None if v is None else self.consts.get(v) for v in inputs]
        try:
            out_types = d.infer(InferCtx(op, attrs, types, values, n_out, name))[:n_out]
        except DlcError as e:
            raise Cannot(str(e)) from None
        names = list(out_names) or [name or op.lower()] * n_out
        outs = [Value(nm if reuse else unique_name(nm, self.taken), t)
                for nm, t in zip(names, out_types)]
        node = Node(op, list(inputs), outs, attrs, name)
        self.created += 1
        if self.created > MAX_NODES:
            raise Cannot(f"unrolling would create more than {MAX_NODES} nodes")
        folded = fold_node(node, self.consts, self.fold) or {}
        result = list(outs)
        for i, arr in folded.items():
            c = Value(outs[i].name, outs[i].type)
            self.new_consts[c] = self.consts[c] = arr
            outs[i].name = unique_name(f"{outs[i].name}_unfolded", self.taken)
            result[i] = c
        if len(folded) < len(outs):
            self.nodes.append(node)
        return result

    def visit(self, n: Node) -> list[Binding]:
        args = [None if v is None else self.lookup(v) for v in n.inputs]
        handler = HANDLERS.get(n.op)
        if handler is not None:
            outs = handler(self, n, args)
        elif len(self.scopes) == 1 and all(a is v for a, v in zip(args, n.inputs)):
            if any(True for _ in n.subgraphs()):
                raise Cannot(f"{n.op} node '{n.name}' has a body this pass does not inline")
            self.nodes.append(n)  # nothing it reads has changed: it stays as it is
            outs = list(n.outputs)
        else:
            outs = list(self.generic(n, args))
        if len(outs) != len(n.outputs):
            raise Cannot(f"{n.op} node '{n.name}' gave {len(outs)} of {len(n.outputs)} outputs")
        for o, b in zip(n.outputs, outs):
            self.scopes[-1][o] = b
        return outs

    def generic(self, n: Node, args: Sequence[Binding | None]) -> list[Value]:
        if any(True for _ in n.subgraphs()):
            raise Cannot(f"{n.op} node '{n.name}' has a body this pass does not inline")
        return self.emit(n.op, [tensor(a, n) for a in args], n.attrs, n.name,
                         [o.name for o in n.outputs], reuse=len(self.scopes) == 1)

    def inline(self, body: Graph, args: Sequence[Binding]) -> list[Binding]:
        """`body`'s nodes once, its inputs bound to `args`; returns what its outputs are."""
        if len(args) != len(body.inputs):
            raise Cannot(f"body @{body.name} takes {len(body.inputs)} inputs, got {len(args)}")
        scope: dict[Value, Binding] = dict(zip(body.inputs, args))
        for v, arr in body.constants.items():
            if v not in self.body_consts:  # one constant of the graph for every iteration
                self.body_consts[v] = self.const(arr, v.name)
            scope[v] = self.body_consts[v]
        self.scopes.append(scope)
        try:
            for n in body.nodes:
                self.visit(n)
            return [self.lookup(v) for v in body.outputs]
        finally:
            self.scopes.pop()

    def stack(self, parts: Sequence[Binding], axis: int, name: str) -> Value:
        """np.stack(parts, axis) as Unsqueeze and Concat."""
        pieces = [self.emit("Unsqueeze", [tensor(p), self.ints([axis])], name=name)[0]
                  for p in parts]
        if len(pieces) == 1:
            return pieces[0]
        return self.emit("Concat", pieces, OPS["Concat"].make_attrs(axis=axis), name=name)[0]

    # -- the whole graph -----------------------------------------------------------------------
    def run(self) -> None:
        g = self.graph
        for v in g.inputs:
            if not isinstance(v.type, TensorType):
                raise Cannot(f"the graph's input '%{v.name}' is a {v.type}")
        original = {*g.inputs, *g.constants, *(o for n in g.nodes for o in n.outputs)}
        for n in g.nodes:
            self.visit(n)
        # a sequence or optional output becomes the tensors it holds; its structure is kept
        # beside the graph (output_structure) for the backend to rebuild it
        outputs, olds, structure = [], [], []
        for old in g.outputs:
            shape, flat = _flatten(self.lookup(old))
            structure.append(shape)
            outputs.extend(flat)
            olds.extend([old] * len(flat))
        renames: dict[Value, str] = {}
        for k, (old, new) in enumerate(zip(olds, outputs)):
            tensor_out = isinstance(old.type, TensorType)
            name = old.name if tensor_out else unique_name(f"{old.name}.{k}", self.taken)
            self.taken.add(name)
            if new is old or new.name == name:
                continue
            if new in original or new in renames or outputs.count(new) > 1 or not tensor_out:
                outputs[k] = self.emit("Identity", [new], name=name, out_names=[name],
                                       reuse=True)[0]
            else:
                renames[new] = name  # the graph's output names are its interface
        # Nothing of the graph changes before this point: a Cannot leaves it as it was.
        for v, name in renames.items():
            v.name = name
        g.nodes, g.outputs = self.nodes, outputs
        g.constants.update(self.new_consts)
        if any(s != TENSOR for s in structure):
            _STRUCTURE[g] = structure
        dce(g)


TENSOR = "tensor"
Structure = Any  # TENSOR, ("seq", [Structure, ...]) or ("opt", Structure | None)
_STRUCTURE: weakref.WeakKeyDictionary[Graph, list[Structure]] = weakref.WeakKeyDictionary()


def output_structure(graph: Graph) -> list[Structure] | None:
    """For a graph whose sequence/optional outputs `unroll` flattened into tensors: each original
    output's structure (see `rebuild`); None when every output is a tensor."""
    return _STRUCTURE.get(graph)


def _flatten(b: Binding | None) -> tuple[Structure, list[Value]]:
    if isinstance(b, SeqOf):
        parts = [_flatten(item) for item in b.items]
        return ("seq", [p[0] for p in parts]), [v for p in parts for v in p[1]]
    if isinstance(b, OptOf):
        if b.item is None:
            return ("opt", None), []
        inner, flat = _flatten(b.item)
        return ("opt", inner), flat
    return TENSOR, [tensor(b)]


def rebuild(structure: list[Structure], flat: Sequence[Any]) -> list[Any]:
    """The original outputs from the flat tensors a program returned."""
    it = iter(flat)

    def one(s: Structure) -> Any:
        if s == TENSOR:
            return next(it)
        kind, inner = s
        if kind == "seq":
            return [one(x) for x in inner]
        return None if inner is None else one(inner)
    return [one(s) for s in structure]


def tensor(b: Binding | None, n: Node | None = None) -> Value:
    if isinstance(b, Value) and isinstance(b.type, TensorType):
        return b
    who = f"{n.op} node '{n.name}'" if n is not None else "a graph output"
    raise Cannot(f"{who} needs a tensor where there is {b}")


def impure(g: Graph) -> bool:
    return any(has_side_effects(n) or n.op in NOT_FOLDABLE for n in g.walk())


# -- control flow ----------------------------------------------------------------------------

def unroll_loop(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    body = n.attrs.body
    n_state = len(body.inputs) - 2
    n_scan = len(body.outputs) - 1 - n_state
    trip, cond, states = args[0], args[1] if len(args) > 1 else None, list(args[2:])
    if n_state < 0 or n_scan < 0 or len(states) != n_state or any(s is None for s in states):
        raise Cannot(f"Loop node '{n.name}' does not fit its body")
    limit = None if trip is None else int(u.scalar_of(trip, f"the trip count of '{n.name}'"))
    going = True if cond is None else bool(u.scalar_of(cond, f"the condition of '{n.name}'"))
    scans: list[list[Binding]] = [[] for _ in range(n_scan)]
    i = 0
    while going and (limit is None or i < limit):
        if i >= u.max_iterations:
            raise Cannot(f"Loop node '{n.name}' runs more than {u.max_iterations} iterations")
        outs = u.inline(body, [u.const(np.array(i, np.int64), "iteration"),
                               u.const(np.array(going), "cond"), *states])  # type: ignore[list-item]
        going = bool(u.scalar_of(outs[0], f"the condition '{n.name}' computes"))
        states = list(outs[1:1 + n_state])
        for k in range(n_scan):
            scans[k].append(outs[1 + n_state + k])
        i += 1
    if n_scan and i == 0:
        raise Cannot(f"Loop node '{n.name}' runs no iteration: its scan outputs have no values")
    stacked = [u.stack(parts, 0, n.name) for parts in scans]
    return [*states, *stacked]  # type: ignore[list-item]


def _nth(values: tuple[int, ...] | None, k: int) -> int:
    return values[k] if values is not None and k < len(values) else 0


def unroll_scan(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    a = n.attrs
    body = a.body
    n_state = len(args) - a.num_scan_inputs
    n_out = len(body.outputs) - n_state
    states: list[Binding] = [tensor(s, n) if not isinstance(s, (SeqOf, OptOf)) else s
                             for s in args[:n_state]]  # type: ignore[misc]
    xs = [tensor(x, n) for x in args[n_state:]]
    if n_state < 0 or n_out < 0 or not xs:
        raise Cannot(f"Scan node '{n.name}' does not fit its body")
    axes, lengths = [], set()
    for k, x in enumerate(xs):
        xt = x.type
        assert isinstance(xt, TensorType)
        axis = _nth(a.scan_input_axes, k) % max(xt.rank, 1)
        if not xt.is_static or xt.rank == 0:
            raise Cannot(f"Scan node '{n.name}': scan input {k} is {xt}")
        axes.append(axis)
        lengths.add(xt.static_shape[axis])
    steps = lengths.pop()
    if lengths or not 0 < steps <= u.max_iterations:
        raise Cannot(f"Scan node '{n.name}' has scan lengths other than 1..{u.max_iterations}")
    collected: list[list[Binding]] = [[] for _ in range(n_out)]
    for step in range(steps):
        slices: list[Binding] = []
        for k, x in enumerate(xs):
            at = steps - 1 - step if _nth(a.scan_input_directions, k) == 1 else step
            gather = OPS["Gather"].make_attrs(axis=axes[k])
            slices.append(u.emit("Gather", [x, u.const(np.array(at, np.int64), "step")],
                                 gather, n.name)[0])
        outs = u.inline(body, [*states, *slices])
        states = list(outs[:n_state])
        for k in range(n_out):
            collected[k].append(outs[n_state + k])
    results = []
    for k, parts in enumerate(collected):
        if _nth(a.scan_output_directions, k) == 1:
            parts = parts[::-1]
        rank = tensor(parts[0], n).type.rank  # type: ignore[union-attr]
        results.append(u.stack(parts, _nth(a.scan_output_axes, k) % (rank + 1), n.name))
    return [*states, *results]


def unroll_if(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    a = n.attrs
    cond = tensor(args[0], n)
    known = u.value_of(cond)
    if known is not None:
        return u.inline(a.then_branch if bool(known.reshape(-1)[0]) else a.else_branch, [])
    if impure(a.then_branch) or impure(a.else_branch):
        raise Cannot(f"If node '{n.name}' has a branch with side effects")
    then, other = u.inline(a.then_branch, []), u.inline(a.else_branch, [])
    t = cond.type
    assert isinstance(t, TensorType)
    if t.rank:  # one element of any rank: Where must not broadcast it
        cond = u.emit("Reshape", [cond, u.ints([], "shape")], name=n.name)[0]
    outs: list[Binding] = []
    for k, (x, y) in enumerate(zip(then, other)):
        x, y = tensor(x, n), tensor(y, n)
        if x.type != y.type or not x.type.is_static:  # type: ignore[union-attr]
            raise Cannot(f"If node '{n.name}': output {k} is {x.type} or {y.type}")
        outs.append(x if x is y else u.emit("Where", [cond, x, y], name=n.name)[0])
    return outs


# -- sequences and optionals -----------------------------------------------------------------

def _seq(b: Binding | None, n: Node) -> SeqOf:
    if not isinstance(b, SeqOf):
        raise Cannot(f"{n.op} node '{n.name}' reads a sequence not known at compile time")
    return b


def _position(u: Unroller, b: Binding | None, size: int, default: int, extra: int,
              n: Node) -> int:
    """The reference's position into a sequence of `size` (negative from the end)."""
    p = default if b is None else int(u.scalar_of(b, f"the position of '{n.name}'"))
    if not -size <= p < size + extra:
        raise Cannot(f"{n.op} node '{n.name}': position {p} is out of range")
    return p + size if p < 0 else p


def seq_construct(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    return [SeqOf(tuple(tensor(a, n) for a in args))]


def seq_empty(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    return [SeqOf(())]


def seq_insert(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    items = list(_seq(args[0], n).items)
    pos = _position(u, args[2] if len(args) > 2 else None, len(items), len(items), 1, n)
    items.insert(pos, tensor(args[1], n))
    return [SeqOf(tuple(items))]


def seq_erase(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    items = list(_seq(args[0], n).items)
    del items[_position(u, args[1] if len(args) > 1 else None, len(items), len(items) - 1, 0, n)]
    return [SeqOf(tuple(items))]


def seq_at(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    items = _seq(args[0], n).items
    return [items[_position(u, args[1], len(items), 0, 0, n)]]


def seq_length(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    return [u.const(np.array(len(_seq(args[0], n).items), np.int64), "length")]


def split_to_sequence(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    x = tensor(args[0], n)
    t = x.type
    assert isinstance(t, TensorType)
    if not t.is_static or t.rank == 0:
        raise Cannot(f"SplitToSequence node '{n.name}' splits {t}")
    axis = n.attrs.axis % t.rank
    dim = t.static_shape[axis]
    split = args[1] if len(args) > 1 else None
    if split is None:
        sizes: list[int] | None = [1] * dim
    else:
        s = u.value_of(split)
        if s is None:
            raise Cannot(f"SplitToSequence node '{n.name}': its split is not known")
        if s.ndim == 0:
            sizes = split_sizes(dim, -(-dim // int(s)), uneven=True) if int(s) > 0 else None
        else:
            sizes = [int(k) for k in s]
    if not sizes or sum(sizes) != dim:
        raise Cannot(f"SplitToSequence node '{n.name}' cannot split {dim} by {split}")
    pieces, start = [], 0
    for size in sizes:
        p = u.emit("Slice", [x, u.ints([start], "starts"), u.ints([start + size], "ends"),
                             u.ints([axis])], name=n.name)[0]
        if split is None and not n.attrs.keepdims:
            p = u.emit("Squeeze", [p, u.ints([axis])], name=n.name)[0]
        pieces.append(p)
        start += size
    return [SeqOf(tuple(pieces))]


def concat_from_sequence(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    items = _seq(args[0], n).items
    if not items:
        raise Cannot(f"ConcatFromSequence node '{n.name}' reads an empty sequence")
    t = items[0].type
    assert isinstance(t, TensorType)
    if n.attrs.new_axis:
        return [u.stack(items, n.attrs.axis % (t.rank + 1), n.name)]
    concat = OPS["Concat"].make_attrs(axis=n.attrs.axis % max(t.rank, 1))
    return u.emit("Concat", list(items), concat, n.name)  # type: ignore[return-value]


def optional(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    x = args[0] if args else None
    if isinstance(x, OptOf):
        raise Cannot(f"Optional node '{n.name}' wraps an optional")
    return [OptOf(x)]


def optional_has_element(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    x = args[0] if args else None
    present = x is not None and not (isinstance(x, OptOf) and x.item is None)
    return [u.const(np.array(present), "has_element")]


def optional_get_element(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    x = args[0] if args else None
    item = x.item if isinstance(x, OptOf) else x
    if item is None:
        raise Cannot(f"OptionalGetElement node '{n.name}' reads an empty optional")
    if isinstance(item, Value) and isinstance(item.type, (SequenceType, OptionalType)):
        raise Cannot(f"OptionalGetElement node '{n.name}' reads {item.type}")
    return [item]


def identity(u: Unroller, n: Node, args: list[Binding | None]) -> list[Binding]:
    if isinstance(args[0], (SeqOf, OptOf)):
        return [args[0]]
    if len(u.scopes) == 1 and args[0] is n.inputs[0]:
        u.nodes.append(n)
        return list(n.outputs)
    return list(u.generic(n, args))


Handler = Callable[[Unroller, Node, list[Binding | None]], list[Binding]]
HANDLERS: dict[str, Handler] = {
    "Loop": unroll_loop, "Scan": unroll_scan, "If": unroll_if,
    "SequenceConstruct": seq_construct, "SequenceEmpty": seq_empty,
    "SequenceInsert": seq_insert, "SequenceErase": seq_erase, "SequenceAt": seq_at,
    "SequenceLength": seq_length, "SplitToSequence": split_to_sequence,
    "ConcatFromSequence": concat_from_sequence, "Optional": optional,
    "OptionalHasElement": optional_has_element, "OptionalGetElement": optional_get_element,
    "Identity": identity,
}


@register_pass
@dataclass(frozen=True)
class Unroll(Pass):
    """Inline Loop/Scan bodies of known trip counts, select If branches, resolve sequences."""

    name = "unroll"
    summary = "unroll loops and scans of known length, If into Where, sequences into tensors"
    max_iterations: int = 256

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        ops = {n.op for n in graph.nodes}
        if not ops & (CONTROL_OPS | SEQUENCE_OPS):
            return graph
        try:
            Unroller(graph, self.max_iterations).run()
        except Cannot:
            pass  # nothing of the graph was touched before the walk finished
        return graph

"""fuse: group graph nodes that should run as one kernel, by a table of rules over op kinds.

An op's kind comes from its traits, for nodes whose compute definition `lower` can use:
element-wise, injective (data movement, gathers), reduction (reductions, pooling, softmax,
normalizations) or contraction (Conv, Gemm, MatMul, Einsum); anything else is opaque and stays
alone. Nodes are visited in order; a node joins the group of a producer when a rule of
FUSION_RULES takes (producer group's kind, node's kind) and the way the node reads the group's
value; other producer groups with no anchor that only it reads come along.

A group of two or more nodes becomes a Fused node holding them as its body (ir/ops/fused.py).
Keeping the group in the IR, rather than in annotations beside it, means it prints and parses
with the rest, the verifier checks it, the reference interpreter runs it unchanged, later passes
(canonicalize, lower) see it as one node, and `flatten_groups` gives a drawing its clusters.
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ..errors import DlcError
from ..ir import OPS, Graph, Node, TensorType, Value
from ..ir.compute import NoCompute
from ..ir.graph import reads
from ..ir.ops.fused import FusedAttrs
from .lower import node_compute, static_problem
from .manager import Pass, PassContext, register_pass


class OpKind(enum.StrEnum):
    ELEMENTWISE = "elementwise"
    INJECTIVE = "injective"
    REDUCTION = "reduction"
    CONTRACTION = "contraction"
    OPAQUE = "opaque"


class GroupKind(enum.StrEnum):
    """What a group is anchored on: nothing (element-wise and injective ops only), reductions,
    or one contraction."""

    INJECTIVE = "injective"
    REDUCTION = "reduction"
    CONTRACTION = "contraction"


# Injective ops that only move data: a contraction may read through them (no arithmetic to
# repeat for every element of its other operand).
DATA_MOVEMENT = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity",
                           "Expand", "Slice", "Pad", "DepthToSpace", "SpaceToDepth", "Tile"})

Read = Callable[[Value, Node], bool]


def any_read(v: Value, n: Node) -> bool:
    return True


def same_shape(v: Value, n: Node) -> bool:
    """The node reads `v` at its own index (v has the shape of the node's result)."""
    return _shape(v) is not None and _shape(v) == _shape(n.outputs[0])


def kept_axes(v: Value, n: Node) -> bool:
    """The node reads `v` at its own index, or broadcast along axes `v` kept with size 1 (a
    reduction with keepdims read by an element-wise op: a softmax or normalization spelled out)."""
    a, b = _shape(v), _shape(n.outputs[0])
    return a is not None and b is not None and len(a) == len(b) and all(
        x == y or x == 1 for x, y in zip(a, b))


def _shape(v: Value) -> tuple[int, ...] | None:
    t = v.type
    return t.static_shape if isinstance(t, TensorType) and t.is_static else None


@dataclass(frozen=True)
class FusionRule:
    """A node of a kind in `node` joins a producer's group of a kind in `group` (which then is
    of kind `becomes`) when it reads each value of that group as `read` allows; with
    `only_reader`, nothing else may read those values; with `moving_only`, the group must
    consist of data-movement ops."""

    name: str
    group: frozenset[GroupKind]
    node: frozenset[OpKind]
    becomes: GroupKind
    read: Read = any_read
    only_reader: bool = True
    moving_only: bool = False


def rule(name: str, group: Iterable[GroupKind], node: Iterable[OpKind], becomes: GroupKind,
         read: Read = any_read, only_reader: bool = True, moving_only: bool = False
         ) -> FusionRule:
    return FusionRule(name, frozenset(group), frozenset(node), becomes, read, only_reader,
                      moving_only)


G, K = GroupKind, OpKind
FUSION_RULES: tuple[FusionRule, ...] = (
    # Conv/Gemm/MatMul -> bias, activation, residual add: applied to each result as it is made
    # (a result others read too is stored by the same loop nest)
    rule("contraction-epilogue", [G.CONTRACTION], [K.ELEMENTWISE], G.CONTRACTION, same_shape,
         only_reader=False),
    # reduction, pooling, softmax, normalization -> element-wise ops on its result
    rule("reduction-epilogue", [G.REDUCTION], [K.ELEMENTWISE], G.REDUCTION, kept_axes,
         only_reader=False),
    # element-wise and injective chains into their producer (values others read stay stored)
    rule("injective-chain", [G.INJECTIVE], [K.ELEMENTWISE, K.INJECTIVE], G.INJECTIVE,
         only_reader=False),
    # element-wise / injective producers -> a reduction reading them (exp -> sum, x*x -> mean)
    rule("reduction-prologue", [G.INJECTIVE], [K.REDUCTION], G.REDUCTION),
    # reduction -> a reduction of its result (max -> sub -> exp -> sum: a softmax spelled out;
    # its exp is also read by the division that joins next)
    rule("reduction-chain", [G.REDUCTION], [K.REDUCTION], G.REDUCTION, only_reader=False),
    # transpose / reshape / pad -> a contraction reading through them
    rule("contraction-prologue", [G.INJECTIVE], [K.CONTRACTION], G.CONTRACTION,
         moving_only=True),
)
RULES_BY_NAME = {r.name: r for r in FUSION_RULES}
_ANCHOR = {K.ELEMENTWISE: G.INJECTIVE, K.INJECTIVE: G.INJECTIVE, K.REDUCTION: G.REDUCTION,
           K.CONTRACTION: G.CONTRACTION}


def op_kind(node: Node, consts: dict[Value, np.ndarray]) -> OpKind:
    """The kind fusion sees: from the op's traits, if lowering can use its compute definition
    for this node (static shapes, attributes it covers); else opaque."""
    d = OPS.get(node.op)
    if d is None or d.compute is None or any(True for _ in node.subgraphs()):
        return K.OPAQUE
    if static_problem(node) is not None:
        return K.OPAQUE
    try:
        node_compute(node, consts)
    except NoCompute:
        return K.OPAQUE
    for trait in ("contraction", "reduction", "elementwise", "injective"):
        if trait in d.traits:
            return OpKind(trait)
    return K.OPAQUE


@dataclass(eq=False)
class Group:
    """Nodes that will run as one kernel (in graph order), what anchors them, and the rules
    that formed the group."""

    nodes: list[Node]
    kind: GroupKind | None          # None: an opaque node on its own
    moving_only: bool
    rules: list[str] = field(default_factory=list)


@register_pass
@dataclass(frozen=True)
class Fuse(Pass):
    """Group nodes into Fused nodes by the rule table (see the module docstring)."""

    name = "fuse"
    summary = "group element-wise chains, epilogues, prologues and reductions into Fused nodes"

    rules: tuple[str, ...] = ()   # the rules to use, by name (default: all of FUSION_RULES)
    max_nodes: int = 32           # the most nodes one group takes

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        unknown = [r for r in self.rules if r not in RULES_BY_NAME]
        if unknown:
            raise DlcError(f"fuse: no rule {', '.join(unknown)}; rules are "
                           f"{', '.join(RULES_BY_NAME)}")
        table = tuple(RULES_BY_NAME[r] for r in self.rules) if self.rules else FUSION_RULES
        fuse(graph, table, self.max_nodes)
        return graph


def fuse(graph: Graph, rules: tuple[FusionRule, ...] = FUSION_RULES,
         max_nodes: int = 32) -> Graph:
    """Fuse `graph` in place (and return it)."""
    groups = [g for g in _Grouper(graph, rules, max_nodes).run() if len(g.nodes) > 1]
    if groups:
        _make_fused(graph, groups)
        graph.topo_sort()
    return graph


class _Grouper:
    def __init__(self, graph: Graph, rules: tuple[FusionRule, ...], max_nodes: int):
        self.graph, self.rules, self.max_nodes = graph, rules, max_nodes
        self.index = {n: k for k, n in enumerate(graph.nodes)}
        self.producer = graph.producers()
        self.readers: dict[Value, set[Node]] = {}
        for n in graph.nodes:
            for v in reads(n):
                self.readers.setdefault(v, set()).add(n)
        self.outputs = set(graph.outputs)
        self.group_of: dict[Node, Group] = {}

    def run(self) -> list[Group]:
        for n in self.graph.nodes:
            kind = op_kind(n, self.graph.constants)
            if kind is K.OPAQUE:
                self.group_of[n] = Group([n], None, False)
                continue
            g = self.join(n, kind) or Group([n], _ANCHOR[kind], n.op in DATA_MOVEMENT)
            self.group_of[n] = g
            self.absorb(n, kind, g)
        return list(dict.fromkeys(self.group_of[n] for n in self.graph.nodes))

    def producer_groups(self, n: Node) -> list[Group]:
        out: list[Group] = []
        for v in n.inputs:
            p = self.producer.get(v) if v is not None else None
            g = self.group_of.get(p) if p is not None else None
            if g is not None and g.kind is not None and g not in out:
                out.append(g)
        return out

    def values_read(self, n: Node, g: Group) -> list[Value]:
        mine = {o for m in g.nodes for o in m.outputs}
        return [v for v in n.inputs if v is not None and v in mine]

    def fits(self, r: FusionRule, g: Group, n: Node, kind: OpKind, members: set[Node]) -> bool:
        if g.kind not in r.group or kind not in r.node or (r.moving_only and not g.moving_only):
            return False
        for v in self.values_read(n, g):
            if not r.read(v, n):
                return False
            if r.only_reader and (v in self.outputs or not self.readers.get(v, set()) <= members):
                return False
        return True

    def join(self, n: Node, kind: OpKind) -> Group | None:
        """The producer group `n` joins, by the first rule that takes it."""
        for r in self.rules:
            for g in self.producer_groups(n):
                if len(g.nodes) >= self.max_nodes:
                    continue
                members = set(g.nodes) | {n}
                if self.fits(r, g, n, kind, members) and not self.cycle(members):
                    g.nodes.append(n)
                    g.kind = r.becomes
                    g.moving_only = g.moving_only and n.op in DATA_MOVEMENT
                    if r.name not in g.rules:
                        g.rules.append(r.name)
                    return g
        return None

    def absorb(self, n: Node, kind: OpKind, g: Group) -> None:
        """Other producer groups without an anchor that only `g` reads join it too."""
        for p in self.producer_groups(n):
            if p is g or p.kind is not G.INJECTIVE or len(g.nodes) + len(p.nodes) > self.max_nodes:
                continue
            members = set(g.nodes) | set(p.nodes)
            internal = all(o not in self.outputs and self.readers.get(o, set()) <= members
                           for m in p.nodes for o in m.outputs)
            r = next((r for r in self.rules if self.fits(r, p, n, kind, members)), None)
            if r is None or not internal or self.cycle(members):
                continue
            g.nodes[:0] = p.nodes
            g.nodes.sort(key=self.index.__getitem__)
            for m in p.nodes:
                self.group_of[m] = g
            g.moving_only = g.moving_only and p.moving_only
            for name in p.rules + [r.name]:
                if name not in g.rules:
                    g.rules.append(name)

    def cycle(self, members: set[Node]) -> bool:
        """Whether some path leaves `members` and comes back, the groups formed so far each
        taken as one node (the group could not run as one node after them). Nodes are grouped
        in order, so every group holds nodes before the newest member only: a path through a
        later node never comes back."""
        last = max(self.index[m] for m in members)
        todo = [u for m in members for o in m.outputs for u in self.readers.get(o, ())
                if u not in members and self.index[u] < last]
        seen: set[Node] = set()
        while todo:
            u = todo.pop()
            if u in seen:
                continue
            g = self.group_of.get(u)
            mates = g.nodes if g is not None else [u]
            seen.update(mates)
            for m in mates:
                for o in m.outputs:
                    for w in self.readers.get(o, ()):
                        if w in members:
                            return True
                        if w not in seen and self.index[w] < last:
                            todo.append(w)
        return False


def _make_fused(graph: Graph, groups: list[Group]) -> None:
    """Replace each group's nodes by one Fused node holding them."""
    home: dict[Node, int] = {n: k for k, g in enumerate(groups) for n in g.nodes}
    owner: dict[Value, int] = {o: k for k, g in enumerate(groups) for n in g.nodes
                               for o in n.outputs}
    outside: dict[Value, bool] = {v: True for v in graph.outputs}
    for n in graph.nodes:
        for v in reads(n):
            if v in owner and owner[v] != home.get(n):
                outside[v] = True
    swap: dict[Value, Value] = {}
    fused_at: dict[Node, Node] = {}
    for g in groups:
        produced = {o for n in g.nodes for o in n.outputs}
        inner_outs = [o for n in g.nodes for o in n.outputs if outside.get(o)]
        ins = list(dict.fromkeys(v for n in g.nodes for v in reads(n) if v not in produced))
        body = Graph(_body_name(g.nodes), [], inner_outs, {}, list(g.nodes))
        outs = [Value(o.name, o.type) for o in inner_outs]
        anchor = next((n for n in g.nodes if OPS[n.op].traits & {"contraction", "reduction"}),
                      g.nodes[0])
        attrs = FusedAttrs(body, "+".join(g.rules))
        fused_at[g.nodes[-1]] = Node("Fused", list[Value | None](ins), outs, attrs, anchor.name)
        swap.update(zip(inner_outs, outs))
    graph.nodes = [fused_at.get(n, n) for n in graph.nodes if n in fused_at or n not in home]

    def outer(v: Value | None, where: int | None) -> Value | None:
        if v is None or v not in swap or owner[v] == where:
            return v
        return swap[v]

    for n in graph.walk():
        where = home.get(n)
        n.inputs = [outer(v, where) for v in n.inputs]
        if n.op != "Fused":
            for sg in n.subgraphs():
                sg.outputs = [swap.get(v, v) for v in sg.outputs]
    graph.outputs = [swap.get(v, v) for v in graph.outputs]


def _body_name(nodes: list[Node]) -> str:
    ops = list(dict.fromkeys(n.op.lower() for n in nodes))
    return "_".join(ops[:4]) + ("_etc" if len(ops) > 4 else "")


def flatten_groups(graph: Graph) -> tuple[Graph, dict[int, int]]:
    """A flat copy of `graph`'s node list (Fused bodies spliced in place; values shared, nodes
    copied) and, for drawing.to_dot, the group of each node that came from a Fused node."""
    nodes: list[Node] = []
    groups: dict[int, int] = {}
    swap: dict[Value, Value] = {}

    def add(n: Node) -> None:
        nodes.append(Node(n.op, [swap.get(v, v) if v is not None else None for v in n.inputs],
                          n.outputs, n.attrs, n.name))

    for k, n in enumerate(graph.nodes):
        if n.op == "Fused" and isinstance(n.attrs.body, Graph):
            for m in n.attrs.body.nodes:
                groups[len(nodes)] = k
                add(m)
            swap.update(zip(n.outputs, n.attrs.body.outputs))
        else:
            add(n)
    flat = Graph(graph.name, list(graph.inputs), [swap.get(v, v) for v in graph.outputs],
                 dict(graph.constants), nodes)
    return flat, groups

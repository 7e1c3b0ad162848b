"""Rewrite rules as data, and the one driver that applies them.

A `Rule` is a pattern (pattern.py) and a function that builds what the matched node becomes; a
`RuleSet` is a list of rules that composes with `+`. `apply_rules` runs a greedy worklist over a
graph and its subgraphs to a fixed point: constant folding, rules, and dead-node removal.

A rule's function takes, by parameter name, the pattern's bindings, plus `b` (a `Rewriter` to build
nodes and constants) and `node` (the matched root). It returns the value that replaces the root's
output, a list (one per output; None for an output that must be unused), or None for "no rewrite".
A replacement must have exactly the type of what it replaces, or it is refused: rules may rely on
this to stay exact (x*1 -> x is only taken when the product did not broadcast x).
"""
from __future__ import annotations

import inspect
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DlcError
from ..ir import OPS, Graph, Node, TensorType, Type, Value
from ..ir.graph import unique_name
from ..ir.ops import InferCtx
from .fold import FoldPolicy, fold_node
from .pattern import MatchContext, OpPat

SPECIAL_PARAMS = ("b", "node")
Replacement = Value | Sequence[Value | None] | None


class NoRewrite(Exception):
    """Raised inside a rule's function to decline (e.g. an op it would build is not declared)."""


@dataclass(frozen=True)
class Rule:
    """One rewrite: `pattern` (rooted at a node) and `fn`, called with the bindings it names."""

    pattern: OpPat
    fn: Callable[..., Replacement]
    name: str = ""
    params: tuple[str, ...] = ()

    @staticmethod
    def make(pattern: OpPat, fn: Callable[..., Replacement], name: str = "") -> Rule:
        params = tuple(inspect.signature(fn).parameters)
        unknown = set(params) - pattern.names() - set(SPECIAL_PARAMS)
        if unknown:
            raise TypeError(f"rule function asks for {sorted(unknown)}, which the pattern does "
                            f"not bind (it binds {sorted(pattern.names())})")
        if not name:
            code = getattr(fn, "__code__", None)
            ops = "|".join(sorted(pattern.ops)) if pattern.ops else "*"
            name = f"{ops}@{code.co_firstlineno}" if code else ops
        return Rule(pattern, fn, name, params)


RuleLike = Rule | tuple[OpPat, Callable[..., Replacement]]


class RuleSet:
    """An ordered list of rules, indexed by root op; `a + b` tries a's rules before b's."""

    def __init__(self, rules: Iterable[RuleLike] = ()):
        self.rules: tuple[Rule, ...] = tuple(r if isinstance(r, Rule) else Rule.make(*r)
                                             for r in rules)
        self._by_op: dict[str, list[Rule]] = {}
        self._any_op: list[Rule] = []
        for r in self.rules:
            if r.pattern.ops is None:
                self._any_op.append(r)
            for op in r.pattern.ops or ():
                self._by_op.setdefault(op, []).append(r)

    def __add__(self, other: RuleSet) -> RuleSet:
        return RuleSet(self.rules + other.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def for_op(self, op: str) -> Iterator[Rule]:
        if not self._any_op:
            yield from self._by_op.get(op, ())
            return
        # keep declaration order between op-specific and any-op rules
        picked = set(map(id, self._by_op.get(op, ()))) | set(map(id, self._any_op))
        yield from (r for r in self.rules if id(r) in picked)


@dataclass
class RewriteStats:
    """What a driver run did: rule applications by rule name, folded nodes, erased nodes."""

    applied: Counter[str] = field(default_factory=Counter)
    folded: int = 0
    erased: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.applied) or self.folded > 0 or self.erased > 0


class Rewriter:
    """Handed to a rule's function as `b`: builds the nodes and constants of a replacement.

    Nothing reaches the graph until the driver accepts the replacement.
    """

    def __init__(self, driver: Driver, root: Node):
        self.driver, self.root = driver, root
        self.new_nodes: list[Node] = []
        self.new_consts: dict[Value, np.ndarray] = {}
        self.inlined: list[Graph] = []
        self.graph = driver.graph_of[root]

    def array(self, v: Value | None) -> np.ndarray | None:
        """The compile-time value of `v`, if it has one."""
        if v is None:
            return None
        return self.new_consts.get(v, self.driver.consts.get(v))

    def num_uses(self, v: Value) -> int:
        return self.driver.num_uses(v)

    def const(self, array: Any, like: Value | None = None, name: str = "") -> Value:
        """A new constant; with `like`, converted to like's dtype."""
        arr = np.asarray(array)
        if like is not None and isinstance(like.type, TensorType):
            arr = arr.astype(like.type.dtype.np)
        base = name or f"{self.root.name or self.root.op.lower()}_c"
        v = Value(self.driver.fresh(base), _type_of(arr))
        self.new_consts[v] = arr
        return v

    def inline(self, body: Graph) -> list[Value]:
        """Move the nodes of `body` (a subgraph of the root that takes no inputs) to before the
        root; returns body's outputs. The root must then be replaced entirely."""
        if body.inputs:
            raise NoRewrite("only subgraphs without inputs can be inlined")
        self.inlined.append(body)
        self.new_nodes.extend(body.nodes)
        return list(body.outputs)

    def emit(self, op: str, inputs: Sequence[Value | None], attrs: Any = None,
             num_outputs: int = 1, same_as: Value | None = None, **attr_values: Any) -> Value:
        """A new node; its output types come from the op table's rule. Returns output 0.

        `same_as` says the rule knows the result equals that value: where the inferred type
        differs from its type only by naming unknown dims differently, the node takes its type.
        """
        outs = self.emit_all(op, inputs, attrs, num_outputs, **attr_values)
        if same_as is not None and compatible(outs[0].type, same_as.type):
            outs[0].type = same_as.type
        return outs[0]

    def emit_all(self, op: str, inputs: Sequence[Value | None], attrs: Any = None,
                 num_outputs: int = 1, **attr_values: Any) -> list[Value]:
        d = OPS.get(op)
        if d is None:
            raise NoRewrite(f"op {op} is not declared")
        if attrs is None:
            attrs = d.make_attrs(**attr_values)
        elif attr_values:
            raise TypeError("give attrs or attribute values, not both")
        types = [None if v is None else v.type for v in inputs]
        values = [self.array(v) for v in inputs]
        name = self.root.name
        ctx = InferCtx(op, attrs, types, values, num_outputs, name)
        try:
            out_types = d.infer(ctx)[:num_outputs]
        except DlcError as e:
            raise NoRewrite(str(e)) from e
        node = Node(op, list(inputs), [Value(self.driver.fresh(name or op.lower()), t)
                                       for t in out_types], attrs, name)
        self.new_nodes.append(node)
        return node.outputs


def compatible(a: Type, b: Type) -> bool:
    """Same dtype and rank, and no two known dims differ (unknown dims may be named apart)."""
    if not isinstance(a, TensorType) or not isinstance(b, TensorType):
        return a == b
    return a.dtype == b.dtype and a.rank == b.rank and all(
        x == y or not isinstance(x, int) or not isinstance(y, int)
        for x, y in zip(a.shape, b.shape))


def _ident(text: str) -> str:
    return text.rstrip("/").rsplit("/", 1)[-1] or "v"


def _type_of(arr: np.ndarray) -> Type:
    from ..ir import DType
    return TensorType(DType.from_np(arr.dtype), tuple(arr.shape))


def has_side_effects(node: Node) -> bool:
    d = OPS.get(node.op)
    return d is None or "side_effects" in d.traits


class Driver(MatchContext):
    """Greedy worklist rewriting of one graph (and, through it, its subgraphs)."""

    def __init__(self, graph: Graph, rules: RuleSet, fold: FoldPolicy | None):
        self.top, self.rules, self.fold = graph, rules, fold
        self.consts: dict[Value, np.ndarray] = {}
        self.producers: dict[Value, Node] = {}
        self.users: dict[Value, list[Node]] = {}
        self.output_uses: Counter[Value] = Counter()
        self.graph_of: dict[Node, Graph] = {}
        self.graphs: list[Graph] = []
        self.names: set[str] = set()
        self.before: dict[Node, list[Node]] = {}
        self.dead: set[Node] = set()
        self.stats = RewriteStats()
        self.work: deque[Node] = deque()
        self.queued: set[Node] = set()
        self._index(graph)

    # -- MatchContext -------------------------------------------------------------------------
    def producer(self, v: Value) -> Node | None:
        return self.producers.get(v)

    def constant(self, v: Value) -> np.ndarray | None:
        return self.consts.get(v)

    def num_uses(self, v: Value) -> int:
        return len(self.users.get(v, ())) + self.output_uses[v]

    # -- bookkeeping ----------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """A value name not used anywhere in the graph: `base`, or `base_1`, `base_2`, ...

        Derived from the graph alone (not a global counter), so passes print the same text
        whatever ran before them."""
        return unique_name(_ident(base), self.names)

    def _index(self, g: Graph) -> None:
        self.graphs.append(g)
        self.names.update(v.name for v in g.inputs)
        self.names.update(v.name for v in g.constants)
        self.consts.update(g.constants)
        for v in g.outputs:
            self.output_uses[v] += 1
        for n in g.nodes:
            self._add_node(n, g)

    def _add_node(self, n: Node, g: Graph) -> None:
        self.graph_of[n] = g
        for o in n.outputs:
            self.producers[o] = n
            self.names.add(o.name)
        for v in n.inputs:
            if v is not None:
                self.users.setdefault(v, []).append(n)
        for sg in n.subgraphs():
            self._index(sg)
        self.push(n)

    def push(self, n: Node) -> None:
        if n not in self.queued and n not in self.dead:
            self.queued.add(n)
            self.work.append(n)

    def replace(self, old: Value, new: Value) -> None:
        """Every reader of `old` (nodes of any graph, graph outputs) reads `new` instead."""
        readers = self.users.pop(old, [])
        for n in dict.fromkeys(readers):
            n.inputs = [new if v is old else v for v in n.inputs]
            self.push(n)
        self.users.setdefault(new, []).extend(readers)
        if self.output_uses[old]:
            for g in self.graphs:
                g.outputs = [new if v is old else v for v in g.outputs]
            self.output_uses[new] += self.output_uses.pop(old)

    def erase_if_dead(self, n: Node) -> bool:
        if n in self.dead or has_side_effects(n) or any(self.num_uses(o) for o in n.outputs):
            return False
        self._erase(n)
        self.stats.erased += 1
        return True

    def _erase(self, n: Node) -> None:
        self.dead.add(n)
        for v in n.inputs:
            if v is None:
                continue
            readers = self.users.get(v, [])
            if n in readers:
                readers.remove(n)
            p = self.producers.get(v)
            if p is not None and not self.num_uses(v):
                self.push(p)
        for sg in n.subgraphs():
            for v in sg.outputs:
                self.output_uses[v] -= 1
                p = self.producers.get(v)
                if p is not None:
                    self.push(p)
            for inner in sg.nodes:
                if inner not in self.dead:
                    self._erase(inner)

    # -- the loop -------------------------------------------------------------------------------
    def run(self, max_steps: int) -> RewriteStats:
        steps = 0
        while self.work:
            n = self.work.popleft()
            self.queued.discard(n)
            if n in self.dead or self.erase_if_dead(n):
                continue
            steps += 1
            if steps > max_steps:
                raise DlcError(f"rewriting did not reach a fixed point after {max_steps} steps "
                               f"(last node: {n.op} '{n.name}'); a rule set loops")
            if self.fold is not None and self._try_fold(n) and n in self.dead:
                continue
            for rule in self.rules.for_op(n.op):
                if self._try_rule(rule, n):
                    break
        self._finish(self.top)
        return self.stats

    def _try_fold(self, n: Node) -> bool:
        assert self.fold is not None
        results = fold_node(n, self.consts, self.fold)
        live = {i: a for i, a in (results or {}).items() if self.num_uses(n.outputs[i])}
        if not live:
            return False
        g = self.graph_of[n]
        for i, arr in live.items():
            old = n.outputs[i]
            v = Value(old.name, old.type)
            g.constants[v] = arr
            self.consts[v] = arr
            self.replace(old, v)
        self.stats.folded += 1
        if not self.erase_if_dead(n):  # some outputs stay: names must remain unique
            for i in live:
                n.outputs[i].name = self.fresh(n.outputs[i].name)
        return True

    def _try_rule(self, rule: Rule, n: Node) -> bool:
        for binds in rule.pattern.match_node(n, self, {}):
            b = Rewriter(self, n)
            args = {p: b if p == "b" else n if p == "node" else binds.get(p) for p in rule.params}
            try:
                result = rule.fn(**args)
            except NoRewrite:
                continue
            if result is None:
                continue
            if self._commit(rule, n, b, result):
                return True
        return False

    def _commit(self, rule: Rule, n: Node, b: Rewriter, result: Replacement) -> bool:
        news = [result] if isinstance(result, Value) else list(result or [])
        if len(news) > len(n.outputs):
            raise DlcError(f"rule {rule.name} gave {len(news)} values for {len(n.outputs)} "
                           "outputs")
        news += [None] * (len(n.outputs) - len(news))
        pairs = []
        for old, new in zip(n.outputs, news):
            if new is None:
                if self.num_uses(old):
                    return False
            elif new is not old:
                if new.type != old.type:
                    return False
                pairs.append((old, new))
        if not pairs and not b.new_nodes:
            return False
        g = self.graph_of[n]
        g.constants.update(b.new_consts)
        self.consts.update(b.new_consts)
        moved = set()
        for body in b.inlined:
            moved.update(body.nodes)
            g.constants.update(body.constants)
            for v in body.outputs:
                self.output_uses[v] -= 1
            body.nodes, body.outputs, body.constants = [], [], {}
        self.before.setdefault(n, []).extend(b.new_nodes)
        for m in b.new_nodes:
            if m in moved:
                self.graph_of[m] = g
                self.push(m)
            else:
                self._add_node(m, g)
        for old, new in pairs:
            self.replace(old, new)
        self.stats.applied[rule.name] += 1
        self.erase_if_dead(n)
        return True

    def _finish(self, g: Graph) -> None:
        """Put new nodes before the node they replaced, drop dead nodes and unread constants."""
        out: list[Node] = []

        def place(n: Node) -> None:
            for m in self.before.get(n, ()):
                place(m)
            if n not in self.dead:
                out.append(n)

        for n in g.nodes:
            place(n)
        g.nodes = out
        for n in g.nodes:
            for sg in n.subgraphs():
                self._finish(sg)
        for v in [v for v in g.constants if not self.num_uses(v)]:
            del g.constants[v]


def apply_rules(graph: Graph, rules: RuleSet, *, fold: FoldPolicy | None = None,
                max_steps: int = 1_000_000) -> RewriteStats:
    """Rewrite `graph` in place with `rules` (and constant folding if `fold`) to a fixed point."""
    return Driver(graph, rules, fold).run(max_steps)

"""lower: every group of graph nodes becomes KernelCall nodes whose Kernels come from the op
table's compute definitions.

A Fused node (from the `fuse` pass) is one group; any other node is a group of its own. Its
compute definitions become loop nests (lower_kernel.py); the KernelCall nodes produce the very
values the group produced, so the rest of the graph is untouched. Ops without a compute
definition (or whose definition does not cover these attributes) use an explicit rule that the
backend registers with `lowering_rules(target)`; an op with neither is an UnsupportedOp naming
the op, the node and the target. Kernel-call nodes pass through. Lowering needs static shapes:
symbolic dims must be specialized first.

    rules = lowering_rules("cpu")

    @rules.register("TopK")
    def lower_topk(node: Node, attrs: TopKAttrs, types: list[Type | None]) -> Kernel: ...
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DlcError, UnsupportedOp
from ..ir import OPS, DType, Graph, Node, TensorType, Type, Value
from ..ir.compute import NoCompute, TensorArg, build_compute
from ..ir.graph import unique_name
from ..ir.kernel.stmt import Kernel
from ..ir.ops import InferCtx
from ..ir.ops.kernel_call import KernelCallAttrs
from ..options import Progress, progress_task
from .cleanup import dce
from .fold import FoldPolicy
from .lower_kernel import (
    GroupCompute,
    LoweredKernel,
    Schedule,
    Source,
    StageRef,
    check_outputs,
    identifier,
    lower_group,
)
from .manager import Pass, PassContext, register_pass
from .rewrite import RuleSet, apply_rules


@dataclass(frozen=True)
class RuleKernel:
    """What a rule may return instead of a bare Kernel: the kernel and constant arguments that
    follow the node's inputs (run-time operands made from attributes, such as a gate's qubit
    positions: one kernel then serves every node that differs only in them)."""

    kernel: Kernel
    constants: tuple[np.ndarray, ...] = ()


LoweringRule = Callable[[Node, Any, list[Type | None]], "Kernel | RuleKernel | None"]


class LoweringRules:
    """A target's explicit rules for ops without a compute definition. A rule takes the node,
    its attributes and its input types and returns a Kernel whose parameters bind to the
    node's present inputs in order, then one write-only buffer per output (or None: the rule
    does not cover these attributes); or a RuleKernel whose constants bind to parameters
    between the inputs and the outputs."""

    def __init__(self, target: str):
        self.target = target
        self.rules: dict[str, LoweringRule] = {}

    def register(self, op: str) -> Callable[[LoweringRule], LoweringRule]:
        """Decorator: `fn` lowers nodes of `op` for this target."""
        def add(fn: LoweringRule) -> LoweringRule:
            self.rules[op] = fn
            return fn
        return add

    def unregister(self, op: str) -> None:
        self.rules.pop(op, None)

    def get(self, op: str) -> LoweringRule | None:
        return self.rules.get(op)

    def __contains__(self, op: str) -> bool:
        return op in self.rules


_RULES: dict[str, LoweringRules] = {}


def lowering_rules(target: str) -> LoweringRules:
    """The explicit lowering rules of `target` (an empty set until its backend registers some)."""
    return _RULES.setdefault(target, LoweringRules(target))


def lowerable(node: Node, target: str, consts: dict[Value, np.ndarray] | None = None) -> bool:
    """Whether `lower` can turn `node` into kernels for `target` (a compute definition for its
    attributes and static types, or a rule, or a kernel call)."""
    if node.op == "KernelCall":
        return True
    if static_problem(node) is None:
        try:
            node_compute(node, consts or {})
            return True
        except NoCompute:
            pass
    return node.op in lowering_rules(target)


def coverage(target: str) -> dict[str, str]:
    """For each op of the table, how `lower` handles it for `target`: "compute" (its compute
    definition; some attributes or dtypes may still need the rule), "rule", "pass-through"
    (kernel calls), "group" (Fused) or "none"."""
    rules = lowering_rules(target)
    out = {}
    for name, d in sorted(OPS.items()):
        if name == "KernelCall":
            out[name] = "pass-through"
        elif name == "Fused":
            out[name] = "group"
        elif d.compute is not None:
            out[name] = "compute"
        else:
            out[name] = "rule" if name in rules else "none"
    return out


# -- compute definitions of groups ------------------------------------------------------------

def static_problem(node: Node) -> str | None:
    """Why `node`'s types rule out a kernel from its compute definition, or None."""
    for what, vs in (("input", node.inputs), ("output", node.outputs)):
        for k, v in enumerate(vs):
            if v is None:
                continue
            t = v.type
            if not isinstance(t, TensorType):
                return f"its {what} {k} '%{v.name}' is a {t}, not a tensor"
            if not t.is_static:
                return (f"lowering needs static shapes and its {what} {k} '%{v.name}' is {t} "
                        "(specialize the symbolic dims first)")
    return None


def node_compute(node: Node, consts: dict[Value, np.ndarray]) -> Any:
    """The ComputeDef of one node, its inputs named in0, in1, ... (NoCompute where none)."""
    d = OPS.get(node.op)
    if d is None:
        raise NoCompute(f"unknown op {node.op}")
    args: list[TensorArg | None] = []
    for j, v in enumerate(node.inputs):
        if v is None:
            args.append(None)
            continue
        t = v.type
        assert isinstance(t, TensorType)
        args.append(TensorArg(f"in{j}", t.static_shape, t.dtype, consts.get(v)))
    return build_compute(d, node.attrs, args, len(node.outputs))


def group_compute(name: str, nodes: Sequence[Node], outputs: Sequence[tuple[Value, Value]],
                  consts: dict[Value, np.ndarray]) -> GroupCompute:
    """The compute definitions of `nodes` (in order) wired together; `outputs` pairs the value
    a node of the group produces with the graph value it becomes."""
    group = GroupCompute(name)
    produced: dict[Value, StageRef] = {}
    for k, n in enumerate(nodes):
        problem = static_problem(n)
        if problem is not None:
            raise NoCompute(problem)
        cd = node_compute(n, consts)
        refs = {st.name: StageRef(k, st, f"{k}.{st.name}") for st in cd.stages}
        reads: dict[str, Source] = {}
        for j, v in enumerate(n.inputs):
            if v is not None:
                reads[f"in{j}"] = produced.get(v, v)
        reads.update(refs)
        reads.update((c.name, c) for c in cd.constants)
        for v, st in zip(n.outputs, cd.outputs):
            produced[v] = refs[st.name]
        for v in n.inputs:
            arr = consts.get(v) if v is not None else None
            if v is not None and arr is not None and arr.size == 1 and arr.dtype.kind in "biuf":
                group.scalars[v] = arr.reshape(-1)[0].item()
        group.cds.append(cd)
        group.stages.extend(refs.values())
        group.reads.append(reads)
    seen: set[str] = set()
    for inner, outer in outputs:
        ref = produced[inner]
        if ref.key in seen:
            raise NoCompute(f"two outputs of {name} are one stage")
        seen.add(ref.key)
        group.outputs.append((ref, outer))
    check_outputs(group, {outer: _tensor(outer) for _, outer in outputs})
    return group


def _tensor(v: Value) -> TensorType:
    assert isinstance(v.type, TensorType)
    return v.type


# -- the pass ---------------------------------------------------------------------------------

@register_pass
@dataclass(frozen=True)
class Lower(Pass):
    """Turn every group of nodes (a Fused node, or a node on its own) into KernelCall nodes."""

    name = "lower"
    summary = "groups of nodes to kernel calls, from compute definitions or target rules"

    target: str = ""        # whose explicit rules apply (default: the compile target)
    parallel: bool = True   # outer loops PARALLEL
    vectorize: bool = True  # innermost loops VECTORIZED
    fold: bool = True       # fold constants first (Shape of a static shape, ...)

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        target = self.target or getattr(ctx.target, "name", "") or ctx.options.target
        lower_graph(graph, target, Schedule(self.parallel, self.vectorize), fold=self.fold,
                    progress=ctx.options.progress)
        return graph


def lower_graph(graph: Graph, target: str, schedule: Schedule | None = None, *,
                fold: bool = True, progress: Progress | None = None) -> Graph:
    """Lower `graph` in place (see the module docstring) and return it; `progress` hears of
    every node lowered."""
    if fold:
        apply_rules(graph, RuleSet(), fold=FoldPolicy())
    _Lowering(graph, target, schedule or Schedule(), progress).run()
    dce(graph)
    return graph


class _Lowering:
    def __init__(self, graph: Graph, target: str, schedule: Schedule,
                 progress: Progress | None = None):
        self.graph, self.target, self.schedule = graph, target, schedule
        self.progress = progress
        self.rules = lowering_rules(target)
        self.names = {v.name for v in graph.inputs} | {v.name for v in graph.constants}
        self.names |= {o.name for n in graph.walk() for o in n.outputs}
        self.kernel_names: set[str] = set()
        self.readers = graph.users()
        self.out: list[Node] = []
        self.tables: dict[int, Value] = {}

    def fresh(self, base: str) -> str:
        return unique_name(base, self.names)

    def used(self, v: Value) -> bool:
        return bool(self.readers.get(v)) or v in self.graph.outputs

    def run(self) -> None:
        with progress_task(self.progress, "lower to kernels", len(self.graph.nodes)) as step:
            for n in self.graph.nodes:
                if n.op == "KernelCall":
                    self.out.append(n)
                elif n.op == "Fused":
                    self.fused(n)
                else:
                    self.single(n)
                step.advance()
        self.graph.nodes = self.out

    def fused(self, n: Node) -> None:
        body = n.attrs.body
        assert isinstance(body, Graph)
        self.graph.constants.update(body.constants)   # folded inside: the kernels read them
        body.constants = {}
        produced = {o for m in body.nodes for o in m.outputs}
        for inner, outer in zip(body.outputs, n.outputs):
            if inner not in produced and outer is not inner:  # folded to a constant inside
                self.graph.replace_uses(outer, inner)
        self.readers = self.graph.users()
        pairs = [(i, o) for i, o in zip(body.outputs, n.outputs)
                 if i in produced and self.used(o)]
        if not pairs:
            return
        try:
            name = self.fresh_kernel_name(body.name)
            group = group_compute(name, body.nodes, pairs, self.graph.constants)
            kernels = lower_group(group, self.schedule)
        except NoCompute:
            # a member needs a rule of its own: the group falls apart into its nodes
            for inner, outer in zip(body.outputs, n.outputs):
                self.graph.replace_uses(outer, inner)
            self.readers = self.graph.users()
            for m in body.nodes:
                self.single(m)
            return
        self.emit(kernels, group, n.name)

    def single(self, n: Node) -> None:
        outs = [o for o in n.outputs if self.used(o)]
        if not outs:
            return
        problem = static_problem(n)
        reason = problem
        if problem is None:
            try:
                name = self.fresh_kernel_name(n.name or n.op.lower())
                group = group_compute(name, [n], [(o, o) for o in outs], self.graph.constants)
                self.emit(lower_group(group, self.schedule), group, n.name)
                return
            except NoCompute as e:
                reason = str(e)
        rule = self.rules.get(n.op)
        kernel: Kernel | RuleKernel | None = rule(
            n, n.attrs, [None if v is None else v.type for v in n.inputs]) \
            if rule is not None else None
        if kernel is None:
            if rule is not None:
                how = f"its rule does not cover these attributes ({reason})"
            elif problem is not None:
                how = problem
            else:
                how = f"{reason}, and the {self.target} target has no rule for it"
            raise UnsupportedOp(f"the {self.target} target cannot lower {n.op} node "
                                f"'{n.name}': {how}", op=n.op, node=n.name, target=self.target)
        self.emit_rule(n, kernel)

    def fresh_kernel_name(self, base: str) -> str:
        return unique_name(identifier(base), self.kernel_names)

    def emit(self, kernels: list[LoweredKernel], group: GroupCompute, node_name: str) -> None:
        """KernelCall nodes for `kernels`; stored stages that are not outputs of the group
        become new values."""
        values = {ref.key: v for ref, v in group.outputs}
        for lk in kernels:
            kernel = lk.kernel
            if len(kernels) > 1:
                kernel = dataclasses.replace(kernel, name=self.fresh_kernel_name(kernel.name))
            ins = [self.input_value(s, values, group.name) for s in lk.inputs]
            outs = []
            for ref in lk.outputs:
                if ref.key not in values:
                    values[ref.key] = Value(self.fresh(f"{kernel.name}_{ref.stage.name}"),
                                            TensorType(ref.stage.dtype, ref.stage.shape))
                outs.append(values[ref.key])
            self.out.append(Node("KernelCall", ins + [None] * len(outs), outs,
                                 KernelCallAttrs(kernel), node_name))

    def input_value(self, src: Source, values: dict[str, Value], group: str) -> Value:
        if isinstance(src, Value):
            return src
        if isinstance(src, StageRef):
            return values[src.key]
        v = self.tables.get(id(src))
        if v is None:
            v = Value(self.fresh(f"{group}_{src.name}"), TensorType(src.dtype, src.shape))
            self.graph.constants[v] = src.value
            self.tables[id(src)] = v
        return v

    def emit_rule(self, n: Node, made: Kernel | RuleKernel) -> None:
        kernel = made.kernel if isinstance(made, RuleKernel) else made
        ins: list[Value | None] = [v for v in n.inputs if v is not None]
        for k, arr in enumerate(made.constants if isinstance(made, RuleKernel) else ()):
            c = Value(self.fresh(f"{n.name or n.op.lower()}_arg{k}"),
                      TensorType(DType.from_np(arr.dtype), tuple(arr.shape)))
            self.graph.constants[c] = arr
            ins.append(c)
        ins += [None] * len(kernel.written())
        types = [None if v is None else v.type for v in ins]
        attrs = KernelCallAttrs(kernel)
        try:
            got = OPS["KernelCall"].infer(InferCtx("KernelCall", attrs, types, [None] * len(ins),
                                                   len(kernel.written()), n.name))
        except DlcError as e:
            raise DlcError(f"the {self.target} rule for {n.op} (node '{n.name}') made a kernel "
                           f"that does not fit the node: {e}") from e
        if got != [o.type for o in n.outputs]:
            raise DlcError(f"the {self.target} rule for {n.op} (node '{n.name}') made a kernel "
                           f"whose outputs are {[str(t) for t in got]}, not "
                           f"{[str(o.type) for o in n.outputs]}")
        self.out.append(Node("KernelCall", ins, list(n.outputs), attrs, n.name))


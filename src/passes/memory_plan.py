"""plan-memory: where each value a graph's nodes produce lives, with buffers reused by liveness.

A value is live from the node that produces it to its last reader (a graph output: to the end);
nodes run in order. Values are given slots greedily in that order: a slot whose values are all
dead is reused by the best-fitting new value (the largest free slot grows if none fits), so two
values live at the same time never share one. A node's inputs and outputs are live together
(kernels are not assumed to work in place). Graph inputs and constants belong to the caller and
are counted apart; values inside subgraphs (Fused bodies, If branches) are their node's business.

    plan = plan_memory(lowered)       # MemoryPlan
    plan.peak_bytes, plan.planned_bytes, plan.slot_of[value], plan.summary()
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from ..errors import DlcError
from ..ir import Graph, TensorType, Value
from ..ir.graph import reads
from .manager import Pass, PassContext, register_pass


@dataclass(frozen=True)
class Lifetime:
    """Value `value` is live at steps start..end (node indices; both included)."""

    value: Value
    start: int
    end: int
    nbytes: int

    def overlaps(self, other: Lifetime) -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass
class MemoryPlan:
    """Slots (buffers) for the values a graph's nodes produce, and what that costs."""

    lifetimes: dict[Value, Lifetime] = field(default_factory=dict)
    slot_of: dict[Value, int] = field(default_factory=dict)
    slot_bytes: list[int] = field(default_factory=list)
    steps: int = 0
    input_bytes: int = 0
    constant_bytes: int = 0

    @property
    def planned_bytes(self) -> int:
        """What the slots take: the memory the plan allocates for produced values."""
        return sum(self.slot_bytes)

    @property
    def naive_bytes(self) -> int:
        """What a buffer per value would take."""
        return sum(lt.nbytes for lt in self.lifetimes.values())

    @property
    def peak_bytes(self) -> int:
        """The most bytes of produced values live at one step (no plan can do with less)."""
        return max((sum(lt.nbytes for lt in self.live_at(k)) for k in range(self.steps)),
                   default=0)

    def live_at(self, step: int) -> list[Lifetime]:
        return [lt for lt in self.lifetimes.values() if lt.start <= step <= lt.end]

    def check(self) -> None:
        """Raise DlcError unless every value fits its slot and no two values live at the same
        time share a slot."""
        by_slot: dict[int, list[Lifetime]] = {}
        for v, s in self.slot_of.items():
            lt = self.lifetimes[v]
            if lt.nbytes > self.slot_bytes[s]:
                raise DlcError(f"memory plan: %{v.name} ({lt.nbytes} bytes) does not fit slot {s} "
                               f"({self.slot_bytes[s]} bytes)")
            for other in by_slot.setdefault(s, []):
                if lt.overlaps(other):
                    raise DlcError(f"memory plan: %{v.name} and %{other.value.name} are live "
                                   f"together but share slot {s}")
            by_slot[s].append(lt)

    def summary(self) -> str:
        """A few lines for `dlc compile` to print."""
        return "\n".join([
            f"peak memory: {_size(self.peak_bytes + self.input_bytes + self.constant_bytes)} "
            f"(values {_size(self.peak_bytes)}, inputs {_size(self.input_bytes)}, "
            f"constants {_size(self.constant_bytes)})",
            f"planned buffers: {len(self.slot_bytes)} taking {_size(self.planned_bytes)} for "
            f"{len(self.lifetimes)} values of {_size(self.naive_bytes)}"])


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} GiB"


def nbytes(v: Value, alignment: int = 1) -> int:
    """The bytes `v` takes, rounded up to `alignment` (static tensors only)."""
    t = v.type
    if not isinstance(t, TensorType) or not t.is_static:
        raise DlcError(f"memory planning needs static tensor types; %{v.name} is {t}")
    n = (t.numel or 0) * max(t.dtype.bits, 8) // 8
    return -(-n // alignment) * alignment if alignment > 1 else n


def lifetimes(graph: Graph, alignment: int = 64) -> dict[Value, Lifetime]:
    """The lifetime of every value a top-level node of `graph` produces."""
    end = len(graph.nodes)
    last: dict[Value, int] = {}
    for k, n in enumerate(graph.nodes):
        for v in reads(n):
            last[v] = k
    outputs = set(graph.outputs)
    out: dict[Value, Lifetime] = {}
    for k, n in enumerate(graph.nodes):
        for v in n.outputs:
            stop = end if v in outputs else max(last.get(v, k), k)
            out[v] = Lifetime(v, k, stop, nbytes(v, alignment))
    return out


def plan_memory(graph: Graph, alignment: int = 64) -> MemoryPlan:
    """Assign slots to the values `graph`'s nodes produce (see the module docstring)."""
    plan = MemoryPlan(lifetimes(graph, alignment), steps=len(graph.nodes) + 1)
    plan.input_bytes = sum(nbytes(v) for v in graph.inputs if isinstance(v.type, TensorType))
    plan.constant_bytes = sum(int(a.nbytes) for a in graph.constants.values())
    free_at: list[int] = []   # per slot: the first step at which it is free again
    for lt in sorted(plan.lifetimes.values(), key=lambda x: (x.start, -x.nbytes)):
        free = [s for s, t in enumerate(free_at) if t <= lt.start]
        fits = [s for s in free if plan.slot_bytes[s] >= lt.nbytes]
        if fits:
            slot = min(fits, key=lambda s: plan.slot_bytes[s])
        elif free:
            slot = max(free, key=lambda s: plan.slot_bytes[s])
            plan.slot_bytes[slot] = lt.nbytes
        else:
            slot = len(plan.slot_bytes)
            plan.slot_bytes.append(lt.nbytes)
            free_at.append(0)
        plan.slot_of[lt.value] = slot
        free_at[slot] = lt.end + 1
    return plan


_PLANS: weakref.WeakKeyDictionary[Graph, MemoryPlan] = weakref.WeakKeyDictionary()


def memory_plan(graph: Graph) -> MemoryPlan | None:
    """The plan the plan-memory pass made for `graph` (None: it has not run on it)."""
    return _PLANS.get(graph)


@register_pass
@dataclass(frozen=True)
class PlanMemory(Pass):
    """Plan buffers for the graph's values (reused by liveness); keep the plan beside the graph
    for memory_plan(graph). The graph itself is unchanged."""

    name = "plan-memory"
    summary = "assign buffers to values by liveness and report peak memory"

    alignment: int = 64   # bytes each buffer is rounded up to

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        plan = plan_memory(graph, self.alignment)
        plan.check()
        _PLANS[graph] = plan
        return graph

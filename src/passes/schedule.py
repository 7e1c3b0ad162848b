"""schedule: each kernel call's loop nests rewritten for the target — cache and register tiling,
packing, unrolling — by the schedules registered here, chosen from a performance model of the
target (its TargetDesc: vector width, caches, cores).

A schedule is a function `(kernel, target) -> list[Kernel] | None` (None: it does not apply to
this kernel); the first that applies wins. It may return several candidates, best first by its
model: compiles use the first, tuning (backends) measures them. A schedule must not change what
the kernel computes; tests check every one differentially against the kernel interpreter.

    @register_schedule("gemm")
    def schedule_gemm(kernel: Kernel, target: TargetDesc) -> list[Kernel] | None: ...
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from ..ir import Graph
from ..ir.kernel.stmt import Kernel
from .manager import Pass, PassContext, register_pass
from .target import TargetDesc

KernelSchedule = Callable[[Kernel, TargetDesc], "list[Kernel] | None"]
SCHEDULES: dict[str, KernelSchedule] = {}


def register_schedule(name: str) -> Callable[[KernelSchedule], KernelSchedule]:
    """Decorator: add a schedule, tried in registration order."""
    def add(fn: KernelSchedule) -> KernelSchedule:
        SCHEDULES[name] = fn
        return fn
    return add


def candidates(kernel: Kernel, target: TargetDesc) -> tuple[str, list[Kernel]] | None:
    """The first applicable schedule's name and its candidates (best first), or None."""
    if kernel.is_spmd:
        return None
    for name, fn in SCHEDULES.items():
        got = fn(kernel, target)
        if got:
            return name, got
    return None


@register_pass
@dataclass(frozen=True)
class ScheduleKernels(Pass):
    """Apply the first applicable schedule to every kernel call (its model's first choice)."""

    name = "schedule"
    summary = "tile, pack and unroll kernels' loop nests from a performance model of the target"

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        target = ctx.target
        if not isinstance(target, TargetDesc):
            return graph  # no target description: nothing to schedule for
        for n in graph.nodes:
            if n.op != "KernelCall":
                continue
            got = candidates(n.attrs.kernel, target)
            if got is not None:
                n.attrs = dataclasses.replace(n.attrs, kernel=got[1][0])
        return graph



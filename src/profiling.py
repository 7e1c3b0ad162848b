"""`dlc run INPUT --profile`: run a model on the cpu target built for profiling and print a table
of its kernel calls — time (median over --repeat runs), share of the total, GFLOP/s and GB/s from
the cost model (passes/cost.py; FLOPs of the kernels before scheduling, so a schedule's padded
tiles do not count as useful work), and the roofline bound each reaches on this machine (the peak
FLOP rate and memory bandwidth measured by backends/cpu/calibrate.py).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .ir import Graph
from .options import CompileOptions
from .passes.cost import KernelCost, Roofline


@dataclass(frozen=True)
class KernelProfile:
    """One kernel call: where it is, what it costs and how long it took."""

    node: str
    kernel: str
    seconds: float
    cost: KernelCost

    @property
    def gflops(self) -> float:
        return self.cost.flops / self.seconds / 1e9 if self.seconds > 0 else 0.0

    @property
    def gbytes(self) -> float:
        return self.cost.bytes / self.seconds / 1e9 if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Profile:
    kernels: list[KernelProfile]
    total_seconds: float  # the median run, as the caller sees it (Python around it included)
    roofline: Roofline
    repeat: int

    @property
    def kernel_seconds(self) -> float:
        return sum(k.seconds for k in self.kernels)


def node_cost(node: Any) -> KernelCost:
    """The cost of one kernel call node of a lowered graph."""
    from .ir import TensorType
    from .ir.kernel import Buffer
    from .passes.cost import kernel_cost
    attrs = node.attrs
    k = attrs.kernel
    sizes: dict[str, int] = {}
    for p, v in zip(k.params, node.inputs):
        t = getattr(v, "type", None)
        if isinstance(p, Buffer) and isinstance(t, TensorType) and t.is_static:
            sizes[p.name] = (t.numel or 0) * max(t.dtype.bits, 8) // 8
    return kernel_cost(k, global_size=attrs.global_size, buffer_bytes=sizes)


def profile_model(graph: Graph, inputs: Mapping[str, Any], options: CompileOptions,
                  repeat: int = 10) -> Profile:
    """Compile `graph` (already optimized) for the cpu with profiling stamps and time it on
    `inputs` (by name)."""
    from .backends.cpu.calibrate import host_roofline
    from .backends.cpu.graph import compile_graph
    from .backends.cpu.pipeline import lower_model
    from .backends.cpu.profile import kernel_times
    from .backends.cpu.target import host_target
    from .passes.specialize import copy_graph, is_static, specialize
    feed = [inputs[v.name] for v in graph.inputs]
    if not is_static(graph):
        graph, how = specialize(graph, feed, options)
        feed = how(feed)
    target = host_target()
    lowered = lower_model(copy_graph(graph), options, target)
    program = compile_graph(lowered, target, 3 if options.opt_level >= 2 else options.opt_level,
                            options.threads, options.cache_dir, profile=True)
    seconds, total = kernel_times(program, feed, repeat)
    # the algorithm's FLOPs come from the kernels before scheduling: a schedule's padded tiles
    # compute more than the result needs
    plain = graph
    if options.opt_level >= 2:
        plain = lower_model(copy_graph(graph), dataclasses.replace(options, opt_level=1), target)
    unscheduled = {n.name: n for n in plain.nodes}
    rows = [KernelProfile(n.name, n.attrs.kernel.name, s, node_cost(unscheduled.get(n.name, n)))
            for n, s in zip(lowered.nodes, seconds)]
    return Profile(rows, total, host_roofline(), max(1, repeat))


def report(p: Profile, limit: int | None = None) -> str:
    """The table, kernels in program order (with `limit`, only the slowest that many)."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table
    roof = p.roofline
    table = Table(title=f"cpu kernels, median of {p.repeat} run(s); roofline: "
                        f"{roof.peak_flops / 1e9:.0f} GFLOP/s, {roof.bandwidth / 1e9:.1f} GB/s")
    for col, right in (("#", True), ("kernel", False), ("node", False), ("time ms", True),
                       ("share", True), ("GFLOP/s", True), ("GB/s", True), ("bound", False)):
        table.add_column(col, justify="right" if right else "left")
    total = p.kernel_seconds or 1.0
    order = list(enumerate(p.kernels))
    if limit is not None:
        order = sorted(order, key=lambda r: -r[1].seconds)[:limit]
        order.sort()
    for i, k in order:
        kind, frac = roof.bound(k.cost, k.seconds)
        table.add_row(str(i), k.kernel, k.node, f"{k.seconds * 1e3:.3f}",
                      f"{100 * k.seconds / total:.1f}%",
                      f"{k.gflops:.2f}" if k.cost.flops else "-", f"{k.gbytes:.2f}",
                      f"{kind} {100 * frac:.0f}%" + ("" if k.cost.exact else " ~"))
    buf = StringIO()
    Console(file=buf, width=180, force_terminal=False).print(table)
    flops = sum(k.cost.flops for k in p.kernels)
    buf.write(f"{len(p.kernels)} kernel calls: {p.kernel_seconds * 1e3:.3f} ms in kernels, "
              f"{p.total_seconds * 1e3:.3f} ms per run; {flops / 1e9:.3f} GFLOP, "
              f"{flops / max(p.kernel_seconds, 1e-12) / 1e9:.1f} GFLOP/s overall "
              "(~: counts estimated where a bound or condition is known only at run time)\n")
    return buf.getvalue()

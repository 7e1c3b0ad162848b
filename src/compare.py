"""`dlc run INPUT --compare reference`: run a model on the cpu target and on the reference target
from the same optimized graph, and report, kernel call by kernel call, the largest difference of
every value both computed — the first node whose values differ is where to look.

The cpu side is compiled with a buffer of its own for every value, so each kernel's result can
be read after the run; the reference side keeps every value of its interpreter.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import DlcError
from .ir import Graph, Sym
from .ir.interpret import Interpreter
from .options import CompileOptions


@dataclass(frozen=True)
class Difference:
    """One value of one kernel call: the largest |cpu - reference| and max |reference|."""

    node: str
    kernel: str
    value: str
    shape: tuple[int, ...]
    max_abs: float
    max_ref: float

    @property
    def relative(self) -> float:
        return self.max_abs / self.max_ref if self.max_ref > 0 else self.max_abs

    def bad(self, rtol: float, atol: float) -> bool:
        return not (self.max_abs <= atol + rtol * self.max_ref)


def _max_abs(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    if a.shape != b.shape:
        return float("inf"), 0.0
    if a.dtype.kind in "OUS" or b.dtype.kind in "OUS":
        return (0.0 if a.tolist() == b.tolist() else float("inf")), 1.0
    x, y = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64), \
        b.astype(np.complex128 if b.dtype.kind == "c" else np.float64)
    if x.size == 0:
        return 0.0, 0.0
    both_nan = np.isnan(x) & np.isnan(y)
    d = np.where(both_nan, 0, np.abs(x - y))
    same_inf = np.isinf(x) & (x == y)
    d = np.where(same_inf, 0, d)
    finite = np.abs(np.where(np.isfinite(y), y, 0))
    return float(np.nanmax(np.where(np.isnan(d), np.inf, d))), float(finite.max())


def compare_targets(graph: Graph, inputs: Mapping[str, Any], options: CompileOptions
                    ) -> list[Difference]:
    """The differences, in the cpu program's order, for `graph` (already optimized) on
    `inputs` (by name)."""
    from .backends.cpu.graph import compile_graph
    from .backends.cpu.pipeline import lower_model
    from .backends.cpu.target import host_target
    from .passes.specialize import copy_graph, is_static, specialize
    names = [v.name for v in graph.inputs]
    feed = [inputs[n] for n in names]
    if not is_static(graph):
        graph, how = specialize(graph, feed, options)
        feed = how(feed)
    # the reference: every value kept
    env: dict[Any, Any] = dict(graph.constants)
    env.update(zip(graph.inputs, feed))
    interp, bindings = Interpreter(), dict[Sym, int]()
    for n in graph.nodes:
        interp.run_node(n, env, bindings)
    ref = {v.name: x for v, x in env.items()}
    # the cpu: every value in a buffer of its own
    target = host_target()
    lowered = lower_model(copy_graph(graph), options, target)
    program = compile_graph(lowered, target, 3 if options.opt_level >= 2 else options.opt_level,
                            options.threads, options.cache_dir, reuse=False)
    outs = program.run(feed)
    got = program.values()
    got.update((v.name, x) for v, x in zip(lowered.outputs, outs))
    rows = []
    for n in lowered.nodes:
        for v in n.outputs:
            if v.name not in ref or v.name not in got:
                continue  # a stage lowering stored that the graph does not name
            r = np.asarray(ref[v.name])
            mx, mr = _max_abs(np.asarray(got[v.name]), r)
            rows.append(Difference(n.name, n.attrs.kernel.name, v.name, tuple(r.shape), mx, mr))
    if not rows:
        raise DlcError("no value is computed by both targets: nothing to compare")
    return rows


def report(rows: list[Difference], rtol: float = 1e-4, atol: float = 1e-6) -> tuple[str, int]:
    """A table of the differences and how many values are out of tolerance (the first one
    marked: where a wrong kernel first shows)."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table
    table = Table(title="cpu vs reference, kernel call by kernel call")
    for col in ("", "node", "kernel", "value", "shape", "max |Δ|", "max |Δ| / max |ref|"):
        table.add_column(col, justify="right" if col.startswith("max") else "left")
    first = next((i for i, r in enumerate(rows) if r.bad(rtol, atol)), None)
    for i, r in enumerate(rows):
        mark = "FIRST" if i == first else ("x" if r.bad(rtol, atol) else "")
        table.add_row(mark, r.node, r.kernel, r.value, str(list(r.shape)), f"{r.max_abs:.3g}",
                      f"{r.relative:.3g}")
    buf = StringIO()
    Console(file=buf, width=160, force_terminal=False).print(table)
    bad = sum(r.bad(rtol, atol) for r in rows)
    if first is None:
        buf.write(f"all {len(rows)} values agree (|Δ| <= {atol:g} + {rtol:g} * max |ref|)\n")
    else:
        r = rows[first]
        buf.write(f"{bad} of {len(rows)} values differ; the first is '{r.value}' of node "
                  f"'{r.node}' (kernel {r.kernel}): max |Δ| {r.max_abs:.3g}\n")
    return buf.getvalue(), bad

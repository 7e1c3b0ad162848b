"""Measured tuning (`dlc compile --tune`): for every kernel call whose schedule offers several
candidates (passes/schedule.py, best first by its model), each candidate is compiled and timed on
this CPU with buffers of the kernel's shapes, and the fastest is used. Winners are cached on disk
(cache_dir/tune/<key>.json, keyed by the kernel's text and the CPU), so a second tuned compile of
the same model measures nothing. Untuned compiles take the model's first choice.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...ir import Graph
from ...ir.kernel import Buffer, Kernel, MemScope
from ...ir.text import print_kernel
from ...options import CompileOptions, progress_task
from ...passes.schedule import candidates
from . import compile_kernels
from .target import CpuTarget

RUNS = 3  # timed runs per candidate (the minimum counts)


def tune_key(kernel: Kernel, target: CpuTarget) -> str:
    h = hashlib.sha256()
    for part in (print_kernel(dataclasses.replace(kernel, name="k")), target.key):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def _arguments(kernel: Kernel, rng: np.random.Generator) -> list[Any] | None:
    """Arrays for every parameter (None: a kernel this tuner cannot feed)."""
    args: list[Any] = []
    for p in kernel.params:
        if not isinstance(p, Buffer) or p.scope is MemScope.LOCAL or p.shape is None:
            return None
        try:
            shape = tuple(int(d.value) for d in p.shape)  # type: ignore[attr-defined]
        except AttributeError:
            return None
        dt = p.elem.dtype.np
        if p.elem.lanes > 1:
            shape = (*shape, p.elem.lanes)
        a = rng.standard_normal(shape) if dt.kind in "fc" else np.zeros(shape)
        args.append(np.ascontiguousarray(a.astype(dt)))
    return args


def measure(kernels: list[Kernel], target: CpuTarget, options: CompileOptions) -> list[float]:
    """Seconds per run of each kernel (the minimum of RUNS runs; inf where it cannot be fed)."""
    rng = np.random.default_rng(0)
    out = []
    for ck in compile_kernels(kernels, target, options=options):
        args = _arguments(ck.kernel, rng)
        if args is None:
            out.append(float("inf"))
            continue
        ck.run(args)  # warm up
        best = float("inf")
        for _ in range(RUNS):
            t0 = time.perf_counter()
            ck.run(args)
            best = min(best, time.perf_counter() - t0)
        out.append(best)
    return out


def tune_graph(graph: Graph, target: CpuTarget, options: CompileOptions,
               cache_dir: Path | None) -> dict[str, int]:
    """Replace each kernel call's kernel by its fastest schedule candidate (in place); returns
    how many kernels were measured and how many winners came from the cache."""
    calls = [n for n in graph.nodes if n.op == "KernelCall"]
    stats = {"tuned": 0, "from_cache": 0}
    best_so_far = float("inf")
    with progress_task(options.progress, "tune kernels", len(calls)) as step:
        for n in calls:
            got = candidates(n.attrs.kernel, target)
            if got is None:
                step.advance()
                continue
            cands = got[1]
            key = tune_key(n.attrs.kernel, target)
            path = cache_dir / "tune" / f"{key}.json" if cache_dir is not None else None
            choice = None
            if path is not None and path.is_file():
                choice = int(json.loads(path.read_text())["choice"])
                stats["from_cache"] += 1
            if choice is None or not 0 <= choice < len(cands):
                times = measure(cands, target, options) if len(cands) > 1 else [0.0]
                choice = int(np.argmin(times))
                stats["tuned"] += 1
                best_so_far = min(best_so_far, times[choice])
                step.stage = f"tune kernels | fastest kernel so far {best_so_far * 1e3:.3f} ms"
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(json.dumps({"choice": choice, "seconds": times,
                                                "schedule": got[0]}))
            n.attrs = dataclasses.replace(n.attrs, kernel=cands[choice])
            step.advance()
    return stats

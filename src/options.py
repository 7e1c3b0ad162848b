"""Compile options: one object carried from the API and CLI down to passes and backends, with
the progress listener it may carry (`progress(stage, done, total)`, e.g. the CLI's bar).

    with progress_task(options.progress, "lower to kernels", len(nodes)) as step:
        for n in nodes: ...; step.advance()
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

Progress = Callable[[str, int, "int | None"], None]   # (stage, done, total)

DLC_VERSION = "0.1.0"
TARGETS = ("reference", "cpu", "opencl", "cuda", "fpga")
FRONTENDS = ("onnx", "opencl", "cuda", "qasm")
DEFAULT_TARGET = "cpu"


@dataclass(frozen=True)
class CompileOptions:
    target: str = DEFAULT_TARGET
    frontend: str | None = None
    passes: tuple[str, ...] | None = None
    opt_level: int = 2
    tune: bool = False
    threads: int | None = None
    precision: str | None = None
    cache_dir: Path | None = None
    defines: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    base_dir: Path | None = None
    verify_each: bool = False
    debug: bool = False
    progress: Progress | None = field(default=None, compare=False)

    def replace(self, **changes: object) -> CompileOptions:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


class ProgressStep:
    """One stage of a compile as it advances."""

    def __init__(self, listener: Progress | None, stage: str, total: int | None):
        self.listener, self.stage, self.total, self.done = listener, stage, total, 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.listener is not None:
            self.listener(self.stage, self.done, self.total)


@contextmanager
def progress_task(listener: Progress | None, stage: str,
                  total: int | None = None) -> Iterator[ProgressStep]:
    """A stage of `total` steps (None: one step of unknown length), reported to `listener` as it
    starts and as it ends; nothing happens without a listener."""
    step = ProgressStep(listener, stage, total)
    if listener is not None:
        listener(stage, 0, total)
    yield step
    if listener is not None and (total is None or step.done < total):
        step.done = total if total is not None else 1
        listener(stage, step.done, total)

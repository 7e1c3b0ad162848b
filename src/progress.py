"""Progress of long compiles: the compiler reports steps, whoever listens (the CLI's progress
bar) shows them. Nothing is shown unless someone listens.

    with progress.task("lower", total=len(nodes)) as t:
        for n in nodes: ...; t.advance()
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, int, int | None], None]   # (stage, done, total)
_local = threading.local()


def _listeners() -> list[Listener]:
    if not hasattr(_local, "listeners"):
        _local.listeners = []
    return _local.listeners  # type: ignore[no-any-return]


@contextmanager
def listening(fn: Listener) -> Iterator[None]:
    """Call `fn(stage, done, total)` for the steps reported inside the block (this thread)."""
    _listeners().append(fn)
    try:
        yield
    finally:
        _listeners().remove(fn)


class Task:
    def __init__(self, stage: str, total: int | None):
        self.stage, self.total, self.done = stage, total, 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        for fn in list(_listeners()):
            fn(self.stage, self.done, self.total)


@contextmanager
def task(stage: str, total: int | None = None) -> Iterator[Task]:
    """A stage of `total` steps (None: one step of unknown length), reported as it starts and
    as it ends."""
    t = Task(stage, total)
    for fn in list(_listeners()):
        fn(stage, 0, total)
    yield t
    if total is None or t.done < total:
        t.done = total if total is not None else 1
        for fn in list(_listeners()):
            fn(stage, t.done, total)

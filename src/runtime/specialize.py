"""Running a graph whose shapes are only known from its inputs: the module compiles a static
version per input signature through a callback the compiler hands it, and caches it.

The cache key is the input shapes and the values of the inputs that shape rules needed (found
when the first version is compiled: an input once needed by value is part of every key after).
The runtime never imports the compiler: `compile_for(inputs)` comes from dlc.compile / dlc.load.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from .module import Executor


class Feed(Protocol):
    """How the inputs reach a specialized version: `bound` are the inputs it was specialized on
    by value (part of the cache key from then on); calling it gives the version's inputs."""

    bound: list[int]

    def __call__(self, inputs: Sequence[Any]) -> list[Any]: ...


CompileFor = Callable[[Sequence[Any]], tuple[Executor, Feed]]


class SpecializingExecutor:
    """An Executor that compiles (and caches) a static version of the graph for each input
    signature it meets; `versions` counts how many were compiled."""

    def __init__(self, compile_for: CompileFor, capacity: int = 32):
        self.compile_for, self.capacity = compile_for, capacity
        self.by_value: set[int] = set()
        self.cache: OrderedDict[tuple[Any, ...], tuple[Executor, Feed]] = OrderedDict()
        self.versions = 0
        self._lock = threading.Lock()

    def key(self, inputs: Sequence[Any]) -> tuple[Any, ...]:
        shapes = tuple(_signature(x) for x in inputs)
        values = tuple((i, np.asarray(inputs[i]).tobytes()) for i in sorted(self.by_value))
        return shapes, values

    def __call__(self, inputs: Sequence[Any]) -> list[Any]:
        with self._lock:
            hit = self.cache.get(self.key(inputs))
            if hit is None:
                executor, feed = self.compile_for(inputs)
                self.versions += 1
                self.by_value.update(feed.bound)
                hit = self.cache[self.key(inputs)] = (executor, feed)
                while len(self.cache) > self.capacity:
                    self.cache.popitem(last=False)
            else:
                self.cache.move_to_end(self.key(inputs))
        executor, feed = hit
        return executor(feed(inputs))


def _signature(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return ("seq", tuple(_signature(e) for e in x))
    if x is None:
        return None
    a = np.asarray(x)
    return (a.dtype.str, a.shape)

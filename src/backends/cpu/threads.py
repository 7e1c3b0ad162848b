"""Parallel loops across cores: the `dlc_parallel_for` that generated code calls.

Where libgomp loads, `dlc_parallel_for` is the native runtime of omp.py (GOMP_parallel; no
Python between or inside parallel loops) and `launch_threads` sets its team size. What follows
describes the Python thread pool it replaced, still used where libgomp is missing (and in a
child process after fork).

Generated code never starts threads itself. A parallel loop (or an SPMD launch's work-groups)
calls `dlc_parallel_for(body, args, env, n)`, a ctypes callback bound to that symbol in the JIT:
it cuts [0, n) into one contiguous range per thread, hands all but the first to a pool of Python
threads and runs the first itself; each range is one ctypes call of the native `body`, which
releases the GIL, so the ranges run truly in parallel and the callback costs tens of
microseconds per parallel loop, not per iteration. A persistent pool written in LLVM IR (pthreads
and futexes) would save that overhead, but would put thread management into generated code that
is hard to debug; a thread pool also lets Python-side errors surface normally.
"""
from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .omp import NativeRuntime, load_runtime

BODY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
PARALLEL_FOR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_int64)

_state = threading.local()  # .threads: threads of the current launch; .worker: a pool thread
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_bodies: dict[int, Any] = {}
_py_stats = {"calls": 0, "ranges": 0}
_native: NativeRuntime | None = None


class _Stats(Mapping[str, int]):
    """Parallel loops run ("calls") and the ranges they were cut into, on either runtime."""

    def __getitem__(self, key: str) -> int:
        extra = 0
        if _native is not None:
            extra = _native.calls if key == "calls" else _native.ranges if key == "ranges" else 0
        return _py_stats[key] + extra

    def __iter__(self) -> Iterator[str]:
        return iter(_py_stats)

    def __len__(self) -> int:
        return len(_py_stats)


stats = _Stats()


def _after_fork_in_child() -> None:
    """The pool's threads did not survive the fork: the child starts a pool of its own."""
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _mark_worker() -> None:
    _state.worker = True


def _get_pool(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dlc-cpu",
                                       initializer=_mark_worker)
            _pool_size = workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _body(addr: int) -> Any:
    fn = _bodies.get(addr)
    if fn is None:
        fn = _bodies[addr] = BODY(addr)
    return fn


def _parallel_for(body: int, args: int, env: int, n: int) -> None:
    try:
        if n <= 0:
            return
        fn = _body(body)
        threads = min(int(getattr(_state, "threads", 1)), n)
        _py_stats["calls"] += 1
        if threads <= 1 or getattr(_state, "worker", False):
            _py_stats["ranges"] += 1
            fn(args, env, 0, n)
            return
        _py_stats["ranges"] += threads
        bounds = [n * i // threads for i in range(threads + 1)]
        pool = _get_pool(threads - 1)
        futures: list[Future[None]] = [pool.submit(fn, args, env, bounds[i], bounds[i + 1])
                                       for i in range(1, threads)]
        fn(args, env, bounds[0], bounds[1])
        for f in futures:
            f.result()
    except BaseException as e:  # noqa: BLE001 - nothing may unwind through native frames
        _state.error = e


_callback = PARALLEL_FOR(_parallel_for)
CALLBACK_ADDRESS: int = ctypes.cast(_callback, ctypes.c_void_p).value  # type: ignore[assignment]


def parallel_for_address(llvm: Any) -> int:
    """What `dlc_parallel_for` is bound to: the native runtime's entry, or where libgomp cannot
    be loaded, the Python callback (`llvm` is llvmlite.binding, initialized)."""
    global _native
    if _native is None:
        _native = load_runtime(llvm, CALLBACK_ADDRESS)
    return _native.address if _native is not None else CALLBACK_ADDRESS


def native_runtime() -> NativeRuntime | None:
    """The libgomp runtime once code generation has started (None: the Python pool runs)."""
    return _native


class launch_threads:  # noqa: N801 - used as a context manager, reads like a function
    """`with launch_threads(n): entry(...)`: the parallel loops of the launch use `n` threads;
    an error raised inside the callback is re-raised here."""

    def __init__(self, threads: int):
        self.threads = max(1, threads)

    def __enter__(self) -> None:
        self.outer = getattr(_state, "threads", 1)
        _state.threads = self.threads
        _state.error = None
        self.native_outer = None
        if _native is not None:  # this thread's OpenMP team size
            self.native_outer = _native.get_max_threads()
            _native.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        _state.threads = self.outer
        if _native is not None and self.native_outer is not None:
            _native.set_num_threads(self.native_outer)
        err = getattr(_state, "error", None)
        _state.error = None
        if err is not None and exc[0] is None:
            raise err

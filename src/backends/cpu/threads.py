"""Parallel loops across cores: the `dlc_parallel_for` that generated code calls.

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
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

BODY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
PARALLEL_FOR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_int64)

_state = threading.local()  # .threads: threads of the current launch; .worker: a pool thread
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_bodies: dict[int, Any] = {}
stats = {"calls": 0, "ranges": 0}  # parallel loops run, and the ranges they were cut into


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
        stats["calls"] += 1
        if threads <= 1 or getattr(_state, "worker", False):
            stats["ranges"] += 1
            fn(args, env, 0, n)
            return
        stats["ranges"] += threads
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


class launch_threads:  # noqa: N801 - used as a context manager, reads like a function
    """`with launch_threads(n): entry(...)`: the parallel loops of the launch use `n` threads;
    an error raised inside the callback is re-raised here."""

    def __init__(self, threads: int):
        self.threads = max(1, threads)

    def __enter__(self) -> None:
        self.outer = getattr(_state, "threads", 1)
        _state.threads = self.threads
        _state.error = None

    def __exit__(self, *exc: object) -> None:
        _state.threads = self.outer
        err = getattr(_state, "error", None)
        _state.error = None
        if err is not None and exc[0] is None:
            raise err

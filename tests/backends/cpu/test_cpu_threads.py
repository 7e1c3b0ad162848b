"""The thread runtimes behind `dlc_parallel_for`: libgomp (native, the default where it loads)
and the Python thread pool (where it does not, and in a child after fork) give the same results,
honour `threads=` and split [0, n) into one range per thread."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from dlc.backends.cpu import compile_kernel
from dlc.backends.cpu.threads import native_runtime, stats
from dlc.ir.text import parse_kernel
from dlc.options import CompileOptions

SCALE = """
kernel @scale(%n: i64, %x: f32* global rw) {
  parallel for %i: i64 in 0 to %n { %x[%i] = %x[%i] * 2.0 + 1.0 }
}"""


def _run(threads: int, n: int) -> tuple[np.ndarray, int, int]:
    ck = compile_kernel(parse_kernel(SCALE), options=CompileOptions(target="cpu",
                                                                    threads=threads))
    x = np.arange(max(n, 1), dtype=np.float32)
    before = dict(stats)
    ck.run([n, x])
    return x, stats["calls"] - before["calls"], stats["ranges"] - before["ranges"]


@pytest.fixture
def runtime():
    compile_kernel(parse_kernel(SCALE))  # code generation loads the runtime
    rt = native_runtime()
    if rt is None:
        pytest.skip("libgomp is not available: the Python thread pool runs parallel loops")
    yield rt
    rt.native = True


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("threads,n,ranges", [(1, 100, 1), (2, 100, 2), (3, 1001, 3),
                                              (4, 2, 2), (2, 1, 1)])
def test_both_runtimes_split_iterations_by_threads(runtime, native, threads, n, ranges):
    runtime.native = native
    x, calls, got = _run(threads, n)
    np.testing.assert_array_equal(x[:n], np.arange(n, dtype=np.float32) * 2 + 1)
    assert calls == 1 and got == ranges


def test_empty_loop_runs_nothing(runtime):
    x, calls, ranges = _run(2, 0)
    assert x[0] == 0 and ranges == 0


def test_child_after_fork_uses_the_python_pool(runtime):
    _run(2, 100)  # the parent's libgomp team exists now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = False
        try:
            x, _, ranges = _run(2, 100)
            ok = (not runtime.native and ranges == 2
                  and bool(np.all(x == np.arange(100, dtype=np.float32) * 2 + 1)))
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60  # a child that hangs fails the test, never the suite
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung in its parallel loop")
        time.sleep(0.05)
    assert os.WEXITSTATUS(status) == 0
    assert runtime.native

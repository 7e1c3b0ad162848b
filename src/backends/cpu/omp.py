"""The native thread runtime: `dlc_parallel_for` written in LLVM IR on top of libgomp, so a
parallel loop costs a GOMP_parallel (a few microseconds) and no Python, and no GIL, between
kernels.

    void dlc_parallel_for(body, args, env, n)
      n <= 0: nothing; one thread wanted, n == 1 or already inside a team: body(args, env, 0, n)
      else GOMP_parallel(trampoline, {body, args, env, n}, min(threads, n), 0), where each
      thread of the team runs body on its contiguous part of [0, n)

`threads` is the calling thread's OpenMP nthreads-var, which threads.launch_threads sets with
omp_set_num_threads (per calling thread, as `threads=` was before). The module is compiled once
per process in an engine of its own; its symbols reach generated code through llvm.add_symbol,
like the Python callback it replaces. Idle team threads sleep rather than spin (OMP_WAIT_POLICY
passive, unless the environment says otherwise). `dlc_rt_mode` switches it back to that
callback (0), as a child process after fork() must: libgomp's thread pool does not survive a
fork.
"""
from __future__ import annotations

import ctypes
import os
from typing import Any

from llvmlite import ir

_I32, _I64 = ir.IntType(32), ir.IntType(64)
_I8P = ir.IntType(8).as_pointer()
_VOID = ir.VoidType()
_BODY = ir.FunctionType(_VOID, [_I8P, _I8P, _I64, _I64]).as_pointer()
_FN = ir.FunctionType(_VOID, [_I8P, _I8P, _I8P, _I64])
_GOMP = ("GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads", "omp_get_max_threads",
         "omp_in_parallel")
ENTRY = "dlc_rt_parallel_for"
FALLBACK = "dlc_rt_parallel_for_py"  # the Python callback (threads.py)


class NativeRuntime:
    """The compiled runtime: its entry address, its mode switch and counters, libgomp."""

    def __init__(self, engine: Any, lib: ctypes.CDLL):
        self.engine, self.lib = engine, lib  # both kept alive with the runtime
        self.address = int(engine.get_function_address(ENTRY))
        self._mode = ctypes.c_int32.from_address(engine.get_global_value_address("dlc_rt_mode"))
        self._calls = ctypes.c_int64.from_address(engine.get_global_value_address("dlc_rt_calls"))
        self._ranges = ctypes.c_int64.from_address(
            engine.get_global_value_address("dlc_rt_ranges"))
        self.set_num_threads = lib.omp_set_num_threads
        self.set_num_threads.argtypes, self.set_num_threads.restype = [ctypes.c_int], None
        self.get_max_threads = lib.omp_get_max_threads
        self.get_max_threads.argtypes, self.get_max_threads.restype = [], ctypes.c_int

    @property
    def native(self) -> bool:
        """Whether parallel loops go through libgomp (else through the Python callback)."""
        return bool(self._mode.value)

    @native.setter
    def native(self, on: bool) -> None:
        self._mode.value = 1 if on else 0

    @property
    def calls(self) -> int:
        return int(self._calls.value)

    @property
    def ranges(self) -> int:
        return int(self._ranges.value)


def runtime_ir(triple: str, data_layout: str) -> str:
    m = ir.Module("dlc_rt")
    m.triple, m.data_layout = triple, data_layout
    task_t = ir.LiteralStructType([_I8P, _I8P, _I8P, _I64])
    micro_t = ir.FunctionType(_VOID, [_I8P])
    gomp_parallel = ir.Function(m, ir.FunctionType(_VOID, [micro_t.as_pointer(), _I8P, _I32,
                                                           _I32]), "GOMP_parallel")
    get = {n: ir.Function(m, ir.FunctionType(_I32, []), n) for n in _GOMP[1:]}
    fallback = ir.Function(m, _FN, FALLBACK)

    def counter(name: str, t: ir.IntType) -> ir.GlobalVariable:
        g = ir.GlobalVariable(m, t, name)
        g.initializer = ir.Constant(t, 1 if name == "dlc_rt_mode" else 0)
        return g
    mode, calls, ranges = (counter("dlc_rt_mode", _I32), counter("dlc_rt_calls", _I64),
                           counter("dlc_rt_ranges", _I64))

    # each thread of the team: its part [n * t / nt, n * (t + 1) / nt) of the iterations
    tramp = ir.Function(m, micro_t, "dlc_rt_trampoline")
    tramp.linkage = "internal"
    b = ir.IRBuilder(tramp.append_basic_block("entry"))
    task = b.bitcast(tramp.args[0], task_t.as_pointer())

    def field(i: int) -> ir.Value:
        return b.load(b.gep(task, [ir.Constant(_I32, 0), ir.Constant(_I32, i)]))
    body = b.bitcast(field(0), _BODY)
    n = field(3)
    t = b.sext(b.call(get["omp_get_thread_num"], []), _I64)
    nt = b.sext(b.call(get["omp_get_num_threads"], []), _I64)
    q, r = b.udiv(n, nt), b.urem(n, nt)

    def start(i: ir.Value) -> ir.Value:  # i * q + min(i, r): no overflow for any n
        return b.add(b.mul(i, q), b.select(b.icmp_unsigned("<", i, r), i, r))
    lo, hi = start(t), start(b.add(t, ir.Constant(_I64, 1)))
    run, done = tramp.append_basic_block("run"), tramp.append_basic_block("done")
    b.cbranch(b.icmp_signed("<", lo, hi), run, done)
    b.position_at_end(run)
    b.call(body, [field(1), field(2), lo, hi])
    b.branch(done)
    b.position_at_end(done)
    b.ret_void()

    fn = ir.Function(m, _FN, ENTRY)
    body_p, args, env, n = fn.args
    blocks = {k: fn.append_basic_block(k) for k in
              ("entry", "python", "native", "serial", "team", "out")}
    b = ir.IRBuilder(blocks["entry"])
    b.cbranch(b.icmp_signed("<=", n, ir.Constant(_I64, 0)), blocks["out"], blocks["native"])
    b.position_at_end(blocks["native"])
    b.cbranch(b.icmp_signed("==", b.load(mode), ir.Constant(_I32, 0)), blocks["python"],
              blocks["serial"])
    b.position_at_end(blocks["python"])
    b.call(fallback, [body_p, args, env, n])
    b.ret_void()
    b.position_at_end(blocks["serial"])
    b.atomic_rmw("add", calls, ir.Constant(_I64, 1), "monotonic")
    want = b.sext(b.call(get["omp_get_max_threads"], []), _I64)
    team = b.select(b.icmp_signed("<", want, n), want, n)
    nested = b.icmp_signed("!=", b.call(get["omp_in_parallel"], []), ir.Constant(_I32, 0))
    alone = b.or_(b.icmp_signed("<=", team, ir.Constant(_I64, 1)), nested)
    serial_run = fn.append_basic_block("serial_run")
    b.cbranch(alone, serial_run, blocks["team"])
    b.position_at_end(serial_run)
    b.atomic_rmw("add", ranges, ir.Constant(_I64, 1), "monotonic")
    b.call(b.bitcast(body_p, _BODY), [args, env, ir.Constant(_I64, 0), n])
    b.ret_void()
    b.position_at_end(blocks["team"])
    b.atomic_rmw("add", ranges, team, "monotonic")
    slot = b.alloca(task_t)
    for i, v in enumerate((body_p, args, env, n)):
        b.store(v, b.gep(slot, [ir.Constant(_I32, 0), ir.Constant(_I32, i)]))
    b.call(gomp_parallel, [tramp, b.bitcast(slot, _I8P), b.trunc(team, _I32),
                           ir.Constant(_I32, 0)])
    b.branch(blocks["out"])
    b.position_at_end(blocks["out"])
    b.ret_void()
    return str(m)


def load_runtime(llvm: Any, fallback_address: int) -> NativeRuntime | None:
    """Compile and link the runtime with `llvm` (llvmlite.binding, initialized), or None when
    libgomp cannot be loaded (the Python thread pool is used then)."""
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        # read once, when libgomp loads: idle workers sleep instead of spinning. Spinning
        # workers took the cores of the threads doing the work on a 2-core machine shared with
        # other jobs (BERT 2 layers: 222 ms a run spinning, 16 ms passive; a parallel loop
        # costs about 1 us spinning, 9 us passive, 40 us on the Python pool)
        os.environ["OMP_WAIT_POLICY"] = "passive"
    try:
        lib = ctypes.CDLL("libgomp.so.1")
        addresses = {n: ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in _GOMP}
    except (OSError, AttributeError):
        return None
    for name, addr in addresses.items():
        llvm.add_symbol(name, addr)
    llvm.add_symbol(FALLBACK, fallback_address)
    tm = llvm.Target.from_default_triple().create_target_machine(opt=2, jit=True)
    mod = llvm.parse_assembly(runtime_ir(llvm.get_process_triple(), str(tm.target_data)))
    mod.verify()
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    rt = NativeRuntime(engine, lib)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=lambda: setattr(rt, "native", False))
    return rt

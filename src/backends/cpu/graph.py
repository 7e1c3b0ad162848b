"""A lowered graph as one native entry point: `void dlc_graph(i8** table)` calls every kernel of
the graph in order, with each value's buffer at its place, and copies read-write buffers where
the IR says a kernel writes a new value. No Python runs between kernels.

`table` holds the graph inputs, then the outputs (arrays the caller allocates), then the
constants, then the arena: one block for every intermediate value, at offsets from the memory
plan (values live at the same time never share bytes). The layout is a function of the lowered
graph alone, so an artifact keeps the object code and recomputes the layout on load.
"""
from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from llvmlite import ir

from ...errors import DlcError, InputError, UnsupportedOp
from ...ir import Graph, TensorType, Value
from ...ir.kernel import Buffer, Kernel, MemScope
from ...ir.kernel.interpret import launch_geometry
from ...ir.ops.kernel_call import KernelCallAttrs
from ...options import Progress, progress_task
from ...passes.memory_plan import MemoryPlan, memory_plan, plan_memory
from . import lltypes as T
from .codegen import ModuleBuilder
from .jit import Engine, compile_ir
from .target import CpuTarget
from .threads import launch_threads

TARGET = "cpu"
ENTRY = "dlc_graph"
ALIGN = 64
GRAPH_ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@dataclass
class Layout:
    """Where every value of a lowered graph lives: a table slot (inputs, outputs, constants) or
    an arena offset (everything else)."""

    slots: dict[Value, int] = field(default_factory=dict)
    offsets: dict[Value, int] = field(default_factory=dict)
    arena_bytes: int = 0
    table_size: int = 0
    plan: MemoryPlan | None = None

    @property
    def arena_slot(self) -> int:
        return self.table_size - 1

    def digest(self) -> str:
        """A fingerprint saved with an artifact: the layout a loaded module recomputes must be
        the one its code was generated for."""
        h = hashlib.sha256()
        for v, s in self.slots.items():
            h.update(f"s{v.name}:{s};".encode())
        for v, o in self.offsets.items():
            h.update(f"a{v.name}:{o};".encode())
        h.update(str(self.arena_bytes).encode())
        return h.hexdigest()[:16]


def check_lowered(graph: Graph) -> None:
    """Every node must be a kernel call with static tensor values, or the cpu target cannot
    run the graph; the error names the first node that is not."""
    for n in graph.nodes:
        if n.op != "KernelCall":
            raise UnsupportedOp(f"the cpu target cannot run {n.op} node '{n.name}': it was not "
                                "lowered to kernels", op=n.op, node=n.name, target=TARGET)
        k = n.attrs.kernel
        for v in [*n.inputs, *n.outputs]:
            if v is not None and (not isinstance(v.type, TensorType) or not v.type.is_static):
                raise UnsupportedOp(f"the cpu target cannot run node '{n.name}': value "
                                    f"'%{v.name}' is {v.type}, not a static tensor",
                                    op=n.op, node=n.name, target=TARGET)
        if any(isinstance(p, Buffer) and p.scope is MemScope.LOCAL for p in k.params):
            raise UnsupportedOp(f"the cpu target cannot run kernel '{k.name}' (node '{n.name}') "
                                "inside a graph: it takes local memory", op=n.op, node=n.name,
                                target=TARGET)
    for v in [*graph.inputs, *graph.outputs]:
        if not isinstance(v.type, TensorType) or not v.type.is_static:
            what = "input" if v in graph.inputs else "output"
            raise UnsupportedOp(f"the cpu target needs static tensors; graph {what} '{v.name}' "
                                f"is {v.type}", target=TARGET)


def layout(graph: Graph, reuse: bool = True) -> Layout:
    """The layout of a lowered graph: buffers shared by liveness (the memory plan), or with
    `reuse=False` a buffer of its own for every value (so that all can be read afterwards)."""
    lay = Layout()
    for v in graph.inputs:
        lay.slots.setdefault(v, len(lay.slots))
    for v in graph.outputs:
        if v not in lay.slots and v not in graph.constants:
            lay.slots[v] = len(lay.slots)
    for v in graph.constants:
        if v not in lay.slots:
            lay.slots[v] = len(lay.slots)
    plan = (memory_plan(graph) or plan_memory(graph, ALIGN)) if reuse else None
    if plan is not None:
        starts = np.cumsum([0, *(-(-b // ALIGN) * ALIGN for b in plan.slot_bytes)])
        for v, s in plan.slot_of.items():
            if v not in lay.slots:
                lay.offsets[v] = int(starts[s])
        lay.arena_bytes = int(starts[-1])
    else:
        for n in graph.nodes:
            for v in n.outputs:
                if v not in lay.slots and v not in lay.offsets:
                    lay.offsets[v] = lay.arena_bytes
                    lay.arena_bytes += -(-_value_bytes(v) // ALIGN) * ALIGN
    lay.table_size = len(lay.slots) + 1
    lay.plan = plan
    return lay


def _value_bytes(v: Value) -> int:
    t = v.type
    assert isinstance(t, TensorType)
    return (t.numel or 0) * max(t.dtype.bits, 8) // 8


class _GraphEmitter:
    """Emits `dlc_graph` into a module that already holds the graph's kernels."""

    def __init__(self, mb: ModuleBuilder, lay: Layout, entries: list[str]):
        self.mb, self.lay, self.entries = mb, lay, entries
        fn = mb.function(ENTRY, ir.FunctionType(T.VOID, [T.I8P.as_pointer()]))
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.table = fn.args[0]
        self.arena = self.slot(lay.arena_slot)
        self.memcpy = mb.module.declare_intrinsic("llvm.memcpy", [T.I8P, T.I8P, T.I64])
        self.memset = mb.module.declare_intrinsic("llvm.memset", [T.I8P, T.I64])

    def slot(self, i: int) -> ir.Value:
        return self.b.load(self.b.gep(self.table, [ir.Constant(T.I64, i)]))

    def ptr(self, v: Value) -> ir.Value:
        if v in self.lay.slots:
            return self.slot(self.lay.slots[v])
        return self.b.gep(self.arena, [ir.Constant(T.I64, self.lay.offsets[v])])

    def call(self, attrs: KernelCallAttrs, ins: Sequence[Value | None],
             outs: Sequence[Value], entry: str) -> None:
        k = attrs.kernel
        b = self.b
        args = b.alloca(T.I8P, size=max(1, len(k.params)))
        written = iter(outs)
        for i, (p, v) in enumerate(zip(k.params, ins)):
            if isinstance(p, Buffer) and p.write:
                out = next(written)
                dst = self.ptr(out)
                size = ir.Constant(T.I64, _value_bytes(out))
                volatile = ir.Constant(ir.IntType(1), 0)
                if v is not None and _value_bytes(out):
                    b.call(self.memcpy, [dst, self.ptr(v), size, volatile])
                elif _value_bytes(out):  # a buffer bound to none starts as zeros (KernelCall)
                    b.call(self.memset, [dst, ir.Constant(T.I8, 0), size, volatile])
            else:
                assert v is not None
                dst = self.ptr(v)
            b.store(dst, b.gep(args, [ir.Constant(T.I64, i)]))
        geometry: ir.Value = ir.Constant(T.I8P, None)
        if k.is_spmd:
            geo = launch_geometry(k, attrs.global_size, attrs.local_size)
            data = [*geo.local, *geo.groups, *geo.offset]
            arr_t = ir.ArrayType(T.I64, len(data))
            g = ir.GlobalVariable(self.mb.module, arr_t, self.mb.unique(f"{k.name}_geometry"))
            g.global_constant, g.linkage = True, "internal"
            g.initializer = ir.Constant(arr_t, data)
            geometry = b.bitcast(g, T.I8P)
        fn = self.mb.module.get_global(entry)
        b.call(fn, [b.bitcast(args, T.I8P), geometry])

    def finish(self) -> None:
        self.b.ret_void()

    def stamp(self, i: int) -> None:
        """A call of the profiling callback (profile.py) with `i`."""
        from .profile import PROFILE
        fn = self.mb.module.globals.get(PROFILE)
        if fn is None:
            fn = ir.Function(self.mb.module, ir.FunctionType(T.VOID, [T.I64]), PROFILE)
        self.b.call(fn, [ir.Constant(T.I64, i)])


def graph_ir(graph: Graph, target: CpuTarget, reuse: bool = True,
             profile: bool = False, progress: Progress | None = None) -> tuple[str, Layout]:
    """The LLVM IR of a lowered graph's kernels and its `dlc_graph` entry, and its layout;
    with `profile`, `dlc_graph` calls `dlc_profile(i)` around kernel calls (profile.py)."""
    check_lowered(graph)
    lay = layout(graph, reuse)
    mb = ModuleBuilder(target, graph.name or "graph")
    entries: list[str] = []
    seen: dict[Kernel, str] = {}  # kernels that differ only in name are compiled once
    with progress_task(progress, "generate LLVM IR", len(graph.nodes)) as step:
        for n in graph.nodes:
            k: Kernel = n.attrs.kernel
            key = dataclasses.replace(k, name="")
            entry = seen.get(key)
            if entry is None:
                try:
                    entry = seen[key] = mb.add_kernel(k)
                except UnsupportedOp as e:
                    raise UnsupportedOp(f"the cpu target cannot compile kernel '{k.name}' of "
                                        f"node '{n.name}': {e}", op=e.op, node=n.name,
                                        target=TARGET) from None
            entries.append(entry)
            step.advance()
    em = _GraphEmitter(mb, lay, entries)
    for i, (n, entry) in enumerate(zip(graph.nodes, entries)):
        if profile:
            em.stamp(i)
        em.call(n.attrs, n.inputs, n.outputs, entry)
    if profile:
        em.stamp(len(graph.nodes))
    em.finish()
    return mb.text(), lay


class GraphProgram:
    """A lowered graph compiled to native code: `run(inputs)` returns its outputs."""

    def __init__(self, graph: Graph, engine: Engine, lay: Layout, threads: int,
                 from_cache: bool = False):
        self.graph, self.engine, self.layout = graph, engine, lay
        self.threads, self.from_cache = max(1, threads), from_cache
        self._fn = GRAPH_ENTRY(engine.address(ENTRY))
        self._consts = {v: np.ascontiguousarray(a) for v, a in graph.constants.items()
                        if v in lay.slots}
        self._lock = threading.Lock()
        self._arena = np.empty(max(lay.arena_bytes, 1), np.uint8)

    @property
    def peak_bytes(self) -> int:
        plan = self.layout.plan
        return plan.peak_bytes if plan is not None else 0

    def __call__(self, inputs: Sequence[Any]) -> list[Any]:
        return self.run(inputs)

    def run(self, inputs: Sequence[Any]) -> list[np.ndarray]:
        g, lay = self.graph, self.layout
        if len(inputs) != len(g.inputs):
            raise InputError(f"the graph takes {len(g.inputs)} input(s), got {len(inputs)}")
        table = (ctypes.c_void_p * lay.table_size)()
        keep: list[np.ndarray] = []

        def bind(v: Value, a: np.ndarray) -> None:
            keep.append(a)
            table[lay.slots[v]] = a.ctypes.data

        for v, x in zip(g.inputs, inputs):
            t = v.type
            assert isinstance(t, TensorType)
            bind(v, np.ascontiguousarray(x, dtype=t.dtype.np))
        outs: dict[Value, np.ndarray] = {}
        for v in g.outputs:
            t = v.type
            assert isinstance(t, TensorType)
            if v in lay.slots and v not in g.inputs and v not in g.constants and v not in outs:
                outs[v] = np.empty(t.static_shape, t.dtype.np)  # a constant output is copied
                bind(v, outs[v])
        for v, a in self._consts.items():
            if v not in outs:
                bind(v, a)
        with self._lock:
            table[lay.arena_slot] = self._arena.ctypes.data
            with launch_threads(self.threads):
                self._fn(ctypes.addressof(table))
        result: list[np.ndarray] = []
        for v in g.outputs:
            if v in outs:
                a = outs[v]
            elif v in g.constants:
                a = np.array(g.constants[v], copy=True)
            else:  # a graph input passed straight through
                a = np.array(inputs[g.inputs.index(v)], copy=True)
            result.append(a if not any(a is r for r in result) else a.copy())
        return result

    def values(self) -> dict[str, np.ndarray]:
        """Every intermediate value of the last run, by name — only for a program compiled with
        `reuse=False` (`dlc run --compare`), where no two values share bytes."""
        if self.layout.plan is not None:
            raise DlcError("values() needs a program compiled with reuse=False")
        out = {}
        for v, off in self.layout.offsets.items():
            t = v.type
            assert isinstance(t, TensorType)
            raw = self._arena[off:off + _value_bytes(v)]
            out[v.name] = raw.view(t.dtype.np).reshape(t.static_shape).copy()
        return out


def compile_graph(graph: Graph, target: CpuTarget, opt_level: int = 3, threads: int | None = None,
                  cache_dir: Any = None, reuse: bool = True,
                  profile: bool = False, progress: Progress | None = None) -> GraphProgram:
    """Compile a lowered graph (every node a KernelCall) for `target`; `reuse=False` keeps every
    value in a buffer of its own (see GraphProgram.values); `profile` builds the program that
    profile.kernel_times times kernel by kernel."""
    if profile:
        from .profile import bind_profile_symbol
        bind_profile_symbol()
    text, lay = graph_ir(graph, target, reuse, profile, progress)
    with progress_task(progress, f"LLVM -O{opt_level} and code generation"):
        engine, cached = compile_ir(text, target, opt_level, cache_dir)
    return GraphProgram(graph, engine, lay, threads or target.cores, cached)


def load_graph(graph: Graph, obj: bytes, target: CpuTarget, threads: int | None = None,
               digest: str | None = None) -> GraphProgram:
    """A GraphProgram from saved object code (no LLVM optimization or code generation)."""
    check_lowered(graph)
    lay = layout(graph)
    if digest is not None and lay.digest() != digest:
        raise DlcError("the artifact's buffer layout does not match its graph (was it written "
                       "by another dlc version?): recompile the model")
    return GraphProgram(graph, Engine(obj, target), lay, threads or target.cores)

"""The cpu backend: Kernel IR to native code through llvmlite, run on every core.

    ck = compile_kernel(kernel)                       # CompiledKernel
    ck.run([n, x, y])                                 # a loop kernel
    ck.launch([n, 2.0, x, y], global_size=(n,), local_size=(64,))   # an SPMD kernel

codegen.py / exprs.py / llmath.py / lltypes.py generate LLVM IR with llvmlite's IRBuilder;
parallel.py outlines parallel loops, spmd*.py turns SPMD kernels into loops over work-groups
and work-items; jit.py optimizes for the host (target.py) and loads object code (optionally
cached on disk); threads.py runs parallel loops on all cores (through omp.py's libgomp runtime,
or a Python thread pool); compiled.py packs arguments; calibrate.py measures the host's roofline
and profile.py times the kernel calls of a profiling build.
"""
from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from ...errors import UnsupportedOp
from ...ir.kernel import Kernel
from ...ir.verify import verify_kernel
from ...options import CompileOptions
from . import rules  # noqa: F401  (registers the cpu lowering rules)
from .codegen import ModuleBuilder
from .compiled import CompiledKernel
from .jit import compile_ir, optimized_ir
from .target import CpuTarget, TargetDesc, host_target

TARGET = "cpu"

__all__ = ["CompiledKernel", "CpuTarget", "TargetDesc", "compile_kernel", "compile_kernels",
           "host_target", "kernel_ir", "launcher", "optimized_ir"]


def kernel_ir(kernels: Sequence[Kernel], target: CpuTarget | None = None) -> tuple[str, list[str]]:
    """The LLVM IR text of one module holding `kernels`, and their entry names."""
    mb = ModuleBuilder(target or host_target())
    entries = []
    for k in kernels:
        try:
            entries.append(mb.add_kernel(k))
        except UnsupportedOp as e:
            if str(e).startswith(f"kernel '{k.name}'"):
                raise
            raise UnsupportedOp(f"kernel '{k.name}': {e}", e.op, k.name, TARGET) from None
    return mb.text(), entries


def compile_kernels(kernels: Sequence[Kernel], target: CpuTarget | None = None, *,
                    options: CompileOptions | None = None) -> list[CompiledKernel]:
    """Compile several kernels into one native module (one LLVM optimization and one JIT link
    for all of them)."""
    target = target or host_target()
    opts = options or CompileOptions(target=TARGET)
    for k in kernels:
        verify_kernel(k)
    text, entries = kernel_ir(kernels, target)
    opt = 3 if opts.opt_level >= 2 else opts.opt_level
    engine, cached = compile_ir(text, target, opt, opts.cache_dir)
    return [CompiledKernel(k, engine, e, target, opts.threads, text, cached)
            for k, e in zip(kernels, entries)]


def compile_kernel(kernel: Kernel, target: CpuTarget | None = None, *,
                   options: CompileOptions | None = None) -> CompiledKernel:
    """Compile one kernel to native code for `target` (the host CPU by default)."""
    return compile_kernels([kernel], target, options=options)[0]


def launcher(options: CompileOptions | None = None) -> Any:
    """A runtime.KernelLauncher running kernels natively (each compiled on first launch)."""
    compiled: dict[int, tuple[weakref.ref[Kernel], CompiledKernel]] = {}

    def launch(kernel: Kernel, args: list[Any], global_size: tuple[int, ...] | None,
               local_size: tuple[int, ...] | None) -> None:
        hit = compiled.get(id(kernel))
        if hit is None or hit[0]() is not kernel:
            ck = compile_kernel(kernel, options=options)
            compiled[id(kernel)] = (weakref.ref(kernel), ck)
        else:
            ck = hit[1]
        if kernel.is_spmd:
            assert global_size is not None
            ck.launch(args, global_size, local_size)
        else:
            ck.run(args)
    return launch

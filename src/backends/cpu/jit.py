"""LLVM IR text to callable native code: optimization at level 3 for the host CPU (its name and
features), object code, an MCJIT engine, function addresses.

Code is always loaded from object code: the module is optimized and compiled to an object file
by the target machine, and the engine links that object. The object can therefore be kept on
disk (`cache_dir`) under a key made of the IR text, the optimization level, the target (triple,
CPU, features) and the code generator's version, and a later process loads it without running
LLVM's optimizer or code generator again.
"""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from ...errors import DlcError
from .target import CpuTarget

CODEGEN_VERSION = "1"  # bump when generated code changes meaning (invalidates the disk cache)
_lock = threading.Lock()


@functools.cache
def llvm_binding() -> ModuleType:
    """llvmlite.binding, initialized for the native target, with dlc's runtime symbols."""
    import llvmlite.binding as llvm

    from .codegen import PARALLEL_FOR
    from .threads import parallel_for_address
    try:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
    except RuntimeError:  # pragma: no cover - older llvmlite needs initialize() first
        llvm.initialize()
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
    llvm.add_symbol(PARALLEL_FOR, parallel_for_address(llvm))
    return llvm


@functools.cache
def target_machine(target: CpuTarget, opt_level: int = 3) -> Any:
    """The target machine that optimizes and emits code (shared; use under the lock)."""
    return new_target_machine(target, opt_level)


def new_target_machine(target: CpuTarget, opt_level: int = 3) -> Any:
    """A target machine of its own (an engine takes ownership of the one it is given)."""
    llvm = llvm_binding()
    t = llvm.Target.from_triple(target.triple)
    return t.create_target_machine(cpu=target.cpu, features=target.features, opt=opt_level,
                                   reloc="default", codemodel="jitdefault", jit=True)


def data_layout(target: CpuTarget) -> str:
    return str(target_machine(target).target_data)


class Engine:
    """Native code loaded into this process; keep it alive while its functions may be called."""

    def __init__(self, obj: bytes, target: CpuTarget):
        llvm = llvm_binding()
        self.object, self.target = obj, target
        self._ee = llvm.create_mcjit_compiler(llvm.parse_assembly(""), new_target_machine(target))
        self._ee.add_object_file(llvm.ObjectFileRef.from_data(obj))
        self._ee.finalize_object()

    def address(self, name: str) -> int:
        addr = int(self._ee.get_function_address(name))
        if not addr:
            raise DlcError(f"cpu backend: no function '{name}' in the compiled code")
        return addr


def cache_key(text: str, target: CpuTarget, opt_level: int) -> str:
    h = hashlib.sha256()
    for part in (CODEGEN_VERSION, str(opt_level), target.key, text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def optimize_and_emit(text: str, target: CpuTarget, opt_level: int = 3) -> bytes:
    """Parse and verify the IR, run LLVM's O`opt_level` pipeline for the host, emit an object."""
    llvm = llvm_binding()
    with _lock:  # the pass builder and target machine are not thread-safe
        mod = llvm.parse_assembly(text)
        mod.verify()
        tm = target_machine(target)
        if opt_level > 0:
            pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
            pto.loop_vectorization = opt_level >= 2
            pto.slp_vectorization = opt_level >= 2
            pb = llvm.create_pass_builder(tm, pto)
            pb.getModulePassManager().run(mod, pb)
        return bytes(tm.emit_object(mod))


def optimized_ir(text: str, target: CpuTarget, opt_level: int = 3) -> str:
    """The module after optimization, as text (for tests and `dlc inspect`)."""
    llvm = llvm_binding()
    with _lock:
        mod = llvm.parse_assembly(text)
        mod.verify()
        pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
        pb = llvm.create_pass_builder(target_machine(target), pto)
        pb.getModulePassManager().run(mod, pb)
        return str(mod)


def compile_ir(text: str, target: CpuTarget, opt_level: int = 3,
               cache_dir: Path | None = None) -> tuple[Engine, bool]:
    """An engine for the module `text`; True when its object came from the disk cache."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "cpu" / f"{cache_key(text, target, opt_level)}.o"
        if path.is_file():
            return Engine(path.read_bytes(), target), True
    obj = optimize_and_emit(text, target, opt_level)
    if path is not None:
        _write_atomic(path, obj)
    return Engine(obj, target), False


def _write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename, so a reader never sees half an object."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

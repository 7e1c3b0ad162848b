"""Compiled kernels and their launches: arguments packed into the native calling convention.

Every kernel's native entry is `void entry(void** args, int64_t* geometry)`: `args[i]` points at
parameter i's data (a buffer's first element, or a scalar's value). Arrays are passed by pointer,
not copied: the caller guarantees their sizes. `geometry` (SPMD kernels only) holds the launch:
local sizes, group counts and global offsets on 3 axes, then the bytes per work-group of each
local-memory parameter, in parameter order.
"""
from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import InputError
from ...ir.kernel import Buffer, Kernel, MemScope, Var
from ...ir.kernel.interpret import launch_geometry
from .jit import Engine
from .target import CpuTarget
from .threads import launch_threads

ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class CompiledKernel:
    """One kernel as native code. `run(args)` for loop kernels; `launch(args, global_size,
    local_size)` for SPMD kernels. `args` has one entry per parameter: a number (or a sequence
    of `lanes` numbers) for a scalar, a C-contiguous numpy array of the element dtype for a
    global or constant buffer (written in place), a byte count (or anything with `.nbytes`) for
    a local-memory buffer."""

    def __init__(self, kernel: Kernel, engine: Engine, entry: str, target: CpuTarget,
                 threads: int | None = None, ir_text: str = "", from_cache: bool = False):
        self.kernel, self.engine, self.entry, self.target = kernel, engine, entry, target
        self.threads = threads or target.cores
        self.ir_text = ir_text  # the LLVM IR of the module before optimization
        self.from_cache = from_cache
        self._fn = ENTRY(engine.address(entry))

    @property
    def name(self) -> str:
        return self.kernel.name

    def __repr__(self) -> str:
        return f"<CompiledKernel {self.name} cpu{' (spmd)' if self.kernel.is_spmd else ''}>"

    def run(self, args: Sequence[Any]) -> None:
        """Run a loop kernel (one without an SPMD domain) once."""
        if self.kernel.is_spmd:
            raise InputError(f"kernel '{self.name}' is an SPMD kernel: use launch(args, "
                             "global_size=..., local_size=...)")
        slots, keep = self._pack(args)
        with launch_threads(self.threads):
            self._fn(ctypes.addressof(slots), None)
        del keep

    def launch(self, args: Sequence[Any], global_size: int | Sequence[int],
               local_size: int | Sequence[int] | None = None,
               global_offset: Sequence[int] | None = None) -> None:
        """One launch of an SPMD kernel over `global_size` work-items in groups of
        `local_size` (chosen when None), as the interpreter's launch_geometry checks it."""
        k = self.kernel
        if not k.is_spmd:
            raise InputError(f"kernel '{self.name}' is not an SPMD kernel: use run(args)")
        geo = launch_geometry(k, global_size, local_size, global_offset)
        slots, keep = self._pack(args)
        local_bytes = [self._local_bytes(p, x) for p, x in zip(k.params, args)
                       if isinstance(p, Buffer) and p.scope is MemScope.LOCAL]
        g = np.array([*geo.local, *geo.groups, *geo.offset, *local_bytes], np.int64)
        with launch_threads(self.threads):
            self._fn(ctypes.addressof(slots), g.ctypes.data)
        del keep

    # -- arguments -------------------------------------------------------------------------------
    def _pack(self, args: Sequence[Any]) -> tuple[Any, list[Any]]:
        k = self.kernel
        if len(args) != len(k.params):
            raise InputError(f"kernel '{self.name}' takes {len(k.params)} argument(s), got "
                             f"{len(args)}")
        keep: list[Any] = []
        slots = (ctypes.c_void_p * max(1, len(args)))()
        for i, (p, x) in enumerate(zip(k.params, args)):
            if isinstance(p, Var):
                a = self._scalar(p, x)
            elif p.scope is MemScope.LOCAL:
                continue  # sized by the geometry, allocated per work-group
            else:
                a = self._array(p, x)
            keep.append(a)
            slots[i] = a.ctypes.data
        return slots, keep

    def _scalar(self, p: Var, x: Any) -> np.ndarray:
        t, dt = p.type, p.type.dtype.np
        what = f"kernel '{self.name}': argument %{p.name} ({t})"
        if t.lanes > 1:
            a = np.asarray(x)
            if a.shape != (t.lanes,):
                raise InputError(f"{what} takes {t.lanes} values, not {a.shape}")
            return np.ascontiguousarray(a.astype(dt))
        if isinstance(x, np.ndarray) and x.ndim == 0:
            x = x[()]
        if t.is_bool:
            return np.array(bool(x), np.bool_)
        if t.is_int:
            if isinstance(x, (float, np.floating)) or not isinstance(x, (int, np.integer,
                                                                          np.bool_)):
                raise InputError(f"{what} takes an int, not {type(x).__name__} {x!r}")
            info = np.iinfo(dt)
            if not info.min <= int(x) <= info.max:
                raise InputError(f"{what}: {int(x)} is out of range")
            return np.array(int(x), dt)
        return np.asarray(x).astype(dt).reshape(())

    def _array(self, p: Buffer, x: Any) -> np.ndarray:
        dt = p.elem.dtype.np
        what = f"kernel '{self.name}': buffer %{p.name}"
        if not isinstance(x, np.ndarray):
            raise InputError(f"{what} takes a numpy array, not {type(x).__name__}")
        if x.dtype != dt or not x.flags.c_contiguous:
            raise InputError(f"{what} takes a C-contiguous array of {dt}, not a "
                             f"{'non-contiguous ' if x.dtype == dt else ''}{x.dtype} array")
        if p.write and not x.flags.writeable:
            raise InputError(f"{what} is written, but its array is read-only")
        return x

    def _local_bytes(self, p: Buffer, x: Any) -> int:
        n = getattr(x, "nbytes", x)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise InputError(f"kernel '{self.name}': local buffer %{p.name} takes its size in "
                             f"bytes (dlc.LocalMemory(nbytes)), not {type(x).__name__}")
        return int(n)

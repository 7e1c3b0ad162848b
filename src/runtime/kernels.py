"""Modules of OpenCL C / CUDA C kernels: what `dlc.compile("k.cl")` returns.

    m = dlc.compile("saxpy.cl")
    m.kernel_names                                              # ['saxpy']
    m["saxpy"](n, 2.0, x, y, global_size=(n,), local_size=(64,))   # OpenCL-style launch
    m["saxpy"](n, 2.0, x, y, grid=(n // 64,), block=(64,))          # CUDA-style, either language
    m["reduce"](x, out, dlc.LocalMemory(256), n, global_size=(1024,), local_size=(64,))

Every argument is checked before anything runs: the count, each scalar's type and range, each
buffer's dtype, contiguity and writability, local memory sizes, the launch sizes. Arrays are
copied in; those bound to pointers the kernel writes are copied back into the caller's arrays
after a successful launch. Launches are synchronous.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import ArtifactError, InputError
from ..ir.kernel import Buffer, Kernel, MemScope, ScalarType, Var
from ..ir.kernel.interpret import choose_local_size, eval_dim, launch_geometry, run_kernel
from ..options import DLC_VERSION

FORMAT_VERSION = 1
MAX_GROUP_SIZE = 1024  # work-items per group, as on CUDA GPUs and most OpenCL devices

_C_NAMES = {"f16": "half", "bf16": "bfloat16", "f32": "float", "f64": "double", "i8": "char",
            "u8": "uchar", "i16": "short", "u16": "ushort", "i32": "int", "u32": "uint",
            "i64": "long", "u64": "ulong", "bool": "bool"}


class LocalMemory:
    """Work-group local memory for a `__local` pointer argument, as pyopencl.LocalMemory:
    `nbytes` bytes for each work-group."""

    def __init__(self, nbytes: int):
        if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes < 0:
            raise InputError(f"LocalMemory takes a byte count (an int >= 0), not {nbytes!r}")
        self.nbytes = int(nbytes)

    def __repr__(self) -> str:
        return f"LocalMemory({self.nbytes})"


class KernelLauncher(Protocol):
    """What a target hands a KernelModule: run one checked launch. `args` has one entry per
    kernel parameter: numpy scalars (1-d arrays for vector scalars), C-contiguous arrays of the
    element dtype (written in place), and byte counts for local buffers."""

    def __call__(self, kernel: Kernel, args: list[Any], global_size: tuple[int, ...] | None,
                 local_size: tuple[int, ...] | None) -> None: ...


def reference_launcher(kernel: Kernel, args: list[Any], global_size: tuple[int, ...] | None,
                       local_size: tuple[int, ...] | None) -> None:
    """The reference target: dlc's kernel interpreter (and sanitizer)."""
    run_kernel(kernel, args, global_size, local_size)


def type_text(t: ScalarType) -> str:
    """The C spelling of a kernel type (`float`, `uint4`)."""
    base = _C_NAMES.get(str(t.dtype), str(t.dtype))
    return base if t.lanes == 1 else f"{base}{t.lanes}"


def param_text(p: Var | Buffer) -> str:
    if isinstance(p, Var):
        return f"{type_text(p.type)} {p.name}"
    space = {MemScope.LOCAL: "__local ", MemScope.CONSTANT: "__constant "}.get(p.scope, "")
    const = "const " if not p.write and p.scope is not MemScope.CONSTANT else ""
    return f"{space}{const}{type_text(p.elem)}* {p.name}"


def _sizes(x: Any, what: str, where: str) -> tuple[int, ...] | None:
    if x is None:
        return None
    t = (x,) if isinstance(x, (int, np.integer)) else tuple(x) if isinstance(x, (tuple, list)) \
        else None
    if t is None or not 1 <= len(t) <= 3 or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in t):
        raise InputError(f"{where}: {what} must be an int or a tuple of 1 to 3 ints, not {x!r}")
    if any(v <= 0 for v in t):
        raise InputError(f"{where}: {what} {list(t)} must be positive")
    return tuple(int(v) for v in t)


class BoundKernel:
    """One kernel of a module, ready to launch: `m["saxpy"](*args, global_size=..., ...)`."""

    def __init__(self, kernel: Kernel, launcher: KernelLauncher):
        self.kernel, self.launcher = kernel, launcher
        self.name = kernel.name
        self.positional = [p for p in kernel.params if p.name != kernel.dynamic_shared]

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(param_text(p) for p in self.positional)})"

    def __repr__(self) -> str:
        return f"<kernel {self.signature}>"

    def __call__(self, *args: Any, global_size: Any = None, local_size: Any = None,
                 grid: Any = None, block: Any = None, shared_mem: int = 0) -> None:
        gs, ls = self.launch_sizes(global_size, local_size, grid, block)
        if len(args) != len(self.positional):
            raise InputError(f"kernel '{self.name}' takes {len(self.positional)} argument(s), "
                             f"got {len(args)}: {self.signature}")
        if isinstance(shared_mem, bool) or not isinstance(shared_mem, (int, np.integer)) \
                or shared_mem < 0:
            raise InputError(f"kernel '{self.name}': shared_mem is a byte count (an int >= 0), "
                             f"not {shared_mem!r}")
        given = dict(zip((p.name for p in self.positional), args))
        if self.kernel.dynamic_shared is not None:
            given[self.kernel.dynamic_shared] = LocalMemory(int(shared_mem))
        device: list[Any] = []
        copies: dict[int, np.ndarray] = {}
        back: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i, p in enumerate(self.kernel.params):
            x = given[p.name]
            if isinstance(p, Var):
                device.append(self.scalar(i, p, x))
            elif p.scope is MemScope.LOCAL:
                device.append(self.local(i, p, x))
            else:
                arr = self.array(i, p, x)
                copy = copies.get(id(arr))
                if copy is None:  # one array bound twice is one buffer, as on a device
                    copy = copies[id(arr)] = np.array(arr, order="C", copy=True)
                if p.write:
                    back[id(arr)] = (arr, copy)
                device.append(copy)
        self.check_declared_sizes(device)
        self.launcher(self.kernel, device, gs, ls)
        for arr, copy in back.values():
            np.copyto(arr, copy)

    # -- checks ----------------------------------------------------------------------------------
    def launch_sizes(self, global_size: Any, local_size: Any, grid: Any,
                     block: Any) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
        where = f"kernel '{self.name}'"
        gs: tuple[int, ...] | None
        ls: tuple[int, ...] | None
        if (global_size is not None or local_size is not None) and (
                grid is not None or block is not None):
            raise InputError(f"{where}: give global_size/local_size (OpenCL) or grid/block "
                             "(CUDA), not both")
        if grid is not None or block is not None:
            g, b = _sizes(grid, "grid", where), _sizes(block, "block", where)
            if g is None or b is None:
                raise InputError(f"{where}: a CUDA-style launch needs both grid= and block=")
            b = b + (1,) * (len(g) - len(b))
            g = g + (1,) * (len(b) - len(g))
            gs, ls = tuple(x * y for x, y in zip(g, b)), b
        else:
            gs, ls = _sizes(global_size, "global_size", where), _sizes(local_size, "local_size",
                                                                       where)
        k = self.kernel
        if k.domain is None:
            if gs is not None or ls is not None:
                raise InputError(f"{where} is not an SPMD kernel; it takes no launch sizes")
            return None, None
        if gs is None:
            raise InputError(f"{where}: give global_size= (and local_size=) or grid= and block=")
        if ls is None:
            ls = k.domain.local_size or choose_local_size(gs)
        if int(np.prod(ls)) > MAX_GROUP_SIZE:
            raise InputError(f"{where}: a work-group of {list(ls)} is {int(np.prod(ls))} "
                             f"work-items; at most {MAX_GROUP_SIZE} are allowed")
        launch_geometry(k, gs, ls)  # multiples, required local size, axes
        return gs, ls

    def scalar(self, i: int, p: Var, x: Any) -> Any:
        t = p.type
        what = f"kernel '{self.name}': argument {i} ({type_text(t)} {p.name})"
        if t.lanes > 1:
            a = np.asarray(x)
            if a.shape != (t.lanes,) or a.dtype.kind not in "biuf":
                raise InputError(f"{what} takes {t.lanes} numbers, not {x!r}")
            return a.astype(t.dtype.np)
        if isinstance(x, np.ndarray) and x.ndim == 0:
            x = x[()]
        if t.is_bool:
            if not isinstance(x, (bool, np.bool_, int, np.integer)):
                raise InputError(f"{what} takes a bool, not {type(x).__name__} {x!r}")
            return np.bool_(bool(x))
        if t.is_int:
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
                raise InputError(f"{what} takes an int, not {type(x).__name__} {x!r}")
            info = np.iinfo(t.dtype.np)
            if not info.min <= int(x) <= info.max:
                raise InputError(f"{what}: {int(x)} is outside the range of {type_text(t)} "
                                 f"[{info.min}, {info.max}]")
            return t.dtype.np.type(int(x))
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer,
                                                                  np.floating)):
            raise InputError(f"{what} takes a number, not {type(x).__name__} {x!r}")
        return np.asarray(x).astype(t.dtype.np)[()]

    def local(self, i: int, p: Buffer, x: Any) -> int:
        size = p.elem.dtype.np.itemsize * p.elem.lanes
        if p.name == self.kernel.dynamic_shared:
            what = f"kernel '{self.name}': shared_mem ({type_text(p.elem)} {p.name}[])"
        else:
            what = f"kernel '{self.name}': argument {i} ({param_text(p)})"
            if not isinstance(x, LocalMemory):
                raise InputError(f"{what} is local memory: pass dlc.LocalMemory(nbytes), not "
                                 f"{type(x).__name__}")
        if x.nbytes % size:
            raise InputError(f"{what}: {x.nbytes} bytes is not a whole number of "
                             f"{type_text(p.elem)} ({size} bytes each)")
        return x.nbytes

    def array(self, i: int, p: Buffer, x: Any) -> np.ndarray:
        what = f"kernel '{self.name}': argument {i} ({param_text(p)})"
        dt = p.elem.dtype.np
        if isinstance(x, LocalMemory):
            raise InputError(f"{what} is {p.scope} memory; LocalMemory is for __local pointers")
        if not isinstance(x, np.ndarray):
            raise InputError(f"{what} takes a numpy array of {dt}, not {type(x).__name__}")
        if x.dtype != dt:
            raise InputError(f"{what} takes an array of {dt}, not {x.dtype}"
                             + (f" ({p.elem.lanes} {dt} values per element)"
                                if p.elem.lanes > 1 else ""))
        if not x.flags.c_contiguous:
            raise InputError(f"{what}: the array is not C-contiguous (a strided view?); pass "
                             "np.ascontiguousarray(...) and copy the result back yourself")
        if p.write and not x.flags.writeable:
            raise InputError(f"{what}: the kernel writes this buffer, but the array is "
                             "read-only")
        if x.size % p.elem.lanes:
            raise InputError(f"{what}: {x.size} values are not a whole number of "
                             f"{type_text(p.elem)} elements ({p.elem.lanes} values each)")
        return x

    def check_declared_sizes(self, device: list[Any]) -> None:
        env = {p.name: int(v) for p, v in zip(self.kernel.params, device)
               if isinstance(p, Var) and p.type.is_int and p.type.lanes == 1}
        for i, (p, v) in enumerate(zip(self.kernel.params, device)):
            if not isinstance(p, Buffer) or p.shape is None:
                continue
            dims = [eval_dim(d, env, self.kernel) for d in p.shape]
            need = int(np.prod(dims)) * p.elem.lanes
            have = v.size if isinstance(v, np.ndarray) else v // p.elem.dtype.np.itemsize
            if have < need:
                raise InputError(f"kernel '{self.name}': argument {i} ({param_text(p)}) has "
                                 f"{have // p.elem.lanes} elements; the kernel declares it "
                                 f"[{', '.join(map(str, dims))}] ({need // p.elem.lanes})")


class KernelModule:
    """The kernels of one source file, compiled for a target."""

    kind = "kernels"

    def __init__(self, kernels: Sequence[Kernel], target: str = "reference",
                 launcher: KernelLauncher | None = None, language: str | None = None,
                 info: Mapping[str, Any] | None = None):
        self.kernels = {k.name: k for k in kernels}
        self.target, self.language = target, language
        self.launcher: KernelLauncher = launcher or reference_launcher
        self.info = dict(info or {})
        self._bound = {k.name: BoundKernel(k, self.launcher) for k in kernels}

    @property
    def kernel_names(self) -> list[str]:
        return list(self.kernels)

    def __getitem__(self, name: str) -> BoundKernel:
        try:
            return self._bound[name]
        except KeyError:
            raise InputError(f"no kernel '{name}' in this module; it has "
                             f"{', '.join(self.kernels) or 'none'}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.kernels

    def __iter__(self) -> Iterator[str]:
        return iter(self.kernels)

    def __len__(self) -> int:
        return len(self.kernels)

    def __repr__(self) -> str:
        return f"<KernelModule {self.target}: {', '.join(self.kernels)}>"

    def __str__(self) -> str:
        from ..ir.text import print_kernel
        return "\n".join(print_kernel(k) for k in self.kernels.values())

    # -- artifacts -------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the artifact directory: manifest.json and the kernels' IR text."""
        from ..ir.text import print_kernel
        out = Path(path)
        (out / "kernels").mkdir(parents=True, exist_ok=True)
        files = {}
        for i, (name, k) in enumerate(self.kernels.items()):
            fname = f"kernels/k{i}.dlcir"
            (out / fname).write_text(print_kernel(k))
            files[name] = fname
        manifest = {"format_version": FORMAT_VERSION, "dlc_version": DLC_VERSION,
                    "target": self.target, "kind": self.kind, "language": self.language,
                    "kernels": files, "info": self.info}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))


def load_kernel_module(root: Path, manifest: Mapping[str, Any],
                       launcher: KernelLauncher | None = None) -> KernelModule:
    """Read back what KernelModule.save wrote (dlc.load calls this for kind "kernels")."""
    from ..errors import ParseError
    from ..ir.text import parse_kernel
    kernels = []
    for name, fname in dict(manifest.get("kernels", {})).items():
        f = root / fname
        if not f.is_file():
            raise ArtifactError(f"{root}: kernel '{name}' is missing ({fname})")
        try:
            kernels.append(parse_kernel(f.read_text(), str(f)))
        except ParseError as e:
            raise ArtifactError(f"{root}: kernel '{name}' does not read back: {e}") from None
    return KernelModule(kernels, manifest.get("target", "reference"), launcher,
                        manifest.get("language"), manifest.get("info"))

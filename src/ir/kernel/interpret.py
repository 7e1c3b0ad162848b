"""The reference semantics of Kernel IR: run a kernel on numpy buffers for one launch.

    run_kernel(saxpy, [n, 2.0, x, y], global_size=(n,), local_size=(64,))   # writes y in place

An SPMD kernel runs work-group by work-group (several groups at a time, in lockstep over their
work-items: see interpret_codegen), with local memory per group, barriers every work-item of a
group must reach, atomics applied in work-item order, and 32-lane warps. It doubles as a sanitizer:
an out-of-bounds access, a barrier some work-items of a group miss, or an integer division by zero
is an ExecutionError naming the kernel, the buffer or barrier, the index and the work-item. A
kernel without a domain runs its body once.
"""
from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import DlcError, ExecutionError, InputError
from .expr import Binary, Buffer, Cast, Const, Expr, Unary, Var
from .interpret_codegen import Compiled, compile_kernel
from .interpret_lanes import Geometry, Lanes
from .interpret_memory import GROUP, SHARED, Mem, poison
from .stmt import Kernel
from .types import MemScope

BATCH_LANES = 32768  # work-items run together; whole groups, at least one
_compiled: dict[int, tuple[weakref.ref[Kernel], Compiled]] = {}


def compiled(k: Kernel) -> Compiled:
    """The kernel compiled for the interpreter (once per Kernel object)."""
    hit = _compiled.get(id(k))
    if hit is not None and hit[0]() is k:
        return hit[1]
    c = compile_kernel(k)
    key = id(k)  # the callback must not hold the kernel, or it would never be freed
    _compiled[key] = (weakref.ref(k, lambda _: _compiled.pop(key, None)), c)
    return c


def kernel_source(k: Kernel) -> str:
    """The Python source the interpreter runs for `k` (for debugging the interpreter)."""
    return compiled(k).source


def _sizes(x: int | Sequence[int] | None, what: str, name: str) -> tuple[int, ...] | None:
    if x is None:
        return None
    t = (x,) if isinstance(x, (int, np.integer)) else tuple(x)
    if not 1 <= len(t) <= 3 or any(not isinstance(v, (int, np.integer)) for v in t):
        raise InputError(f"kernel '{name}': {what} must be 1 to 3 integers, not {x!r}")
    return tuple(int(v) for v in t)


def choose_local_size(global_size: Sequence[int], limit: int = 256) -> tuple[int, ...]:
    """A work-group size that divides the global size: the largest divisor on axis 0 up to
    `limit`, then what room is left on the next axes."""
    out = []
    room = limit
    for g in global_size:
        d = max((c for c in range(1, min(g, room) + 1) if g % c == 0), default=1)
        out.append(d)
        room = max(1, room // d)
    return tuple(out)


def launch_geometry(k: Kernel, global_size: int | Sequence[int] | None,
                    local_size: int | Sequence[int] | None,
                    global_offset: Sequence[int] | None = None) -> Geometry:
    """Check a launch of `k` and lay it out on 3 axes."""
    if k.domain is None:
        if global_size is not None or local_size is not None:
            raise InputError(f"kernel '{k.name}' has no SPMD domain; it runs once and takes no "
                             "global or local size")
        return Geometry((1, 1, 1), (1, 1, 1))
    gs = _sizes(global_size, "the global size", k.name)
    ls = _sizes(local_size, "the local size", k.name)
    if gs is None:
        raise InputError(f"kernel '{k.name}' needs a global size")
    if any(g <= 0 for g in gs):
        raise InputError(f"kernel '{k.name}': global size {list(gs)} must be positive")
    if ls is None:
        ls = k.domain.local_size or choose_local_size(gs)
    if len(ls) < len(gs):
        ls = ls + (1,) * (len(gs) - len(ls))
    if len(ls) != len(gs):
        raise InputError(f"kernel '{k.name}': local size {list(ls)} and global size {list(gs)} "
                         "have different numbers of axes")
    if any(v <= 0 for v in ls):
        raise InputError(f"kernel '{k.name}': local size {list(ls)} must be positive")
    req = k.domain.local_size
    if req is not None and tuple(ls) + (1,) * (3 - len(ls)) != tuple(req) + (1,) * (3 - len(req)):
        raise InputError(f"kernel '{k.name}' requires local size {list(req)}, the launch gives "
                         f"{list(ls)}")
    bad = [a for a, (g, v) in enumerate(zip(gs, ls)) if g % v]
    if bad:
        raise InputError(f"kernel '{k.name}': global size {list(gs)} is not a multiple of local "
                         f"size {list(ls)} (axis {bad[0]})")
    off = tuple(global_offset or ()) + (0,) * (3 - len(global_offset or ()))
    pad = (1,) * (3 - len(gs))
    groups = tuple(g // v for g, v in zip(gs, ls)) + pad
    return Geometry(tuple(ls) + pad, groups, off[:3], len(gs))  # type: ignore[arg-type]


def eval_dim(e: Expr, env: dict[str, int], k: Kernel) -> int:
    """A buffer dimension from the kernel's scalar arguments."""
    if isinstance(e, Const):
        return int(e.value)
    if isinstance(e, Var) and e.name in env:
        return env[e.name]
    if isinstance(e, Cast):
        return eval_dim(e.x, env, k)
    if isinstance(e, Unary) and e.op == "neg":
        return -eval_dim(e.x, env, k)
    if isinstance(e, Binary):
        a, b = eval_dim(e.a, env, k), eval_dim(e.b, env, k)
        ops = {"add": a + b, "sub": a - b, "mul": a * b, "min": min(a, b), "max": max(a, b),
               "shl": a << b if b >= 0 else 0, "shr": a >> b if b >= 0 else 0}
        if e.op in ops:
            return ops[e.op]
        if e.op in ("div", "floordiv", "rem", "floormod") and b != 0:
            q = a // b if e.op == "floordiv" or (a >= 0) == (b >= 0) else -(-a // b)
            return {"div": q, "floordiv": a // b, "rem": a - q * b, "floormod": a % b}[e.op]
    raise InputError(f"kernel '{k.name}': cannot compute the buffer dimension `{e}` from the "
                     "scalar arguments")


def _scalar(p: Var, x: Any, k: Kernel) -> Any:
    dt = p.type.dtype.np
    if p.type.lanes > 1:
        a = np.asarray(x)
        if a.shape != (p.type.lanes,):
            raise InputError(f"kernel '{k.name}': argument %{p.name} is {p.type}: give "
                             f"{p.type.lanes} values, not {a.shape}")
        return a.astype(dt)
    if p.type.is_int:
        if isinstance(x, (float, np.floating)) or not isinstance(x, (int, np.integer, np.bool_)):
            raise InputError(f"kernel '{k.name}': argument %{p.name} is {p.type}, not "
                             f"{type(x).__name__} {x!r}")
        info = np.iinfo(dt)
        if not info.min <= int(x) <= info.max:
            raise InputError(f"kernel '{k.name}': {int(x)} does not fit argument %{p.name} of "
                             f"{p.type}")
        return dt.type(int(x))
    if p.type.is_bool:
        return np.bool_(bool(x))
    return np.asarray(x).astype(dt)[()]


def _buffer(p: Buffer, x: Any, env: dict[str, int], k: Kernel) -> Mem:
    if not isinstance(x, np.ndarray):
        raise InputError(f"kernel '{k.name}': buffer %{p.name} takes a numpy array, not "
                         f"{type(x).__name__}")
    dt, lanes = p.elem.dtype.np, p.elem.lanes
    if x.dtype != dt or not x.flags.c_contiguous:
        raise InputError(f"kernel '{k.name}': buffer %{p.name} takes a C-contiguous array of "
                         f"{dt}, not a {'non-contiguous ' if x.dtype == dt else ''}{x.dtype} array")
    if p.write and not x.flags.writeable:
        raise InputError(f"kernel '{k.name}': buffer %{p.name} is written, but its array is "
                         "read-only")
    flat: np.ndarray = x.reshape(-1)
    if lanes > 1:
        if flat.size % lanes:
            raise InputError(f"kernel '{k.name}': buffer %{p.name} holds {p.elem} elements; "
                             f"the array's {flat.size} values are not a multiple of {lanes}")
        flat = flat.reshape(-1, lanes)
    dims = None
    if p.shape is not None:
        dims = tuple(eval_dim(d, env, k) for d in p.shape)
        if int(np.prod(dims)) > len(flat) or min(dims, default=0) < 0:
            raise InputError(f"kernel '{k.name}': buffer %{p.name} is declared "
                             f"[{', '.join(map(str, dims))}] ({int(np.prod(dims))} elements), "
                             f"the array bound to it has {len(flat)}")
    return Mem(p.name, flat, dims, SHARED)


def _local_count(p: Buffer, x: Any, k: Kernel) -> int:
    nbytes = getattr(x, "nbytes", x)
    if not isinstance(nbytes, (int, np.integer)) or nbytes < 0:
        raise InputError(f"kernel '{k.name}': local buffer %{p.name} takes its size in bytes "
                         f"(dlc.LocalMemory(nbytes)), not {type(x).__name__}")
    return int(nbytes) // (p.elem.dtype.np.itemsize * p.elem.lanes)


def run_kernel(k: Kernel, args: Sequence[Any], global_size: int | Sequence[int] | None = None,
               local_size: int | Sequence[int] | None = None, *,
               global_offset: Sequence[int] | None = None,
               batch_lanes: int = BATCH_LANES) -> None:
    """Run one launch of `k`. `args` has one entry per parameter: a number for a scalar, a
    C-contiguous numpy array of the element dtype for a global or constant buffer (written in
    place), a size in bytes (or anything with `.nbytes`) for a local buffer."""
    if len(args) != len(k.params):
        raise InputError(f"kernel '{k.name}' takes {len(k.params)} argument(s), got {len(args)}")
    geo = launch_geometry(k, global_size, local_size, global_offset)
    env: dict[str, int] = {}
    values: list[Any] = [None] * len(args)
    for i, (p, x) in enumerate(zip(k.params, args)):
        if isinstance(p, Var):
            values[i] = _scalar(p, x, k)
            if p.type.is_int and p.type.lanes == 1:
                env[p.name] = int(values[i])
    locals_: dict[int, int] = {}
    for i, (p, x) in enumerate(zip(k.params, args)):
        if isinstance(p, Buffer):
            if p.scope is MemScope.LOCAL:
                locals_[i] = _local_count(p, x, k)
            else:
                values[i] = _buffer(p, x, env, k)
    c = compiled(k)
    S = geo.group_size
    per_batch = max(1, batch_lanes // S)
    with np.errstate(all="ignore"):
        for first in range(0, geo.group_count, per_batch):
            G = min(per_batch, geo.group_count - first)
            lanes = Lanes(k.name, geo, first, G, c.sites, c.barriers, k.domain is not None)
            for i, n in locals_.items():
                p = k.params[i]
                assert isinstance(p, Buffer)
                values[i] = Mem(p.name, poison(p.elem.dtype.np, n * G, p.elem.lanes), None,
                                GROUP if G > 1 else SHARED, n, "local")
            try:
                c.fn(lanes, *values)
            except DlcError:
                raise
            except Exception as e:  # a bug of the interpreter: say where, keep the cause
                raise ExecutionError(f"kernel '{k.name}': the reference interpreter failed: "
                                     f"{type(e).__name__}: {e}") from e

"""KernelCall: a graph node that runs a kernel (from OpenCL C / CUDA C, or made by lowering).

Inputs bind to the kernel's parameters in order: a scalar parameter takes a 0-d tensor of its dtype
(or a 1-d one of its lane count, for vector scalars); a buffer takes a tensor of its element dtype
(any shape: it binds as the flat buffer; a float4 buffer takes float32 data, 4 per element). An
input may be none for a buffer the kernel only writes. Outputs are new values for the buffers the
kernel may write, in parameter order (values are immutable: a written buffer is a new value).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ExecutionError
from ..kernel.expr import Buffer, Const, Var
from ..kernel.stmt import Kernel
from ..kernel.types import MemScope
from ..types import Dim, TensorType, Type
from .registry import InferCtx, RefCtx, op


@dataclass(frozen=True)
class KernelCallAttrs:
    """The kernel and its launch: global / local size in work-items (None: decided at run time,
    or, for a kernel without a domain, not used)."""

    kernel: Kernel
    global_size: tuple[int, ...] | None = None
    local_size: tuple[int, ...] | None = None


def _infer(c: InferCtx) -> list[Type]:
    a: KernelCallAttrs = c.attrs
    k = a.kernel
    if len(c.types) != len(k.params):
        raise c.error(f"kernel '{k.name}' takes {len(k.params)} argument(s), got {len(c.types)}")
    d = k.domain
    for what, size in (("global", a.global_size), ("local", a.local_size)):
        if size is not None and d is not None and len(size) != d.ndim:
            raise c.error(f"{what} size {list(size)} for kernel '{k.name}' of {d.ndim} axes")
    if d is not None and d.local_size is not None and a.local_size is not None \
            and tuple(a.local_size) != d.local_size:
        raise c.error(f"kernel '{k.name}' requires local size {list(d.local_size)}, the call "
                      f"gives {list(a.local_size)}")
    if a.global_size is not None and a.local_size is not None:
        if len(a.global_size) != len(a.local_size) or any(
                lsz <= 0 or g % lsz for g, lsz in zip(a.global_size, a.local_size)):
            raise c.error(f"global size {list(a.global_size)} is not a multiple of local size "
                          f"{list(a.local_size)}")
    known: dict[str, int] = {}
    for i, p in enumerate(k.params):
        if isinstance(p, Var):
            t = c.types[i]
            lanes = () if p.type.lanes == 1 else (p.type.lanes,)
            if not isinstance(t, TensorType) or t.dtype != p.type.dtype or t.shape != lanes:
                want = TensorType(p.type.dtype, lanes)
                raise c.error(f"argument {i} binds scalar parameter %{p.name}: {p.type}; it must "
                              f"be a {want}, not {t}")
            val = c.value(i)
            if val is not None and p.type.is_int and val.size == 1:
                known[p.name] = int(val.reshape(-1)[0])
    outs: list[Type] = []
    for i, p in enumerate(k.params):
        if not isinstance(p, Buffer):
            continue
        t = c.types[i]
        if t is None:
            if p.read:
                raise c.error(f"argument {i} is none, but kernel '{k.name}' reads buffer "
                              f"%{p.name}")
        elif not isinstance(t, TensorType) or t.dtype != p.elem.dtype:
            raise c.error(f"argument {i} binds buffer %{p.name} of {p.elem}; it must be a tensor "
                          f"of {p.elem.dtype}, not {t}")
        if p.write:
            outs.append(t if t is not None else _declared_type(c, p, known))
    return outs


def _declared_type(c: InferCtx, b: Buffer, known: dict[str, int]) -> TensorType:
    """The type of a write-only buffer given no input: from its declared shape."""
    if b.shape is None:
        raise c.error(f"buffer %{b.name} is flat and bound to none: give an input tensor so its "
                      "size is known")
    dims: list[Dim] = []
    for d in b.shape:
        if isinstance(d, Const) and isinstance(d.value, int):
            dims.append(d.value)
        elif isinstance(d, Var) and d.name in known:
            dims.append(known[d.name])
        else:
            dims.append(c.sym(d.name if isinstance(d, Var) else "d"))
    if b.elem.lanes > 1:
        dims.append(b.elem.lanes)
    return TensorType(b.elem.dtype, tuple(dims))


def _reference(attrs: KernelCallAttrs, *inputs: Any, ctx: RefCtx) -> Any:
    """Run the kernel interpreter on copies of the inputs (values are immutable); the written
    buffers, in parameter order, are the results."""
    from ..kernel.interpret import run_kernel

    k = attrs.kernel
    where = f"KernelCall node '{ctx.node_name}'"
    if k.domain is not None and attrs.global_size is None:
        raise ExecutionError(f"{where}: kernel '{k.name}' is SPMD and the call gives no global "
                             "size")
    known = {p.name: int(np.asarray(x)) for p, x in zip(k.params, inputs)
             if isinstance(p, Var) and p.type.is_int and p.type.lanes == 1}
    args: list[Any] = []
    outs: list[Any] = []
    for p, x in zip(k.params, inputs):
        if isinstance(p, Var):
            a = np.asarray(x)
            args.append(a.reshape(-1) if p.type.lanes > 1 else a[()])
            continue
        if x is None:
            arr = np.zeros(_count(p, known), p.elem.dtype.np)
        elif p.scope is MemScope.LOCAL:  # its contents belong to the launch: only the size counts
            arr = np.asarray(x)
        else:
            arr = np.array(x, dtype=p.elem.dtype.np, order="C", copy=True)
        args.append(arr.nbytes if p.scope is MemScope.LOCAL else arr)
        if p.write:
            outs.append(arr)
    run_kernel(k, args, attrs.global_size, attrs.local_size)
    return tuple(outs) if len(outs) != 1 else outs[0]


def _count(b: Buffer, known: dict[str, int]) -> tuple[int, ...]:
    """The declared shape of a buffer bound to none, from the call's scalar arguments."""
    if b.shape is None:
        raise ExecutionError(f"buffer %{b.name} is flat and bound to none: its size is unknown")
    dims: list[int] = []
    for d in b.shape:
        if isinstance(d, Const):
            dims.append(int(d.value))
        elif isinstance(d, Var) and d.name in known:
            dims.append(known[d.name])
        else:
            raise ExecutionError(f"buffer %{b.name}: dimension `{d}` is not known")
    return tuple(dims) + ((b.elem.lanes,) if b.elem.lanes > 1 else ())


op("KernelCall", KernelCallAttrs, infer=_infer, reference=_reference, traits=("kernel_call",),
   domain="dlc")

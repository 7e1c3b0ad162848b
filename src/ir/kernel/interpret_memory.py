"""Buffers of the kernel interpreter and every access to them, checked: the sanitizer half of the
interpreter. Loads, stores and atomics run for all active work-items of a batch at once; an index
outside its buffer (per dimension) in an active work-item is an ExecutionError naming the kernel,
the buffer, the index and the work-item. Atomics behave as if the active work-items ran them one
after another in work-item order.
"""
from __future__ import annotations

from typing import Any, NoReturn

import numpy as np

from .types import AtomicOp

Value = Any
Mask = np.ndarray | None  # None: every work-item of the batch

SHARED, GROUP, LANE = "shared", "group", "lane"  # one copy; one per work-group; one per work-item


class Mem:
    """A buffer as the interpreter holds it: `data` is 1-D of the element dtype (2-D, lanes last,
    for vector elements); `dims` is the shape one copy is indexed with; `kind` says whether there
    is one copy, one per work-group or one per work-item, `stride` elements apart."""

    __slots__ = ("name", "data", "dims", "shaped", "kind", "stride", "scope", "size")

    def __init__(self, name: str, data: np.ndarray, dims: tuple[int, ...] | None,
                 kind: str = SHARED, stride: int = 0, scope: str = "global"):
        self.name, self.data, self.kind, self.scope = name, data, kind, scope
        self.shaped = dims is not None
        count = stride if kind != SHARED else len(data)
        self.dims: tuple[int, ...] = dims if dims is not None else (count,)
        self.size = int(np.prod(self.dims))  # elements of one copy
        self.stride = stride

    def extent_text(self) -> str:
        if self.shaped and len(self.dims) > 1:
            return f"shape [{', '.join(map(str, self.dims))}]"
        n = self.dims[0]
        return f"{n} element{'s' if n != 1 else ''}"


def poison(dtype: np.dtype, count: int, lanes: int = 1) -> np.ndarray:
    """Storage whose every bit is set (NaN for floats, -1 or the maximum for ints, false for
    bools): what uninitialized memory holds here, so reading it shows."""
    shape = (count,) if lanes == 1 else (count, lanes)
    if dtype == np.bool_:
        return np.zeros(shape, np.bool_)
    return np.full(int(np.prod(shape)) * dtype.itemsize, 0xFF, np.uint8).view(dtype).reshape(shape)


_ACCUMULATE = {AtomicOp.ADD: np.add, AtomicOp.SUB: np.subtract, AtomicOp.AND: np.bitwise_and,
               AtomicOp.OR: np.bitwise_or, AtomicOp.XOR: np.bitwise_xor}


class MemoryOps:
    """Loads, stores and atomics of one batch of work-items (mixed into Lanes, which supplies the
    batch geometry and the error messages)."""

    L: int
    group_slot: Value
    lane_index: Value

    def fail_access(self, mem: Mem, site: int, lane: int, index: list[int], what: str,
                    extent: int) -> NoReturn:
        raise NotImplementedError

    # -- addressing ------------------------------------------------------------------------------
    def flat_index(self, mem: Mem, idx: tuple[Value, ...], m: Mask, site: int, extent: int,
                   what: str) -> Value:
        """The element offset into `mem.data` for each work-item (0 where inactive), after
        checking the index of every active work-item: each leading dimension within its extent,
        and the whole offset within the buffer (a row pointer may run past its row, as C code
        that flattens a 2-D array does)."""
        dims = mem.dims
        flat: Value = None
        for k, (i, d) in enumerate(zip(idx, dims)):
            a = np.asarray(i)
            ai = a if a.dtype == np.int64 else a.astype(np.int64)
            if k < len(dims) - 1:
                self._check(mem, idx, m, site, extent, what, ai, d - 1)
            flat = ai if flat is None else flat * d + ai
        if flat is None:  # a rank-0 buffer: its one element
            flat = np.int64(0)
        self._check(mem, idx, m, site, extent, what, flat, mem.size - extent)
        if mem.kind == GROUP:
            flat = flat + self.group_slot * mem.stride
        elif mem.kind == LANE:
            flat = flat + self.lane_index * mem.stride
        if m is not None and np.ndim(flat):
            flat = flat * m  # inactive work-items read element 0, which exists
        return flat

    def _check(self, mem: Mem, idx: tuple[Value, ...], m: Mask, site: int, extent: int,
               what: str, i: Value, hi: int) -> None:
        """Fail unless 0 <= i <= hi in every active work-item."""
        if np.ndim(i) == 0:
            ok = 0 <= int(i) <= hi or (m is not None and not m.any())
        elif hi < 0:
            ok = m is not None and not m.any()
        else:  # negative int64 values are huge as uint64: one comparison checks both ends
            out = i.view(np.uint64) > hi
            ok = not (out if m is None else m & out).any()
        if not ok:
            bad = np.broadcast_to((np.asarray(i) < 0) | (np.asarray(i) > hi), (self.L,))
            if m is not None:
                bad = bad & m
            lane = int(np.argmax(bad))
            values = [int(np.broadcast_to(np.asarray(x), (self.L,))[lane]) for x in idx]
            self.fail_access(mem, site, lane, values, what, extent)

    # -- loads and stores ------------------------------------------------------------------------
    def load(self, mem: Mem, idx: tuple[Value, ...], m: Mask, site: int, vl: int = 1) -> Value:
        """`mem[idx]`; with vl > 1, vl consecutive elements as one vector."""
        if m is not None and not m.any():
            shape = (self.L,) + mem.data.shape[1:] + ((vl,) if vl > 1 else ())
            return np.zeros(shape, mem.data.dtype)
        flat = self.flat_index(mem, idx, m, site, vl, "read")
        if vl == 1:  # an array index copies; a scalar one may give a view of a vector element
            return mem.data[np.asarray(flat)]
        return mem.data[np.asarray(flat)[..., None] + np.arange(vl)]

    def store(self, mem: Mem, idx: tuple[Value, ...], value: Value, m: Mask, site: int,
              vl: int = 1) -> None:
        """`mem[idx] = value`; several work-items writing one element: the last one wins."""
        if m is not None and not m.any():
            return
        flat = self.flat_index(mem, idx, m, site, vl, "write")
        v = np.asarray(value)
        varying = v.ndim > (1 if vl * mem.data.ndim > 1 else 0)
        fl = np.asarray(flat)
        if varying or m is not None:
            fl = np.broadcast_to(fl, (self.L,))
            if m is not None:
                fl = fl[m]
                if varying:
                    v = v[m]
        if vl > 1:
            fl = fl[..., None] + np.arange(vl)
        mem.data[fl] = v

    # -- atomics ---------------------------------------------------------------------------------
    def atomic(self, mem: Mem, op: AtomicOp, idx: tuple[Value, ...], value: Value,
               compare: Value, m: Mask, site: int, want: bool) -> Value:
        """Apply `op` for each active work-item, in work-item order; the old values when `want`."""
        data = mem.data
        dt = data.dtype
        if m is not None and not m.any():
            return np.zeros(self.L, dt) if want else None
        flat = self.flat_index(mem, idx, m, site, 1, f"atomic {op}")
        addr = np.broadcast_to(np.asarray(flat), (self.L,))

        def active(x: Value) -> np.ndarray:
            a = np.broadcast_to(np.asarray(x, dt), (self.L,))
            return a if m is None else a[m]
        addr = addr if m is None else addr[m]
        if op in (AtomicOp.INC, AtomicOp.DEC):
            op, vals = (AtomicOp.ADD if op is AtomicOp.INC else AtomicOp.SUB), active(dt.type(1))
        else:
            vals = active(value)
        if want and dt.kind in "iu" and op in (AtomicOp.ADD, AtomicOp.SUB):
            old = _fetch_add(data, addr, vals if op is AtomicOp.ADD else np.negative(vals))
        elif want or op in (AtomicOp.XCHG, AtomicOp.CAS):
            old = _one_by_one(data, op, addr, vals, None if compare is None else active(compare))
        else:
            _ufunc_at(data, op, addr, vals)
            return None
        if not want:
            return None
        if m is None:
            return old
        out = np.zeros(self.L, dt)
        out[m] = old
        return out


def _ufunc_at(data: np.ndarray, op: AtomicOp, addr: np.ndarray, vals: np.ndarray) -> None:
    if op in _ACCUMULATE:
        _ACCUMULATE[op].at(data, addr, vals)
    elif op in (AtomicOp.MIN, AtomicOp.MAX):
        is_float = data.dtype.kind == "f"
        uf = (np.fmin if is_float else np.minimum) if op is AtomicOp.MIN else \
            (np.fmax if is_float else np.maximum)
        uf.at(data, addr, vals)
    else:  # pragma: no cover - XCHG and CAS take the one-by-one path
        raise AssertionError(op)


def _fetch_add(data: np.ndarray, addr: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Integer fetch-and-add by many work-items at once: each gets the running sum of those
    before it at its address (wrapping, as the hardware does)."""
    dt = data.dtype
    n = len(addr)
    order = np.argsort(addr, kind="stable")
    fs, vs = addr[order], vals[order]
    start = np.ones(n, np.bool_)
    start[1:] = fs[1:] != fs[:-1]
    seg = np.cumsum(start) - 1
    incl = np.cumsum(vs, dtype=dt)
    excl = incl - vs
    seg_first = excl[start]
    old_sorted = data[fs] + (excl - seg_first[seg])
    ends = np.append(np.flatnonzero(start)[1:] - 1, n - 1)
    data[fs[start]] += incl[ends] - seg_first
    old = np.empty(n, dt)
    old[order] = old_sorted
    return old


def _one_by_one(data: np.ndarray, op: AtomicOp, addr: np.ndarray, vals: np.ndarray,
                compare: np.ndarray | None) -> np.ndarray:
    is_float = data.dtype.kind == "f"
    old = np.empty(len(addr), data.dtype)
    for j in range(len(addr)):
        a = int(addr[j])
        o = data[a]
        old[j] = o
        v = vals[j]
        if op is AtomicOp.CAS:
            assert compare is not None
            if o == compare[j]:
                data[a] = v
            continue
        if op is AtomicOp.ADD:
            data[a] = o + v
        elif op is AtomicOp.SUB:
            data[a] = o - v
        elif op is AtomicOp.MIN:
            data[a] = np.fmin(o, v) if is_float else min(o, v)
        elif op is AtomicOp.MAX:
            data[a] = np.fmax(o, v) if is_float else max(o, v)
        elif op is AtomicOp.AND:
            data[a] = o & v
        elif op is AtomicOp.OR:
            data[a] = o | v
        elif op is AtomicOp.XOR:
            data[a] = o ^ v
        else:  # XCHG
            data[a] = v
    return old

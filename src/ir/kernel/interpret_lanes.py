"""One batch of work-items run in lockstep by the kernel interpreter: whole work-groups, laid out
group after group, each in linear local-id order (x fastest), so a warp is 32 consecutive lanes.

Lanes gives the compiled kernel its builtins, the masks of divergent control flow (None is "every
work-item of the batch"), barriers that check every work-item of a group arrived, warp
operations, integer division, and the memory accesses of MemoryOps; errors name the kernel and
the work-item.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from ...errors import ExecutionError
from . import interpret_numeric as N
from .interpret_memory import GROUP, LANE, SHARED, Mask, Mem, MemoryOps, poison
from .types import ShuffleMode, VoteMode

Value = Any
WARP = 32


@dataclass(frozen=True)
class Geometry:
    """A launch: work-group size and count on each of 3 axes (unused axes are 1), the global
    offset, and how many axes the launch named (for messages)."""

    local: tuple[int, int, int]
    groups: tuple[int, int, int]
    offset: tuple[int, int, int] = (0, 0, 0)
    ndim: int = 1

    @property
    def group_size(self) -> int:
        return self.local[0] * self.local[1] * self.local[2]

    @property
    def group_count(self) -> int:
        return self.groups[0] * self.groups[1] * self.groups[2]


def _split(lin: np.ndarray, sizes: tuple[int, int, int]) -> list[np.ndarray]:
    return [lin % sizes[0], (lin // sizes[0]) % sizes[1], lin // (sizes[0] * sizes[1])]


@dataclass(frozen=True)
class Site:
    """Where in the kernel an access or barrier is: its statement's text and source position
    (`loc`, when the frontend gave one), and for barriers their number in program order."""

    text: str
    barrier: int = 0
    loc: str | None = None

    def error(self, kernel: str, message: str) -> ExecutionError:
        """`file:line:col: kernel 'k': message`, the position first where it is known."""
        return ExecutionError(f"{self.loc + ': ' if self.loc else ''}kernel '{kernel}': {message}")


class LaneSet(MemoryOps):
    """Work-items (or loop iterations) run together: masks, private and local memory, integer
    division, and the messages that name one of them."""

    kernel: str
    sites: Sequence[Site]
    L: int
    G: int
    EMPTY: np.ndarray

    def describe(self, lane: int) -> str:
        raise NotImplementedError

    # -- masks -----------------------------------------------------------------------------------
    def and_(self, m: Mask, c: Value) -> Mask:
        """The work-items of `m` where `c` holds."""
        if np.ndim(c) == 0:
            return m if c else self.EMPTY
        r = c if m is None else m & c
        return None if r.all() else r

    def andnot(self, m: Mask, c: Value) -> Mask:
        if np.ndim(c) == 0:
            return self.EMPTY if c else m
        r = ~c if m is None else m & ~c
        return None if r.all() else r

    @staticmethod
    def both(a: Mask, b: Mask) -> Mask:
        """The work-items in both masks."""
        if a is None:
            return b
        return a if b is None else a & b

    def minus(self, a: Mask, b: Mask) -> Mask:
        """The work-items of `a` not in `b` (those leaving a loop, an iteration, the kernel)."""
        if b is None:
            return self.EMPTY
        r = ~b if a is None else a & ~b
        return None if r.all() else r

    @staticmethod
    def any(m: Mask) -> bool:
        return m is None or bool(m.any())

    @staticmethod
    def merge(m: Mask, new: Value, old: Value, vector: bool = False) -> Value:
        """`new` where the mask holds, `old` elsewhere (an assignment under divergence)."""
        if m is None:
            return new
        return np.where(m[:, None] if vector else m, new, old)

    @staticmethod
    def select(c: Value, a: Value, b: Value, widen: bool) -> Value:
        """`c ? a : b`; `widen`: a per-work-item condition choosing between vectors."""
        if widen and np.ndim(c):
            c = np.asarray(c)[:, None]
        return np.where(c, a, b)

    # -- memory ----------------------------------------------------------------------------------
    def alloc(self, name: str, dtype: np.dtype, lanes: int, dims: Sequence[Value],
              scope: str) -> Mem:
        """A local (one copy per work-group) or private (one per work-item) buffer."""
        shape: list[int] = []
        for d in dims:
            a = np.asarray(d)
            if a.ndim and not (a == a.flat[0]).all():
                raise ExecutionError(f"kernel '{self.kernel}': the size of {scope} array '{name}' "
                                     "differs between work-items")
            shape.append(int(a.flat[0]) if a.ndim else int(a))
        if any(n < 0 for n in shape):
            raise ExecutionError(f"kernel '{self.kernel}': {scope} array '{name}' has negative "
                                 f"size {shape}")
        stride = int(np.prod(shape))
        kind, copies = (GROUP, self.G) if scope == "local" else (LANE, self.L)
        if copies == 1:
            kind = SHARED
        return Mem(name, poison(dtype, stride * copies, lanes), tuple(shape), kind, stride, scope)

    def int_div(self, op: str, a: Value, b: Value, m: Mask, site: int) -> Value:
        """C's `/` and `%` (and floordiv/floormod) of integers; dividing by zero is an error."""
        zero = np.asarray(b) == 0
        if zero.any():
            bad = np.broadcast_to(zero, (self.L,)) & (True if m is None else m)
            if bad.any():
                lane = int(np.argmax(bad))
                raise self.sites[site].error(self.kernel, "integer division by zero by "
                                             f"{self.describe(lane)}, in "
                                             f"`{self.sites[site].text}`")
            b = np.where(zero, np.asarray(b).dtype.type(1), b)
        if op == "div":
            return N.int_div(a, b)
        if op == "rem":
            return np.fmod(a, b)
        return np.floor_divide(a, b) if op == "floordiv" else np.remainder(a, b)

    # -- vectorized parallel loops ---------------------------------------------------------------
    def parallel(self, loops: Sequence[tuple[str, Value, Value, Value, np.dtype]],
                 chunk: int = 1 << 20) -> Iterator[tuple[LoopLanes, list[Value]]]:
        """Run a nest of parallel loops (name, start, stop, step, dtype; outermost first) as
        lanes, in chunks of at most `chunk` iterations, in sequential order."""
        ranges = []
        for _name, start, stop, step, _dt in loops:
            a, b, c = (int(np.asarray(v).reshape(-1)[0]) for v in (start, stop, step))
            ranges.append((a, c, max(0, -(-(b - a) // c)) if c > 0 else 0))
        total = int(np.prod([n for _, _, n in ranges]))
        for first in range(0, total, chunk):
            rest = np.arange(first, min(total, first + chunk), dtype=np.int64)
            values: list[Value] = [None] * len(loops)
            for k in reversed(range(len(loops))):
                a, c, n = ranges[k]
                values[k] = (a + c * (rest % n)).astype(loops[k][4])
                rest = rest // n
            yield LoopLanes(self.kernel, self.sites, [x[0] for x in loops], values), values

    def fail_access(self, mem: Mem, site: int, lane: int, index: list[int], what: str,
                    extent: int) -> NoReturn:
        where = ", ".join(map(str, index))
        span = f" (and the {extent - 1} elements after it)" if extent > 1 else ""
        scope = f"{mem.scope} " if mem.scope in ("local", "private") else ""
        raise self.sites[site].error(
            self.kernel, f"out-of-bounds {what} of {scope}buffer '{mem.name}' at index "
            f"[{where}]{span}; it has {mem.extent_text()}; by {self.describe(lane)}, in "
            f"`{self.sites[site].text}`")


class Lanes(LaneSet):
    """One batch of whole work-groups of an SPMD launch (`spmd` False: the single run of a
    kernel without a domain)."""

    def __init__(self, kernel: str, geo: Geometry, first_group: int, groups: int,
                 sites: Sequence[Site], barriers: int, spmd: bool = True):
        self.kernel, self.geo, self.sites, self.barriers = kernel, geo, sites, barriers
        self.spmd = spmd
        S = self.S = geo.group_size
        G = self.G = groups
        L = self.L = S * G
        lin = np.arange(S, dtype=np.int64)
        glin = np.arange(first_group, first_group + G, dtype=np.int64)
        self.local_lin = np.tile(lin, G)
        self.group_slot: Value = np.repeat(np.arange(G, dtype=np.int64), S) if G > 1 \
            else np.int64(0)
        self.lane_index: Value = np.arange(L, dtype=np.int64) if L > 1 else np.int64(0)
        loc, grp = _split(lin, geo.local), _split(glin, geo.groups)
        self.local_ids: list[Value] = [np.tile(x, G) if geo.local[a] > 1 else np.int64(0)
                                       for a, x in enumerate(loc)]
        self.group_ids: list[Value] = [np.repeat(x, S) if G > 1 else np.int64(x[0])
                                       for x in grp]
        self.EMPTY = np.zeros(L, np.bool_)
        self.EMPTY.flags.writeable = False
        self.lane_id = self.local_lin % WARP
        self.warp_of = self.group_slot * -(-S // WARP) + self.local_lin // WARP
        self.warp_starts = np.flatnonzero(self.lane_id == 0)
        self.warp_base = self.lane_index - self.lane_id
        self.warp_len = np.minimum(WARP, S - (self.local_lin - self.lane_id))
        self._builtins: dict[tuple[str, int, np.dtype], Value] = {}

    # -- builtins --------------------------------------------------------------------------------
    def builtin(self, name: str, axis: int, dtype: np.dtype) -> Value:
        key = (name, axis, dtype)
        v = self._builtins.get(key)
        if v is None:
            v = self._builtins[key] = self._builtin(name, axis, dtype)
        return v

    def _builtin(self, name: str, axis: int, dt: np.dtype) -> Value:
        geo = self.geo
        if name in ("lane_id", "warp_size"):
            return self.lane_id.astype(dt) if name == "lane_id" else dt.type(WARP)
        if axis >= 3:  # OpenCL: ids of axes past the launch are 0, sizes 1
            return dt.type(1 if name in ("local_size", "num_groups", "global_size") else 0)
        sizes = {"local_size": geo.local[axis], "num_groups": geo.groups[axis],
                 "global_size": geo.local[axis] * geo.groups[axis],
                 "global_offset": geo.offset[axis]}
        if name in sizes:
            return dt.type(sizes[name])
        if name == "local_id":
            v = self.local_ids[axis]
        elif name == "group_id":
            v = self.group_ids[axis]
        elif name == "global_id":
            v = self.group_ids[axis] * geo.local[axis] + self.local_ids[axis] + geo.offset[axis]
        else:
            raise ExecutionError(f"kernel '{self.kernel}': unknown builtin {name}()")
        return np.asarray(v).astype(dt) if np.ndim(v) else dt.type(v)

    # -- barriers --------------------------------------------------------------------------------
    def barrier(self, m: Mask, site: int) -> None:
        """Every work-item of a group reaches the barrier, or none does."""
        if m is None:
            return
        counts = m.reshape(self.G, self.S).sum(1)
        bad = (counts != 0) & (counts != self.S)
        if not bad.any():
            return
        g = int(np.argmax(bad))
        missing = g * self.S + int(np.argmin(m[g * self.S:(g + 1) * self.S]))
        s = self.sites[site]
        group = self._tuple([int(np.broadcast_to(x, (self.L,))[missing])
                             for x in self.group_ids])
        raise s.error(
            self.kernel, f"barrier {s.barrier} of {self.barriers} (`{s.text}`) is "
            f"reached by {int(counts[g])} of {self.S} work-items of work-group {group}: "
            f"{self.describe(missing, group=False)} does not reach it (it returned earlier, or "
            "is in another branch or loop iteration); every work-item of a group must reach "
            "each barrier")

    # -- warps -----------------------------------------------------------------------------------
    def shuffle(self, mode: ShuffleMode, x: Value, lane: Value, width: int | None,
                vector: bool = False) -> Value:
        """CUDA __shfl*_sync semantics (PTX shfl): lanes that would read outside their segment,
        or past the end of a partial warp, keep their own value."""
        w = width or WARP
        if np.ndim(x) <= (1 if vector else 0):  # the same value in every lane
            return x
        xv = np.asarray(x)
        lid = self.lane_id
        b = np.asarray(lane).astype(np.int64) & (WARP - 1)
        seg = lid & ~(w - 1)
        ok: Value
        if mode is ShuffleMode.IDX:
            src, ok = seg | (b & (w - 1)), True
        elif mode is ShuffleMode.UP:
            src = lid - b
            ok = src >= seg
        elif mode is ShuffleMode.DOWN:
            src = lid + b
            ok = src <= seg + w - 1
        else:
            src = lid ^ b
            ok = src <= seg + w - 1
        ok = ok & (src < self.warp_len)
        src_lane = np.where(ok, self.warp_base + src, self.lane_index)
        return xv[src_lane]

    def ballot(self, pred: Value, m: Mask, dtype: np.dtype) -> Value:
        """Per warp, bit i set where lane i is active and its predicate holds."""
        p = np.broadcast_to(np.asarray(pred, np.bool_), (self.L,))
        if m is not None:
            p = p & m
        bits = np.left_shift(p.astype(np.uint64), self.lane_id.astype(np.uint64))
        per_warp = np.bitwise_or.reduceat(bits, self.warp_starts)
        return per_warp[self.warp_of].astype(dtype)

    def vote(self, mode: VoteMode, pred: Value, m: Mask) -> Value:
        hits = self.ballot(pred, m, np.dtype(np.uint64))
        if mode is VoteMode.ANY:
            return hits != 0
        return hits == self.ballot(True, m, np.dtype(np.uint64))

    # -- messages --------------------------------------------------------------------------------
    def _tuple(self, xs: Sequence[int]) -> str:
        return "(" + ", ".join(str(x) for x in xs[:self.geo.ndim]) + ("," if self.geo.ndim == 1
                                                                      else "") + ")"

    def describe(self, lane: int, group: bool = True) -> str:
        """`work-item global id (…) (local id (…), work-group (…))` of batch lane `lane`."""
        if not self.spmd:
            return "the kernel's single run (it has no SPMD domain)"
        def at(xs: Sequence[Value]) -> list[int]:
            return [int(np.broadcast_to(x, (self.L,))[lane]) for x in xs]
        loc, grp = at(self.local_ids), at(self.group_ids)
        glob = [g * n + lo + o for g, n, lo, o in zip(grp, self.geo.local, loc, self.geo.offset)]
        text = f"work-item global id {self._tuple(glob)} (local id {self._tuple(loc)}"
        return text + (f", work-group {self._tuple(grp)})" if group else ")")



class LoopLanes(LaneSet):
    """The iterations of a nest of parallel loops of a kernel without a domain, run as lanes."""

    def __init__(self, kernel: str, sites: Sequence[Site], names: list[str],
                 values: list[np.ndarray]):
        self.kernel, self.sites, self.names, self.values = kernel, sites, names, values
        self.L = len(values[0])
        self.G = 1
        self.group_slot = np.int64(0)
        self.lane_index = np.arange(self.L, dtype=np.int64)
        self.EMPTY = np.zeros(self.L, np.bool_)
        self.EMPTY.flags.writeable = False

    def describe(self, lane: int) -> str:
        at = ", ".join(f"%{n} = {int(v[lane])}" for n, v in zip(self.names, self.values))
        return f"the iteration {at} of a parallel loop"

"""KernelBuilder: write kernels by hand the way they read.

    kb = KernelBuilder("saxpy", spmd=1)
    n, a = kb.scalar("n", I32), kb.scalar("a", F32)
    x, y = kb.buffer("x", F32, (n,), access="r"), kb.buffer("y", F32, (n,))
    i = kb.let("i", kb.global_id(0))
    with kb.if_(i < n):
        y[i] = a * x[i] + y[i]
    saxpy = kb.finish()

Control flow is `with` blocks (for_, if_/else_, while_, do_while, block); `buf[i] = v` stores while
the builder is active (from its creation until finish()).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..dtype import DType
from .expr import Buffer, Builtin, Expr, Load, Number, Var, const, index_tuple, lift
from .stmt import (
    Alloc,
    Assign,
    Atomic,
    Barrier,
    Block,
    Break,
    Continue,
    Domain,
    For,
    If,
    Kernel,
    Let,
    Param,
    Return,
    Stmt,
    Store,
    While,
)
from .types import I32, AtomicOp, BarrierScope, ForKind, MemScope, ScalarType, as_type

_active = threading.local()


def current_builder() -> KernelBuilder:
    stack = getattr(_active, "stack", [])
    if not stack:
        raise RuntimeError("`buffer[index] = value` needs an active KernelBuilder (or use "
                           "KernelBuilder.store)")
    return stack[-1]  # type: ignore[no-any-return]


def _access(access: str) -> tuple[bool, bool]:
    if access not in ("r", "w", "rw"):
        raise ValueError(f"access must be 'r', 'w' or 'rw', not {access!r}")
    return "r" in access, "w" in access


class KernelBuilder:
    def __init__(self, name: str, spmd: int | None = None,
                 local_size: Sequence[int] | None = None):
        self.name = name
        self.domain = (Domain(spmd, tuple(local_size) if local_size is not None else None)
                       if spmd is not None else None)
        self.params: list[Param] = []
        self._blocks: list[list[Stmt]] = [[]]
        stack = getattr(_active, "stack", None)
        if stack is None:
            stack = _active.stack = []
        stack.append(self)

    def __enter__(self) -> KernelBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self._deactivate()

    def _deactivate(self) -> None:
        stack = getattr(_active, "stack", [])
        if self in stack:
            stack.remove(self)

    # -- parameters ------------------------------------------------------------------------------
    def scalar(self, name: str, type: ScalarType | DType | str) -> Var:
        v = Var(name, as_type(type))
        self.params.append(v)
        return v

    def buffer(self, name: str, elem: ScalarType | DType | str,
               shape: Sequence[Expr | int] | None = None, scope: MemScope | str = "global",
               access: str = "rw") -> Buffer:
        read, write = _access(access)
        b = Buffer(name, as_type(elem), None if shape is None else index_tuple(tuple(shape)),
                   MemScope(scope), read, write)
        self.params.append(b)
        return b

    # -- simple statements -----------------------------------------------------------------------
    def emit(self, stmt: Stmt) -> None:
        self._blocks[-1].append(stmt)

    def let(self, name: str, value: Expr | Number | None = None,
            type: ScalarType | DType | str | None = None) -> Var:
        if type is not None:
            t = as_type(type)
        elif isinstance(value, Expr):
            t = value.type
        elif value is not None:
            t = const(value).type
        else:
            raise TypeError(f"let {name}: give a type or an initial value")
        v = Var(name, t)
        self.emit(Let(v, None if value is None else lift(value, t)))
        return v

    def assign(self, var: Var, value: Expr | Number) -> None:
        self.emit(Assign(var, lift(value, var.type)))

    def store(self, buffer: Buffer, index: Any, value: Expr | Number) -> None:
        self.emit(Store(buffer, index_tuple(index), lift(value, buffer.elem)))

    def alloc(self, name: str, elem: ScalarType | DType | str, shape: Sequence[Expr | int],
              scope: MemScope | str = "local") -> Buffer:
        b = Buffer(name, as_type(elem), index_tuple(tuple(shape)), MemScope(scope))
        self.emit(Alloc(b))
        return b

    def barrier(self, scope: BarrierScope | str = "local") -> None:
        self.emit(Barrier(BarrierScope(scope)))

    def atomic(self, op: AtomicOp | str, buffer: Buffer, index: Any,
               value: Expr | Number | None = None, compare: Expr | Number | None = None,
               result: str | None = None) -> Var | None:
        """Emit an atomic; with `result`, declare a variable of that name holding the old value."""
        et = buffer.elem
        r = Var(result, et) if result is not None else None
        self.emit(Atomic(AtomicOp(op), buffer, index_tuple(index),
                         None if value is None else lift(value, et),
                         None if compare is None else lift(compare, et), r))
        return r

    def return_(self) -> None:
        self.emit(Return())

    def break_(self) -> None:
        self.emit(Break())

    def continue_(self) -> None:
        self.emit(Continue())

    # -- control flow ----------------------------------------------------------------------------
    @contextmanager
    def _nested(self) -> Iterator[list[Stmt]]:
        self._blocks.append([])
        try:
            yield self._blocks[-1]
        finally:
            self._blocks.pop()

    @contextmanager
    def for_(self, name: str, start: Expr | int, stop: Expr | int | None = None,
             step: Expr | int = 1, kind: ForKind | str = "serial",
             type: ScalarType | DType | str | None = None) -> Iterator[Var]:
        """`for name in range(start, stop, step)`; `for_("i", n)` counts from 0 to n."""
        if stop is None:
            start, stop = 0, start
        if type is not None:
            t = as_type(type)
        else:
            t = next((e.type for e in (start, stop, step) if isinstance(e, Expr)), I32)
        v = Var(name, t)
        with self._nested() as body:
            yield v
        self.emit(For(v, lift(start, t), lift(stop, t), lift(step, t), Block(tuple(body)),
                      ForKind(kind)))

    @contextmanager
    def if_(self, cond: Expr) -> Iterator[None]:
        with self._nested() as body:
            yield
        self.emit(If(cond, Block(tuple(body))))

    @contextmanager
    def else_(self) -> Iterator[None]:
        """The else branch of the If just emitted."""
        block = self._blocks[-1]
        last = block[-1] if block else None
        if not isinstance(last, If) or last.orelse is not None:
            raise RuntimeError("else_() must follow an if_() block that has no else yet")
        with self._nested() as body:
            yield
        block[-1] = If(last.cond, last.then, Block(tuple(body)))

    @contextmanager
    def while_(self, cond: Expr) -> Iterator[None]:
        with self._nested() as body:
            yield
        self.emit(While(cond, Block(tuple(body))))

    @contextmanager
    def do_while(self, cond: Expr) -> Iterator[None]:
        """A loop whose body runs once before `cond` is first tested."""
        with self._nested() as body:
            yield
        self.emit(While(cond, Block(tuple(body)), test_first=False))

    @contextmanager
    def block(self) -> Iterator[None]:
        """A nested scope: its declarations end with it."""
        with self._nested() as body:
            yield
        self.emit(Block(tuple(body)))

    # -- SPMD builtins ---------------------------------------------------------------------------
    def global_id(self, axis: int = 0, type: ScalarType | DType | str = I32) -> Builtin:
        return Builtin("global_id", axis, as_type(type))

    def local_id(self, axis: int = 0, type: ScalarType | DType | str = I32) -> Builtin:
        return Builtin("local_id", axis, as_type(type))

    def group_id(self, axis: int = 0, type: ScalarType | DType | str = I32) -> Builtin:
        return Builtin("group_id", axis, as_type(type))

    def local_size(self, axis: int = 0, type: ScalarType | DType | str = I32) -> Builtin:
        return Builtin("local_size", axis, as_type(type))

    def num_groups(self, axis: int = 0, type: ScalarType | DType | str = I32) -> Builtin:
        return Builtin("num_groups", axis, as_type(type))

    def global_size(self, axis: int = 0, type: ScalarType | DType | str = I32) -> Builtin:
        return Builtin("global_size", axis, as_type(type))

    # -- result ----------------------------------------------------------------------------------
    def finish(self, verify: bool = True) -> Kernel:
        """The kernel built so far (checked by the verifier unless `verify` is False)."""
        if len(self._blocks) != 1:
            raise RuntimeError("finish() inside an open with-block")
        self._deactivate()
        k = Kernel(self.name, tuple(self.params), Block(tuple(self._blocks[0])), self.domain)
        if verify:
            from ..verify import verify_kernel
            verify_kernel(k)
        return k


def load(buffer: Buffer, *index: Expr | int, lanes: int = 1) -> Load:
    return Load(buffer, index_tuple(tuple(index)), lanes)


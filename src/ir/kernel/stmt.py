"""Kernel-level statements and the Kernel itself.

A Kernel is a name, parameters (buffers and scalar variables), a body and, for SPMD kernels (those
from OpenCL C / CUDA C, and lowered kernels mapped to a GPU grid), a Domain: the body is then what
one work-item does and builtins (`global_id(0)`, ...) say which one it is. A kernel without a
domain runs its body once; its parallelism is in `For` loops of kind PARALLEL / VECTORIZED.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .expr import Buffer, Expr, Var
from .types import AtomicOp, BarrierScope, ForKind, MemScope


class Stmt:
    """Base of kernel statements (frozen dataclasses). Statements other than Block carry `loc`,
    where they came from in a source file ("file.cl:12:5", for messages); it takes no part in
    equality and the text form does not keep it."""

    __slots__ = ()

    def __str__(self) -> str:
        from ..text.kernel_printer import stmt_text
        return stmt_text(self)


@dataclass(frozen=True)
class Block(Stmt):
    """Statements in order; declarations (Let, Alloc, an Atomic's result) are visible to the end
    of the innermost enclosing block."""

    stmts: tuple[Stmt, ...] = ()

    def __iter__(self) -> Iterator[Stmt]:
        return iter(self.stmts)

    def __len__(self) -> int:
        return len(self.stmts)


@dataclass(frozen=True)
class For(Stmt):
    """`for var in range(start, stop, step)` (step > 0); `var` is declared for the body."""

    var: Var
    start: Expr
    stop: Expr
    step: Expr
    body: Block
    kind: ForKind = ForKind.SERIAL
    loc: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class While(Stmt):
    """Repeat `body` while `cond` holds; with `test_first` False it is a do-while loop."""

    cond: Expr
    body: Block
    test_first: bool = True
    loc: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class If(Stmt):
    cond: Expr
    then: Block
    orelse: Block | None = None
    loc: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Let(Stmt):
    """Declare a private variable, with an initial value or uninitialized."""

    var: Var
    value: Expr | None = None
    loc: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Assign(Stmt):
    """Give a declared variable (or scalar parameter) a new value."""

    var: Var
    value: Expr
    loc: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Store(Stmt):
    """Write `value` to `buffer` at `index`; a vector value into a buffer of scalars writes
    consecutive elements (OpenCL vstoreN)."""

    buffer: Buffer
    index: tuple[Expr, ...]
    value: Expr
    loc: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Alloc(Stmt):
    """Declare a local (work-group shared) or private buffer."""

    buffer: Buffer
    loc: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Barrier(Stmt):
    scope: BarrierScope = BarrierScope.LOCAL
    loc: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Atomic(Stmt):
    """Atomically `buffer[index] = old OP value`; `result`, when given, is declared (like Let)
    with the old value. CAS takes `compare`; INC and DEC take no value."""

    op: AtomicOp
    buffer: Buffer
    index: tuple[Expr, ...]
    value: Expr | None = None
    compare: Expr | None = None
    result: Var | None = None
    loc: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Return(Stmt):
    """Leave the kernel (in an SPMD kernel: this work-item is done)."""
    loc: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Break(Stmt):
    loc: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Continue(Stmt):
    loc: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Domain:
    """How an SPMD kernel is launched: over an NDRange of `ndim` axes, with a required work-group
    size (OpenCL reqd_work_group_size, CUDA block size) or None: chosen at launch."""

    ndim: int = 1
    local_size: tuple[int, ...] | None = None


Param = Buffer | Var


@dataclass(frozen=True)
class Kernel:
    """`dynamic_shared` names a LOCAL flat buffer parameter sized by the launch (CUDA `extern
    __shared__`: `shared_mem=nbytes`) rather than bound to a positional argument."""

    name: str
    params: tuple[Param, ...]
    body: Block
    domain: Domain | None = None
    dynamic_shared: str | None = None

    @property
    def is_spmd(self) -> bool:
        return self.domain is not None

    def buffers(self) -> list[Buffer]:
        return [p for p in self.params if isinstance(p, Buffer)]

    def scalars(self) -> list[Var]:
        return [p for p in self.params if isinstance(p, Var)]

    def written(self) -> list[Buffer]:
        """The buffer parameters the kernel may write, in parameter order: the outputs of a
        KernelCall node."""
        return [b for b in self.buffers() if b.write]

    def allocations(self) -> list[Buffer]:
        """Buffers declared by Alloc statements, in program order."""
        from .visit import walk
        return [s.buffer for s in walk(self.body) if isinstance(s, Alloc)]

    def local_buffers(self) -> list[Buffer]:
        return [b for b in self.allocations() if b.scope is MemScope.LOCAL]

    def __str__(self) -> str:
        from ..text.kernel_printer import print_kernel
        return print_kernel(self)

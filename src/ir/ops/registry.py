"""The op table: each op declared once with its attributes, shape/dtype rule, traits, reference
implementation (its semantics) and, where one exists, its compute definition.

Declare an op with `op(...)` next to its family's others (elementwise.py, nn.py, ...). The ONNX
versions an op lists are the versions whose semantics its declaration implements; the ONNX frontend
turns older forms into the newest one.
"""
from __future__ import annotations

import dataclasses
import inspect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ShapeError, UnsupportedOp
from ..dtype import DType
from ..types import Dim, Sym, TensorType, Type

_sym_counter = itertools.count()


class InferCtx:
    """What a shape/dtype rule sees: the node's attributes, its input types, the values of inputs
    that are known at compile time, and how many outputs the node has."""

    def __init__(self, op: str, attrs: Any, types: Sequence[Type | None],
                 values: Sequence[np.ndarray | None], num_outputs: int, node_name: str = ""):
        self.op, self.attrs, self.types, self.values = op, attrs, list(types), list(values)
        self.num_outputs, self.node_name = num_outputs, node_name
        self.out_values: dict[int, np.ndarray] = {}
        self.asked: set[int] = set()  # inputs whose values the rule looked for (shape operands)

    def set_output_value(self, i: int, value: np.ndarray) -> None:
        """Publish output i's value when the types alone decide it (Shape, Size of static shapes),
        so that later shape rules see it as known."""
        self.out_values[i] = np.asarray(value)

    def t(self, i: int) -> TensorType:
        """Input i as a tensor type (an error if it is missing or not a tensor)."""
        t = self.types[i] if i < len(self.types) else None
        if not isinstance(t, TensorType):
            raise self.error(f"input {i} must be a tensor, got {t}")
        return t

    def has(self, i: int) -> bool:
        return i < len(self.types) and self.types[i] is not None

    def value(self, i: int) -> np.ndarray | None:
        self.asked.add(i)
        return self.values[i] if i < len(self.values) else None

    def sym(self, hint: str = "d") -> Sym:
        return Sym(f"{hint}{next(_sym_counter)}")

    def error(self, message: str) -> ShapeError:
        who = f"{self.op} node '{self.node_name}'" if self.node_name else f"{self.op} node"
        return ShapeError(f"{who}: {message}")


class RefCtx:
    """Extra context for reference implementations that declare a `ctx` parameter."""

    def __init__(self, num_outputs: int, run_subgraph: Callable[..., list[Any]] | None = None,
                 node_name: str = ""):
        self.num_outputs = num_outputs
        self.run_subgraph = run_subgraph
        self.node_name = node_name


InferRule = Callable[[InferCtx], list[Type]]


@dataclass(frozen=True)
class OpDef:
    name: str
    attrs: type | None
    infer: InferRule
    reference: Callable[..., Any]
    versions: tuple[int, ...] = (1,)
    traits: frozenset[str] = frozenset()
    compute: Callable[..., Any] | None = None
    domain: str = ""
    wants_ctx: bool = field(default=False)

    def make_attrs(self, **values: Any) -> Any:
        if self.attrs is None:
            if values:
                raise UnsupportedOp(f"{self.name} takes no attributes, got {sorted(values)}",
                                    op=self.name)
            return None
        return self.attrs(**values)

    def attr_fields(self) -> dict[str, dataclasses.Field[Any]]:
        return {f.name: f for f in dataclasses.fields(self.attrs)} if self.attrs else {}

    def run_reference(self, attrs: Any, inputs: Sequence[Any], ctx: RefCtx) -> list[Any]:
        out = (self.reference(attrs, *inputs, ctx=ctx) if self.wants_ctx
               else self.reference(attrs, *inputs))
        if isinstance(out, tuple):
            return list(out)
        return [out]


OPS: dict[str, OpDef] = {}


def op(name: str, attrs: type | None = None, *, infer: InferRule, reference: Callable[..., Any],
       versions: Sequence[int] = (1,), traits: Sequence[str] = (),
       compute: Callable[..., Any] | None = None, domain: str = "") -> OpDef:
    """Declare an op. Declaring the same name twice is a bug in the table."""
    if name in OPS:
        raise RuntimeError(f"op {name} declared twice")
    wants_ctx = "ctx" in inspect.signature(reference).parameters
    d = OpDef(name, attrs, infer, reference, tuple(sorted(versions)), frozenset(traits), compute,
              domain, wants_ctx)
    OPS[name] = d
    return d


def lookup(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise UnsupportedOp(f"unknown op '{name}'", op=name) from None


# -- common shape/dtype rules ----------------------------------------------------------------

def same_as(i: int = 0, n_out: int = 1) -> InferRule:
    """Outputs have the type of input i."""
    def rule(c: InferCtx) -> list[Type]:
        return [c.t(i)] * n_out
    return rule


def broadcast_shapes(c: InferCtx, shapes: Sequence[tuple[Dim, ...]]) -> tuple[Dim, ...]:
    """Numpy broadcasting over dims that may be symbols."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for k in range(rank):
        dims = [s[len(s) - rank + k] for s in shapes if len(s) - rank + k >= 0]
        ints = {d for d in dims if isinstance(d, int) and d != 1}
        syms = [d for d in dims if isinstance(d, Sym)]
        if len(ints) > 1:
            raise c.error(f"shapes {', '.join(str(list(s)) for s in shapes)} do not broadcast")
        if ints:
            out.append(ints.pop())
        elif syms:
            out.append(syms[0])
        else:
            out.append(1)
    return tuple(out)


def broadcast(dtype: DType | None = None, same_dtype: bool = True) -> InferRule:
    """Element-wise over broadcast inputs; result dtype is `dtype` or that of input 0."""
    def rule(c: InferCtx) -> list[Type]:
        ts = [c.t(i) for i in range(len(c.types)) if c.has(i)]
        if same_dtype and len({t.dtype for t in ts}) > 1:
            raise c.error(f"inputs have different dtypes: {', '.join(str(t) for t in ts)}")
        shape = broadcast_shapes(c, [t.shape for t in ts])
        return [TensorType(dtype or ts[0].dtype, shape)]
    return rule


def norm_axis(c: InferCtx, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise c.error(f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def as_ints(v: np.ndarray | None) -> tuple[int, ...] | None:
    return None if v is None else tuple(int(x) for x in np.asarray(v).reshape(-1))

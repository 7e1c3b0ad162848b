"""Sequences and optionals: SequenceConstruct, SequenceEmpty, SequenceInsert, SequenceAt,
SequenceErase, SequenceLength, SplitToSequence, ConcatFromSequence, Optional, OptionalGetElement,
OptionalHasElement.

At run time a sequence is a Python list of arrays and an empty optional is None. A sequence's
element type covers every element: a dim on which elements may differ is a symbol, bound afresh
for each element, so reading an element out of a sequence gives fresh symbols.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dtype import DType
from ..types import Dim, OptionalType, SequenceType, TensorType, Type
from .registry import InferCtx, as_ints, norm_axis, op
from .shape import fresh_like
from .shape_slicing import split_sizes

# -- element types ------------------------------------------------------------------------


# Whether the IR can type a sequence whose elements' rank is unknown (SequenceType.ranked,
# proposed to the IR's owner). Until it can, such sequences are typed as sequences of scalars,
# and inserting a tensor of another rank takes that tensor's rank.
RANK_MAY_BE_UNKNOWN = "ranked" in {f.name for f in dataclasses.fields(SequenceType)}


def elem_rank_known(t: SequenceType) -> bool:
    """False for sequences whose elements' rank is unknown: SequenceEmpty's, a model input
    declared without a shape, or one holding tensors of different ranks."""
    return bool(getattr(t, "ranked", True))


def unranked_sequence(dtype: DType) -> SequenceType:
    """A sequence of `dtype` tensors of unknown rank."""
    if RANK_MAY_BE_UNKNOWN:
        return SequenceType(TensorType(dtype, ()), ranked=False)  # type: ignore[call-arg]
    return SequenceType(TensorType(dtype, ()))


def _seq(c: InferCtx, i: int) -> SequenceType:
    t = c.types[i] if i < len(c.types) else None
    if not isinstance(t, SequenceType):
        raise c.error(f"input {i} must be a sequence, got {t}")
    return t


def merge_elem(c: InferCtx, a: TensorType, b: TensorType) -> SequenceType:
    """A sequence type whose elements cover both a and b: dims on which they differ become
    symbols; ranks that differ make it a sequence of unknown rank."""
    if a.dtype != b.dtype:
        raise c.error(f"sequence elements must share a dtype, got {a} and {b}")
    if a.rank != b.rank:
        if not RANK_MAY_BE_UNKNOWN:
            raise c.error(f"sequence elements of different ranks ({a}, {b}) are not supported")
        return unranked_sequence(a.dtype)
    return SequenceType(a.with_shape(tuple(x if x == y else c.sym("s")
                                           for x, y in zip(a.shape, b.shape))))


def _insert_type(c: InferCtx, seq: SequenceType, t: TensorType) -> SequenceType:
    if seq.elem.dtype != t.dtype:
        raise c.error(f"cannot insert {t} into {seq}")
    # Into a sequence of unknown rank (mostly SequenceEmpty's) goes a tensor of t's rank: assume
    # the others have it too (running checks it), with sizes unknown.
    unknown = not elem_rank_known(seq) or (not RANK_MAY_BE_UNKNOWN and seq.elem.rank == 0
                                           and t.rank > 0)
    if unknown:
        return SequenceType(t.with_shape(tuple(c.sym("s") for _ in t.shape)))
    return merge_elem(c, seq.elem, t)


def _element_out(c: InferCtx, seq: SequenceType) -> TensorType:
    if not elem_rank_known(seq):
        raise c.error(f"the rank of the elements of {seq} is unknown at compile time")
    return seq.elem.with_shape(fresh_like(c, seq.elem.shape))


def _position(c: InferCtx, i: int) -> None:
    if c.has(i):
        t = c.t(i)
        if t.dtype not in (DType.I64, DType.I32) or t.numel not in (1, None) or t.rank > 1:
            raise c.error(f"position must be an int64 or int32 scalar, got {t}")


def _index(seq: list[Any], position: np.ndarray | None, default: int, extra: int = 0) -> int:
    """A position into seq, negative ones from the end; `extra` allows one past the end."""
    n = len(seq)
    p = default if position is None else int(position.reshape(-1)[0])
    if not -n <= p < n + extra:
        raise IndexError(f"position {p} is out of range for a sequence of {n} tensors")
    return p + n if p < 0 else p


# -- building and reading sequences -------------------------------------------------------

def _construct_rule(c: InferCtx) -> list[Type]:
    ts = [c.t(i) for i in range(len(c.types))]
    if not ts:
        raise c.error("needs at least one tensor")
    seq = SequenceType(ts[0])
    for t in ts[1:]:
        if elem_rank_known(seq):
            seq = merge_elem(c, seq.elem, t)
    return [seq]


op("SequenceConstruct", versions=(11,), infer=_construct_rule,
   reference=lambda a, *xs: list(xs))


@dataclass(frozen=True)
class SequenceEmptyAttrs:
    dtype: DType = DType.F32  # ONNX's int code becomes a DType on import


op("SequenceEmpty", SequenceEmptyAttrs, versions=(11,),
   infer=lambda c: [unranked_sequence(c.attrs.dtype)], reference=lambda a: [])


def _insert_rule(c: InferCtx) -> list[Type]:
    _position(c, 2)
    return [_insert_type(c, _seq(c, 0), c.t(1))]


def _insert(a: None, seq: list[Any], x: np.ndarray,
            position: np.ndarray | None = None) -> list[Any]:
    out = list(seq)
    out.insert(_index(seq, position, len(seq), extra=1), x)
    return out


op("SequenceInsert", versions=(11,), infer=_insert_rule, reference=_insert)


def _at_rule(c: InferCtx) -> list[Type]:
    _position(c, 1)
    return [_element_out(c, _seq(c, 0))]


op("SequenceAt", versions=(11,), infer=_at_rule,
   reference=lambda a, seq, position: seq[_index(seq, position, 0)])


def _erase_rule(c: InferCtx) -> list[Type]:
    _position(c, 1)
    return [_seq(c, 0)]


def _erase(a: None, seq: list[Any], position: np.ndarray | None = None) -> list[Any]:
    p = _index(seq, position, len(seq) - 1)
    return seq[:p] + seq[p + 1:]


op("SequenceErase", versions=(11,), infer=_erase_rule, reference=_erase)


def _length_rule(c: InferCtx) -> list[Type]:
    _seq(c, 0)
    return [TensorType(DType.I64, ())]


op("SequenceLength", versions=(11,), infer=_length_rule,
   reference=lambda a, seq: np.array(len(seq), dtype=np.int64))


# -- SplitToSequence, ConcatFromSequence --------------------------------------------------

@dataclass(frozen=True)
class SplitToSequenceAttrs:
    axis: int = 0
    keepdims: int = 1


def _split_to_sequence_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    axis = norm_axis(c, c.attrs.axis, x.rank)
    dim = x.shape[axis]
    if not c.has(1):
        if c.attrs.keepdims:
            return [SequenceType(x.with_shape(x.shape[:axis] + (1,) + x.shape[axis + 1:]))]
        return [SequenceType(x.with_shape(x.shape[:axis] + x.shape[axis + 1:]))]
    split = c.t(1)
    if split.dtype not in (DType.I64, DType.I32) or split.rank > 1:
        raise c.error(f"split must be an int scalar or 1-D tensor, got {split}")
    sizes = as_ints(c.value(1))
    piece: Dim = c.sym("s")
    if sizes is not None and split.rank == 0 and isinstance(dim, int) and sizes[0] > 0 \
            and dim % sizes[0] == 0:
        piece = sizes[0]
    elif sizes is not None and split.rank == 1 and len(set(sizes)) == 1:
        piece = sizes[0]
    return [SequenceType(x.with_shape(x.shape[:axis] + (piece,) + x.shape[axis + 1:]))]


def _split_to_sequence(a: SplitToSequenceAttrs, x: np.ndarray,
                       split: np.ndarray | None = None) -> list[np.ndarray]:
    axis = a.axis % x.ndim
    dim = x.shape[axis]
    if split is None:
        parts = np.split(x, dim, axis=axis)
        return parts if a.keepdims else [np.squeeze(p, axis=axis) for p in parts]
    if split.ndim == 0:
        chunk = int(split)
        if chunk <= 0:
            raise ValueError(f"split must be positive, got {chunk}")
        sizes = split_sizes(dim, -(-dim // chunk), uneven=True) or []
    else:
        sizes = [int(s) for s in split]
    if sum(sizes) != dim:
        raise ValueError(f"split sizes {sizes} do not add up to {dim}")
    return list(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


op("SplitToSequence", SplitToSequenceAttrs, versions=(11, 24), infer=_split_to_sequence_rule,
   reference=_split_to_sequence)


@dataclass(frozen=True)
class ConcatFromSequenceAttrs:
    axis: int = 0
    new_axis: int = 0


def _concat_from_sequence_rule(c: InferCtx) -> list[Type]:
    elem = _element_out(c, _seq(c, 0))
    if c.attrs.new_axis:
        axis = norm_axis(c, c.attrs.axis, elem.rank + 1)
        return [elem.with_shape(elem.shape[:axis] + (c.sym("c"),) + elem.shape[axis:])]
    axis = norm_axis(c, c.attrs.axis, elem.rank)
    return [elem.with_shape(elem.shape[:axis] + (c.sym("c"),) + elem.shape[axis + 1:])]


def _concat_from_sequence(a: ConcatFromSequenceAttrs, seq: list[np.ndarray]) -> np.ndarray:
    if not seq:
        raise ValueError("cannot concatenate an empty sequence")
    if a.new_axis:
        return np.stack(seq, axis=a.axis % (seq[0].ndim + 1))
    return np.concatenate(seq, axis=a.axis % seq[0].ndim).astype(seq[0].dtype, copy=False)


op("ConcatFromSequence", ConcatFromSequenceAttrs, versions=(11,),
   infer=_concat_from_sequence_rule, reference=_concat_from_sequence)


# -- optionals ----------------------------------------------------------------------------

@dataclass(frozen=True)
class OptionalAttrs:
    type: Type | None = None


def _optional_rule(c: InferCtx) -> list[Type]:
    t = c.types[0] if c.has(0) else c.attrs.type
    if t is None:
        raise c.error("needs an input or a type attribute")
    if isinstance(t, OptionalType):
        raise c.error(f"optionals of optionals are not supported, got {t}")
    return [OptionalType(t)]


op("Optional", OptionalAttrs, versions=(15, 28), infer=_optional_rule,
   reference=lambda a, x=None: x)


def _get_element_rule(c: InferCtx) -> list[Type]:
    t = c.types[0] if c.has(0) else None
    if t is None:
        raise c.error("needs an input")
    return [t.elem if isinstance(t, OptionalType) else t]


def _get_element(a: None, x: Any) -> Any:
    if x is None:
        raise ValueError("the optional is empty")
    return x


op("OptionalGetElement", versions=(15, 18, 28), infer=_get_element_rule,
   reference=_get_element)


op("OptionalHasElement", versions=(15, 18, 28),
   infer=lambda c: [TensorType(DType.BOOL, ())],
   reference=lambda a, x=None: np.array(x is not None))

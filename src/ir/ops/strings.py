"""String tensors (numpy object arrays of Python str): StringConcat, StringNormalizer, StringSplit
and RegexFullMatch (Python's `re`, whose syntax covers the RE2 patterns ONNX names)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..dtype import DType
from ..types import Dim, TensorType, Type
from .registry import InferCtx, broadcast_shapes, op


def _strings(c: InferCtx, i: int) -> TensorType:
    t = c.t(i)
    if t.dtype is not DType.STRING:
        raise c.error(f"input {i} must be a string tensor, got {t}")
    return t


def _as_str_array(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=object)


# -- StringConcat --------------------------------------------------------------------------------

def _concat_infer(c: InferCtx) -> list[Type]:
    x, y = _strings(c, 0), _strings(c, 1)
    return [TensorType(DType.STRING, broadcast_shapes(c, [x.shape, y.shape]))]


def _concat_ref(a: None, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xb, yb = np.broadcast_arrays(_as_str_array(x), _as_str_array(y))
    out = np.empty(xb.shape, dtype=object)
    for idx in np.ndindex(xb.shape):
        out[idx] = str(xb[idx]) + str(yb[idx])
    return out


op("StringConcat", versions=(20,), infer=_concat_infer, reference=_concat_ref)


# -- StringNormalizer ----------------------------------------------------------------------------

@dataclass(frozen=True)
class StringNormalizerAttrs:
    case_change_action: str = "NONE"
    is_case_sensitive: int = 0
    locale: str = ""
    stopwords: tuple[str, ...] | None = None


def _normalizer_infer(c: InferCtx) -> list[Type]:
    x = _strings(c, 0)
    if c.attrs.case_change_action not in ("NONE", "LOWER", "UPPER"):
        raise c.error(f"unknown case_change_action {c.attrs.case_change_action!r}")
    if x.rank == 1:
        return [TensorType(DType.STRING, (c.sym("kept"),))]
    if x.rank == 2 and x.shape[0] == 1:
        return [TensorType(DType.STRING, (1, c.sym("kept")))]
    raise c.error(f"input must be [C] or [1, C], got {x}")


def _normalizer_ref(a: StringNormalizerAttrs, x: np.ndarray) -> np.ndarray:
    words = [str(w) for w in _as_str_array(x).reshape(-1)]
    if a.stopwords:
        if a.is_case_sensitive:
            stops = set(a.stopwords)
            words = [w for w in words if w not in stops]
        else:
            folded = {s.casefold() for s in a.stopwords}
            words = [w for w in words if w.casefold() not in folded]
    if a.case_change_action == "LOWER":
        words = [w.lower() for w in words]
    elif a.case_change_action == "UPPER":
        words = [w.upper() for w in words]
    if not words:  # ONNX keeps one empty string rather than an empty tensor
        words = [""]
    out = np.array(words, dtype=object)
    return out.reshape(1, -1) if x.ndim == 2 else out


op("StringNormalizer", StringNormalizerAttrs, versions=(10,), infer=_normalizer_infer,
   reference=_normalizer_ref)


# -- StringSplit ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class StringSplitAttrs:
    delimiter: str | None = None
    maxsplit: int | None = None


def _split_infer(c: InferCtx) -> list[Type]:
    x = _strings(c, 0)
    most: Dim = c.sym("splits")
    if isinstance(x.numel, int) and x.numel == 0:
        most = 0
    return [TensorType(DType.STRING, (*x.shape, most)), TensorType(DType.I64, x.shape)]


def _split_ref(a: StringSplitAttrs, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # No delimiter (or an empty one) splits on runs of whitespace, as str.split() does.
    delimiter = a.delimiter or None
    maxsplit = -1 if a.maxsplit is None else a.maxsplit
    flat = [str(s).split(delimiter, maxsplit) for s in _as_str_array(x).reshape(-1)]
    most = max((len(parts) for parts in flat), default=0)
    out = np.full((len(flat), most), "", dtype=object)
    for i, parts in enumerate(flat):
        out[i, :len(parts)] = parts
    counts = np.array([len(parts) for parts in flat], dtype=np.int64)
    return out.reshape(*x.shape, most), counts.reshape(x.shape)


op("StringSplit", StringSplitAttrs, versions=(20,), infer=_split_infer, reference=_split_ref)


# -- RegexFullMatch ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegexFullMatchAttrs:
    pattern: str | None = None


def _regex_infer(c: InferCtx) -> list[Type]:
    x = _strings(c, 0)
    if c.attrs.pattern is None:
        raise c.error("attribute pattern is required")
    try:
        re.compile(c.attrs.pattern)
    except re.error as e:
        raise c.error(f"pattern {c.attrs.pattern!r} is not a valid regular expression: {e}") \
            from None
    return [TensorType(DType.BOOL, x.shape)]


def _regex_ref(a: RegexFullMatchAttrs, x: np.ndarray) -> np.ndarray:
    pattern = re.compile(a.pattern or "")
    flat = [pattern.fullmatch(str(s)) is not None for s in _as_str_array(x).reshape(-1)]
    return np.array(flat, dtype=np.bool_).reshape(x.shape)


op("RegexFullMatch", RegexFullMatchAttrs, versions=(20,), infer=_regex_infer,
   reference=_regex_ref)

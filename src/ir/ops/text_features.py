"""Text features: TfIdfVectorizer, which counts the n-grams (and skip-grams) of a pool in each row
of token ids or strings and weighs the counts as term frequencies, IDF or TF-IDF."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..dtype import DType
from ..types import Dim, TensorType, Type
from .registry import InferCtx, op


@dataclass(frozen=True)
class TfIdfVectorizerAttrs:
    max_gram_length: int
    max_skip_count: int
    min_gram_length: int
    mode: str
    ngram_counts: tuple[int, ...]
    ngram_indexes: tuple[int, ...]
    pool_int64s: tuple[int, ...] | None = None
    pool_strings: tuple[str, ...] | None = None
    weights: tuple[float, ...] | None = None


NGramTable = dict[tuple[object, ...], int]


def _pool(a: TfIdfVectorizerAttrs) -> tuple[object, ...]:
    return tuple(a.pool_strings) if a.pool_strings else tuple(a.pool_int64s or ())


@functools.lru_cache(maxsize=64)
def ngram_table(a: TfIdfVectorizerAttrs) -> NGramTable:
    """The pool's n-grams of the counted sizes, each mapped to its output column.

    ngram_counts[k] is where the (k+1)-grams start in the pool; n-grams are numbered in pool
    order, across all sizes, and the i-th one is counted in column ngram_indexes[i]."""
    pool = _pool(a)
    table: NGramTable = {}
    number = 0
    for k, start in enumerate(a.ngram_counts):
        size = k + 1
        end = a.ngram_counts[k + 1] if k + 1 < len(a.ngram_counts) else len(pool)
        for first in range(start, start + (end - start) // size * size, size):
            if a.min_gram_length <= size <= a.max_gram_length:
                if number >= len(a.ngram_indexes):
                    raise ValueError(f"the pool has more n-grams than ngram_indexes "
                                     f"({len(a.ngram_indexes)}) has entries")
                table[pool[first:first + size]] = a.ngram_indexes[number]
            number += 1
    return table


def _rule(c: InferCtx) -> list[Type]:
    a: TfIdfVectorizerAttrs = c.attrs
    x = c.t(0)
    if x.dtype not in (DType.STRING, DType.I32, DType.I64):
        raise c.error(f"input must be a string, int32 or int64 tensor, got {x}")
    wanted = "pool_strings" if x.dtype is DType.STRING else "pool_int64s"
    if not getattr(a, wanted) and (a.pool_strings or a.pool_int64s):
        raise c.error(f"a {x.dtype} input is matched against {wanted}, which is not given")
    if a.mode not in ("TF", "IDF", "TFIDF"):
        raise c.error(f"mode must be TF, IDF or TFIDF, got {a.mode!r}")
    if not 1 <= a.min_gram_length <= a.max_gram_length or a.max_skip_count < 0:
        raise c.error(f"gram lengths [{a.min_gram_length}, {a.max_gram_length}] and skip "
                      f"count {a.max_skip_count} do not make sense")
    if not a.ngram_indexes:
        raise c.error("ngram_indexes is empty")
    if a.weights and len(a.weights) < max(a.ngram_indexes) + 1:
        raise c.error(f"weights has {len(a.weights)} entries for {max(a.ngram_indexes) + 1} "
                      "output columns")
    try:
        ngram_table(a)
    except ValueError as e:
        raise c.error(str(e)) from None
    width = max(a.ngram_indexes) + 1
    if x.rank == 1:
        return [TensorType(DType.F32, (width,))]
    if x.rank == 2:
        rows: Dim = x.shape[0]
        return [TensorType(DType.F32, (rows, width))]
    raise c.error(f"input must be [C] or [N, C], got {x}")


def _count_row(a: TfIdfVectorizerAttrs, table: NGramTable, row: list[object],
               counts: np.ndarray) -> None:
    for size in range(a.min_gram_length, a.max_gram_length + 1):
        # a unigram is the same whatever the skip, so it is counted once
        for skip in range(a.max_skip_count + 1 if size > 1 else 1):
            stride = skip + 1
            starts = len(row) - stride * (size - 1)
            if starts <= 0:
                break
            columns = [row[k * stride:k * stride + starts] for k in range(size)]
            for gram in zip(*columns):
                column = table.get(gram)
                if column is not None:
                    counts[column] += 1


def _reference(a: TfIdfVectorizerAttrs, x: np.ndarray) -> np.ndarray:
    table = ngram_table(a)
    width = max(a.ngram_indexes) + 1
    rows = x.reshape(1, -1) if x.ndim == 1 else x
    counts = np.zeros((rows.shape[0], width), dtype=np.float64)
    for i, row in enumerate(rows):
        tokens: list[object] = ([str(t) for t in row] if x.dtype == object
                                else [int(t) for t in row])
        _count_row(a, table, tokens, counts[i])
    weights = np.asarray(a.weights if a.weights else np.ones(width), dtype=np.float64)[:width]
    if a.mode == "IDF":
        counts = np.where(counts > 0, weights, 0.0)
    elif a.mode == "TFIDF":
        counts = counts * weights
    out = counts.astype(np.float32)
    return out.reshape(width) if x.ndim == 1 else out


op("TfIdfVectorizer", TfIdfVectorizerAttrs, versions=(9,), infer=_rule, reference=_reference)

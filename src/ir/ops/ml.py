"""Classic machine-learning ops of the "ai.onnx.ml" domain that transform features: LabelEncoder,
ArrayFeatureExtractor, Binarizer, Scaler, Normalizer, OneHotEncoder, Imputer and
FeatureVectorizer. The tree ensembles live in ml_trees.py.

Where the ONNX text leaves a corner open (a 1-D input, a row of zeros), these follow ONNX Runtime.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dtype import DType
from ..types import Dim, TensorType, Type
from .registry import InferCtx, op

DOMAIN = "ai.onnx.ml"
NUMERIC = (DType.F32, DType.F64, DType.I64, DType.I32)


def _input(c: InferCtx, i: int, allowed: tuple[DType, ...]) -> TensorType:
    t = c.t(i)
    if t.dtype not in allowed:
        raise c.error(f"input {i} must be one of {', '.join(map(str, allowed))}, got {t}")
    return t


def _rows(x: np.ndarray) -> np.ndarray:
    """[C] as one row [1, C]; [N, ...] as N rows of features."""
    return x.reshape(1, -1) if x.ndim <= 1 else x.reshape(x.shape[0], -1)


# -- LabelEncoder ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LabelEncoderAttrs:
    default_float: float = -0.0
    default_int64: int = -1
    default_string: str = "_Unused"
    default_tensor: np.ndarray | None = None
    keys_floats: tuple[float, ...] | None = None
    keys_int64s: tuple[int, ...] | None = None
    keys_strings: tuple[str, ...] | None = None
    keys_tensor: np.ndarray | None = None
    values_floats: tuple[float, ...] | None = None
    values_int64s: tuple[int, ...] | None = None
    values_strings: tuple[str, ...] | None = None
    values_tensor: np.ndarray | None = None
    classes_strings: tuple[str, ...] | None = None  # version 1: strings <-> their positions


@dataclass(frozen=True)
class Mapping:
    keys: list[Any]
    values: list[Any]
    default: Any
    key_dtype: DType
    value_dtype: DType


def _given(*candidates: tuple[str, Any]) -> tuple[str, Any] | None:
    present = [(name, v) for name, v in candidates if v is not None]
    if len(present) > 1:
        raise ValueError(f"only one of {', '.join(n for n, _ in present)} may be given")
    return present[0] if present else None


def _label_mapping(a: LabelEncoderAttrs, input_dtype: DType) -> Mapping:
    """The keys, values and default a LabelEncoder's attributes describe, with their dtypes."""
    if a.classes_strings is not None:
        # version 1 maps strings to their positions, or positions back to the strings
        positions = list(range(len(a.classes_strings)))
        if input_dtype is DType.STRING:
            return Mapping(list(a.classes_strings), positions, a.default_int64, DType.STRING,
                           DType.I64)
        return Mapping(positions, list(a.classes_strings), a.default_string, DType.I64,
                       DType.STRING)
    keys = _given(("floats", a.keys_floats), ("int64s", a.keys_int64s),
                  ("strings", a.keys_strings), ("tensor", a.keys_tensor))
    values = _given(("floats", a.values_floats), ("int64s", a.values_int64s),
                    ("strings", a.values_strings), ("tensor", a.values_tensor))
    if keys is None or values is None:
        raise ValueError("needs one keys_* and one values_* attribute")
    list_dtypes = {"floats": DType.F32, "int64s": DType.I64, "strings": DType.STRING}
    key_dtype = (DType.from_np(keys[1].dtype) if keys[0] == "tensor" else list_dtypes[keys[0]])
    value_dtype = (DType.from_np(values[1].dtype) if values[0] == "tensor"
                   else list_dtypes[values[0]])
    key_list = np.asarray(keys[1]).reshape(-1).tolist()
    value_list = np.asarray(values[1]).reshape(-1).tolist()
    if len(key_list) != len(value_list):
        raise ValueError(f"{len(key_list)} keys but {len(value_list)} values")
    if values[0] == "tensor" and a.default_tensor is not None:
        default = np.asarray(a.default_tensor).reshape(-1).tolist()[0]
    elif value_dtype is DType.STRING:
        default = a.default_string
    elif value_dtype.is_float:
        default = a.default_float
    else:
        default = a.default_int64
    return Mapping(key_list, value_list, default, key_dtype, value_dtype)


def _label_encoder_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    try:
        m = _label_mapping(c.attrs, x.dtype)
    except ValueError as e:
        raise c.error(str(e)) from None
    if m.key_dtype is not x.dtype and not (m.key_dtype.is_int and x.dtype.is_int):
        raise c.error(f"keys are {m.key_dtype} but the input is {x}")
    return [TensorType(m.value_dtype, x.shape)]


def _label_encoder(a: LabelEncoderAttrs, x: np.ndarray) -> np.ndarray:
    m = _label_mapping(a, DType.from_np(x.dtype))
    is_float = m.key_dtype.is_float
    nan_value = m.default
    table: dict[Any, Any] = {}
    for k, v in zip(m.keys, m.values):  # a repeated key: the last one wins
        if is_float and math.isnan(k):
            nan_value = v  # a NaN key matches every NaN, whatever its bits
        else:
            table[k] = v
    flat = x.reshape(-1).tolist()
    if is_float:
        out = [nan_value if math.isnan(e) else table.get(e, m.default) for e in flat]
    else:
        out = [table.get(e, m.default) for e in flat]
    return np.array(out, dtype=m.value_dtype.np).reshape(x.shape)


op("LabelEncoder", LabelEncoderAttrs, versions=(1, 2, 4), domain=DOMAIN,
   infer=_label_encoder_rule, reference=_label_encoder)


# -- ArrayFeatureExtractor ---------------------------------------------------------------------

def _array_feature_rule(c: InferCtx) -> list[Type]:
    x = _input(c, 0, (*NUMERIC, DType.STRING))
    y = _input(c, 1, (DType.I64,))
    picked: Dim = y.numel if y.numel is not None else c.sym("picked")
    lead = x.shape[:-1] if x.rank > 1 else (1,)  # a vector reads as one row
    return [TensorType(x.dtype, (*lead, picked))]


def _array_feature(a: None, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    index = y.reshape(-1)
    width = x.shape[-1] if x.ndim else 1
    bad = index[(index < 0) | (index >= width)]
    if bad.size:
        raise IndexError(f"index {int(bad[0])} is out of range [0, {width})")
    out = np.take(x.reshape(1, -1) if x.ndim <= 1 else x, index, axis=-1)
    return out


op("ArrayFeatureExtractor", versions=(1,), domain=DOMAIN, infer=_array_feature_rule,
   reference=_array_feature)


# -- Binarizer ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class BinarizerAttrs:
    threshold: float = 0.0


def _binarizer_rule(c: InferCtx) -> list[Type]:
    return [_input(c, 0, NUMERIC)]


def _binarizer(a: BinarizerAttrs, x: np.ndarray) -> np.ndarray:
    return (x > a.threshold).astype(x.dtype)  # NaN is not above any threshold


op("Binarizer", BinarizerAttrs, versions=(1,), domain=DOMAIN, traits=("elementwise",),
   infer=_binarizer_rule, reference=_binarizer)


# -- Scaler ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScalerAttrs:
    offset: tuple[float, ...] | None = None
    scale: tuple[float, ...] | None = None


def _per_feature(c: InferCtx, values: tuple[float, ...] | None, name: str, x: TensorType) -> None:
    width = x.shape[-1] if x.rank else 1
    if values is not None and len(values) not in (1, width) and isinstance(width, int):
        raise c.error(f"{name} has {len(values)} entries; the input has {width} features")


def _scaler_rule(c: InferCtx) -> list[Type]:
    x = _input(c, 0, NUMERIC)
    _per_feature(c, c.attrs.offset, "offset", x)
    _per_feature(c, c.attrs.scale, "scale", x)
    return [x.with_dtype(DType.F32)]


def _scaler(a: ScalerAttrs, x: np.ndarray) -> np.ndarray:
    offset = np.asarray(a.offset or (0.0,), dtype=np.float64)
    scale = np.asarray(a.scale or (1.0,), dtype=np.float64)
    return ((x.astype(np.float64) - offset) * scale).astype(np.float32)


op("Scaler", ScalerAttrs, versions=(1,), domain=DOMAIN, infer=_scaler_rule, reference=_scaler)


# -- Normalizer --------------------------------------------------------------------------------

@dataclass(frozen=True)
class NormalizerAttrs:
    norm: str = "MAX"


def _normalizer_rule(c: InferCtx) -> list[Type]:
    x = _input(c, 0, NUMERIC)
    if c.attrs.norm not in ("MAX", "L1", "L2"):
        raise c.error(f"norm must be MAX, L1 or L2, got {c.attrs.norm!r}")
    if x.rank not in (1, 2):
        raise c.error(f"input must be [C] or [N, C], got {x}")
    return [x.with_dtype(DType.F32)]


def _normalizer(a: NormalizerAttrs, x: np.ndarray) -> np.ndarray:
    rows = _rows(x).astype(np.float64)
    if a.norm == "MAX":
        # the largest value, not the largest magnitude (as ONNX Runtime divides)
        norm = rows.max(axis=1, keepdims=True, initial=-np.inf)
    elif a.norm == "L1":
        norm = np.abs(rows).sum(axis=1, keepdims=True)
    else:
        norm = np.sqrt((rows * rows).sum(axis=1, keepdims=True))
    # rows whose norm is 0 are left as they are
    out = np.divide(rows, norm, out=rows.copy(), where=norm != 0)
    return out.astype(np.float32).reshape(x.shape)


op("Normalizer", NormalizerAttrs, versions=(1,), domain=DOMAIN, infer=_normalizer_rule,
   reference=_normalizer)


# -- OneHotEncoder -----------------------------------------------------------------------------

@dataclass(frozen=True)
class OneHotEncoderAttrs:
    cats_int64s: tuple[int, ...] | None = None
    cats_strings: tuple[str, ...] | None = None
    zeros: int = 1


def _categories(a: OneHotEncoderAttrs, strings: bool) -> tuple[Any, ...]:
    return (a.cats_strings if strings else a.cats_int64s) or ()


def _one_hot_rule(c: InferCtx) -> list[Type]:
    x = _input(c, 0, (*NUMERIC, DType.STRING))
    cats = _categories(c.attrs, x.dtype is DType.STRING)
    if not cats:
        raise c.error(f"a {x.dtype} input needs "
                      f"{'cats_strings' if x.dtype is DType.STRING else 'cats_int64s'}")
    return [TensorType(DType.F32, (*x.shape, len(cats)))]


def _one_hot(a: OneHotEncoderAttrs, x: np.ndarray) -> np.ndarray:
    strings = x.dtype == object
    cats = _categories(a, strings)
    column = {k: i for i, k in reversed(list(enumerate(cats)))}  # the first of repeated ones
    # numbers are matched as integers: 1.7 is category 1
    flat = [str(e) for e in x.reshape(-1)] if strings else x.reshape(-1).astype(np.int64).tolist()
    out = np.zeros((len(flat), len(cats)), dtype=np.float32)
    for row, e in enumerate(flat):
        k = column.get(e)
        if k is not None:
            out[row, k] = 1.0
        elif not a.zeros:
            raise ValueError(f"{e!r} is not a category and zeros=0 forbids an all-zero row")
    return out.reshape(*x.shape, len(cats))


op("OneHotEncoder", OneHotEncoderAttrs, versions=(1,), domain=DOMAIN, infer=_one_hot_rule,
   reference=_one_hot)


# -- Imputer -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImputerAttrs:
    imputed_value_floats: tuple[float, ...] | None = None
    imputed_value_int64s: tuple[int, ...] | None = None
    replaced_value_float: float = 0.0
    replaced_value_int64: int = 0


def _imputed(a: ImputerAttrs, dtype: DType) -> tuple[float | int, ...]:
    return (a.imputed_value_floats if dtype.is_float else a.imputed_value_int64s) or ()


def _imputer_rule(c: InferCtx) -> list[Type]:
    x = _input(c, 0, NUMERIC)
    values = _imputed(c.attrs, x.dtype)
    if not values:
        raise c.error(f"a {x.dtype} input needs imputed_value_"
                      f"{'floats' if x.dtype.is_float else 'int64s'}")
    _per_feature(c, values, "the imputed values", x)
    return [x]


def _imputer(a: ImputerAttrs, x: np.ndarray) -> np.ndarray:
    values = np.asarray(_imputed(a, DType.from_np(x.dtype))).astype(x.dtype)
    if x.dtype.kind == "f":
        replaced = a.replaced_value_float
        hit = np.isnan(x) if math.isnan(replaced) else x == replaced
    else:
        hit = x == a.replaced_value_int64
    # the imputed value of each feature (the last axis), or one for all
    return np.where(hit, np.broadcast_to(values, x.shape), x)


op("Imputer", ImputerAttrs, versions=(1,), domain=DOMAIN, traits=("elementwise",),
   infer=_imputer_rule, reference=_imputer)


# -- FeatureVectorizer -------------------------------------------------------------------------

@dataclass(frozen=True)
class FeatureVectorizerAttrs:
    inputdimensions: tuple[int, ...] | None = None


def _feature_vectorizer_rule(c: InferCtx) -> list[Type]:
    xs = [_input(c, i, NUMERIC) for i in range(len(c.types))]
    dims = c.attrs.inputdimensions or ()
    if len(dims) != len(xs):
        raise c.error(f"inputdimensions has {len(dims)} entries for {len(xs)} inputs")
    if len({x.dtype for x in xs}) > 1:
        raise c.error(f"inputs have different dtypes: {', '.join(str(x) for x in xs)}")
    rows: Dim = xs[0].shape[0] if xs[0].rank > 1 else 1
    return [TensorType(DType.F32, (rows, sum(dims)))]


def _feature_vectorizer(a: FeatureVectorizerAttrs, *xs: np.ndarray) -> np.ndarray:
    dims = a.inputdimensions or ()
    parts = [_rows(x) for x in xs]
    out = np.zeros((parts[0].shape[0], sum(dims)), dtype=np.float32)
    start = 0
    for part, width in zip(parts, dims):
        # each input fills its `width` columns: cut when longer, zero-padded when shorter
        take = min(width, part.shape[1])
        out[:, start:start + take] = part[:, :take]
        start += width
    return out


op("FeatureVectorizer", FeatureVectorizerAttrs, versions=(1,), domain=DOMAIN,
   infer=_feature_vectorizer_rule, reference=_feature_vectorizer)

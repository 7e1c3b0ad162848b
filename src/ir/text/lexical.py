"""The lexical layer of the text form, shared by printer and parser: quoted names, floats that read
back bit-exact (shortest repr for the dtype; nan payloads as bits), and dense tensor data."""
from __future__ import annotations

import json
import re

import numpy as np

from ..dtype import DType

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote(name: str) -> str:
    """A name as written after `%` or `@`, or as a symbol: plain identifiers bare, others quoted."""
    return name if _IDENT.fullmatch(name) else json.dumps(name)


def unquote(text: str) -> str:
    """Inverse of quote (a name token without its sigil)."""
    return json.loads(text) if text.startswith('"') else text


def string(text: str) -> str:
    return json.dumps(text)


# -- floats --------------------------------------------------------------------------------------

def _uint(dt: np.dtype) -> np.dtype:
    return np.dtype(f"u{dt.itemsize}")


def _canonical_nan_bits(dt: np.dtype) -> int:
    with np.errstate(all="ignore"):
        return int(np.array(np.nan).astype(dt).view(_uint(dt)))


def _sign_bit(dt: np.dtype) -> int:
    return 1 << (dt.itemsize * 8 - 1)


def format_float(x: float | np.floating, dt: np.dtype) -> str:
    """`x` (a value of dtype `dt`) as text that parse_float reads back to the same bits."""
    v = float(x)
    if v != v:
        bits = int(np.array(x, dt).view(_uint(dt)))
        canon = _canonical_nan_bits(dt)
        if bits == canon:
            return "nan"
        if bits == canon | _sign_bit(dt):
            return "-nan"
        return f"nan(0x{bits:x})"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    if dt == np.float32 or dt == np.float16:
        s = str(dt.type(x))
        if float(np.array(float(s)).astype(dt)) != v or s.startswith("np."):
            s = repr(v)  # shortest repr did not survive double rounding: use the exact f64 one
    else:
        s = repr(v)
    if not any(c in s for c in ".eEn"):
        s += ".0"
    return s


def parse_float_bits(text: str, dt: np.dtype) -> np.ndarray | None:
    """For nan tokens, the 0-d array of dtype `dt` with those exact bits; None for other tokens."""
    if not text.lstrip("-").startswith("nan"):
        return None
    if text.startswith("nan("):
        bits = int(text[4:-1], 16)
    else:
        bits = _canonical_nan_bits(dt) | (_sign_bit(dt) if text.startswith("-") else 0)
    return np.array(bits, _uint(dt)).view(dt)


def parse_float(text: str) -> float:
    """A float token as a Python float (nan payloads as float64 bits, as kernel constants print)."""
    special = parse_float_bits(text, np.dtype(np.float64))
    if special is not None:
        return float(special)
    return float(text)


def format_const_float(v: float, dtype: DType) -> str:
    """A kernel constant (a Python float holding a value of `dtype`)."""
    if v != v:
        return format_float(v, np.dtype(np.float64))
    dt = dtype.np if dtype in (DType.F32, DType.F16) else np.dtype(np.float64)
    return format_float(dt.type(v), dt)


# -- dense tensor data ---------------------------------------------------------------------------

def _element_texts(arr: np.ndarray, dtype: DType) -> list[str]:
    flat = arr.reshape(-1)
    if dtype is DType.BOOL:
        return ["true" if x else "false" for x in flat.tolist()]
    if dtype is DType.STRING:
        return [json.dumps(x if isinstance(x, str) else x.decode("utf-8", "surrogateescape")
                           if isinstance(x, bytes) else str(x)) for x in flat.tolist()]
    if dtype.is_complex:
        part = np.dtype(np.float32 if dtype is DType.C64 else np.float64)
        return [f"({format_float(z.real, part)}, {format_float(z.imag, part)})" for z in flat]
    if dtype.is_float:
        dt = dtype.np
        return [format_float(x, dt) for x in flat]
    return [str(int(x)) for x in flat.tolist()]


def _all_same(arr: np.ndarray) -> bool:
    flat = arr.reshape(-1)
    if flat.dtype.kind == "O":
        first = flat[0]
        return all(type(x) is type(first) and x == first for x in flat.tolist())
    raw = np.ascontiguousarray(flat).view(np.uint8).reshape(flat.size, -1)
    return bool((raw == raw[0]).all())  # bitwise: 0.0 and -0.0 differ, equal nans match


def format_dense(arr: np.ndarray, dtype: DType) -> str:
    """The data part of `dense<T: DATA>`: one element for 0-d or all-equal data, else a flat
    row-major list."""
    if arr.ndim == 0 or (arr.size > 1 and _all_same(arr)):
        return _element_texts(arr.reshape(-1)[:1], dtype)[0]
    return "[" + ", ".join(_element_texts(arr, dtype)) + "]"


_COMPLEX = re.compile(r"\(\s*([^,()\s]+(?:\(0x[0-9a-fA-F]+\))?)\s*,\s*([^,()\s]+"
                      r"(?:\(0x[0-9a-fA-F]+\))?)\s*\)")


def _split_items(body: str) -> list[str]:
    body = body.strip()
    if not body:
        return []
    return [t.strip() for t in re.split(r",(?![^(]*\))", body)]


def _floats(items: list[str], dt: np.dtype) -> np.ndarray:
    out = np.empty(len(items), dt)
    plain = [i for i, t in enumerate(items) if "nan" not in t]
    with np.errstate(all="ignore"):
        out[plain] = np.array([float(items[i]) for i in plain], np.float64).astype(dt)
    for i, t in enumerate(items):
        if "nan" in t:
            bits = parse_float_bits(t, dt)
            if bits is None:
                raise ValueError(f"bad float '{t}'")
            out[i] = bits
    return out


def parse_dense(data: str, dtype: DType, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of format_dense; ValueError with a short reason when the data does not fit."""
    size = int(np.prod(shape, dtype=np.int64))
    splat = not data.startswith("[")
    if dtype is DType.STRING:
        vals = [json.loads(data)] if splat else json.loads(data)
        arr = np.empty(len(vals), object)
        arr[:] = vals
    else:
        items = [data] if splat else _split_items(data[1:-1])
        if dtype is DType.BOOL:
            if any(t not in ("true", "false") for t in items):
                raise ValueError("bool data must be true or false")
            arr = np.array([t == "true" for t in items], np.bool_)
        elif dtype.is_complex:
            part = np.dtype(np.float32 if dtype is DType.C64 else np.float64)
            pairs = [_COMPLEX.fullmatch(t) for t in items]
            if any(m is None for m in pairs):
                raise ValueError("complex data must be (re, im) pairs")
            re_ = _floats([m.group(1) for m in pairs if m], part)
            im = _floats([m.group(2) for m in pairs if m], part)
            arr = np.empty(len(items), dtype.np)
            arr.real, arr.imag = re_, im  # part by part: keeps -0.0 and nan bits
        elif dtype.is_float:
            arr = _floats(items, dtype.np)
        else:
            arr = np.array([int(t) for t in items], dtype=np.int64 if dtype is not DType.U64
                           else np.uint64).astype(dtype.np)
    if splat:
        return np.full(shape, arr[0], dtype=arr.dtype) if dtype is not DType.STRING else \
            _fill_object(arr[0], shape)
    if arr.size != size:
        raise ValueError(f"{arr.size} elements for shape {list(shape)} ({size} elements)")
    return arr.reshape(shape)


def _fill_object(x: object, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, object)
    out[...] = x
    return out


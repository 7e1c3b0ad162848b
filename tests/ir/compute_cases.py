"""Hand-picked small cases for the compute definitions test_compute.py cannot generate from an
op's shape rule alone: ops with shape operands, windows, axes or several outputs.

CASES maps an op name to a function of a random generator that returns its cases.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dlc.ir.dtype import DType


@dataclass
class Case:
    attrs: dict[str, object]
    inputs: list[np.ndarray | None]
    known: tuple[int, ...] = ()   # inputs the compute definition may read at build time
    outputs: int = 1
    extra: dict[str, object] = field(default_factory=dict)


Rng = np.random.Generator
CASES: dict[str, Callable[[Rng], list[Case]]] = {}


def cases(*names: str) -> Callable[[Callable[[Rng], list[Case]]], Callable[[Rng], list[Case]]]:
    def register(fn: Callable[[Rng], list[Case]]) -> Callable[[Rng], list[Case]]:
        for n in names:
            CASES[n] = fn
        return fn
    return register


def f32(rng: Rng, *shape: int, lo: float = -3.0, hi: float = 3.0,
        dtype: np.dtype | type = np.float32) -> np.ndarray:
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def ints(values: Sequence[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# -- element-wise ops with optional or differently typed inputs ---------------------------------

@cases("Clip")
def _clip(rng: Rng) -> list[Case]:
    x = f32(rng, 3, 4)
    lo, hi = np.array(-1.0, np.float32), np.array([1.5], np.float32)
    xi = rng.integers(-20, 20, size=(5,)).astype(np.int32)
    return [Case({}, [x, lo, hi]), Case({}, [x, None, hi]), Case({}, [x, lo]),
            Case({}, [x, hi.reshape(()), lo]),  # lo > hi: everything is hi
            Case({}, [xi, np.array(-5, np.int32), np.array(7, np.int32)]),
            Case({}, [x.astype(DType.F16.np), lo.astype(DType.F16.np)])]


@cases("Cast")
def _cast(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 5, lo=0.0, hi=100.0)
    xi = rng.integers(-100, 100, size=(4, 3)).astype(np.int32)
    out = [Case({"to": to}, [x]) for to in (DType.I32, DType.U8, DType.F16, DType.BF16,
                                               DType.F64, DType.BOOL, DType.I64)]
    out += [Case({"to": to}, [xi]) for to in (DType.F32, DType.I8, DType.U16, DType.BOOL,
                                               DType.BF16)]
    out.append(Case({"to": DType.F32}, [x.astype(DType.BF16.np)]))
    out.append(Case({"to": DType.F16}, [rng.random((3,)) < 0.5]))
    return out


@cases("CastLike")
def _cast_like(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 5, lo=0.0, hi=100.0)
    return [Case({}, [x, np.zeros((1,), dt)]) for dt in (np.int32, np.float64, np.uint8)]


@cases("Where")
def _where(rng: Rng) -> list[Case]:
    return [Case({}, [rng.random((3, 1)) < 0.5, f32(rng, 1, 4), f32(rng, 3, 4)]),
            Case({}, [rng.random((2, 3)) < 0.5, rng.integers(0, 9, (2, 3)),
                      rng.integers(0, 9, (3,))]),
            Case({}, [np.array(True), f32(rng, 2, dtype=DType.F16.np), f32(rng, 2,
                                                                          dtype=DType.F16.np)])]


@cases("Pow")
def _pow(rng: Rng) -> list[Case]:
    return [Case({}, [f32(rng, 3, 4, lo=0.1), f32(rng, 4)]),
            Case({}, [f32(rng, 3, 4), rng.integers(-3, 4, (3, 1)).astype(np.int64)]),
            Case({}, [f32(rng, 2, 3, lo=0.1, dtype=np.float64), f32(rng, 3)]),
            Case({}, [f32(rng, 5, lo=0.1, dtype=DType.F16.np), np.array(2.5, np.float32)])]

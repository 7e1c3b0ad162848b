"""Hand-picked small cases for the compute definitions test_compute.py cannot generate from an
op's shape rule alone: ops with shape operands, windows, axes or several outputs.

CASES maps an op name to a function of a random generator that returns its cases.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dlc.ir.dtype import DType


@dataclass
class Case:
    attrs: dict[str, object]
    inputs: list[np.ndarray | None]
    known: tuple[int, ...] = ()   # inputs the compute definition may read at build time
    outputs: int = 1


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


# -- linear algebra -----------------------------------------------------------------------------

@cases("MatMul")
def _matmul(rng: Rng) -> list[Case]:
    pairs = [((3, 4), (4, 5)), ((2, 3, 4), (4, 2)), ((4,), (2, 4, 3)), ((2, 1, 3, 4), (5, 4, 2)),
             ((3, 4), (4,)), ((4,), (4,))]
    out = [Case({}, [f32(rng, *a), f32(rng, *b)]) for a, b in pairs]
    out.append(Case({}, [f32(rng, 3, 4, dtype=DType.F16.np), f32(rng, 4, 2, dtype=DType.F16.np)]))
    out.append(Case({}, [rng.integers(-9, 9, (2, 3)).astype(np.int32),
                         rng.integers(-9, 9, (3, 2)).astype(np.int32)]))
    return out


@cases("Gemm")
def _gemm(rng: Rng) -> list[Case]:
    a, b, c = f32(rng, 4, 3), f32(rng, 3, 5), f32(rng, 5)
    return [Case({}, [a, b, c]), Case({"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0},
                                      [a.T.copy(), b.T.copy(), f32(rng, 4, 1)]),
            Case({"alpha": 1.5}, [a, b]), Case({"beta": 0.0}, [a, b, c]),
            Case({"alpha": 0.5, "beta": 1.5}, [rng.integers(-9, 9, (2, 3)).astype(np.int64),
                                               rng.integers(-9, 9, (3, 2)).astype(np.int64),
                                               rng.integers(-9, 9, (2, 2)).astype(np.int64)]),
            Case({}, [f32(rng, 2, 3, dtype=DType.BF16.np), f32(rng, 3, 2, dtype=DType.BF16.np),
                      f32(rng, 2, dtype=DType.BF16.np)])]


@cases("Einsum")
def _einsum(rng: Rng) -> list[Case]:
    return [Case({"equation": "ij,jk->ik"}, [f32(rng, 3, 4), f32(rng, 4, 2)]),
            Case({"equation": "bij,bjk->bik"}, [f32(rng, 2, 3, 4), f32(rng, 2, 4, 2)]),
            Case({"equation": "ii->i"}, [f32(rng, 3, 3)]),
            Case({"equation": "ij->ji"}, [f32(rng, 2, 3)]),
            Case({"equation": "...ij,...jk"}, [f32(rng, 2, 3, 4), f32(rng, 4, 5)]),
            Case({"equation": "i,i"}, [f32(rng, 5), f32(rng, 5)]),
            Case({"equation": "ij,j->i"}, [f32(rng, 3, 4), f32(rng, 1)])]


# -- reductions ---------------------------------------------------------------------------------

REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceProd", "ReduceMax", "ReduceMin", "ReduceL1",
              "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]


@cases(*REDUCE_OPS)
def _reduce(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 3, 4, lo=0.1)
    out = [Case({}, [x, ints([1])], known=(1,)),
           Case({"keepdims": 0}, [x, ints([0, -1])], known=(1,)),
           Case({}, [x]), Case({"keepdims": 0}, [x]),
           Case({"noop_with_empty_axes": 1}, [x, ints([])], known=(1,)),
           Case({}, [f32(rng, 3, 0, 2), ints([1])], known=(1,)),
           Case({"keepdims": 0}, [x.astype(DType.F16.np), ints([2])], known=(1,)),
           Case({}, [x.astype(np.float64), ints([0, 1])], known=(1,)),
           Case({}, [rng.integers(1, 9, (3, 4)).astype(np.int32), ints([1])], known=(1,))]
    return out


@cases("ArgMax", "ArgMin")
def _arg(rng: Rng) -> list[Case]:
    x = rng.integers(0, 4, (3, 4, 5)).astype(np.float32)   # ties
    nan = x.copy()
    nan[1, 2, 3] = np.nan
    return [Case({"axis": 1}, [x]), Case({"axis": -1, "keepdims": 0}, [x]),
            Case({"axis": 0, "select_last_index": 1}, [x]), Case({"axis": 2}, [nan]),
            Case({"axis": 2, "select_last_index": 1, "keepdims": 0}, [nan]),
            Case({"axis": 1}, [rng.integers(-3, 3, (2, 6)).astype(np.int32)]),
            Case({}, [rng.random((4, 2)) < 0.5])]


# -- softmax and normalization ------------------------------------------------------------------

@cases("Softmax", "LogSoftmax", "Hardmax")
def _softmax(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 3, 4)
    ties = rng.integers(0, 3, (3, 5)).astype(np.float32)
    ties[1, 2] = np.nan
    return [Case({}, [x]), Case({"axis": 1}, [x]), Case({"axis": 0}, [x.astype(np.float64)]),
            Case({"axis": 1, "coerce_2d": 1}, [x]), Case({"axis": -1}, [ties]),
            Case({"axis": 2}, [x.astype(DType.F16.np)]),
            Case({"axis": 1}, [x.astype(DType.BF16.np)])]


def _norm_inputs(rng: Rng, dtype: np.dtype | type) -> tuple[np.ndarray, ...]:
    x = f32(rng, 2, 3, 4, 5, dtype=dtype)
    return x, f32(rng, 3, dtype=dtype), f32(rng, 3, dtype=dtype), f32(rng, 3, dtype=dtype), \
        f32(rng, 3, lo=0.5, hi=2.0, dtype=dtype)


@cases("BatchNormalization")
def _batch_norm(rng: Rng) -> list[Case]:
    x, s, b, m, v = _norm_inputs(rng, np.float32)
    xh = _norm_inputs(rng, DType.F16.np)
    return [Case({}, [x, s, b, m, v]), Case({"epsilon": 0.1}, [x[:, :, 0], s, b, m, v]),
            Case({}, list(xh)),
            Case({}, [x, s.astype(np.float64), b.astype(np.float64), m, v.astype(np.float64)]),
            Case({}, [x[..., 0], f32(rng, 3, 4), f32(rng, 3, 4), f32(rng, 3, 4),
                      f32(rng, 3, 4, lo=0.5)])]


@cases("InstanceNormalization")
def _instance_norm(rng: Rng) -> list[Case]:
    x, s, b, _, _ = _norm_inputs(rng, np.float32)
    return [Case({}, [x, s, b]), Case({"epsilon": 0.01}, [x[..., 0], s, b]),
            Case({}, [x.astype(DType.F16.np), s.astype(DType.F16.np), b.astype(DType.F16.np)])]


@cases("LayerNormalization")
def _layer_norm(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 3, 4)
    return [Case({}, [x, f32(rng, 4), f32(rng, 4)], outputs=3),
            Case({"axis": 1}, [x, f32(rng, 3, 4)], outputs=3),
            Case({"axis": 0, "stash_type": 11}, [x, f32(rng, 2, 3, 4), f32(rng, 4)]),
            Case({}, [x.astype(DType.F16.np), f32(rng, 4, dtype=DType.F16.np)], outputs=3)]


@cases("GroupNormalization")
def _group_norm(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 6, 3, 2)
    return [Case({"num_groups": 3}, [x, f32(rng, 6), f32(rng, 6)]),
            Case({"num_groups": 1, "epsilon": 0.1}, [x[..., 0], f32(rng, 6), f32(rng, 6)]),
            Case({"num_groups": 6}, [x.astype(DType.F16.np), f32(rng, 6, dtype=DType.F16.np),
                                     f32(rng, 6, dtype=DType.F16.np)])]


@cases("RMSNormalization")
def _rms_norm(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 3, 4)
    return [Case({}, [x, f32(rng, 4)]), Case({"axis": 1}, [x, f32(rng, 3, 4)]),
            Case({}, [x.astype(DType.F16.np), f32(rng, 4, dtype=DType.F16.np)])]


@cases("LpNormalization")
def _lp_norm(rng: Rng) -> list[Case]:
    x = f32(rng, 3, 4)
    x[1] = 0
    return [Case({}, [x]), Case({"p": 1, "axis": 0}, [x]),
            Case({"axis": 1}, [x.astype(np.float64)])]


@cases("MeanVarianceNormalization")
def _mvn(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 3, 4, 5)
    return [Case({}, [x]), Case({"axes": (1,)}, [x]), Case({"axes": (0, -1)}, [x[:, :, 0]])]


@cases("LRN")
def _lrn(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 5, 3, 3)
    return [Case({"size": 3}, [x]), Case({"size": 2, "alpha": 0.1, "beta": 0.5, "bias": 2.0}, [x]),
            Case({"size": 5}, [x[..., 0].astype(DType.F16.np)])]


@cases("Dropout")
def _dropout(rng: Rng) -> list[Case]:
    x = f32(rng, 3, 4)
    return [Case({}, [x], outputs=2), Case({}, [x, np.array(0.3, np.float32)]),
            Case({}, [x, np.array(0.3, np.float32), np.array(False)], known=(1, 2), outputs=2),
            Case({}, [x, np.array(0.0, np.float32), np.array(True)], known=(1, 2), outputs=2)]


# -- convolution and pooling --------------------------------------------------------------------

@cases("Conv")
def _conv(rng: Rng) -> list[Case]:
    x2, w2 = f32(rng, 2, 4, 7, 6), f32(rng, 6, 2, 3, 3)
    return [Case({}, [x2, f32(rng, 5, 4, 3, 3), f32(rng, 5)]),
            Case({"pads": (1, 2, 1, 0), "strides": (2, 1), "dilations": (1, 2), "group": 2},
                 [x2, w2]),
            Case({"auto_pad": "SAME_UPPER", "strides": (2, 2), "group": 4},
                 [x2, f32(rng, 8, 1, 3, 2), f32(rng, 8)]),
            Case({"auto_pad": "SAME_LOWER"}, [x2, f32(rng, 3, 4, 2, 2)]),
            Case({"auto_pad": "VALID", "strides": (3,)}, [f32(rng, 1, 3, 10), f32(rng, 2, 3, 4)]),
            Case({"pads": (1, 0, 1, 1, 1, 0)}, [f32(rng, 1, 2, 3, 4, 3), f32(rng, 2, 2, 2, 2, 2)]),
            Case({"pads": (1, 1, 1, 1)}, [x2.astype(DType.F16.np),
                                          f32(rng, 3, 4, 3, 3, dtype=DType.F16.np)])]


@cases("ConvTranspose")
def _conv_transpose(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 4, 3, 4)
    return [Case({}, [x, f32(rng, 4, 3, 3, 3), f32(rng, 3)]),
            Case({"strides": (2, 3), "pads": (1, 0, 0, 1), "output_padding": (1, 0)},
                 [x, f32(rng, 4, 2, 3, 2)]),
            Case({"group": 2, "dilations": (2, 1), "strides": (2, 2)}, [x, f32(rng, 4, 3, 2, 2)]),
            Case({"auto_pad": "SAME_UPPER", "strides": (2, 2)}, [x, f32(rng, 4, 1, 3, 3)]),
            Case({"output_shape": (9, 10), "strides": (3, 3)}, [x, f32(rng, 4, 2, 2, 2)]),
            Case({"strides": (2,)}, [f32(rng, 1, 2, 5), f32(rng, 2, 3, 3)])]


def _pool_cases(rng: Rng, ints_too: bool) -> list[Case]:
    x = f32(rng, 2, 3, 7, 6)
    out = [Case({"kernel_shape": (3, 3)}, [x]),
           Case({"kernel_shape": (3, 2), "strides": (2, 2), "pads": (1, 1, 1, 0)}, [x]),
           Case({"kernel_shape": (2, 2), "strides": (2, 2), "ceil_mode": 1}, [x]),
           Case({"kernel_shape": (3, 3), "auto_pad": "SAME_UPPER", "strides": (2, 1)}, [x]),
           Case({"kernel_shape": (2, 2), "dilations": (2, 2), "pads": (1, 1, 1, 1)}, [x]),
           Case({"kernel_shape": (3,), "strides": (2,), "pads": (1, 1)}, [x[:, :, 0]]),
           Case({"kernel_shape": (2, 2), "auto_pad": "SAME_LOWER"}, [x.astype(DType.F16.np)])]
    if ints_too:
        out.append(Case({"kernel_shape": (2, 3), "pads": (1, 1, 0, 1)},
                        [rng.integers(-100, 100, (1, 2, 4, 5)).astype(np.int8)]))
    return out


@cases("MaxPool")
def _max_pool(rng: Rng) -> list[Case]:
    out = _pool_cases(rng, ints_too=True)
    ties = rng.integers(0, 3, (1, 2, 5, 5)).astype(np.float32)
    return out + [Case(c.attrs, c.inputs, outputs=2) for c in out] + [
        Case({"kernel_shape": (2, 2), "storage_order": 1, "pads": (1, 1, 0, 0)}, [ties],
             outputs=2)]


@cases("AveragePool")
def _average_pool(rng: Rng) -> list[Case]:
    out = _pool_cases(rng, ints_too=False)
    return out + [Case({**c.attrs, "count_include_pad": 1}, c.inputs) for c in out]


@cases("LpPool")
def _lp_pool(rng: Rng) -> list[Case]:
    return [Case({**c.attrs, "p": p}, c.inputs) for c, p in zip(_pool_cases(rng, False),
                                                                 (1, 2, 3, 2, 1, 2, 2))]


@cases("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def _global_pool(rng: Rng) -> list[Case]:
    return [Case({}, [f32(rng, 2, 3, 4, 5)]), Case({}, [f32(rng, 1, 4, 6)]),
            Case({}, [f32(rng, 2, 2, 3, 3, dtype=DType.F16.np)])]

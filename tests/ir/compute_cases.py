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


# -- shape ops ----------------------------------------------------------------------------------

def _mixed(rng: Rng, *shape: int) -> list[np.ndarray]:
    """One tensor of each kind of element: float, int, bool, half."""
    return [f32(rng, *shape), rng.integers(-9, 9, shape).astype(np.int64),
            rng.random(shape) < 0.5, f32(rng, *shape, dtype=DType.F16.np)]


@cases("Identity")
def _identity(rng: Rng) -> list[Case]:
    return [Case({}, [x]) for x in _mixed(rng, 2, 3)] + [Case({}, [np.array(1.5, np.float32)])]


@cases("Transpose")
def _transpose(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 3, 4)
    return [Case({}, [x]), Case({"perm": (1, 0, 2)}, [x]), Case({"perm": (2, 0, 1)}, [x]),
            Case({"perm": (-1, 0, 1)}, [_mixed(rng, 2, 3, 4)[1]]), Case({}, [f32(rng, 5)])]


@cases("Reshape")
def _reshape(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 3, 4)
    return [Case({}, [x, ints([6, 4])], known=(1,)), Case({}, [x, ints([4, -1])], known=(1,)),
            Case({}, [x, ints([0, 12, 1])], known=(1,)),
            Case({}, [x, ints([2, 2, 3, 2])], known=(1,)), Case({}, [x, ints([24])], known=(1,)),
            Case({"allowzero": 1}, [f32(rng, 0, 3), ints([3, 0])], known=(1,)),
            Case({}, [f32(rng, 1), ints([])], known=(1,))]


@cases("Flatten")
def _flatten(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 3, 4)
    return [Case({"axis": k}, [x]) for k in (0, 1, 2, 3, -1)]


@cases("Squeeze")
def _squeeze(rng: Rng) -> list[Case]:
    x = f32(rng, 1, 3, 1, 2)
    return [Case({}, [x]), Case({}, [x, ints([0])], known=(1,)),
            Case({}, [x, ints([-2, 0])], known=(1,))]


@cases("Unsqueeze")
def _unsqueeze(rng: Rng) -> list[Case]:
    x = f32(rng, 3, 2)
    return [Case({}, [x, ints([0])], known=(1,)), Case({}, [x, ints([1, -1])], known=(1,)),
            Case({}, [np.array(2.0, np.float32), ints([0, 1])], known=(1,))]


@cases("Expand")
def _expand(rng: Rng) -> list[Case]:
    return [Case({}, [f32(rng, 3, 1), ints([2, 3, 4])], known=(1,)),
            Case({}, [f32(rng, 4), ints([3, 1])], known=(1,)),
            Case({}, [_mixed(rng, 1, 2)[2], ints([3, 2])], known=(1,))]


@cases("DepthToSpace")
def _depth_to_space(rng: Rng) -> list[Case]:
    x, y = f32(rng, 2, 8, 3, 2), f32(rng, 1, 9, 2, 2)
    return [Case({"blocksize": b, "mode": m}, [v]) for m in ("DCR", "CRD")
            for v, b in ((x, 2), (y, 3))]


@cases("SpaceToDepth")
def _space_to_depth(rng: Rng) -> list[Case]:
    x, y = f32(rng, 2, 3, 4, 6), f32(rng, 1, 2, 6, 3)
    return [Case({"blocksize": b, "mode": m}, [v]) for m in ("DCR", "CRD")
            for v, b in ((x, 2), (y, 3))]


@cases("Concat")
def _concat(rng: Rng) -> list[Case]:
    return [Case({"axis": 1}, [f32(rng, 2, 3), f32(rng, 2, 1), f32(rng, 2, 4)]),
            Case({"axis": 0}, [f32(rng, 2, 3)]),
            Case({"axis": -1}, [f32(rng, 2, 2), f32(rng, 2, 0), f32(rng, 2, 1)]),
            Case({"axis": 0}, [rng.integers(0, 5, (1, 2)), rng.integers(0, 5, (3, 2))])]


@cases("Split")
def _split(rng: Rng) -> list[Case]:
    x = f32(rng, 6, 4)
    return [Case({}, [x], outputs=3), Case({"axis": 1}, [x, ints([1, 3])], known=(1,), outputs=2),
            Case({"axis": 0, "num_outputs": 4}, [x], outputs=4)]


@cases("Slice")
def _slice(rng: Rng) -> list[Case]:
    x = f32(rng, 5, 6, 3)
    return [Case({}, [x, ints([1, 0]), ints([4, 5])], known=(1, 2)),
            Case({}, [x, ints([-1]), ints([-100]), ints([1]), ints([-2])], known=(1, 2, 3, 4)),
            Case({}, [x, ints([0, 4]), ints([9, 1]), ints([2, 1]), ints([2, -1])],
                 known=(1, 2, 3, 4)),
            Case({}, [x, ints([3]), ints([3]), ints([0])], known=(1, 2, 3))]


@cases("Tile")
def _tile(rng: Rng) -> list[Case]:
    return [Case({}, [f32(rng, 2, 3), ints([2, 1])], known=(1,)),
            Case({}, [f32(rng, 1, 3), ints([3, 2])], known=(1,)),
            Case({}, [rng.integers(0, 5, (2,)), ints([0])], known=(1,))]


@cases("Pad")
def _pad(rng: Rng) -> list[Case]:
    x = f32(rng, 3, 4)
    out = [Case({"mode": m}, [x, ints([1, 2, 2, 3])], known=(1,))
           for m in ("constant", "reflect", "edge", "wrap")]
    out += [Case({}, [x, ints([1, -1, 0, 2]), np.array(7.0, np.float32)], known=(1,)),
            Case({"mode": "reflect"}, [x, ints([2, -1]), None, ints([0])], known=(1, 3)),
            Case({"mode": "wrap"}, [x, ints([5, 6]), None, ints([-1])], known=(1, 3)),
            Case({"mode": "edge"}, [f32(rng, 1, 3), ints([2, 1, 1, 0])], known=(1,))]
    return out


@cases("CenterCropPad")
def _center_crop_pad(rng: Rng) -> list[Case]:
    x = f32(rng, 5, 4, 2)
    return [Case({}, [x, ints([3, 7, 2])], known=(1,)),
            Case({"axes": (0, -1)}, [x, ints([8, 1])], known=(1,))]


@cases("ReverseSequence")
def _reverse_sequence(rng: Rng) -> list[Case]:
    x = f32(rng, 4, 3, 2)
    return [Case({}, [x, ints([4, 0, 2])]),
            Case({"batch_axis": 0, "time_axis": 1}, [f32(rng, 3, 4), ints([1, 4, 3])])]


@cases("Trilu")
def _trilu(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 4, 5)
    return [Case({}, [x]), Case({"upper": 0}, [x]), Case({}, [x, ints([-1])]),
            Case({"upper": 0}, [rng.integers(0, 5, (3, 3)), ints([1])])]


@cases("Gather")
def _gather(rng: Rng) -> list[Case]:
    x = f32(rng, 5, 4, 3)
    return [Case({}, [x, ints([0, 4, -1])]), Case({"axis": 1}, [x, ints([[1, 2], [-4, 3]])]),
            Case({"axis": -1}, [x, np.array(2, np.int32)]),
            Case({}, [rng.integers(0, 9, (6,)), ints([5, 0, 0])])]


@cases("GatherElements")
def _gather_elements(rng: Rng) -> list[Case]:
    x = f32(rng, 3, 4)
    return [Case({}, [x, rng.integers(-3, 3, (2, 4))]),
            Case({"axis": 1}, [x, rng.integers(-4, 4, (3, 5)).astype(np.int32)])]


@cases("GatherND")
def _gather_nd(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 3, 4)
    return [Case({}, [x, ints([[0, 1], [1, -1]])]), Case({}, [x, ints([[1], [0]])]),
            Case({"batch_dims": 1}, [x, ints([[[2]], [[0]]])]),
            Case({}, [x, ints([[1, 2, 3]])])]


@cases("TensorScatter")
def _tensor_scatter(rng: Rng) -> list[Case]:
    past = f32(rng, 2, 2, 6, 3)
    return [Case({}, [past, f32(rng, 2, 2, 2, 3), ints([1, 4])]),
            Case({"mode": "circular"}, [past, f32(rng, 2, 2, 3, 3), ints([5, 2])]),
            Case({}, [past, f32(rng, 2, 2, 1, 3)]),
            Case({"axis": 1}, [past, f32(rng, 2, 1, 6, 3), ints([1, 0])])]


# -- quantization -------------------------------------------------------------------------------

def _u8(rng: Rng, *shape: int) -> np.ndarray:
    return rng.integers(0, 256, shape).astype(np.uint8)


def _i8(rng: Rng, *shape: int) -> np.ndarray:
    return rng.integers(-128, 128, shape).astype(np.int8)


@cases("QuantizeLinear")
def _quantize(rng: Rng) -> list[Case]:
    x = f32(rng, 2, 3, 4, lo=-50, hi=300)
    s = np.array(0.7, np.float32)
    return [Case({}, [x, s, np.array(3, np.uint8)]), Case({}, [x, s]),
            Case({"axis": 1}, [x, f32(rng, 3, lo=0.5, hi=2), _i8(rng, 3)]),
            Case({"axis": 2, "block_size": 3}, [x, f32(rng, 2, 3, 2, lo=0.5, hi=2),
                                                _u8(rng, 2, 3, 2)]),
            Case({}, [rng.integers(-999, 999, (5,)).astype(np.int32), s, np.array(1, np.int8)]),
            Case({}, [x.astype(DType.F16.np), s.astype(DType.F16.np), np.array(7, np.uint16)]),
            Case({"output_dtype": DType.I16, "precision": DType.F64}, [x, s])]


@cases("DequantizeLinear")
def _dequantize(rng: Rng) -> list[Case]:
    x = _u8(rng, 2, 3, 4)
    return [Case({}, [x, np.array(0.7, np.float32), np.array(3, np.uint8)]),
            Case({}, [x, np.array([0.25], np.float64)]),
            Case({"axis": 1}, [_i8(rng, 2, 3), f32(rng, 3), _i8(rng, 3)]),
            Case({"axis": 0, "block_size": 2}, [x, f32(rng, 1, 3, 4), _u8(rng, 1, 3, 4)]),
            Case({"output_dtype": DType.F16}, [rng.integers(-999, 999, (4,)).astype(np.int32),
                                               np.array(0.01, np.float32)])]


@cases("DynamicQuantizeLinear")
def _dynamic_quantize(rng: Rng) -> list[Case]:
    return [Case({}, [f32(rng, 3, 4)], outputs=3), Case({}, [f32(rng, 5, lo=1.0)], outputs=3),
            Case({}, [np.zeros((2, 2), np.float32)], outputs=3)]


@cases("MatMulInteger")
def _matmul_integer(rng: Rng) -> list[Case]:
    return [Case({}, [_u8(rng, 3, 4), _u8(rng, 4, 5)]),
            Case({}, [_u8(rng, 3, 4), _i8(rng, 4, 2), np.array(7, np.uint8), _i8(rng, 2)]),
            Case({}, [_i8(rng, 2, 3, 4), _u8(rng, 4, 2), _i8(rng, 3), np.array(9, np.uint8)])]


@cases("QLinearMatMul")
def _qlinear_matmul(rng: Rng) -> list[Case]:
    a, b = _u8(rng, 3, 4), _i8(rng, 4, 5)
    sc = np.array(0.05, np.float32)
    return [Case({}, [a, sc, np.array(3, np.uint8), b, sc, np.array(1, np.int8), sc,
                      np.array(128, np.uint8)]),
            Case({}, [a, f32(rng, 3, lo=0.01, hi=0.1), _u8(rng, 3), b,
                      f32(rng, 5, lo=0.01, hi=0.1), _i8(rng, 5), np.array(0.3, np.float32),
                      np.array(-3, np.int8)])]


@cases("ConvInteger")
def _conv_integer(rng: Rng) -> list[Case]:
    x, w = _u8(rng, 1, 4, 5, 5), _u8(rng, 4, 2, 3, 3)
    return [Case({"group": 2, "pads": (1, 1, 1, 1)}, [x, w, np.array(100, np.uint8),
                                                        _u8(rng, 4)]),
            Case({"strides": (2, 2)}, [x, _i8(rng, 2, 4, 2, 2)])]


@cases("QLinearConv")
def _qlinear_conv(rng: Rng) -> list[Case]:
    x, w = _u8(rng, 1, 4, 5, 5), _i8(rng, 6, 4, 3, 3)
    sc = np.array(0.02, np.float32)
    return [Case({"pads": (1, 1, 1, 1)}, [x, sc, np.array(120, np.uint8), w,
                                           f32(rng, 6, lo=0.005, hi=0.05), np.zeros(6, np.int8),
                                           np.array(0.5, np.float32), np.array(128, np.uint8),
                                           rng.integers(-999, 999, (6,)).astype(np.int32)]),
            Case({"strides": (2, 2)}, [x, sc, np.array(3, np.uint8), w, sc, np.array(0, np.int8),
                                       np.array(0.2, np.float32), np.array(-5, np.int8)])]


# -- resizing -----------------------------------------------------------------------------------

@cases("Resize")
def _resize(rng: Rng) -> list[Case]:
    x = f32(rng, 1, 2, 4, 5)
    sc, sz = np.array([1, 1, 1.5, 0.6], np.float32), ints([1, 2, 7, 3])
    out = [Case({"mode": "linear"}, [x, None, sc], known=(2,)),
           Case({"mode": "nearest"}, [x, None, None, sz], known=(3,)),
           Case({"mode": "cubic", "coordinate_transformation_mode": "align_corners"},
                [x, None, sc], known=(2,)),
           Case({"mode": "linear", "antialias": 1}, [x, None, None, ints([1, 2, 2, 3])],
                known=(3,)),
           Case({"mode": "cubic", "exclude_outside": 1, "coordinate_transformation_mode":
                 "pytorch_half_pixel"}, [x, None, None, sz], known=(3,)),
           Case({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize",
                 "extrapolation_value": -1.0},
                [x, np.array([0, 0, -0.2, 0.1, 1, 1, 0.8, 1.3], np.float32), None, sz],
                known=(1, 3)),
           Case({"mode": "nearest", "nearest_mode": "ceil", "axes": (3,),
                 "coordinate_transformation_mode": "asymmetric"},
                [x, None, np.array([2.0], np.float32)], known=(2,)),
           Case({"mode": "linear", "keep_aspect_ratio_policy": "not_larger", "axes": (2, 3)},
                [x, None, None, ints([8, 8])], known=(3,)),
           Case({"mode": "linear"}, [rng.integers(0, 256, (1, 1, 3, 3)).astype(np.uint8),
                                     None, np.array([1, 1, 2, 2], np.float32)], known=(2,))]
    return out


@cases("Upsample")
def _upsample(rng: Rng) -> list[Case]:
    x = f32(rng, 1, 2, 3, 4)
    return [Case({"mode": "linear"}, [x, np.array([1, 1, 2, 1.5], np.float32)], known=(1,)),
            Case({}, [x, np.array([1, 2, 2, 2], np.float32)], known=(1,))]


# -- generators, bit casts and transformer pieces -----------------------------------------------

@cases("ConstantOfShape")
def _constant_of_shape(rng: Rng) -> list[Case]:
    return [Case({}, [ints([2, 3])], known=(0,)),
            Case({"value": np.array([7], np.int32)}, [ints([4])], known=(0,)),
            Case({"value": np.array([True])}, [ints([2, 1, 2])], known=(0,))]


@cases("Range")
def _range(rng: Rng) -> list[Case]:
    def r(*v: float, dt: type | np.dtype = np.float32) -> list[np.ndarray | None]:
        return [np.array(x, dt) for x in v]
    return [Case({}, r(1.0, 7.5, 0.7), known=(0, 1, 2)),
            Case({}, r(10, 2, -3, dt=np.int32), known=(0, 1, 2)),
            Case({}, r(0.1, 3.0, 0.3, dt=np.float64), known=(0, 1, 2)),
            Case({}, r(0.5, 40.0, 1.7, dt=DType.F16.np), known=(0, 1, 2)),
            Case({"stash_type": 10}, r(0.5, 40.0, 1.7, dt=DType.BF16.np), known=(0, 1, 2))]


@cases("EyeLike")
def _eye_like(rng: Rng) -> list[Case]:
    x = f32(rng, 3, 5)
    return [Case({}, [x]), Case({"k": 2, "dtype": DType.I32}, [x]),
            Case({"k": -1, "dtype": DType.BOOL}, [x])]


@cases("OneHot")
def _one_hot(rng: Rng) -> list[Case]:
    idx = ints([[0, 3, -1], [5, 2, -5]])
    return [Case({}, [idx, ints([4]), np.array([0.0, 1.0], np.float32)], known=(1,)),
            Case({"axis": 0}, [idx.astype(np.float32) + 0.5, np.array(4.0, np.float32),
                               ints([-1, 7])], known=(1,))]


@cases("BitCast")
def _bitcast(rng: Rng) -> list[Case]:
    return [Case({"to": DType.I32}, [f32(rng, 2, 3)]), Case({"to": DType.F16}, [ints([1, 2])
                                                                                 .astype(np.int16)]),
            Case({"to": DType.U64}, [f32(rng, 4, dtype=np.float64)])]


@cases("SwiGLU")
def _swiglu(rng: Rng) -> list[Case]:
    return [Case({}, [f32(rng, 2, 5), f32(rng, 2, 5)]),
            Case({"alpha": 1.702}, [f32(rng, 3, dtype=DType.F16.np), f32(rng, 3,
                                                                          dtype=DType.F16.np)])]


@cases("RotaryEmbedding")
def _rotary(rng: Rng) -> list[Case]:
    x4, x3 = f32(rng, 2, 3, 5, 8), f32(rng, 2, 5, 12)
    pos = rng.integers(0, 7, (2, 5))
    return [Case({}, [x4, f32(rng, 7, 4), f32(rng, 7, 4), pos]),
            Case({"interleaved": 1}, [x4, f32(rng, 2, 5, 4), f32(rng, 2, 5, 4)]),
            Case({"num_heads": 3, "rotary_embedding_dim": 2}, [x3, f32(rng, 7, 1),
                                                                f32(rng, 7, 1), pos]),
            Case({"num_heads": 2, "interleaved": 1, "rotary_embedding_dim": 4},
                 [x3, f32(rng, 2, 5, 2), f32(rng, 2, 5, 2)]),
            Case({}, [x4.astype(DType.F16.np), f32(rng, 7, 4, dtype=DType.F16.np),
                      f32(rng, 7, 4, dtype=DType.F16.np), pos])]


# -- losses -------------------------------------------------------------------------------------

@cases("NegativeLogLikelihoodLoss")
def _losses(rng: Rng) -> list[Case]:
    x, t = f32(rng, 3, 5), rng.integers(0, 5, (3,))
    x4, t4 = f32(rng, 2, 4, 3, 2), rng.integers(0, 4, (2, 3, 2)).astype(np.int32)
    t4[0, 1, 1] = -1
    return [Case({}, [x, t]), Case({"reduction": "sum"}, [x, t, f32(rng, 5, lo=0.1, hi=2.0)]),
            Case({"reduction": "none"}, [x, t]),
            Case({"ignore_index": -1}, [x4, t4, f32(rng, 4, lo=0.1, hi=2.0)]),
            Case({"reduction": "none", "ignore_index": -1}, [x4, t4]),
            Case({}, [x.astype(DType.F16.np), t]),
            Case({"reduction": "sum"}, [x.astype(np.float64), t])]


@cases("SoftmaxCrossEntropyLoss")
def _sce(rng: Rng) -> list[Case]:
    out = _losses(rng)
    return out + [Case(c.attrs, c.inputs, outputs=2) for c in out]

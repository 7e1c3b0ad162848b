"""More hand-picked compute cases (see compute_cases.py): shape ops, quantization, resizing,
generators and losses. Importing this module registers them in CASES."""
from __future__ import annotations

import numpy as np
from compute_cases import Case, Rng, cases, f32, ints

from dlc.ir.dtype import DType

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

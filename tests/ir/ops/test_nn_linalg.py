"""Linear algebra: MatMul's 1-D promotion and batch broadcasting (with symbols), float16 through
float32, Gemm's transposes/alpha/beta/broadcast C (and opset 6's broadcast attribute), Einsum's
implicit output, ellipsis, diagonals and bfloat16."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import dlc
from dlc.frontends.onnx.importer import import_onnx
from dlc.ir import Sym

RNG = np.random.default_rng(3)


def model(op: str, inputs: dict[str, np.ndarray | list], opset: int = 13,
          **attrs: object) -> onnx.ModelProto:
    def info(name: str, v: np.ndarray | list) -> onnx.ValueInfoProto:
        if isinstance(v, list):
            return helper.make_tensor_value_info(name, TensorProto.FLOAT, v)
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype),
                                             list(v.shape))
    g = helper.make_graph([helper.make_node(op, list(inputs), ["y"], **attrs)], op,
                          [info(n, v) for n, v in inputs.items()],
                          [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(m: onnx.ModelProto, *xs: np.ndarray) -> np.ndarray:
    return dlc.compile(m, target="reference")(*xs)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((3,), (2, 3, 4)), ((2, 1, 3, 4), (4,)),
                                   ((2, 1, 3, 4), (5, 4, 2)), ((4, 3), (3, 5))])
def test_matmul_promotes_vectors_and_broadcasts_batches(sa: tuple, sb: tuple) -> None:
    a, b = f32(*sa), f32(*sb)
    got = run(model("MatMul", {"a": a, "b": b}), a, b)
    want = np.matmul(a, b)
    assert got.shape == np.shape(want) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_matmul_symbolic_and_half() -> None:
    m = model("MatMul", {"a": ["B", "S", 8], "b": [8, 4]})
    assert import_onnx(m).outputs[0].type.shape == (Sym("B"), Sym("S"), 4)
    a, b = f32(2, 3).astype(np.float16), f32(3, 2).astype(np.float16)
    got = run(model("MatMul", {"a": a, "b": b}), a, b)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, (a.astype(np.float32) @ b.astype(np.float32))
                               .astype(np.float16))


@pytest.mark.parametrize("c_shape", [(), (1,), (5,), (3, 1), (3, 5)])
def test_gemm_transposes_scales_and_broadcasts_c(c_shape: tuple) -> None:
    a, b, c = f32(4, 3), f32(5, 4), f32(*c_shape)
    m = model("Gemm", {"a": a, "b": b, "c": c}, transA=1, transB=1, alpha=0.5, beta=-2.0)
    np.testing.assert_allclose(run(m, a, b, c), 0.5 * a.T @ b.T - 2.0 * c, rtol=1e-5,
                               atol=1e-6)


def test_gemm_opset6_broadcast_attribute_and_integers() -> None:
    a, b, c = f32(2, 3), f32(3, 4), f32(4)
    m = model("Gemm", {"a": a, "b": b, "c": c}, opset=6, broadcast=1)
    np.testing.assert_allclose(run(m, a, b, c), a @ b + c, rtol=1e-5)
    ai, bi = np.arange(6, dtype=np.int64).reshape(2, 3), np.ones((3, 2), np.int64)
    got = run(model("Gemm", {"a": ai, "b": bi}, alpha=2.0), ai, bi)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, 2 * ai @ bi)


def test_einsum_forms() -> None:
    x, y = f32(2, 3, 4), f32(2, 4, 5)
    np.testing.assert_allclose(run(model("Einsum", {"x": x, "y": y}, 12,
                                         equation="bij, bjk -> bik"), x, y), x @ y, rtol=1e-5)
    # implicit output: letters used once, sorted ("ji" -> "ij": a transpose)
    m = model("Einsum", {"x": f32(3, 4)}, 12, equation="ji")
    z = f32(3, 4)
    np.testing.assert_array_equal(run(m, z), z.T)
    sq = f32(2, 3, 3)
    np.testing.assert_allclose(run(model("Einsum", {"x": sq}, 12, equation="...ii->...i"), sq),
                               np.einsum("...ii->...i", sq))
    assert import_onnx(model("Einsum", {"x": ["N", 3, 3]}, 12, equation="...ii->...i")) \
        .outputs[0].type.shape == (Sym("N"), 3)
    h = f32(2, 3).astype(ml_dtypes.bfloat16)
    got = run(model("Einsum", {"x": h}, 28, equation="ij->"), h)
    assert got.dtype == ml_dtypes.bfloat16 and got.shape == ()
    np.testing.assert_allclose(float(got), float(h.astype(np.float32).sum()), rtol=1e-2)

"""fold-batchnorm: BN folded into Conv, Gemm and MatMul weights, or turned into Mul and Add."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pass_testing import F32, check, needs, node, onnx_graph, ops

from dlc.passes import run_passes

pytestmark = needs("BatchNormalization", "Conv", "Gemm", "MatMul", "Mul", "Add")
rng = np.random.default_rng(7)


def bn_params(c: int, prefix: str = "") -> dict[str, np.ndarray]:
    return {prefix + "scale": rng.uniform(0.5, 2, c).astype(np.float32),
            prefix + "beta": rng.standard_normal(c).astype(np.float32),
            prefix + "mean": rng.standard_normal(c).astype(np.float32),
            prefix + "var": rng.uniform(0.1, 2, c).astype(np.float32)}


def bn(x: str, y: str, **attrs: Any) -> Any:
    return node("BatchNormalization", [x, "scale", "beta", "mean", "var"], [y], **attrs)


@pytest.mark.parametrize("bias, group", [(True, 1), (False, 1), (True, 2)])
def test_conv(bias: bool, group: int) -> None:
    w = rng.standard_normal((4, 4 // group, 3, 3)).astype(np.float32)
    inits = {"w": w, **bn_params(4)}
    ins = ["x", "w"]
    if bias:
        inits["b"] = rng.standard_normal(4).astype(np.float32)
        ins.append("b")
    g = onnx_graph([node("Conv", ins, ["c"], pads=[1, 1, 1, 1], group=group),
                    bn("c", "y", epsilon=1e-3), node("Relu", ["y"], ["r"])],
                   {"x": (F32, [2, 4, 5, 5])}, ["r"], inits)
    check(g, "fold-batchnorm", ["Conv", "Relu"], rtol=1e-4, atol=1e-5)
    assert len(g.nodes[0].inputs) == 3 and len(g.constants) == 2  # old weights are gone


def test_conv_read_twice_keeps_its_bn() -> None:
    g = onnx_graph([node("Conv", ["x", "w"], ["c"]), bn("c", "y")], {"x": (F32, [1, 2, 4, 4])},
                   ["y", "c"], {"w": rng.standard_normal((3, 2, 1, 1)).astype(np.float32),
                                **bn_params(3)})
    check(g, "fold-batchnorm", ["Conv", "Mul", "Add"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("trans_b, c_shape", [(0, (3,)), (1, (3,)), (0, None), (1, (2, 3))])
def test_gemm(trans_b: int, c_shape: tuple[int, ...] | None) -> None:
    w = rng.standard_normal((3, 5) if trans_b else (5, 3)).astype(np.float32)
    inits = {"w": w, **bn_params(3)}
    ins = ["x", "w"]
    if c_shape is not None:
        inits["c"] = rng.standard_normal(c_shape).astype(np.float32)
        ins.append("c")
    g = onnx_graph([node("Gemm", ins, ["g"], transB=trans_b, alpha=0.5, beta=2.0), bn("g", "y")],
                   {"x": (F32, [2, 5])}, ["y"], inits)
    check(g, "fold-batchnorm", ["Gemm"], rtol=1e-4, atol=1e-5)


def test_matmul() -> None:
    g = onnx_graph([node("MatMul", ["x", "w"], ["m"]), bn("m", "y")], {"x": (F32, [2, 5])},
                   ["y"], {"w": rng.standard_normal((5, 3)).astype(np.float32), **bn_params(3)})
    check(g, "fold-batchnorm", ["MatMul", "Add"], rtol=1e-4, atol=1e-5)


def test_matmul_of_a_3d_input_is_not_folded_into_weights() -> None:
    # BN's channel axis is then not MatMul's output axis
    g = onnx_graph([node("MatMul", ["x", "w"], ["m"]), bn("m", "y")], {"x": (F32, [2, 4, 5])},
                   ["y"], {"w": rng.standard_normal((5, 3)).astype(np.float32), **bn_params(4)})
    check(g, "fold-batchnorm", ["MatMul", "Mul", "Add"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [[2, 3], [2, 3, 4], [1, 3, 2, 2, 2]])
def test_bn_alone_becomes_mul_add(shape: list[int]) -> None:
    g = onnx_graph([bn("x", "y")], {"x": (F32, shape)}, ["y"], bn_params(3))
    check(g, "fold-batchnorm", ["Mul", "Add"], rtol=1e-5, atol=1e-5)


def test_bn_with_variable_parameters_stays() -> None:
    g = onnx_graph([node("BatchNormalization", ["x", "s", "beta", "mean", "var"], ["y"])],
                   {"x": (F32, [2, 3]), "s": (F32, [3])}, ["y"],
                   {k: v for k, v in bn_params(3).items() if k != "scale"})
    assert ops(run_passes(g, "fold-batchnorm")) == ["BatchNormalization"]


def test_bn_in_training_mode_stays() -> None:
    g = onnx_graph([node("BatchNormalization", ["x", "scale", "beta", "mean", "var"],
                         ["y", "m", "v"], training_mode=1)],
                   {"x": (F32, [2, 3])}, ["y", "m", "v"], bn_params(3))
    assert ops(run_passes(g, "fold-batchnorm")) == ["BatchNormalization"]


def test_default_pipeline_folds_conv_bn_and_cleans_up() -> None:
    from dlc.api import compile_graph, make_options
    from dlc.ir import interpret
    g = onnx_graph([node("Conv", ["x", "w"], ["c"]), bn("c", "y"),
                    node("Dropout", ["y"], ["d"]), node("Relu", ["d"], ["r"])],
                   {"x": (F32, [1, 2, 4, 4])}, ["r"],
                   {"w": rng.standard_normal((3, 2, 1, 1)).astype(np.float32), **bn_params(3)})
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    want = interpret(g, [x])[0]
    m = compile_graph(g, make_options(target="reference", opt_level=2))
    np.testing.assert_allclose(m(x), want, rtol=1e-4, atol=1e-5)
    assert ops(g) == ["Conv", "Relu"]

"""Write the golden cases: small models built with onnx.helper from a seed, their inputs, and the
outputs ONNX Runtime gave when the case was made (the oracle). Run by hand when adding a case:

    python tests/golden/make_golden.py        # rewrites tests/golden/cases/<name>/

Each case directory holds model.onnx, inputs.npz and expected.npz; test_golden.py runs them on
every target present.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

ROOT = Path(__file__).parent / "cases"
sys.path.insert(0, str(Path(__file__).parents[2] / "examples"))


def _w(rng, name, *shape, scale=0.2, dtype=np.float32):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(dtype), name)


def _model(nodes, name, inputs, outputs, inits=(), opset=17):
    g = h.make_graph(nodes, name, inputs, outputs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)], producer_name="dlc-golden")
    onnx.checker.check_model(m, full_check=True)
    return m


def tiny_cnn(rng):
    from make_tiny_cnn import build
    return build(0), {"image": rng.standard_normal((1, 3, 32, 32)).astype(np.float32)}


def mlp(rng):
    m = _model([h.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
                h.make_node("Relu", ["h"], ["r"]),
                h.make_node("MatMul", ["r", "w2"], ["o"]),
                h.make_node("LogSoftmax", ["o"], ["y"], axis=1)],
               "mlp", [h.make_tensor_value_info("x", T.FLOAT, [4, 16])],
               [h.make_tensor_value_info("y", T.FLOAT, [4, 5])],
               [_w(rng, "w1", 32, 16), _w(rng, "b1", 32), _w(rng, "w2", 32, 5)])
    return m, {"x": rng.standard_normal((4, 16)).astype(np.float32)}


def attention_block(rng):
    d, s = 16, 6
    nodes = [
        h.make_node("LayerNormalization", ["x", "g", "b"], ["ln"], axis=-1, epsilon=1e-5),
        h.make_node("MatMul", ["ln", "wq"], ["q"]), h.make_node("MatMul", ["ln", "wk"], ["k"]),
        h.make_node("MatMul", ["ln", "wv"], ["v"]),
        h.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        h.make_node("MatMul", ["q", "kt"], ["qk"]),
        h.make_node("Mul", ["qk", "scale"], ["qks"]),
        h.make_node("Softmax", ["qks"], ["p"], axis=-1),
        h.make_node("MatMul", ["p", "v"], ["a"]),
        h.make_node("Add", ["a", "x"], ["res"]),
        h.make_node("MatMul", ["res", "w1"], ["f1"]),
        h.make_node("Div", ["f1", "sqrt2"], ["f1d"]), h.make_node("Erf", ["f1d"], ["e"]),
        h.make_node("Add", ["e", "one"], ["e1"]), h.make_node("Mul", ["f1", "e1"], ["g1"]),
        h.make_node("Mul", ["g1", "half"], ["gelu"]),
        h.make_node("MatMul", ["gelu", "w2"], ["f2"]), h.make_node("Add", ["f2", "res"], ["y"]),
    ]
    consts = [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in
              (("scale", 1 / np.sqrt(d)), ("sqrt2", np.sqrt(2)), ("one", 1.0), ("half", 0.5))]
    inits = [numpy_helper.from_array(np.ones(d, np.float32), "g"),
             numpy_helper.from_array(np.zeros(d, np.float32), "b"),
             _w(rng, "wq", d, d), _w(rng, "wk", d, d), _w(rng, "wv", d, d),
             _w(rng, "w1", d, 4 * d), _w(rng, "w2", 4 * d, d), *consts]
    m = _model(nodes, "attention_block", [h.make_tensor_value_info("x", T.FLOAT, [2, s, d])],
               [h.make_tensor_value_info("y", T.FLOAT, [2, s, d])], inits)
    return m, {"x": rng.standard_normal((2, s, d)).astype(np.float32)}


def shapes_dynamic(rng):
    """Shape arithmetic on a dynamic batch: Shape -> Gather -> Concat -> Reshape, plus Slice."""
    nodes = [
        h.make_node("Shape", ["x"], ["s"]),
        h.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        h.make_node("Unsqueeze", ["n", "zero1"], ["n1"]),
        h.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        h.make_node("Reshape", ["x", "shape"], ["flat"]),
        h.make_node("Slice", ["flat", "st", "en", "ax"], ["sl"]),
        h.make_node("ReduceSum", ["sl", "ax"], ["y"], keepdims=1),
    ]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "zero1"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
             numpy_helper.from_array(np.array([2], np.int64), "st"),
             numpy_helper.from_array(np.array([-3], np.int64), "en"),
             numpy_helper.from_array(np.array([1], np.int64), "ax")]
    m = _model(nodes, "shapes_dynamic", [h.make_tensor_value_info("x", T.FLOAT, ["N", 3, 4])],
               [h.make_tensor_value_info("y", T.FLOAT, ["N", 1])], inits, opset=18)
    return m, {"x": rng.standard_normal((3, 3, 4)).astype(np.float32)}


def quantized_linear(rng):
    nodes = [
        h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        h.make_node("QLinearMatMul", ["xq", "xs", "xz", "wq", "ws", "wz", "ys", "yz"], ["yq"]),
        h.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array(0.05, np.float32), "xs"),
             numpy_helper.from_array(np.array(128, np.uint8), "xz"),
             numpy_helper.from_array(rng.integers(0, 255, (8, 4)).astype(np.uint8), "wq"),
             numpy_helper.from_array(np.array(0.01, np.float32), "ws"),
             numpy_helper.from_array(np.array(120, np.uint8), "wz"),
             numpy_helper.from_array(np.array(0.1, np.float32), "ys"),
             numpy_helper.from_array(np.array(100, np.uint8), "yz")]
    m = _model(nodes, "quantized_linear", [h.make_tensor_value_info("x", T.FLOAT, [3, 8])],
               [h.make_tensor_value_info("y", T.FLOAT, [3, 4])], inits, opset=13)
    return m, {"x": rng.standard_normal((3, 8)).astype(np.float32)}


def resize_pad_pool(rng):
    nodes = [
        h.make_node("Resize", ["x", "", "scales"], ["r"], mode="linear",
                    coordinate_transformation_mode="half_pixel"),
        h.make_node("Pad", ["r", "pads"], ["p"], mode="reflect"),
        h.make_node("AveragePool", ["p"], ["a"], kernel_shape=[3, 3], strides=[2, 2],
                    count_include_pad=0),
        h.make_node("Clip", ["a", "lo", "hi"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
             numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"),
             numpy_helper.from_array(np.array(-0.5, np.float32), "lo"),
             numpy_helper.from_array(np.array(0.5, np.float32), "hi")]
    m = _model(nodes, "resize_pad_pool", [h.make_tensor_value_info("x", T.FLOAT, [1, 2, 5, 5])],
               [h.make_tensor_value_info("y", T.FLOAT, [1, 2, 5, 5])], inits, opset=18)
    return m, {"x": rng.standard_normal((1, 2, 5, 5)).astype(np.float32)}


def gather_where_topk(rng):
    nodes = [
        h.make_node("Gather", ["emb", "ids"], ["e"], axis=0),
        h.make_node("ReduceMean", ["e", "ax"], ["m"], keepdims=0),
        h.make_node("Greater", ["m", "zero"], ["pos"]),
        h.make_node("Where", ["pos", "m", "neg"], ["w"]),
        h.make_node("TopK", ["w", "k"], ["vals", "idx"], axis=-1),
        h.make_node("Cast", ["idx"], ["idxf"], to=T.FLOAT),
        h.make_node("Concat", ["vals", "idxf"], ["y"], axis=-1),
    ]
    inits = [_w(rng, "emb", 20, 8, scale=1.0),
             numpy_helper.from_array(np.array([2], np.int64), "ax"),
             numpy_helper.from_array(np.array(0, np.float32), "zero"),
             numpy_helper.from_array(np.array(-1, np.float32), "neg"),
             numpy_helper.from_array(np.array([3], np.int64), "k")]
    m = _model(nodes, "gather_where_topk", [h.make_tensor_value_info("ids", T.INT64, [2, 5])],
               [h.make_tensor_value_info("y", T.FLOAT, [2, 6])], inits, opset=18)
    return m, {"ids": rng.integers(0, 20, (2, 5)).astype(np.int64)}


CASES = [tiny_cnn, mlp, attention_block, shapes_dynamic, quantized_linear, resize_pad_pool,
         gather_where_topk]


def main() -> None:
    import onnxruntime as ort
    for make in CASES:
        rng = np.random.default_rng(1234)
        model, inputs = make(rng)
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        outs = sess.run(None, inputs)
        d = ROOT / make.__name__
        d.mkdir(parents=True, exist_ok=True)
        onnx.save(model, d / "model.onnx")
        np.savez(d / "inputs.npz", **inputs)
        np.savez(d / "expected.npz", **{o.name: v for o, v in zip(sess.get_outputs(), outs)})
        shapes = [f"{o.name}{list(v.shape)}" for o, v in zip(sess.get_outputs(), outs)]
        print(f"{make.__name__}: {', '.join(shapes)}")


if __name__ == "__main__":
    main()

"""The ONNX frontend: sources, opsets, versions, external data and its security rules."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import dlc
from dlc.errors import InvalidModel, SecurityError, UnsupportedOp
from dlc.frontends.onnx import import_onnx
from dlc.ir import DType, Sym, TensorType

from helpers import add_relu_model, model_with_initializer


def test_path_bytes_and_proto_give_the_same_graph(tmp_path):
    m = add_relu_model()
    p = tmp_path / "m.onnx"
    onnx.save(m, p)
    for src in (m, m.SerializeToString(), p, str(p)):
        g = import_onnx(src)
        assert [n.op for n in g.nodes] == ["Add", "Relu"]
        assert g.outputs[0].type == TensorType(DType.F32, (2, 3))


def test_symbolic_dims_stay_symbols():
    g = import_onnx(add_relu_model(shape=("N", 3)))
    assert g.inputs[0].type.shape == (Sym("N"), 3)
    assert g.outputs[0].type.shape == (Sym("N"), 3)
    m = dlc.compile(add_relu_model(shape=("N", 3)), target="reference")
    assert m(np.ones((5, 3), np.float32), np.ones(3, np.float32)).shape == (5, 3)


def test_not_onnx_and_truncated(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a model at all")
    with pytest.raises(InvalidModel, match="not an ONNX model"):
        import_onnx(bad)
    good = add_relu_model().SerializeToString()
    with pytest.raises(InvalidModel):
        import_onnx(good[: len(good) // 2])


def test_opset_above_28_is_refused():
    m = add_relu_model()
    m.opset_import[0].version = 29
    with pytest.raises(UnsupportedOp, match="opset 29"):
        import_onnx(m)


def test_unknown_op_names_op_and_node():
    g = helper.make_graph([helper.make_node("FooBar", ["x"], ["y"], name="n1")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    with pytest.raises(UnsupportedOp, match="FooBar.*n1|n1.*FooBar"):
        import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def test_unimplemented_version_names_op_and_version(monkeypatch):
    from dlc.ir import OPS
    d = OPS["Relu"]
    monkeypatch.setitem(OPS, "Relu", type(d)(**{**d.__dict__, "versions": (14,)}))
    with pytest.raises(UnsupportedOp, match="Relu version 13"):
        import_onnx(add_relu_model(opset=13))


def _external(tmp_path, location: str) -> onnx.ModelProto:
    m = model_with_initializer()
    t = m.graph.initializer[0]
    t.data_location = TensorProto.EXTERNAL
    raw = t.raw_data or np.arange(3, dtype=np.float32).tobytes()
    t.ClearField("raw_data")
    t.ClearField("float_data")
    for k, v in (("location", location), ("offset", "0"), ("length", str(len(raw)))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return m, raw


def test_external_data_inside_model_dir(tmp_path):
    m, raw = _external(tmp_path, "w.bin")
    (tmp_path / "w.bin").write_bytes(raw)
    onnx.save(m, tmp_path / "m.onnx")
    out = dlc.compile(tmp_path / "m.onnx", target="reference")(np.zeros(3, np.float32))
    np.testing.assert_array_equal(out, np.arange(3, dtype=np.float32))


def test_external_data_needs_base_dir_for_bytes(tmp_path):
    m, raw = _external(tmp_path, "w.bin")
    (tmp_path / "w.bin").write_bytes(raw)
    with pytest.raises(SecurityError, match="base_dir"):
        import_onnx(m.SerializeToString())
    g = import_onnx(m.SerializeToString(), base_dir=tmp_path)
    assert len(g.constants) == 1


@pytest.mark.parametrize("where", ["../w.bin", "/etc/passwd", "link.bin"])
def test_external_data_outside_is_refused(tmp_path, where):
    inner = tmp_path / "model"
    inner.mkdir()
    m, raw = _external(tmp_path, where)
    (tmp_path / "w.bin").write_bytes(raw)
    (inner / "link.bin").symlink_to(tmp_path / "w.bin")
    onnx.save(m, inner / "m.onnx")
    with pytest.raises(SecurityError):
        import_onnx(inner / "m.onnx")


def test_function_ops_without_a_declaration_are_expanded(monkeypatch):
    # Shrink is defined by ONNX as a function: without dlc's own declaration, its expansion runs.
    from dlc.ir import OPS
    monkeypatch.delitem(OPS, "Shrink")
    g = helper.make_graph([helper.make_node("Shrink", ["x"], ["y"], lambd=1.5)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    assert "Shrink" not in import_onnx(model).ops()
    x = np.array([-2, -1, 0, 1, 2], np.float32)
    np.testing.assert_allclose(dlc.compile(model, target="reference")(x), [-2, 0, 0, 0, 2])


def test_model_local_functions_are_inlined():
    fn = helper.make_function(
        "custom", "AddRelu", ["a", "b"], ["c"],
        [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Relu", ["s"], ["c"])],
        opset_imports=[helper.make_opsetid("", 17)])
    g = helper.make_graph([helper.make_node("AddRelu", ["x", "y"], ["z"], domain="custom")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3]),
                           helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [3])])
    model = helper.make_model(g, functions=[fn], opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)])
    graph = import_onnx(model)
    assert [n.op for n in graph.nodes] == ["Add", "Relu"]
    out = dlc.compile(model, target="reference")(np.array([1, -2, 3], np.float32),
                                                 np.ones(3, np.float32))
    np.testing.assert_array_equal(out, [2, 0, 4])

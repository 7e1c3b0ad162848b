"""Graphs on the cpu target: one native entry point with planned buffers, artifacts with object
code, dynamic shapes specialized per input signature, errors naming op/node/target, and the CLI's
summary, --compare and fused-group drawing. The reference target is the oracle throughout."""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx import numpy_helper as nh

import dlc
from dlc.backends.cpu import jit
from dlc.backends.cpu.graph import GraphProgram
from dlc.backends.cpu.rules import RULES
from dlc.cli import main
from dlc.errors import ArtifactError, InputError, UnsupportedOp

sys.path.insert(0, str(Path(__file__).parents[2]))
from helpers import add_relu_model  # noqa: E402

F = TensorProto.FLOAT
rng = np.random.default_rng(7)


def make_model(nodes, inputs, outputs, inits=(), opset=18) -> onnx.ModelProto:
    info = helper.make_tensor_value_info
    g = helper.make_graph(nodes, "g", [info(n, t, s) for n, t, s in inputs],
                          [info(n, t, s) for n, t, s in outputs],
                          [nh.from_array(a, n) for n, a in inits])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def small_cnn() -> onnx.ModelProto:
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3
    b = rng.standard_normal(8).astype(np.float32)
    scale, bias = rng.random(8).astype(np.float32) + 0.5, rng.standard_normal(8).astype(np.float32)
    mean, var = rng.standard_normal(8).astype(np.float32), rng.random(8).astype(np.float32) + 0.5
    fc = rng.standard_normal((8 * 4 * 4, 10)).astype(np.float32) * 0.1
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], name="bn"),
             helper.make_node("Relu", ["n"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2],
                              name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "fc"], ["l"], name="fc"),
             helper.make_node("Softmax", ["l"], ["y"], axis=-1, name="softmax")]
    return make_model(nodes, [("x", F, [2, 3, 8, 8])], [("y", F, [2, 10])],
                      [("w", w), ("b", b), ("s", scale), ("bb", bias), ("m", mean), ("v", var),
                       ("fc", fc)])


def test_a_model_is_one_native_program_with_planned_buffers() -> None:
    model = small_cnn()
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    m = dlc.compile(model, target="cpu")
    want = dlc.compile(model, target="reference")(x)
    assert isinstance(m.executor, GraphProgram)
    assert all(n.op == "KernelCall" for n in m.graph.nodes)
    np.testing.assert_allclose(m(x), want, rtol=1e-5, atol=1e-6)
    info = m.info
    assert info["kernels"] == len(m.graph.nodes) and info["fused_groups"] >= 2
    plan = m.executor.layout.plan
    assert plan is not None and plan.planned_bytes < plan.naive_bytes  # buffers are reused
    np.testing.assert_allclose(m(x), want, rtol=1e-5, atol=1e-6)  # and run again


def test_artifact_keeps_object_code_and_loads_without_compiling(tmp_path, monkeypatch) -> None:
    m = dlc.compile(small_cnn(), target="cpu")
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    m.save(tmp_path / "m.dlc")
    manifest = json.loads((tmp_path / "m.dlc" / "manifest.json").read_text())
    payload = manifest["payload"]
    assert (tmp_path / "m.dlc" / payload["object"]).is_file()
    assert payload["triple"] and "+" in payload["features"]

    def no_llvm(*a, **k):
        raise AssertionError("loading a static cpu artifact must not run LLVM")
    monkeypatch.setattr(jit, "optimize_and_emit", no_llvm)
    loaded = dlc.load(tmp_path / "m.dlc")
    np.testing.assert_array_equal(loaded(x), m(x))


def test_artifact_for_a_cpu_with_other_features_is_refused(tmp_path) -> None:
    dlc.compile(add_relu_model(), target="cpu").save(tmp_path / "m.dlc")
    mf = tmp_path / "m.dlc" / "manifest.json"
    data = json.loads(mf.read_text())
    data["payload"]["features"] += ",+avx512-made-up-feature"
    mf.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="avx512-made-up-feature.*lacks.*recompile"):
        dlc.load(tmp_path / "m.dlc")
    data["payload"]["triple"] = "riscv64-unknown-linux-gnu"
    mf.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="riscv64"):
        dlc.load(tmp_path / "m.dlc")


def test_recompiling_an_unchanged_model_takes_its_code_from_the_disk_cache(tmp_path) -> None:
    first = dlc.compile(small_cnn(), target="cpu", cache_dir=tmp_path)
    again = dlc.compile(small_cnn(), target="cpu", cache_dir=tmp_path)
    assert not first.info["object_from_cache"] and again.info["object_from_cache"]
    assert list((tmp_path / "cpu").glob("*.o"))


def test_symbolic_dims_specialize_once_per_input_signature() -> None:
    m = dlc.compile(add_relu_model(shape=("N", 3)), target="cpu")
    ex = m.executor
    for n in (2, 5, 2, 5, 1):
        x = rng.standard_normal((n, 3)).astype(np.float32)
        y = rng.standard_normal(3).astype(np.float32)
        np.testing.assert_array_equal(m(x, y), np.maximum(x + y, 0))
    assert ex.versions == 3 and not ex.by_value


def test_shape_operands_given_as_inputs_specialize_by_value(tmp_path) -> None:
    model = make_model([helper.make_node("Reshape", ["x", "s"], ["r"]),
                        helper.make_node("Relu", ["r"], ["y"])],
                       [("x", F, [2, 6]), ("s", TensorProto.INT64, [2])], [("y", F, None)])
    m = dlc.compile(model, target="cpu")
    x = rng.standard_normal((2, 6)).astype(np.float32)
    for shape in ([3, 4], [4, 3], [3, 4]):
        got = m(x, np.array(shape, np.int64))
        np.testing.assert_array_equal(got, np.maximum(x.reshape(shape), 0))
    assert m.executor.by_value == {1} and m.executor.versions == 2
    m.save(tmp_path / "m.dlc")  # a dynamic module specializes again after loading
    loaded = dlc.load(tmp_path / "m.dlc")
    np.testing.assert_array_equal(loaded(x, np.array([12, 1], np.int64)),
                                  np.maximum(x.reshape(12, 1), 0))


def test_wrong_input_shape_is_an_input_error() -> None:
    m = dlc.compile(add_relu_model(), target="cpu")
    with pytest.raises(InputError, match="shape"):
        m(np.zeros((3, 3), np.float32), np.zeros(3, np.float32))


def test_an_op_the_cpu_cannot_handle_fails_at_compile_time_naming_op_node_target() -> None:
    S = TensorProto.STRING
    model = make_model([helper.make_node("StringConcat", ["a", "b"], ["y"], name="joiner")],
                       [("a", S, [2]), ("b", S, [2])], [("y", S, [2])], opset=20)
    with pytest.raises(UnsupportedOp) as e:
        dlc.compile(model, target="cpu")
    assert e.value.op == "StringConcat" and e.value.node == "joiner" and e.value.target == "cpu"
    assert "StringConcat" in str(e.value) and "'joiner'" in str(e.value)


# -- the CLI ----------------------------------------------------------------------------------

def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_compile_prints_kernels_groups_memory_and_time(capsys, tmp_path) -> None:
    onnx.save(small_cnn(), tmp_path / "cnn.onnx")
    code, out, _ = run_cli(capsys, "compile", tmp_path / "cnn.onnx", "-o", tmp_path / "cnn.dlc")
    assert code == 0
    assert "kernels:" in out and "fused groups:" in out and "peak memory:" in out
    assert "compile time:" in out and (tmp_path / "cnn.dlc" / "cpu.o").is_file()


def test_inspect_draws_fused_groups(capsys, tmp_path) -> None:
    onnx.save(small_cnn(), tmp_path / "cnn.onnx")
    code, out, _ = run_cli(capsys, "inspect", tmp_path / "cnn.onnx", "-f", "dot")
    assert code == 0 and "subgraph cluster_" in out and "Conv" in out


def _cumsum_model() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("CumSum", ["r", "axis"], ["c"], name="running_total"),
             helper.make_node("Sigmoid", ["c"], ["y"], name="squash")]
    return make_model(nodes, [("x", F, [4, 16])], [("y", F, [4, 16])],
                      [("axis", np.array(1, np.int64))])


def test_compare_agrees_for_a_correct_model(capsys, tmp_path) -> None:
    onnx.save(_cumsum_model(), tmp_path / "m.onnx")
    code, out, _ = run_cli(capsys, "run", tmp_path / "m.onnx", "--random", "--compare",
                           "reference")
    assert code == 0 and "values agree" in out and "running_total" in out


def test_compare_localizes_a_planted_wrong_rule_to_its_node(capsys, tmp_path) -> None:
    onnx.save(_cumsum_model(), tmp_path / "m.onnx")
    right = RULES.get("CumSum")
    assert right is not None

    def wrong(node, attrs, types):  # an exclusive scan where an inclusive one was asked for
        return right(node, dataclasses.replace(attrs, exclusive=1 - attrs.exclusive), types)
    RULES.register("CumSum")(wrong)
    try:
        code, out, _ = run_cli(capsys, "run", tmp_path / "m.onnx", "--random", "--compare",
                               "reference")
    finally:
        RULES.register("CumSum")(right)
    assert code == 1
    first = next(line for line in out.splitlines() if "FIRST" in line)
    assert "running_total" in first
    assert "the first is" in out and "'running_total'" in out


def test_sequence_inputs_and_outputs_are_spread_into_tensors() -> None:
    seq_in = helper.make_tensor_sequence_value_info("s", F, ["a", 4])
    seq_out = helper.make_tensor_sequence_value_info("parts", F, [4])
    nodes = [helper.make_node("SequenceAt", ["s", "one"], ["second"]),
             helper.make_node("Relu", ["second"], ["r"]),
             helper.make_node("SplitToSequence", ["r"], ["parts"], axis=0, keepdims=0)]
    g = helper.make_graph(nodes, "g", [seq_in], [seq_out],
                          [nh.from_array(np.array(1, np.int64), "one")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m = dlc.compile(model, target="cpu")
    xs = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(3)]
    got = m(xs)
    assert isinstance(got, list) and len(got) == 3
    for row, want in zip(got, np.maximum(xs[1], 0)):
        np.testing.assert_array_equal(row, want)
    assert m.executor.versions == 1


def test_a_compile_reports_its_stages_for_the_progress_bar() -> None:
    seen: list[tuple[str, int, int | None]] = []
    dlc.compile(small_cnn(), target="cpu",
                progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = {s for s, _, _ in seen}
    assert {"lower to kernels", "generate LLVM IR"} <= stages
    assert any(s.startswith("LLVM -O3") for s in stages)
    lowered = [(d, t) for s, d, t in seen if s == "lower to kernels"]
    assert lowered[0][0] == 0 and lowered[-1][0] == lowered[-1][1]  # from start to the end


def test_tuning_measures_candidates_once_and_reuses_the_winners(tmp_path) -> None:
    w = rng.standard_normal((96, 80)).astype(np.float32)
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["h"]),
                        helper.make_node("Relu", ["h"], ["y"])],
                       [("x", F, [64, 96])], [("y", F, [64, 80])], [("w", w)])
    x = rng.standard_normal((64, 96)).astype(np.float32)
    first = dlc.compile(model, target="cpu", tune=True, cache_dir=tmp_path)
    assert first.info["tuned"] >= 1 and first.info["from_cache"] == 0
    assert list((tmp_path / "tune").glob("*.json"))
    again = dlc.compile(model, target="cpu", tune=True, cache_dir=tmp_path)
    assert again.info["tuned"] == 0 and again.info["from_cache"] == first.info["tuned"]
    want = np.maximum(x @ w, 0)
    np.testing.assert_allclose(first(x), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(again(x), want, rtol=1e-4, atol=1e-4)

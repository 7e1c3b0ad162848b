"""The dlc command: every bad input gets one clear message and a non-zero exit, no traceback."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from dlc.cli import main

from helpers import add_relu_model


@pytest.fixture
def model_file(tmp_path):
    p = tmp_path / "m.onnx"
    onnx.save(add_relu_model(), p)
    return p


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_help_of_every_command():
    for cmd in ("compile", "run", "inspect", "opt"):
        res = subprocess.run([sys.executable, "-m", "dlc", cmd, "--help"], capture_output=True,
                             text=True)
        assert res.returncode == 0 and "usage: dlc " + cmd in res.stdout


def test_compile_then_run_artifact(capsys, model_file, tmp_path):
    art = tmp_path / "m.dlc"
    code, out, _ = run_cli(capsys, "compile", model_file, "-o", art)
    assert code == 0 and "wrote" in out and (art / "manifest.json").is_file()
    x = np.full((2, 3), -1.0, np.float32)
    y = np.array([0, 1, 2], np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    outp = tmp_path / "o.npz"
    code, out, _ = run_cli(capsys, "run", art, "--input", f"x={tmp_path / 'x.npy'}",
                           "--input", f"y={tmp_path / 'y.npy'}", "-o", outp)
    assert code == 0 and "time:" in out
    np.testing.assert_array_equal(np.load(outp)["w"], np.maximum(x + y, 0))


def test_run_npz_and_missing_inputs(capsys, model_file, tmp_path):
    np.savez(tmp_path / "in.npz", x=np.zeros((2, 3), np.float32))
    code, _, err = run_cli(capsys, "run", model_file, tmp_path / "in.npz", "-o",
                           tmp_path / "o.npz")
    assert code == 1 and "missing input(s): y" in err and "Traceback" not in err


@pytest.mark.parametrize("content,needle", [
    (b"not a model", "not an ONNX model"),
    (None, "truncated"),
])
def test_bad_model_files(capsys, tmp_path, content, needle):
    p = tmp_path / "bad.onnx"
    data = add_relu_model().SerializeToString()
    p.write_bytes(content if content is not None else data[: len(data) // 2])
    code, _, err = run_cli(capsys, "compile", p, "-o", tmp_path / "o.dlc")
    assert code == 1 and needle in err and "Traceback" not in err


def test_unsupported_op_and_version(capsys, tmp_path):
    g = helper.make_graph([helper.make_node("NoSuchOp", ["x"], ["y"], name="weird")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    p = tmp_path / "u.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    code, _, err = run_cli(capsys, "compile", p)
    assert code == 1 and "NoSuchOp" in err and "weird" in err


def test_wrong_input_shape_and_dtype(capsys, model_file, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 4), np.float32))
    np.save(tmp_path / "y.npy", np.zeros(3, np.int32))
    code, _, err = run_cli(capsys, "run", model_file, "-i", f"x={tmp_path / 'x.npy'}",
                           "-i", f"y={tmp_path / 'y.npy'}", "-o", tmp_path / "o.npz")
    assert code == 1 and "input 'x' has shape [4, 4]" in err
    np.save(tmp_path / "x.npy", np.zeros((2, 3), np.float32))
    code, _, err = run_cli(capsys, "run", model_file, "-i", f"x={tmp_path / 'x.npy'}",
                           "-i", f"y={tmp_path / 'y.npy'}", "-o", tmp_path / "o.npz")
    assert code == 1 and "input 'y' has dtype int32" in err


def test_missing_file_and_debug_traceback(capsys, tmp_path):
    code, _, err = run_cli(capsys, "compile", tmp_path / "nope.onnx")
    assert code == 1 and "no such file" in err
    with pytest.raises(Exception, match="no such file"):
        main(["compile", str(tmp_path / "nope.onnx"), "--debug"])


def test_inspect_dot_escapes_names(capsys, tmp_path):
    g = helper.make_graph([helper.make_node("Relu", ['x"}; evil'], ["y"], name='n"1')], "g",
                          [helper.make_tensor_value_info('x"}; evil', TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    p = tmp_path / "q.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    code, out, _ = run_cli(capsys, "inspect", p, "--format", "dot")
    assert code == 0 and 'x\\"}; evil' in out and 'x"}; evil' not in out


def test_inspect_svg(capsys, model_file):
    import shutil
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    code, out, _ = run_cli(capsys, "inspect", model_file, "--format", "svg")
    assert code == 0 and "<svg" in out


BELL = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0],q[1];
measure q -> c;
"""


def test_simulate_counts_and_statevector(capsys, tmp_path):
    p = tmp_path / "bell.qasm"
    p.write_text(BELL)
    code, out, _ = run_cli(capsys, "simulate", p, "--shots", "400", "--seed", "3")
    counts = dict(line.split(": ") for line in out.strip().splitlines())
    assert code == 0 and set(counts) == {"00", "11"} and sum(map(int, counts.values())) == 400
    code, out, _ = run_cli(capsys, "simulate", p)
    assert code == 0 and out.split() == ["00:", "+0.707107", "+0.000000j",
                                         "11:", "+0.707107", "+0.000000j"]


def test_simulate_syntax_error_has_position(capsys, tmp_path):
    p = tmp_path / "bad.qasm"
    p.write_text(BELL.replace("cx q[0],q[1];", "cx q[0],q[7];"))
    code, _, err = run_cli(capsys, "simulate", p)
    assert code == 1 and f"{p}:6:" in err and "Traceback" not in err


SAXPY = """__kernel void saxpy(int n, float a, __global const float *x, __global float *y) {
    int i = get_global_id(0);
    if (i < n) y[i] = a * x[i] + y[i];
}
"""


def test_kernels_compile_inspect_and_launch(capsys, tmp_path):
    import dlc
    p = tmp_path / "saxpy.cl"
    p.write_text(SAXPY)
    code, out, _ = run_cli(capsys, "compile", p, "-o", tmp_path / "k.dlc")
    assert code == 0 and "saxpy" in out
    code, out, _ = run_cli(capsys, "inspect", p)
    assert code == 0 and "saxpy" in out
    code, _, err = run_cli(capsys, "run", p)
    assert code == 1 and "launch them from Python" in err
    m = dlc.load(tmp_path / "k.dlc")
    x, y = np.arange(64, dtype=np.float32), np.ones(64, np.float32)
    m["saxpy"](60, 2.0, x, y, global_size=(64,), local_size=(16,))
    np.testing.assert_array_equal(y, np.where(np.arange(64) < 60, 2 * x + 1, 1))


def test_kernel_syntax_error_has_position(capsys, tmp_path):
    p = tmp_path / "bad.cl"
    p.write_text(SAXPY.replace("int i = get_global_id(0);", "int i = get_global_id(0)"))
    code, _, err = run_cli(capsys, "compile", p)
    assert code == 1 and f"{p}:2:29: expected ';'" in err and "Traceback" not in err


def test_kernels_on_cpu_target_and_artifact(tmp_path):
    import dlc
    p = tmp_path / "saxpy.cl"
    p.write_text(SAXPY)
    m = dlc.compile(p, target="cpu", cache_dir=tmp_path / "cache")
    x, y = np.arange(64, dtype=np.float32), np.ones(64, np.float32)
    m["saxpy"](64, 3.0, x, y, grid=(4,), block=(16,))
    np.testing.assert_array_equal(y, 3 * x + 1)
    m.save(tmp_path / "k.dlc")
    m2 = dlc.load(tmp_path / "k.dlc")
    assert m2.target == "cpu"
    m2["saxpy"](64, 1.0, x, y, global_size=(64,))
    np.testing.assert_array_equal(y, 4 * x + 1)

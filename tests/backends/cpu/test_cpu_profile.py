"""Profiling a cpu program: the build with timing stamps between kernel calls computes what the
plain build does, the table lists every kernel call with its share, FLOPs and roofline bound,
and `dlc run --profile` prints it."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from dlc.backends.cpu.graph import compile_graph
from dlc.backends.cpu.pipeline import lower_model
from dlc.backends.cpu.profile import kernel_times
from dlc.backends.cpu.target import host_target
from dlc.cli import main
from dlc.options import CompileOptions
from dlc.passes.cost import Roofline
from dlc.profiling import Profile, profile_model, report

M, K, N = 32, 64, 48


def _model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((K, N)).astype(np.float32)
    w2 = rng.standard_normal((N, N)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]),
         helper.make_node("Softmax", ["h"], ["s"], axis=-1),
         helper.make_node("MatMul", ["s", "w2"], ["y"])],
        "three_kernels",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, N])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def graph():
    import dlc
    from dlc.passes import default_pipeline, run_passes
    opts = dlc.api.make_options(target="cpu")
    g = dlc.api.import_graph(_model().SerializeToString(), dlc.api.make_options(
        target="cpu", frontend="onnx"))
    return run_passes(g, default_pipeline(opts), opts)


def test_profiling_build_computes_what_the_plain_build_does(graph):
    from dlc.passes.specialize import copy_graph
    opts = CompileOptions(target="cpu")
    x = np.random.default_rng(1).standard_normal((M, K)).astype(np.float32)
    lowered = lower_model(copy_graph(graph), opts)
    plain = compile_graph(lowered, host_target())
    timed = compile_graph(lowered, host_target(), profile=True)
    np.testing.assert_array_equal(plain.run([x])[0], timed.run([x])[0])
    seconds, total = kernel_times(timed, [x], repeat=3)
    assert len(seconds) == len(lowered.nodes) and all(s >= 0 for s in seconds)
    assert 0 < sum(seconds) <= total


def test_table_lists_every_kernel_and_shares_sum_to_100(graph):
    x = np.random.default_rng(1).standard_normal((M, K)).astype(np.float32)
    p = profile_model(graph, {"x": x}, CompileOptions(target="cpu"), repeat=3)
    assert len(p.kernels) >= 3
    matmuls = [k for k in p.kernels if k.cost.flops in (2 * M * K * N, 2 * M * N * N)]
    assert len(matmuls) == 2  # exact FLOPs of both products, epilogues aside
    text = report(p)
    for k in p.kernels:
        assert k.node in text and k.kernel in text
    shares = [float(line.split("│")[5].strip().rstrip("%")) for line in text.splitlines()
              if line.startswith("│")]
    assert len(shares) == len(p.kernels)
    assert abs(sum(shares) - 100) < 0.5
    assert "GFLOP/s" in text and ("compute" in text or "memory" in text)


def test_report_limit_keeps_the_slowest():
    from dlc.passes.cost import KernelCost
    from dlc.profiling import KernelProfile
    ks = [KernelProfile(f"n{i}", f"k{i}", t, KernelCost(1e6, 1e6)) for i, t in
          enumerate([1e-3, 5e-3, 2e-3])]
    text = report(Profile(ks, 9e-3, Roofline(1e11, 1e10), 1), limit=2)
    assert "k1" in text and "k2" in text and "k0 " not in text


def test_cli_run_profile(tmp_path, capsys):
    p = tmp_path / "m.onnx"
    onnx.save(_model(), p)
    code = main(["run", str(p), "--random", "--profile", "--repeat", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "kernel calls" in out and "roofline" in out

"""The ONNX conformance node tests, fused and lowered: an external oracle for lowering.

Each case's input shapes are made static (lowering needs them). A case either lowers, and then
its KernelCalls, run by the kernel interpreter, give the expected outputs; or lowering refuses it
with UnsupportedOp (no compute definition, no rule for the test target, a shape operand known
only at run time). Nothing else may happen. The cases are split in shards to spread them over
test workers."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest

from dlc.errors import UnsupportedOp
from dlc.frontends.onnx import import_onnx
from dlc.ir import interpret
from dlc.passes import run_passes

sys.path.insert(0, str(Path(__file__).parents[1] / "conformance"))
from test_node_suite import CASES, XFAIL, to_value  # noqa: E402

SHARDS = 4


def close(a: np.ndarray, b: np.ndarray) -> bool:
    a = np.asarray(a)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if b.dtype.kind in "fV":   # bfloat16 is kind V: kernels round once per stage, in f32
        rtol = 1e-2 if b.dtype.itemsize == 2 else 1e-3
        return bool(np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol,
                                atol=1e-7 if rtol < 1e-2 else 1e-2, equal_nan=True))
    return bool(np.array_equal(a, b))


def static_copy(model: onnx.ModelProto, inputs: list[np.ndarray]) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {i.name for i in m.graph.initializer}
    for vi, x in zip([v for v in m.graph.input if v.name not in inits], inputs):
        if vi.type.tensor_type.HasField("shape"):
            for d, n in zip(vi.type.tensor_type.shape.dim, x.shape):
                d.ClearField("dim_param")
                d.dim_value = n
    return m


@pytest.mark.parametrize("shard", range(SHARDS))
def test_conformance_cases_fused_and_lowered(shard: int) -> None:
    warnings.filterwarnings("ignore")
    lowered = refused = 0
    wrong: list[str] = []
    for case in CASES[shard::SHARDS]:
        if case.name in XFAIL:
            continue
        inputs, outputs = case.data_sets[0]
        xs = [to_value(x) for x in inputs]
        if any(not isinstance(x, np.ndarray) for x in xs):
            continue   # sequences and optionals
        g = import_onnx(static_copy(case.model, xs))
        try:
            g = run_passes(g, "canonicalize,fuse,lower{target=conformance}", verify_each=True)
        except UnsupportedOp as e:
            assert e.op and e.target == "conformance", f"{case.name}: {e}"
            refused += 1
            continue
        got = interpret(g, xs)
        want = [to_value(x) for x in outputs]
        if not all(close(a, b) for a, b in zip(got, want)):
            wrong.append(case.name)
        lowered += 1
    assert not wrong, f"lowered wrongly: {wrong}"
    assert lowered > 200 and lowered > refused / 2

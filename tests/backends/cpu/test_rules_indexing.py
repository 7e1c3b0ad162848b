"""cpu rules of the indexing family (src/backends/cpu/rules/indexing.py): the ONNX conformance
cases that lower today, checked interpreted and native against their expected outputs, and
one-node graphs for what those cases miss (shape operands as constants, other dtypes/attributes),
checked against the op's reference implementation."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rule_testing import check_case, close, run_natively

import dlc.backends.cpu  # noqa: F401 - registers the cpu rules
from dlc.ir import interpret
from dlc.passes import run_passes

sys.path.insert(0, str(Path(__file__).parents[2] / "passes"))
from lowering_testing import one_node_graph  # noqa: E402

CASES = [
    *(f"test_{op}_{c}" for op in ("cumsum", "cumprod") for c in (
        "1d", "1d_exclusive", "1d_reverse", "1d_reverse_exclusive", "2d_axis_0", "2d_axis_1",
        "2d_negative_axis", "2d_int32", "1d_int32_exclusive")),
]


@pytest.mark.parametrize("name", CASES)
def test_conformance_case(name: str) -> None:
    check_case(name)


def lowered_one_node(op: str, attrs: dict[str, Any], inputs: list[np.ndarray | None],
                     known: tuple[int, ...] = (), outputs: int = 1, rtol: float = 1e-5,
                     atol: float = 1e-6) -> None:
    """One `op` node lowered for cpu by its rule: interpreted and native runs give what the
    op's reference gives."""
    g, feed = one_node_graph(op, attrs, inputs, known, outputs)
    want = interpret(g, feed)
    g = run_passes(g, "lower{target=cpu}", verify_each=True)
    assert [n.op for n in g.nodes] == ["KernelCall"]
    for how, got in (("interpreted", interpret(g, feed)), ("native", run_natively(g, feed))):
        for k, (x, w) in enumerate(zip(got, want)):
            assert close(x, w, rtol, atol), f"{op}: output {k} differs ({how})\n{x}\n{w}"


RNG = np.random.default_rng(0)


def ints(shape: tuple[int, ...], lo: int, hi: int, dtype: Any = np.int64) -> np.ndarray:
    return RNG.integers(lo, hi, shape).astype(dtype)


def floats(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


# -- CumSum / CumProd ---------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["CumSum", "CumProd"])
def test_scan_3d_f16_each_axis(op: str) -> None:
    x = (floats((2, 3, 4)) * 0.5 + 1).astype(np.float16)
    for axis in (0, -2, 2):
        lowered_one_node(op, {"exclusive": 1, "reverse": 1}, [x, np.array(axis, np.int64)],
                         known=(1,), rtol=1e-2, atol=1e-3)
    lowered_one_node(op, {}, [ints((3, 2), -3, 4, np.int64), np.array([1], np.int32)])

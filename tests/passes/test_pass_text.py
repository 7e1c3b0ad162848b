"""Before/after tests in IR text: each file in text/ holds a graph, the pipeline to run on it and
the graph expected after. The outputs on random inputs must not change either.

Set DLC_UPDATE_PASS_TEXT=1 to rewrite the expected part from what the passes print now (then read
the diff before committing it)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from pass_testing import HAVE_VERIFY, random_inputs

from dlc.ir import interpret
from dlc.passes import run_passes

text = pytest.importorskip("dlc.ir.text")
HERE = Path(__file__).parent / "text"
CASES = sorted(HERE.glob("*.txt"))
EXPECT = "// expect:\n"


def split(source: str) -> tuple[str, str, str]:
    """(pipeline, input graph, expected graph) of a case file."""
    head, _, rest = source.partition("\n")
    assert head.startswith("// pipeline:"), "a case starts with '// pipeline: NAMES'"
    before, _, after = rest.partition(EXPECT)
    return head.removeprefix("// pipeline:").strip(), before, after


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_pass_text(path: Path) -> None:
    pipeline, before, expected = split(path.read_text())
    graph = text.parse_module(before, {})
    inputs = random_inputs(graph)
    want = interpret(graph, inputs)
    graph = run_passes(graph, pipeline, verify_each=HAVE_VERIFY)
    got = text.print_graph(graph).strip() + "\n"
    for a, b in zip(interpret(graph, inputs), want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    if os.environ.get("DLC_UPDATE_PASS_TEXT"):
        path.write_text(f"// pipeline: {pipeline}\n{before.rstrip()}\n{EXPECT}{got}")
        return
    assert got == expected

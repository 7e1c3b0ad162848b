"""Golden regression cases: models, inputs and ONNX Runtime's outputs stored when each case was
made (make_golden.py); every target present on this machine must reproduce them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dlc

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())


def targets_present() -> list[str]:
    return ["reference", "cpu"]


@pytest.mark.parametrize("target", targets_present())
@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_golden(case: Path, target: str) -> None:
    m = dlc.compile(case / "model.onnx", target=target)
    with np.load(case / "inputs.npz") as z:
        inputs = {k: z[k] for k in z.files}
    with np.load(case / "expected.npz") as z:
        expected = {k: z[k] for k in z.files}
    got = m.run(inputs)
    assert list(got) == list(expected)
    for name, want in expected.items():
        assert got[name].dtype == want.dtype and got[name].shape == want.shape
        np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=1e-5, err_msg=name)

"""Real models from torchvision and transformers (random weights) match ONNX Runtime:
max |dlc - ort| / max |ort| <= 1e-4 for every output. Skipped where those packages are absent."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from export_models import TEXT, VISION, compare  # noqa: E402


@pytest.mark.parametrize("target", ["reference", "cpu"])
@pytest.mark.parametrize("name", VISION)
def test_vision_model_matches_ort(name, target):
    pytest.importorskip("torchvision")
    assert compare(name, target)["rel_err"] <= 1e-4


@pytest.mark.parametrize("target", ["reference", "cpu"])
@pytest.mark.parametrize("name", TEXT)
def test_text_model_matches_ort(name, target):
    pytest.importorskip("transformers")
    assert compare(name, target)["rel_err"] <= 1e-4

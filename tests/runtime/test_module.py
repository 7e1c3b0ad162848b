"""The Module contract: inputs by name and position, clear errors, save and load."""
from __future__ import annotations

import json

import numpy as np
import pytest

import dlc
from dlc.errors import ArtifactError, InputError

from helpers import add_relu_model


@pytest.fixture(params=["cpu", "reference"])
def module(request):
    return dlc.compile(add_relu_model(), target=request.param)


def test_run_and_call_agree(module):
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 3
    y = np.ones(3, np.float32)
    out = module.run({"x": x, "y": y})
    assert list(out) == ["w"]
    np.testing.assert_array_equal(out["w"], np.maximum(x + y, 0))
    np.testing.assert_array_equal(module(x, y), out["w"])
    assert module.input_names == ["x", "y"] and module.output_names == ["w"]


def test_missing_input_is_named(module):
    with pytest.raises(InputError, match="missing input.*y"):
        module.run({"x": np.zeros((2, 3), np.float32)})


def test_wrong_dtype_and_shape(module):
    with pytest.raises(InputError, match="dtype float64.*f32"):
        module(np.zeros((2, 3)), np.zeros(3, np.float32))
    with pytest.raises(InputError, match=r"shape \[3, 3\]"):
        module(np.zeros((3, 3), np.float32), np.zeros(3, np.float32))
    with pytest.raises(InputError, match="takes 2 input"):
        module(np.zeros((2, 3), np.float32))


@pytest.mark.parametrize("target", ["cpu", "reference"])
def test_symbol_bound_consistently(target):
    m = dlc.compile(add_relu_model(shape=("N", "C")), target=target)
    with pytest.raises(InputError, match="'C'"):
        m(np.zeros((2, 3), np.float32), np.zeros(4, np.float32))


def test_save_load_round_trip(module, tmp_path):
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    y = np.ones(3, np.float32)
    module.save(tmp_path / "m.dlc")
    manifest = json.loads((tmp_path / "m.dlc" / "manifest.json").read_text())
    assert manifest["target"] == module.target and manifest["format_version"] == 1
    assert manifest["dlc_version"] == dlc.__version__
    m2 = dlc.load(tmp_path / "m.dlc")
    np.testing.assert_array_equal(m2(x, y), module(x, y))
    assert not list((tmp_path / "m.dlc").rglob("*.pkl"))


def test_load_refuses_other_format_and_target(module, tmp_path):
    art = tmp_path / "m.dlc"
    module.save(art)
    other = "cpu" if module.target == "reference" else "reference"
    with pytest.raises(ArtifactError, match=f"compiled for target '{module.target}'"):
        dlc.load(art, target=other)
    mf = art / "manifest.json"
    data = json.loads(mf.read_text())
    data["format_version"] = 99
    mf.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="format version 99"):
        dlc.load(art)
    with pytest.raises(ArtifactError, match="not a dlc artifact"):
        dlc.load(tmp_path)

"""Shared helpers of the kernel suite: compile a .cl/.cu file of this directory with the public
API (dlc.compile, the reference target), and fixed random inputs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import dlc
from dlc.runtime import KernelModule

HERE = Path(__file__).parent


def load(name: str, **defines: Any) -> KernelModule:
    m = dlc.compile(HERE / name, target="reference", defines=defines or None)
    assert isinstance(m, KernelModule)
    return m


def rand(*shape: int, seed: int = 0, dtype: Any = np.float32) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).uniform(-1, 1, shape).astype(dtype)

"""Shared helpers of the kernel suite: load a .cl/.cu file of this directory through the C
frontend into a KernelModule (the reference target), and fixed random inputs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlc.frontends.c import import_kernels
from dlc.runtime import KernelModule

HERE = Path(__file__).parent


def load(name: str, **defines: Any) -> KernelModule:
    language = "cuda" if name.endswith(".cu") else "opencl"
    kernels = import_kernels(HERE / name, language=language, defines=defines or None)
    return KernelModule(kernels, language=language)


def rand(*shape: int, seed: int = 0, dtype: Any = np.float32) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).uniform(-1, 1, shape).astype(dtype)

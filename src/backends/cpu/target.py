"""The host CPU as data: what passes and the code generator need to know about it.

`host_target()` reads the triple, CPU name and features through llvmlite, the core count from
the OS and the cache sizes from sysfs (with defaults where they cannot be read). Passes receive it
as a `dlc.passes.target.TargetDesc` (CpuTarget is the cpu kind of one) and never import this
backend.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from ...passes.target import TargetDesc


@dataclass(frozen=True)
class CpuTarget(TargetDesc):
    """The CPU the JIT compiles for: the LLVM triple, CPU name and feature string."""

    triple: str = ""
    cpu: str = ""
    features: str = ""
    vector_math: str = ""  # libmvec ISA letters usable for vectorized math ("" : none)

    @property
    def feature_set(self) -> frozenset[str]:
        """Enabled features without their '+' (`avx2`, `fma`, `avx512f`, ...)."""
        return frozenset(f[1:] for f in self.features.split(",") if f.startswith("+"))

    @property
    def key(self) -> str:
        """What compiled code depends on (for the object-code cache)."""
        return f"{self.triple}|{self.cpu}|{self.features}|{self.vector_math}"


def _vector_bits(features: frozenset[str]) -> int:
    if "avx512f" in features:
        return 512
    if "avx" in features or "avx2" in features:
        return 256
    return 128


def _cache_sizes() -> tuple[int, int, int]:
    """L1 data, L2 and L3 sizes of cpu0 from Linux sysfs; common defaults elsewhere."""
    sizes = {1: 32 << 10, 2: 1 << 20, 3: 8 << 20}
    root = Path("/sys/devices/system/cpu/cpu0/cache")
    try:
        for d in root.glob("index*"):
            level = int((d / "level").read_text())
            kind = (d / "type").read_text().strip()
            if kind == "Instruction":
                continue
            text = (d / "size").read_text().strip().upper()
            mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
            sizes[level] = int(text.rstrip("KMG")) * mult
    except (OSError, ValueError):
        pass
    return sizes[1], sizes[2], sizes[3]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@functools.cache
def host_target() -> CpuTarget:
    """The CPU this process runs on."""
    from .jit import llvm_binding
    from .veclib import libmvec_loaded, vector_isas
    llvm = llvm_binding()
    features = llvm.get_host_cpu_features().flatten()
    enabled = frozenset(f[1:] for f in features.split(",") if f.startswith("+"))
    triple = llvm.get_process_triple()
    l1, l2, l3 = _cache_sizes()
    vmath = vector_isas(enabled, triple) if libmvec_loaded() else ""
    return CpuTarget(name="cpu", vector_bits=_vector_bits(enabled), cores=_cores(), l1_bytes=l1,
                     l2_bytes=l2, l3_bytes=l3, triple=triple, cpu=llvm.get_host_cpu_name(),
                     features=features, vector_math=vmath)

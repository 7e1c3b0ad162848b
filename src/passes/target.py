"""Target descriptions as passes see them: data each backend provides (vector width, cores,
caches, fast memory), so that passes never import a backend."""
from __future__ import annotations

from dataclasses import dataclass

from ..ir.dtype import DType


@dataclass(frozen=True)
class TargetDesc:
    """What a pass may ask about a target: vector width, parallelism, memory hierarchy."""

    name: str
    vector_bits: int  # widest SIMD register (128 SSE, 256 AVX2, 512 AVX-512)
    cores: int  # hardware threads the backend may run on
    l1_bytes: int
    l2_bytes: int
    l3_bytes: int
    shared_memory_bytes: int = 0  # per work-group fast memory (0: none, as on CPUs)

    def vector_lanes(self, dtype: DType) -> int:
        """How many elements of `dtype` fill one vector register."""
        bits = 8 if dtype is DType.BOOL else dtype.bits
        return max(1, self.vector_bits // bits)

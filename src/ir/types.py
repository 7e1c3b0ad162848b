"""Graph-level types: tensors whose dimensions are ints or named symbols, sequences, optionals."""
from __future__ import annotations

from dataclasses import dataclass

from .dtype import DType


@dataclass(frozen=True, order=True)
class Sym:
    """A dimension whose size is known only when the module sees concrete inputs."""

    name: str

    def __str__(self) -> str:
        return self.name


Dim = int | Sym


@dataclass(frozen=True)
class TensorType:
    dtype: DType
    shape: tuple[Dim, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    @property
    def static_shape(self) -> tuple[int, ...]:
        if not self.is_static:
            raise ValueError(f"shape {self} is not static")
        return tuple(int(d) for d in self.shape)  # type: ignore[arg-type]

    @property
    def numel(self) -> int | None:
        if not self.is_static:
            return None
        n = 1
        for d in self.shape:
            n *= int(d)  # type: ignore[arg-type]
        return n

    def with_shape(self, shape: tuple[Dim, ...]) -> TensorType:
        return TensorType(self.dtype, tuple(shape))

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(dtype, self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}[{', '.join(str(d) for d in self.shape)}]"


@dataclass(frozen=True)
class SequenceType:
    """An ONNX sequence of tensors of one element type."""

    elem: TensorType

    def __str__(self) -> str:
        return f"seq<{self.elem}>"


@dataclass(frozen=True)
class OptionalType:
    """An ONNX optional: a value of `elem` or none."""

    elem: TensorType | SequenceType

    def __str__(self) -> str:
        return f"opt<{self.elem}>"


Type = TensorType | SequenceType | OptionalType


def scalar(dtype: DType) -> TensorType:
    return TensorType(dtype, ())

"""Compile options: one object carried from the API and CLI down to passes and backends."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

DLC_VERSION = "0.1.0"
TARGETS = ("reference", "cpu", "opencl", "cuda", "fpga")
FRONTENDS = ("onnx", "opencl", "cuda", "qasm")
DEFAULT_TARGET = "cpu"


@dataclass(frozen=True)
class CompileOptions:
    target: str = DEFAULT_TARGET
    frontend: str | None = None
    passes: tuple[str, ...] | None = None
    opt_level: int = 2
    tune: bool = False
    threads: int | None = None
    precision: str | None = None
    cache_dir: Path | None = None
    defines: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    base_dir: Path | None = None
    verify_each: bool = False
    debug: bool = False

    def replace(self, **changes: object) -> CompileOptions:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

"""The Module of a compiled graph: argument checking, running, saving."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import InputError
from ..ir import Graph, OptionalType, SequenceType, Sym, TensorType, Type
from ..options import DLC_VERSION

FORMAT_VERSION = 1


class Executor(Protocol):
    """What a backend hands the runtime: runs the compiled graph on checked inputs."""

    def __call__(self, inputs: Sequence[Any]) -> list[Any]: ...


class GraphModule:
    """A compiled model. `run` takes a dict by input name, `__call__` positional inputs."""

    kind = "graph"

    def __init__(self, graph: Graph, executor: Executor, target: str,
                 info: Mapping[str, Any] | None = None,
                 payload: Callable[[Path], dict[str, Any]] | None = None):
        self.graph, self.executor, self.target = graph, executor, target
        self.info = dict(info or {})
        self.payload = payload  # writes the backend's files into an artifact (object code, ...)

    @property
    def input_names(self) -> list[str]:
        return [v.name for v in self.graph.inputs]

    @property
    def output_names(self) -> list[str]:
        return [v.name for v in self.graph.outputs]

    def run(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        names = self.input_names
        missing = [n for n in names if n not in inputs]
        unknown = [n for n in inputs if n not in names]
        if missing:
            raise InputError(f"missing input(s): {', '.join(missing)} "
                             f"(the model takes {', '.join(names)})")
        if unknown:
            raise InputError(f"unknown input(s): {', '.join(unknown)} "
                             f"(the model takes {', '.join(names)})")
        args = self.check_inputs([inputs[n] for n in names])
        outs = self.executor(args)
        return dict(zip(self.output_names, outs))

    def __call__(self, *args: Any) -> Any:
        names = self.input_names
        if len(args) != len(names):
            raise InputError(f"the model takes {len(names)} input(s) ({', '.join(names)}), "
                             f"got {len(args)}")
        outs = self.executor(self.check_inputs(list(args)))
        return outs[0] if len(outs) == 1 else tuple(outs)

    def check_inputs(self, args: Sequence[Any]) -> list[Any]:
        bindings: dict[Sym, int] = {}
        return [_check_arg(v.name, v.type, x, bindings)
                for v, x in zip(self.graph.inputs, args)]

    def save(self, path: str | Path,
             write_payload: Callable[[Path], dict[str, Any]] | None = None) -> None:
        """Write the artifact directory; the backend writes its own files via `write_payload`
        (by default the one it gave the module)."""
        write_payload = write_payload or self.payload
        from ..ir.text import print_module
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        (out / "weights").mkdir(exist_ok=True)
        text, consts = print_module(self.graph)
        (out / "graph.dlcir").write_text(text)
        weights = {}
        for i, (name, arr) in enumerate(consts.items()):
            fname = f"weights/w{i}.npy"
            if arr.dtype == object:
                arr = arr.astype(str)
            np.save(out / fname, arr, allow_pickle=False)
            weights[name] = {"file": fname, "dtype": str(arr.dtype)}
        manifest = {"format_version": FORMAT_VERSION, "dlc_version": DLC_VERSION,
                    "target": self.target, "kind": self.kind, "graph": "graph.dlcir",
                    "weights": weights, "inputs": self.input_names,
                    "outputs": self.output_names, "info": self.info}
        if write_payload is not None:
            manifest["payload"] = write_payload(out)
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))


def _check_arg(name: str, t: Type, x: Any, bindings: dict[Sym, int]) -> Any:
    if isinstance(t, OptionalType):
        return None if x is None else _check_arg(name, t.elem, x, bindings)
    if isinstance(t, SequenceType):
        if not isinstance(x, (list, tuple)):
            raise InputError(f"input '{name}' must be a sequence (list) of tensors")
        return [_check_arg(name, t.elem, e, {}) for e in x]
    assert isinstance(t, TensorType)
    arr = np.asarray(x)
    want = t.dtype.np
    if arr.dtype != want:
        ok_str = want.kind == "O" and arr.dtype.kind in "OUS"
        if not ok_str:
            raise InputError(f"input '{name}' has dtype {arr.dtype}; the model expects {t.dtype} "
                             f"({want}) of shape {_shape_text(t)}")
        arr = arr.astype(object)
    if arr.ndim != t.rank:
        raise InputError(f"input '{name}' has shape {list(arr.shape)}; the model expects "
                         f"{_shape_text(t)}")
    for k, (d, n) in enumerate(zip(t.shape, arr.shape)):
        if isinstance(d, int) and d != n:
            raise InputError(f"input '{name}' has shape {list(arr.shape)}; the model expects "
                             f"{_shape_text(t)} (dimension {k} must be {d})")
        if isinstance(d, Sym):
            if bindings.setdefault(d, n) != n:
                raise InputError(f"input '{name}': dimension {k} ('{d}') is {n} but another "
                                 f"input has '{d}' = {bindings[d]}")
    return arr


def _shape_text(t: TensorType) -> str:
    return "[" + ", ".join(str(d) for d in t.shape) + "]"

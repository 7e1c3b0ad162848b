"""The Python face of dlc: `compile` and `load`."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ArtifactError, DlcError, UnsupportedOp
from .ir import Graph
from .options import DEFAULT_TARGET, DLC_VERSION, FRONTENDS, TARGETS, CompileOptions
from .runtime import GraphModule, KernelModule
from .runtime.module import FORMAT_VERSION

__version__ = DLC_VERSION
SUFFIXES = {".onnx": "onnx", ".cl": "opencl", ".cu": "cuda", ".qasm": "qasm"}


def make_options(target: str = DEFAULT_TARGET, frontend: str | None = None,
                 passes: Any = None, opt_level: int = 2, tune: bool = False,
                 threads: int | None = None, precision: str | None = None,
                 cache_dir: Any = None, defines: Any = None, base_dir: Any = None,
                 verify_each: bool = False, debug: bool = False,
                 progress: Any = None) -> CompileOptions:
    if target not in TARGETS:
        raise DlcError(f"unknown target '{target}'; targets are {', '.join(TARGETS)}")
    if frontend is not None and frontend not in FRONTENDS:
        raise DlcError(f"unknown frontend '{frontend}'; frontends are {', '.join(FRONTENDS)}")
    if isinstance(passes, str):
        passes = tuple(p for p in passes.split(",") if p)
    defs = tuple((str(k), str(v)) for k, v in dict(defines or {}).items())
    if tune and not cache_dir:  # tuning results are kept: the next tuned compile reuses them
        cache_dir = Path.home() / ".cache" / "dlc"
    return CompileOptions(target=target, frontend=frontend,
                          passes=tuple(passes) if passes is not None else None,
                          opt_level=opt_level, tune=tune, threads=threads, precision=precision,
                          cache_dir=Path(cache_dir) if cache_dir else None, defines=defs,
                          base_dir=Path(base_dir) if base_dir else None,
                          verify_each=verify_each, debug=debug, progress=progress)


def detect_frontend(src: Any, frontend: str | None) -> str:
    if frontend:
        return frontend
    try:
        import onnx
        if isinstance(src, onnx.ModelProto):
            return "onnx"
    except ImportError:  # pragma: no cover
        pass
    if isinstance(src, (bytes, bytearray, memoryview)):
        return "onnx"
    if isinstance(src, (str, Path)):
        suffix = Path(str(src)).suffix.lower() if len(str(src)) < 4096 else ""
        if suffix in SUFFIXES:
            return SUFFIXES[suffix]
        if isinstance(src, Path) or "\n" not in str(src):
            raise DlcError(f"cannot tell what kind of input '{src}' is: use a file ending in "
                           f"{', '.join(SUFFIXES)} or pass frontend=")
    raise DlcError("source text needs frontend='onnx'|'opencl'|'cuda'|'qasm'")


def import_graph(src: Any, options: CompileOptions) -> Graph:
    kind = detect_frontend(src, options.frontend)
    if kind == "onnx":
        from .frontends.onnx import import_onnx
        return import_onnx(src, options.base_dir)
    if kind == "qasm":
        from .frontends.qasm import import_qasm
        return import_qasm(src, precision=options.precision, base_dir=options.base_dir)
    raise UnsupportedOp(f"the {kind} frontend is not available yet")


def compile(src: Any, target: str = DEFAULT_TARGET, **kwargs: Any) -> GraphModule | KernelModule:
    """Compile a model (path, bytes, onnx.ModelProto), a circuit (.qasm) or OpenCL C / CUDA C
    kernels (.cl / .cu, or source text with frontend="opencl"|"cuda") for `target`; see
    CompileOptions."""
    return compile_source(src, make_options(target=target, **kwargs))


def compile_source(src: Any, options: CompileOptions) -> GraphModule | KernelModule:
    """What `compile` does, with the options already made (the CLI's entry)."""
    if detect_frontend(src, options.frontend) in ("opencl", "cuda"):
        return compile_kernels(src, options)
    return compile_graph(import_graph(src, options), options)


def compile_kernels(src: Any, options: CompileOptions) -> KernelModule:
    """OpenCL C / CUDA C source (a path or source text) -> a KernelModule of its kernels."""
    from .frontends.c import import_kernels
    language = detect_frontend(src, options.frontend)
    if isinstance(src, (str, Path)) and "\n" not in str(src) and \
            Path(str(src)).suffix.lower() in (".cl", ".cu") and not Path(str(src)).is_file():
        raise DlcError(f"{src}: no such file")
    kernels = import_kernels(src if isinstance(src, Path) else str(src), language=language,
                             defines=dict(options.defines), base_dir=options.base_dir)
    return KernelModule(kernels, options.target, _kernel_launcher(options), language=language)


def _kernel_launcher(options: CompileOptions) -> Any:
    """How a target runs kernels: None is the reference interpreter."""
    if options.target == "reference":
        return None
    if options.target == "cpu":
        from .backends.cpu import launcher
        return launcher(options)
    raise UnsupportedOp(f"target '{options.target}' cannot run OpenCL C / CUDA C kernels yet; "
                        "use target='reference' or 'cpu'", target=options.target)


def compile_graph(graph: Graph, options: CompileOptions) -> GraphModule:
    from .passes import default_pipeline, run_passes
    t0 = time.perf_counter()
    names = list(options.passes) if options.passes is not None else default_pipeline(options)
    graph = run_passes(graph, names, options)
    from .runtime.circuit import circuit_module, is_circuit_graph
    if is_circuit_graph(graph):
        return circuit_module(graph, lambda g: _circuit_part(g, options), options.target)
    built = _build(graph, options)
    built.info["compile_seconds"] = round(time.perf_counter() - t0, 3)
    return GraphModule(built.graph, built.executor, options.target, built.info, built.payload)


@dataclass
class _Built:
    """What a backend made of a graph: its executor, the graph the module keeps (lowered, for
    native targets), what `dlc compile` reports, and what an artifact must store."""

    executor: Any
    graph: Graph
    info: dict[str, Any] = field(default_factory=dict)
    payload: Any = None


def _build(graph: Graph, options: CompileOptions, specialized: bool = False) -> _Built:
    if options.target == "reference":
        from .backends.reference import compile_graph as ref
        return _Built(ref(graph, options), graph)
    if options.target == "cpu":
        from .passes.specialize import is_static
        if not specialized and not is_static(graph):  # lowering names what stays dynamic
            return _Built(_specializing(graph, options), graph, {"specialized": "on first run"},
                          lambda root: {"specialize": True})
        from .backends.cpu.pipeline import compile_model, payload_writer
        program, lowered, info = compile_model(graph, options)
        return _Built(program, lowered, info, payload_writer(program))
    raise UnsupportedOp(f"target '{options.target}' is not available yet", target=options.target)


def _circuit_part(graph: Graph, options: CompileOptions) -> Any:
    """An executor for a part of a circuit (the module keeps using the graph: lower a copy)."""
    if options.target != "reference":
        from .passes.specialize import copy_graph
        graph = copy_graph(graph)
    return _build(graph, options).executor


def _specializing(graph: Graph, options: CompileOptions) -> Any:
    """An executor that compiles `graph` for each new input signature (DESIGN: the callback
    through which a module reaches the compiler)."""
    from .passes.specialize import specialize
    from .runtime.specialize import SpecializingExecutor

    def compile_for(inputs: Any) -> tuple[Any, Any]:
        static, feed = specialize(graph, inputs, options)
        return _build(static, options, specialized=True).executor, feed
    return SpecializingExecutor(compile_for)


def load(path: str | Path, target: str | None = None) -> GraphModule | KernelModule:
    """Read back an artifact written by Module.save."""
    root = Path(path)
    mf = root / "manifest.json"
    if not mf.is_file():
        raise ArtifactError(f"{root}: not a dlc artifact (no manifest.json)")
    try:
        manifest = json.loads(mf.read_text())
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{mf}: unreadable manifest ({e})") from None
    fv = manifest.get("format_version")
    if fv != FORMAT_VERSION:
        raise ArtifactError(f"{root}: artifact format version {fv}; this dlc ({__version__}) "
                            f"reads version {FORMAT_VERSION} — recompile the model")
    art_target = manifest.get("target")
    if art_target not in TARGETS:
        raise ArtifactError(f"{root}: artifact is for target '{art_target}', which this dlc "
                            "does not have")
    if target is not None and target != art_target:
        raise ArtifactError(f"{root}: artifact was compiled for target '{art_target}', not "
                            f"'{target}'; recompile it with --target {target}")
    if manifest.get("kind") == "kernels":
        from .runtime import load_kernel_module
        return load_kernel_module(root, manifest,
                                  _kernel_launcher(make_options(target=art_target)))
    from .ir.text import parse_module
    consts = {}
    for name, w in manifest.get("weights", {}).items():
        arr = np.load(root / w["file"], allow_pickle=False)
        if w.get("dtype", "").startswith("<U") or arr.dtype.kind == "U":
            arr = arr.astype(object)
        consts[name] = arr
    graph = parse_module((root / manifest["graph"]).read_text(), consts)
    options = make_options(target=art_target, passes=())
    info = manifest.get("info")
    if manifest.get("kind") == "circuit":
        from .runtime.circuit import circuit_module
        return circuit_module(graph, lambda g: _circuit_part(g, options), art_target, info)
    payload = manifest.get("payload") or {}
    if payload.get("specialize"):
        return GraphModule(graph, _specializing(graph, options), art_target, info,
                           lambda root: {"specialize": True})
    if art_target == "cpu":
        from .backends.cpu.pipeline import load_program, payload_writer
        program = load_program(graph, root, payload)
        return GraphModule(graph, program, art_target, info, payload_writer(program))
    return GraphModule(graph, _build(graph, options).executor, art_target, info)

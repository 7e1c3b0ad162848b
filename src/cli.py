"""The `dlc` command: compile, run, inspect, opt. Errors are one message and a non-zero exit;
--debug shows the traceback."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import api
from .errors import DlcError, InputError
from .options import DEFAULT_TARGET, TARGETS

EXIT_USER, EXIT_INTERNAL = 1, 2


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def _compile_args(p: argparse.ArgumentParser, target_default: str = DEFAULT_TARGET) -> None:
    p.add_argument("--target", "-t", default=target_default, choices=TARGETS,
                   help=f"what to compile for (default {target_default})")
    p.add_argument("--frontend", choices=("onnx", "opencl", "cuda", "qasm"),
                   help="kind of input, when the file suffix does not tell")
    p.add_argument("-O", "--opt-level", type=int, default=2, dest="opt_level")
    p.add_argument("-p", "--passes", help="comma-separated pass pipeline instead of the default")
    p.add_argument("-D", "--define", action="append", default=[], metavar="NAME=VALUE",
                   help="preprocessor definition for kernel sources")
    p.add_argument("--tune", action="store_true",
                   help="time each kernel's schedule candidates on this CPU and keep the fastest "
                        "(winners cached in --cache-dir, default ~/.cache/dlc)")
    p.add_argument("--cache-dir", dest="cache_dir",
                   help="where compiled code and tuning results are kept between compiles")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dlc", description="dlc: one compiler for DNN models, GPU "
                                 "kernels and quantum circuits.")
    ap.add_argument("--version", action="version", version=f"dlc {api.__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("compile", help="compile a model and save the artifact",
                       description="Compile INPUT (.onnx, ...) and write an artifact directory.")
    p.add_argument("input")
    p.add_argument("-o", "--output", help="artifact directory (default INPUT stem + .dlc)")
    _compile_args(p)
    _common(p)

    p = sub.add_parser("run", help="run a model or artifact on inputs from .npy/.npz files",
                       description="Run INPUT (a model file or a saved artifact directory).")
    p.add_argument("input")
    p.add_argument("inputs_npz", nargs="?", help="an .npz holding every input by name")
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE.npy",
                   dest="named_inputs", help="one input from a .npy file (repeatable)")
    p.add_argument("--random", action="store_true",
                   help="fill inputs not given with seeded random data (symbolic dims = 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="outputs.npz", help="where to write the outputs")
    p.add_argument("--repeat", type=int, default=1, help="runs to time (the median is shown)")
    p.add_argument("--compare", choices=("reference",), metavar="reference",
                   help="run on --target cpu and on the reference target and print, kernel "
                        "call by kernel call, the largest difference of each value")
    p.add_argument("--profile", action="store_true",
                   help="time every kernel call (median of --repeat runs) and print a table "
                        "with GFLOP/s, GB/s and the roofline bound each reaches (cpu target)")
    p.add_argument("--rtol", type=float, default=1e-4, help="--compare: relative tolerance")
    p.add_argument("--atol", type=float, default=1e-6, help="--compare: absolute tolerance")
    _compile_args(p)
    _common(p)

    p = sub.add_parser("inspect", help="print the IR of a model, or draw its graph",
                       description="Print INPUT's IR as text, or draw the graph (dot/svg).")
    p.add_argument("input")
    p.add_argument("--format", "-f", choices=("text", "dot", "svg"), default="text",
                   help="text: the compiled IR; dot/svg: the graph with its fused groups")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    _compile_args(p)
    _common(p)

    p = sub.add_parser("opt", help="run passes and print the IR after them",
                       description="Import INPUT, run the passes of -p, print the IR.")
    p.add_argument("input")
    p.add_argument("-p", "--passes", required=True, help="comma-separated pass names")
    p.add_argument("--print-after-all", action="store_true", help="print the IR after each pass")
    p.add_argument("--frontend", choices=("onnx", "opencl", "cuda", "qasm"))
    p.add_argument("-o", "--output", help="write the final IR here")
    _common(p)
    p = sub.add_parser("simulate", help="simulate a quantum circuit (.qasm)",
                       description="Simulate INPUT: with --shots, print the counts of its "
                       "classical registers (Qiskit's keys); otherwise print its state vector.")
    p.add_argument("input")
    p.add_argument("--shots", type=int, help="sample this many shots and print the counts")
    p.add_argument("--seed", type=int, help="seed of the sampler (default: random)")
    p.add_argument("--precision", choices=("single", "double"), help="complex64 or complex128")
    p.add_argument("--limit", type=int, default=64, help="most amplitudes to print (default 64)")
    _compile_args(p)
    _common(p)
    return ap


def _defines(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items:
        k, _, v = it.partition("=")
        if not k:
            raise DlcError(f"-D expects NAME or NAME=VALUE, got '{it}'")
        out[k] = v or "1"
    return out


def _opts(a: argparse.Namespace, **extra: Any) -> Any:
    return api.make_options(target=a.target, frontend=a.frontend, passes=a.passes,
                            opt_level=a.opt_level, defines=_defines(a.define), debug=a.debug,
                            tune=a.tune, cache_dir=a.cache_dir, **extra)


def cmd_compile(a: argparse.Namespace) -> int:
    from .runtime import GraphModule, KernelModule
    t0 = time.perf_counter()
    with _progress_bar() as bar:
        m = api.compile_source(a.input, _opts(a, progress=bar.update))
    dt = time.perf_counter() - t0
    out = Path(a.output or Path(a.input).with_suffix(".dlc").name)
    m.save(out)
    if isinstance(m, KernelModule):
        print(f"compiled {a.input} for {m.target} in {dt:.2f} s: {len(m)} kernel(s): "
              f"{'; '.join(m[n].signature for n in m.kernel_names)}")
    else:
        assert isinstance(m, GraphModule)
        print(f"compiled {a.input} for {m.target} in {dt:.2f} s; inputs "
              f"{', '.join(m.input_names)}; outputs {', '.join(m.output_names)}")
        print(_summary(m))
    print(f"wrote {out}")
    return 0


def _summary(m: Any) -> str:
    """What a compiled graph is made of: kernels, fused groups, memory, time."""
    info = m.info
    if "kernels" not in info:
        if info.get("specialized"):
            return ("shapes depend on the inputs: kernels are compiled for each input signature "
                    "on first run (and cached)")
        return f"{len(m.graph.nodes)} nodes, {len(m.graph.ops())} distinct ops"
    cached = " (object code from the cache)" if info.get("object_from_cache") else ""
    tuned = (f"; tuning: {info['tuned']} kernel(s) measured, {info['from_cache']} from the cache"
             if "tuned" in info else "")
    return "\n".join([
        f"kernels: {info['kernels']}; fused groups: {info['fused_groups']} "
        f"(holding {info['fused_nodes']} nodes)",
        info.get("memory", ""),
        f"compile time: {info.get('compile_seconds', 0):.2f} s (lowering "
        f"{info.get('lower_seconds', 0):.2f} s, code generation "
        f"{info.get('codegen_seconds', 0):.2f} s{cached}){tuned}"])


class _progress_bar:  # noqa: N801 - a context manager that reads like a function
    """A progress bar on stderr for compiles that take more than a moment (shown after 0.5 s,
    removed when done)."""

    DELAY = 0.5

    def __enter__(self) -> _progress_bar:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        self.start = time.perf_counter()
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                            console=Console(stderr=True), transient=True)
        self.tasks: dict[str, Any] = {}
        self.shown = False
        return self

    def update(self, stage: str, done: int, total: int | None) -> None:
        if not self.shown:
            if time.perf_counter() - self.start < self.DELAY or not sys.stderr.isatty():
                return
            self.bar.start()
            self.shown = True
        key = stage.split(" | ")[0]  # "stage | what it found so far"
        if key not in self.tasks:
            self.tasks[key] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[key], completed=done, total=total, description=stage)

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            self.bar.stop()


def _load_or_compile(a: argparse.Namespace) -> Any:
    from .runtime import KernelModule
    m = api.load(a.input) if Path(a.input).is_dir() else api.compile_source(a.input, _opts(a))
    if isinstance(m, KernelModule):
        raise DlcError(f"{a.input} holds kernels ({', '.join(m.kernel_names)}); launch them from "
                       "Python: m = dlc.compile(...); m[name](*args, global_size=...)")
    return m


def _compare(a: argparse.Namespace) -> int:
    from .compare import compare_targets, report
    from .passes import default_pipeline, run_passes
    if a.target != "cpu":
        raise DlcError(f"--compare reference compares the cpu target with the reference; "
                       f"--target {a.target} cannot be compared yet")
    if Path(a.input).is_dir():
        raise DlcError("--compare needs the model's source file, not a compiled artifact")
    options = _opts(a)
    graph = api.import_graph(a.input, options)
    names = list(options.passes) if options.passes is not None else default_pipeline(options)
    graph = run_passes(graph, names, options)
    feeds = _read_inputs(a, graph)
    text, bad = report(compare_targets(graph, feeds, options), a.rtol, a.atol)
    sys.stdout.write(text)
    return EXIT_USER if bad else 0


def _read_inputs(a: argparse.Namespace, graph: Any) -> dict[str, Any]:
    feeds: dict[str, Any] = {}
    if a.inputs_npz:
        if not Path(a.inputs_npz).is_file():
            raise InputError(f"{a.inputs_npz}: no such file")
        try:
            with np.load(a.inputs_npz, allow_pickle=False) as z:
                feeds.update({k: z[k] for k in z.files})
        except (OSError, ValueError) as e:
            raise InputError(f"{a.inputs_npz}: not an .npz file ({e})") from None
    for item in a.named_inputs:
        name, sep, fname = item.partition("=")
        if not sep:
            raise InputError(f"--input expects NAME=FILE.npy, got '{item}'")
        try:
            feeds[name] = np.load(fname, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(f"--input {name}: cannot read '{fname}' ({e})") from None
    missing = [v.name for v in graph.inputs if v.name not in feeds]
    if missing and a.random:
        rng = np.random.default_rng(a.seed)
        for v in graph.inputs:
            if v.name in missing:
                feeds[v.name] = random_input(v.type, rng)
        missing = []
    if missing:
        raise InputError(f"missing input(s): {', '.join(missing)} — give them as "
                         "--input NAME=FILE.npy, in an .npz, or use --random")
    return feeds


def random_input(t: Any, rng: np.random.Generator) -> np.ndarray:
    from .ir import TensorType
    if not isinstance(t, TensorType):
        raise InputError(f"--random cannot make an input of type {t}")
    shape = tuple(d if isinstance(d, int) else 1 for d in t.shape)
    dt = t.dtype.np
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        return rng.integers(0, 10, shape).astype(dt)
    raise InputError(f"--random cannot make an input of dtype {t.dtype}")


def _profile(a: argparse.Namespace) -> int:
    from .passes import default_pipeline, run_passes
    from .profiling import profile_model, report
    if a.target != "cpu" or Path(a.input).is_dir():
        raise DlcError("--profile runs a model's source file on --target cpu")
    options = _opts(a)
    graph = api.import_graph(a.input, options)
    names = list(options.passes) if options.passes is not None else default_pipeline(options)
    graph = run_passes(graph, names, options)
    sys.stdout.write(report(profile_model(graph, _read_inputs(a, graph), options, a.repeat)))
    return 0


def cmd_run(a: argparse.Namespace) -> int:
    if a.compare:
        return _compare(a)
    if a.profile:
        return _profile(a)
    m = _load_or_compile(a)
    feeds = _read_inputs(a, m.graph)
    times = []
    outs: dict[str, Any] = {}
    for _ in range(max(a.repeat, 1)):
        t0 = time.perf_counter()
        outs = m.run(feeds)
        times.append(time.perf_counter() - t0)
    arrays: dict[str, Any] = {k: v for k, v in outs.items() if isinstance(v, np.ndarray)}
    np.savez(a.output, **arrays)
    for k, v in outs.items():
        if isinstance(v, np.ndarray):
            flat = v.reshape(-1)
            head = np.array2string(flat[:6], precision=4, separator=", ")
            print(f"{k}: {v.dtype}{list(v.shape)} {head}{' ...' if flat.size > 6 else ''}")
        else:
            print(f"{k}: {type(v).__name__}")
    print(f"time: {np.median(times) * 1e3:.2f} ms (median of {len(times)}) on {m.target}; "
          f"outputs written to {a.output}")
    return 0


def cmd_inspect(a: argparse.Namespace) -> int:
    from .runtime import KernelModule
    m = api.load(a.input) if Path(a.input).is_dir() else api.compile_source(a.input, _opts(a))
    if isinstance(m, KernelModule):
        if a.format != "text":
            raise DlcError(f"{a.input} holds kernels: only --format text shows them")
        _emit(str(m), a.output)
        return 0
    graph = m.graph
    if a.format == "text":
        text = _ir_text(graph)
    else:
        from .drawing import to_dot, to_svg
        text = to_dot(*_grouped(a))
        if a.format == "svg":
            text = to_svg(text)
    _emit(text, a.output)
    return 0


def _grouped(a: argparse.Namespace) -> tuple[Any, dict[int, int]]:
    """INPUT's optimized graph with the fused groups the target's compile forms, flattened for
    drawing (a saved artifact: its graph as stored)."""
    from .passes import default_pipeline, flatten_groups, run_passes
    if Path(a.input).is_dir():
        return flatten_groups(api.load(a.input).graph)  # type: ignore[union-attr]
    options = _opts(a)
    graph = api.import_graph(a.input, options)
    names = list(options.passes) if options.passes is not None else default_pipeline(options)
    if options.target != "reference" and "fuse" not in names:
        names.append("fuse")
    return flatten_groups(run_passes(graph, names, options))


def cmd_opt(a: argparse.Namespace) -> int:
    from .passes import run_passes
    options = api.make_options(frontend=a.frontend, debug=a.debug)
    graph = api.import_graph(a.input, options)
    names = [p for p in a.passes.split(",") if p]

    def after(name: str, g: Any) -> None:
        print(f"// ----- IR after {name} -----")
        print(_ir_text(g))

    graph = run_passes(graph, names, options, print_after=after if a.print_after_all else None)
    if not a.print_after_all or a.output:
        _emit(_ir_text(graph), a.output)
    return 0


def cmd_simulate(a: argparse.Namespace) -> int:
    from .runtime.circuit import CircuitModule
    m = (api.load(a.input) if Path(a.input).is_dir()
         else api.compile_graph(api.import_graph(a.input, _opts(a, precision=a.precision)),
                                _opts(a, precision=a.precision)))
    if not isinstance(m, CircuitModule):
        raise DlcError(f"{a.input} is not a quantum circuit")
    if a.shots is not None:
        for key, n in m.sample(shots=a.shots, seed=a.seed).items():
            print(f"{key}: {n}")
        return 0
    try:
        sv = m.statevector()
    except DlcError as e:
        raise DlcError(f"{e} (on the command line: --shots N)") from None
    nz = np.flatnonzero(np.abs(sv) > 1e-9)
    for i in nz[:a.limit]:
        print(f"{int(i):0{m.num_qubits}b}: {sv[i].real:+.6f} {sv[i].imag:+.6f}j")
    if len(nz) > a.limit:
        print(f"... {len(nz) - a.limit} more nonzero amplitudes (--limit)")
    return 0


def _ir_text(graph: Any) -> str:
    """IR text for people: large constants appear by name, not element by element."""
    from .ir.text import print_module
    return print_module(graph)[0]


def _emit(text: str, path: str | None) -> None:
    if path:
        Path(path).write_text(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


COMMANDS = {"compile": cmd_compile, "run": cmd_run, "inspect": cmd_inspect, "opt": cmd_opt,
            "simulate": cmd_simulate}


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    if not a.command:
        ap.print_help()
        return EXIT_USER
    try:
        return COMMANDS[a.command](a)
    except DlcError as e:
        if a.debug:
            raise
        print(f"dlc {a.command}: error: {e}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - an internal error still gets one line without --debug
        if a.debug:
            raise
        print(f"dlc {a.command}: internal error: {type(e).__name__}: {e} "
              "(run with --debug for the traceback, and please report it)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

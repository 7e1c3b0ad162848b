"""The pass manager: passes as named frozen dataclasses whose fields are their options, a registry
by name, pipeline text (`canonicalize,tile{size=32}`) and `run_passes`, which can verify and print
the IR after every pass.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ..errors import DlcError
from ..ir import Graph
from ..options import CompileOptions


@dataclass(frozen=True)
class PassContext:
    """What a pass sees besides the IR: the compile options (and, later, a target description)."""

    options: CompileOptions = dataclasses.field(default_factory=CompileOptions)
    target: Any = None


@dataclass(frozen=True)
class Pass:
    """A Graph -> Graph transformation. Subclasses set `name` and declare options as fields."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        raise NotImplementedError

    def spec(self) -> str:
        """This pass as pipeline text: its name and the options that differ from the defaults."""
        opts = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and v == f.default:
                continue
            opts.append(f"{f.name.replace('_', '-')}={_format(v)}")
        return f"{self.name}{{{','.join(opts)}}}" if opts else self.name


PASSES: dict[str, type[Pass]] = {}
P = TypeVar("P", bound=type[Pass])


def register_pass(cls: P) -> P:
    """Class decorator: make a pass available by its name in pipelines."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    if cls.name in PASSES and PASSES[cls.name] is not cls:
        raise RuntimeError(f"pass {cls.name} registered twice")
    PASSES[cls.name] = cls
    return cls


def available_passes() -> list[str]:
    return sorted(PASSES)


def describe_passes() -> str:
    """One line per pass: its name, options with their defaults, and what it does (for --help)."""
    rows = []
    for name in available_passes():
        cls = PASSES[name]
        opts = ",".join(f"{f.name.replace('_', '-')}={_format(f.default)}"
                        for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING)
        doc = cls.summary or (cls.__doc__ or "").strip().partition("\n")[0]
        rows.append((f"{name}{{{opts}}}" if opts else name, doc))
    width = max((len(h) for h, _ in rows), default=0)
    return "\n".join(f"{h:{width}}  {d}" for h, d in rows)


# -- pipeline text -------------------------------------------------------------------------------

def _split_top(text: str, seps: str) -> list[str]:
    """Split at separators that are outside {}, [] and ()."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
            if depth < 0:
                raise DlcError(f"pass pipeline '{text}': unbalanced '{ch}'")
        if ch in seps and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise DlcError(f"pass pipeline '{text}': unbalanced brackets")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_pipeline(text: str | Sequence[str]) -> list[str]:
    """Pass specs from pipeline text. A list already split at every comma (as a CLI might) is
    joined back first, so `tile{a=1,b=2}` survives."""
    if not isinstance(text, str):
        text = ",".join(text)
    return _split_top(text, ",")


def make_pass(spec: str) -> Pass:
    """A pass object from one spec: `name` or `name{opt=value,opt2=value}`."""
    spec = spec.strip()
    name, _, rest = spec.partition("{")
    name = name.strip()
    cls = PASSES.get(name)
    if cls is None:
        raise DlcError(f"unknown pass '{name}'; passes are: {', '.join(available_passes())}")
    if rest and not rest.rstrip().endswith("}"):
        raise DlcError(f"pass '{spec}': options must be written {name}{{opt=value,...}}")
    body = rest.rstrip()[:-1] if rest else ""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for item in _split_top(body, ", \t"):
        key, eq, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if key not in fields:
            known = ", ".join(f.replace("_", "-") for f in fields) or "none"
            raise DlcError(f"pass '{name}' has no option '{key.replace('_', '-')}'; its options "
                           f"are: {known}")
        if not eq:
            raw = "true"
        try:
            values[key] = _convert(raw.strip(), hints[key])
        except (ValueError, TypeError) as e:
            raise DlcError(f"pass '{name}': option {key.replace('_', '-')}={raw.strip()}: {e}"
                           ) from None
    return cls(**values)


def _convert(raw: str, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if raw.lower() == "none" and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(raw, a)
            except (ValueError, TypeError) as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors))
    if origin is typing.Literal:
        for a in args:
            if str(a) == raw:
                return a
        raise ValueError(f"expected one of {', '.join(map(str, args))}")
    if origin in (tuple, list):
        inner = raw.strip()
        if inner[:1] in "[(" and inner[-1:] in "])":
            inner = inner[1:-1]
        elem = args[0] if args else str
        items = [_convert(x, elem) for x in _split_top(inner, ",:")]
        return tuple(items) if origin is tuple else items
    if hint is bool:
        low = raw.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if hint is int:
        return int(raw, 0)
    if hint is float:
        return float(raw)
    if hint is str:
        return raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" else raw
    raise TypeError(f"options of type {hint} cannot be written in a pipeline")


def _format(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple | list):
        return "[" + ",".join(_format(x) for x in v) + "]"
    return str(v)


# -- running -------------------------------------------------------------------------------------

def default_pipeline(options: CompileOptions) -> list[str]:
    """The passes `compile` runs when none are named. Only passes that keep results exact (up to
    float rounding) belong here."""
    names = []
    if options.opt_level >= 1:
        names.append("canonicalize")
    if options.opt_level >= 2:
        names.append("fold-batchnorm")
    return names


AfterPass = Callable[[str, Graph], None]


def run_passes(graph: Graph, names: str | Sequence[str], options: CompileOptions | None = None,
               *, verify_each: bool | None = None, print_after: AfterPass | None = None,
               target: Any = None) -> Graph:
    """Run the passes named by `names` (specs or pipeline text) in order.

    With `verify_each` (default: options.verify_each) the verifier checks the input and the IR
    after every pass; `print_after(spec, graph)` is called after every pass.
    """
    options = options or CompileOptions()
    passes = [make_pass(s) for s in parse_pipeline(names)]
    check = options.verify_each if verify_each is None else verify_each
    ctx = PassContext(options, target)
    if check and passes:
        _verify(graph, "the input of the pass pipeline")
    for p in passes:
        graph = p.run(graph, ctx)
        if check:
            _verify(graph, f"pass '{p.spec()}'")
        if print_after is not None:
            print_after(p.spec(), graph)
    return graph


def _verify(graph: Graph, where: str) -> None:
    from ..errors import VerifyError
    from ..ir.verify import verify
    try:
        verify(graph)
    except VerifyError as e:
        raise VerifyError(f"after {where}: {e}" if where.startswith("pass") else
                          f"{where}: {e}") from e

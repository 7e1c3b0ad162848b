"""The pass manager: registry, pipeline text, options, verification and printing after passes."""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest
from pass_testing import F32, node, onnx_graph

import dlc
from dlc.errors import DlcError, VerifyError
from dlc.ir import Graph
from dlc.options import CompileOptions
from dlc.passes import (
    PASSES,
    Pass,
    PassContext,
    default_pipeline,
    make_pass,
    parse_pipeline,
    register_pass,
    run_passes,
)


@register_pass
@dataclass(frozen=True)
class _Probe(Pass):
    """A pass with every kind of option, for the parser."""

    name = "test-probe"
    size: int = 8
    ratio: float = 0.5
    fast: bool = False
    mode: str = "a"
    tiles: tuple[int, ...] = (1,)
    limit: int | None = None

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        return graph


def small_graph() -> Graph:
    return onnx_graph([node("Add", ["x", "z"], ["y"])], {"x": (F32, [2])}, ["y"],
                      {"z": np.zeros(2, np.float32)})


def test_registry_has_the_passes() -> None:
    assert {"canonicalize", "fold-batchnorm"} <= set(PASSES)


def test_pipeline_text_splits_outside_braces() -> None:
    assert parse_pipeline("canonicalize, tile{a=1,b=[2,3]},fold-batchnorm") == [
        "canonicalize", "tile{a=1,b=[2,3]}", "fold-batchnorm"]
    # a pipeline a CLI already split at every comma is put back together
    assert parse_pipeline(["tile{a=1", "b=2}", "dce"]) == ["tile{a=1,b=2}", "dce"]
    with pytest.raises(DlcError, match="unbalanced"):
        parse_pipeline("tile{a=1")


def test_options_are_parsed_by_field_type() -> None:
    p = make_pass("test-probe{size=32, ratio=0.25,fast,mode=b,tiles=[4,8],limit=none}")
    assert p == _Probe(size=32, ratio=0.25, fast=True, mode="b", tiles=(4, 8), limit=None)
    assert make_pass("test-probe{limit=0x10 fast=false}") == _Probe(limit=16, fast=False)
    assert make_pass("test-probe") == _Probe()


def test_spec_round_trips() -> None:
    p = _Probe(size=32, fast=True, tiles=(4, 8))
    assert p.spec() == "test-probe{size=32,fast=true,tiles=[4,8]}"
    assert make_pass(p.spec()) == p
    assert make_pass("canonicalize{fold-limit=16}").spec() == "canonicalize{fold-limit=16}"


def test_unknown_pass_lists_known_ones() -> None:
    with pytest.raises(DlcError, match=r"unknown pass 'nope'.*canonicalize.*fold-batchnorm"):
        run_passes(small_graph(), ["nope"], CompileOptions())


def test_bad_options_say_what_is_wrong() -> None:
    with pytest.raises(DlcError, match="has no option 'colour'.*size"):
        make_pass("test-probe{colour=red}")
    with pytest.raises(DlcError, match="size=big"):
        make_pass("test-probe{size=big}")
    with pytest.raises(DlcError, match="true or false"):
        make_pass("test-probe{fast=maybe}")


def test_default_pipeline_by_opt_level() -> None:
    assert default_pipeline(CompileOptions(opt_level=0)) == []
    assert default_pipeline(CompileOptions(opt_level=1)) == ["canonicalize"]
    assert default_pipeline(CompileOptions(opt_level=2)) == ["canonicalize", "fold-batchnorm"]


def test_print_after_sees_every_pass() -> None:
    seen: list[tuple[str, int]] = []
    g = run_passes(small_graph(), "canonicalize,test-probe{size=2}", CompileOptions(),
                   print_after=lambda name, graph: seen.append((name, len(graph.nodes))))
    assert seen == [("canonicalize", 0), ("test-probe{size=2}", 0)]
    assert g.nodes == []


def test_verify_each_runs_the_verifier(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def verify(graph: Graph) -> None:
        calls.append(len(graph.nodes))
        if len(calls) == 4:
            raise VerifyError("node x: broken")

    fake = types.ModuleType("dlc.ir.verify")
    fake.verify = verify  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dlc.ir.verify", fake)
    run_passes(small_graph(), ["canonicalize"], CompileOptions(verify_each=True))
    assert calls == [1, 0]  # the input, then after the pass
    run_passes(small_graph(), ["canonicalize"], CompileOptions(), verify_each=False)
    assert calls == [1, 0]
    with pytest.raises(VerifyError, match="after pass 'canonicalize': node x: broken"):
        run_passes(small_graph(), ["canonicalize"], CompileOptions(), verify_each=True)


def test_compile_runs_the_default_pipeline() -> None:
    from helpers import add_relu_model
    m = dlc.compile(add_relu_model(), target="reference", opt_level=2)
    x, y = np.ones((2, 3), np.float32), np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(m.run({"x": x, "y": y})["w"], np.maximum(x + y, 0))


def test_describe_passes_lists_options_and_defaults() -> None:
    from dlc.passes import describe_passes
    text = describe_passes()
    assert "canonicalize{fold=true,fold-limit=65536,cse=true,max-iterations=8}" in text
    assert "test-probe{size=8,ratio=0.5,fast=false,mode=a,tiles=[1],limit=none}" in text

"""plan-memory: buffers reused by liveness. Every plan is checked here independently of
MemoryPlan.check: lifetimes recomputed from the graph, no two values live at one step share a
slot, and each value fits its slot."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from lowering_testing import run_both, static_model_inputs
from pass_testing import F32, node, onnx_graph

from dlc.errors import DlcError
from dlc.frontends.onnx import import_onnx
from dlc.ir import Graph, TensorType
from dlc.passes import MemoryPlan, memory_plan, plan_memory, run_passes

GOLDEN = Path(__file__).parents[1] / "golden" / "cases"


def sizes(g: Graph) -> dict[str, int]:
    out = {}
    for n in g.nodes:
        for v in n.outputs:
            assert isinstance(v.type, TensorType)
            out[v.name] = -(-(v.type.numel or 0) * v.type.dtype.np.itemsize // 64) * 64
    return out


def independent_check(g: Graph, plan: MemoryPlan) -> None:
    """Recompute liveness from the graph and check the plan against it."""
    start, end = {}, {}
    for k, n in enumerate(g.nodes):
        for v in n.inputs:
            if v is not None and v in start:
                end[v] = k
        for v in n.outputs:
            start[v], end[v] = k, k
    for v in g.outputs:
        end[v] = len(g.nodes)
    values = list(start)
    assert set(plan.slot_of) == set(values)
    size = sizes(g)
    for v in values:
        assert plan.slot_bytes[plan.slot_of[v]] >= size[v.name]
    for i, a in enumerate(values):
        for b in values[i + 1:]:
            live_together = start[a] <= end[b] and start[b] <= end[a]
            if live_together:
                assert plan.slot_of[a] != plan.slot_of[b], f"{a.name} and {b.name} share a slot"
    peak = max(sum(size[v.name] for v in values if start[v] <= k <= end[v])
               for k in range(len(g.nodes) + 1))
    assert plan.peak_bytes == peak
    assert peak <= plan.planned_bytes <= plan.naive_bytes


def chain(n: int) -> Graph:
    ops = ["Relu", "Exp", "Neg", "Tanh", "Abs"]
    nodes = [node(ops[k % len(ops)], [f"v{k}"], [f"v{k + 1}"]) for k in range(n)]
    return onnx_graph(nodes, {"v0": (F32, [64, 64])}, [f"v{n}"])


def test_a_chain_reuses_two_buffers() -> None:
    g = run_both(chain(8), "lower")
    plan = plan_memory(g)
    plan.check()
    independent_check(g, plan)
    one = 64 * 64 * 4
    assert plan.naive_bytes == 8 * one
    assert plan.peak_bytes == 2 * one < plan.naive_bytes
    assert len(plan.slot_bytes) == 2 and plan.planned_bytes == 2 * one


def test_a_long_lived_value_keeps_its_buffer() -> None:
    g = onnx_graph([node("Relu", ["x"], ["a"]), node("Exp", ["a"], ["b"]),
                    node("Neg", ["b"], ["c"]), node("Tanh", ["c"], ["d"]),
                    node("Add", ["d", "a"], ["y"])], {"x": (F32, [32, 32])}, ["y"])
    g = run_both(g, "lower")
    plan = plan_memory(g)
    independent_check(g, plan)
    a = next(v for v in plan.slot_of if v.name == "a")
    assert all(plan.slot_of[v] != plan.slot_of[a] for v in plan.slot_of if v is not a)


def test_buffers_of_different_sizes() -> None:
    g = onnx_graph([node("Tile", ["x", "reps"], ["t"]), node("ReduceSum", ["t", "ax"], ["s"]),
                    node("Exp", ["s"], ["e"]), node("Tile", ["e", "reps2"], ["u"]),
                    node("Relu", ["u"], ["y"])],
                   {"x": (F32, [8, 8])}, ["y"],
                   {"reps": np.array([4, 4]), "ax": np.array([0]), "reps2": np.array([16, 1])})
    g = run_both(g, "lower")
    independent_check(g, plan_memory(g))


@pytest.mark.parametrize("case", sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()))
def test_golden_models(case: str) -> None:
    model = onnx.load(str(GOLDEN / case / "model.onnx"))
    with np.load(GOLDEN / case / "inputs.npz") as z:
        static_model_inputs(model, {k: z[k] for k in z.files})
    g = run_passes(import_onnx(model), "canonicalize,fuse")   # plans need no kernels
    plan = plan_memory(g)
    plan.check()
    independent_check(g, plan)
    assert plan.constant_bytes == sum(a.nbytes for a in g.constants.values())


def test_the_pass_keeps_the_plan_and_reports() -> None:
    g = chain(5)
    assert memory_plan(g) is None
    g = run_passes(g, "lower,plan-memory{alignment=4096}")
    plan = memory_plan(g)
    assert plan is not None and all(s % 4096 == 0 for s in plan.slot_bytes)
    text = plan.summary()
    assert text.startswith("peak memory: ") and "2 taking 32.0 KiB for 5 values" in text


def test_symbolic_shapes_cannot_be_planned() -> None:
    g = onnx_graph([node("Relu", ["x"], ["y"])], {"x": (F32, ["N", 3])}, ["y"])
    with pytest.raises(DlcError, match="static"):
        plan_memory(g)


def test_check_catches_a_bad_plan() -> None:
    g = run_both(chain(3), "lower")
    plan = plan_memory(g)
    v0, v1 = list(plan.slot_of)[:2]
    plan.slot_of[v1] = plan.slot_of[v0]
    with pytest.raises(DlcError, match="share slot"):
        plan.check()

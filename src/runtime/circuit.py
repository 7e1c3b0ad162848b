"""Circuit modules: a compiled quantum circuit with `statevector()`, `sample()` and `amplitudes()`.

The graph is a circuit graph (see frontends/qasm/build.py): output 0 the (2,)*n state, outputs 1..
the classical registers (bool[m] each), input `rand` the uniform draws of its Measure/Reset nodes.
When every measurement is terminal, the state before them is computed once and shots are drawn
from its probabilities; otherwise shots run the graph part by part with fresh draws, and shots
with the same history so far move together. Graphs reach a backend only through the
`compile_graph` callback.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ExecutionError, InputError
from ..ir import Graph, Node, TensorType, Value
from ..ir.ops.quantum import acted_qubits
from .module import Executor, GraphModule

CompileGraph = Callable[[Graph], Executor]
BitSource = tuple[str, int | bool]   # ("qubit", q) measured at the end, or ("const", value)


@dataclass
class TerminalSplit:
    """A circuit whose measurements are all terminal: the state before them, and where each
    classical bit comes from."""

    prefix: Graph
    registers: list[list[BitSource]]

    @property
    def random(self) -> bool:
        """Whether the prefix still needs draws (a reset before the measurements)."""
        return bool(self.prefix.inputs)


def split_terminal(graph: Graph) -> TerminalSplit | str:
    """Separate terminal measurements from the rest, or say (a str) why they are not terminal."""
    prod = graph.producers()
    packs = {prod[v] for v in graph.outputs[1:] if v in prod and prod[v].op == "PackBits"}
    alias: dict[Value, Value] = {}
    measured: dict[int, Value] = {}
    bit_qubit: dict[Value, int] = {}
    kept: list[Node] = []
    for node in graph.nodes:
        if node in packs:
            continue
        ins = [None if v is None else alias.get(v, v) for v in node.inputs]
        if any(v in bit_qubit for v in node.inputs if v is not None):
            return "a measured bit is used later in the circuit"
        if node.op == "Measure":
            q = node.attrs.qubit
            if len(node.inputs) > 2:
                return f"qubit {q} is measured under a condition"
            if q in measured:
                return f"qubit {q} is measured more than once"
            measured[q] = node.outputs[1]
            bit_qubit[node.outputs[1]] = q
            alias[node.outputs[0]] = ins[0]  # type: ignore[assignment]
            continue
        acted = acted_qubits(node.op, node.attrs)
        if measured and (acted is None or acted & measured.keys()):
            what = sorted(acted & measured.keys()) if acted else sorted(measured)
            return f"qubit {what[0]} is used after it is measured ({node.op} node '{node.name}')"
        kept.append(Node(node.op, ins, node.outputs, node.attrs, node.name))
    state = alias.get(graph.outputs[0], graph.outputs[0])
    registers: list[list[BitSource]] = []
    for v in graph.outputs[1:]:
        if v in graph.constants:  # a register no measurement writes, folded by a pass
            registers.append([("const", bool(b)) for b in np.asarray(graph.constants[v])])
            continue
        p = prod.get(v)
        if p is None or p not in packs:
            return f"register '{v.name}' is not a packed set of bits"
        bits: list[BitSource] = []
        for b in p.inputs:
            if b in bit_qubit:
                bits.append(("qubit", bit_qubit[b]))
            elif b in graph.constants:
                bits.append(("const", bool(graph.constants[b])))
            else:
                return f"a bit of register '{v.name}' is computed, not measured"
        registers.append(bits)
    used = {v for n in kept for v in n.inputs if v is not None}
    prefix = Graph(name=f"{graph.name}_state", inputs=[v for v in graph.inputs if v in used],
                   outputs=[state], constants=dict(graph.constants), nodes=kept)
    return TerminalSplit(prefix, registers)


@dataclass
class _Segment:
    graph: Graph
    random: bool           # one node that reads the draws
    num_reads: int         # inputs that are values of earlier parts (the draws come after)
    run: Executor | None = None


def _segments(graph: Graph) -> list[_Segment]:
    """Cut the graph before and after every node that reads a graph input (the draws). Each part
    takes the values it reads from earlier parts and returns those later parts (or the graph's
    outputs) read; a random part also takes the draws, last."""
    inputs = set(graph.inputs)
    groups: list[tuple[list[Node], bool]] = []
    for n in graph.nodes:
        rnd = any(v in inputs for v in n.inputs if v is not None)
        if rnd or not groups or groups[-1][1]:
            groups.append(([n], rnd))
        else:
            groups[-1][0].append(n)
    last_use: dict[Value, int] = {v: len(groups) for v in graph.outputs}
    for i, (nodes, _) in enumerate(groups):
        for n in nodes:
            for v in n.inputs:
                if v is not None:
                    last_use[v] = max(last_use.get(v, -1), i)
    out: list[_Segment] = []
    for i, (nodes, rnd) in enumerate(groups):
        made = {o for n in nodes for o in n.outputs}
        reads: list[Value] = []
        for n in nodes:
            for v in n.inputs:
                if (v is not None and v not in made and v not in graph.constants
                        and v not in inputs and v not in reads):
                    reads.append(v)
        outs = [o for n in nodes for o in n.outputs if last_use.get(o, -1) > i]
        ins = reads + (list(graph.inputs) if rnd else [])
        out.append(_Segment(Graph(f"{graph.name}_part{i}", ins, outs, dict(graph.constants),
                                  list(nodes)), rnd, len(reads)))
    return out


def _same(a: list[Any], b: list[Any]) -> bool:
    for x, y in zip(a, b):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype.kind in "fc":
            if not np.allclose(x, y, rtol=1e-5, atol=1e-6):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


_CHUNK = 1 << 20


def _chunks(x: np.ndarray) -> Any:
    """Pieces of a flat array, widened to complex128 (sums of squares in double precision)."""
    for i in range(0, x.size, _CHUNK):
        yield x[i:i + _CHUNK].astype(np.complex128)


def register_key(registers: Sequence[np.ndarray]) -> str:
    """Qiskit's counts key: registers last-declared first, each with its highest bit first."""
    return " ".join("".join("1" if b else "0" for b in reversed(np.asarray(r).tolist()))
                    for r in reversed(registers))


class CircuitModule(GraphModule):
    """A compiled circuit. Bit order as in Qiskit: qubit 0 is the least significant bit."""

    kind = "circuit"

    def __init__(self, graph: Graph, executor: Executor, target: str,
                 compile_graph: CompileGraph, info: Mapping[str, Any] | None = None):
        super().__init__(graph, executor, target, info)
        self.compile_graph = compile_graph
        self._split: TerminalSplit | str | None = None
        self._prefix: Executor | None = None
        self._segments: list[_Segment] | None = None

    @property
    def num_qubits(self) -> int:
        return len(self.graph.outputs[0].type.shape)  # type: ignore[union-attr]

    @property
    def registers(self) -> list[tuple[str, int]]:
        """Classical registers (name, size) in declaration order."""
        return [(v.name, int(v.type.shape[0])) for v in self.graph.outputs[1:]]  # type: ignore

    def terminal_split(self) -> TerminalSplit | str:
        if self._split is None:
            self._split = split_terminal(self.graph)
        return self._split

    def _final_state(self) -> np.ndarray:
        split = self.terminal_split()
        if isinstance(split, str):
            raise ExecutionError(f"statevector() needs a circuit whose measurements are all at the "
                                 f"end, but {split}; use sample() instead")
        if split.random:
            raise ExecutionError("statevector() needs a circuit without mid-circuit resets; use "
                                 "sample() instead")
        if self._prefix is None:
            self._prefix = self.compile_graph(split.prefix)
        return np.asarray(self._prefix([])[0])

    def statevector(self) -> np.ndarray:
        """The state before the final measurements, as a flat vector of 2**n amplitudes,
        normalized: rounding in single precision lets the norm drift (repeated gates round the
        same way), and the direction is far more accurate than the length."""
        sv = np.asarray(self._final_state()).reshape(-1)
        norm2 = sum(float(np.vdot(c, c).real) for c in _chunks(sv))
        if norm2 <= 0:
            return np.ascontiguousarray(sv)
        return sv * sv.dtype.type(1 / np.sqrt(norm2))  # a new array: never scale a constant

    def amplitudes(self, bitstrings: Sequence[str]) -> np.ndarray:
        """Amplitudes of basis states written highest qubit first ("0101": qubits 0 and 2 are 1)."""
        if isinstance(bitstrings, str):
            bitstrings = [bitstrings]
        n = self.num_qubits
        idx = []
        for s in bitstrings:
            if len(s) != n or set(s) - {"0", "1"}:
                raise InputError(f"amplitude key '{s}' must be {n} characters of 0 and 1 (highest "
                                 "qubit first)")
            idx.append(int(s, 2) if n else 0)
        return self.statevector()[np.asarray(idx, dtype=np.int64)]

    def sample(self, shots: int = 1024, seed: int | None = None) -> dict[str, int]:
        """Counts of the classical registers over `shots` runs, keyed as Qiskit's get_counts."""
        if shots < 0:
            raise InputError(f"shots must be non-negative, got {shots}")
        if not self.registers:
            raise InputError("the circuit has no classical bits to sample; use statevector()")
        rng = np.random.default_rng(seed)
        split = self.terminal_split()
        if not isinstance(split, str) and not split.random:
            return self._sample_terminal(split, shots, rng)
        return self._sample_shots(shots, rng)

    def _sample_terminal(self, split: TerminalSplit, shots: int,
                         rng: np.random.Generator) -> dict[str, int]:
        state = self._final_state()
        n = state.ndim
        qubits = sorted({q for reg in split.registers for kind, q in reg if kind == "qubit"})
        m = len(qubits)
        p = np.abs(state.astype(np.complex128)) ** 2
        axes = [n - 1 - q for q in reversed(qubits)]  # outcome index: bit j = qubits[j]
        rest = [a for a in range(n) if a not in axes]
        marg = np.transpose(p, axes + rest).reshape(1 << m, -1).sum(axis=1)
        counts = rng.multinomial(shots, marg / marg.sum())
        pos = {q: j for j, q in enumerate(qubits)}
        out: dict[str, int] = {}
        for outcome in np.nonzero(counts)[0]:
            regs = [np.array([bool((outcome >> pos[v]) & 1) if kind == "qubit" else bool(v)
                              for kind, v in reg]) for reg in split.registers]
            key = register_key(regs)
            out[key] = out.get(key, 0) + int(counts[outcome])
        return dict(sorted(out.items()))

    def _sample_shots(self, shots: int, rng: np.random.Generator) -> dict[str, int]:
        """Shots that share their history so far move together: at a random node, the group draws
        one uniform per shot, and since a node's outcome is a threshold on its draw, sorting the
        draws and bisecting for where the node's results change splits the group exactly as
        running every shot alone would."""
        if self._segments is None:
            self._segments = _segments(self.graph)
        segs = self._segments
        size = int(self.graph.inputs[0].type.shape[0]) if self.graph.inputs else 0  # type: ignore
        out: dict[str, int] = {}
        stack: list[tuple[int, dict[Value, Any], int]] = [(0, {}, shots)] if shots else []
        while stack:
            i, env, count = stack.pop()
            if i == len(segs):
                consts = self.graph.constants
                regs = [env[v] if v in env else consts[v] for v in self.graph.outputs[1:]]
                key = register_key(regs)
                out[key] = out.get(key, 0) + count
                continue
            seg = segs[i]
            if seg.run is None:
                seg.run = self.compile_graph(seg.graph)
            run = seg.run
            args = [env[v] for v in seg.graph.inputs[:seg.num_reads]]
            if not seg.random:
                stack.append((i + 1, {**env, **dict(zip(seg.graph.outputs, run(args)))}, count))
                continue
            draws = np.sort(rng.random(count))

            def results(u: float, args: list[Any] = args, run: Executor = run) -> list[Any]:
                return list(run(args + [np.full(size, u)]))

            start = 0
            while start < count:
                ref = results(float(draws[start]))
                lo, hi = start, count - 1
                if hi > lo and not _same(results(float(draws[hi])), ref):
                    while hi - lo > 1:  # draws[lo] gives ref, draws[hi] does not
                        mid = (lo + hi) // 2
                        if _same(results(float(draws[mid])), ref):
                            lo = mid
                        else:
                            hi = mid
                else:
                    lo = hi
                stack.append((i + 1, {**env, **dict(zip(seg.graph.outputs, ref))},
                              lo - start + 1))
                start = lo + 1
        return dict(sorted(out.items()))


def is_circuit_graph(graph: Graph) -> bool:
    """Whether `graph` is a circuit graph: it starts from InitState and returns the state first."""
    if not graph.outputs or not any(n.op == "InitState" for n in graph.nodes):
        return False
    t = graph.outputs[0].type
    return isinstance(t, TensorType) and t.dtype.is_complex and all(d == 2 for d in t.shape)


def circuit_module(graph: Graph, compile_graph: CompileGraph, target: str,
                   info: Mapping[str, Any] | None = None) -> CircuitModule:
    """A CircuitModule for a circuit graph; `compile_graph` turns a graph into an executor for
    the target (the module compiles the parts it derives, like the state before measurement).
    The whole graph is compiled only if it is run as a graph (`run`, `__call__`):
    statevector() and sample() compile the parts they need."""
    return CircuitModule(graph, _OnFirstCall(lambda: compile_graph(graph)), target,
                         compile_graph, info)


class _OnFirstCall:
    """An executor made when it is first called."""

    def __init__(self, make: Callable[[], Executor]):
        self.make: Callable[[], Executor] | None = make
        self.executor: Executor | None = None

    def __call__(self, inputs: Sequence[Any]) -> list[Any]:
        if self.executor is None:
            assert self.make is not None
            self.executor, self.make = self.make(), None
        return self.executor(inputs)

"""A lowered Circuit as a dlc Graph: InitState, then one ApplyGate / Measure / Reset node per
instruction along the state chain; classical bits are bool scalars in SSA form.

The graph's contract (what runtime.circuit reads): output 0 is the state, a (2,)*n complex tensor;
outputs 1.. are the classical registers in declaration order, each a bool[m] (bit i at index i)
named after the register; input `rand` (present when the circuit measures or resets) holds one
uniform draw in [0, 1) per Measure/Reset node.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...ir import DType, Graph, TensorType, Value
from ...ir.ops import InferCtx, lookup
from ...ir.ops.quantum import ApplyGateAttrs, BitsEqualAttrs, InitStateAttrs, MeasureAttrs
from .lower import Circuit, ClBit, Cond, CondRef, Gate, Measure, Reset

RAND_INPUT = "rand"


class _Builder:
    def __init__(self, circuit: Circuit, dtype: DType, name: str):
        self.c, self.dtype = circuit, dtype
        self.g = Graph(name=name)
        self.rand = Value(RAND_INPUT, TensorType(DType.F64, (0,)))
        self.draws = 0
        self.gate_consts: dict[tuple[bytes, tuple[int, ...]], Value] = {}
        self.zero = self.g.add_constant("zero_bit", np.asarray(False))
        self.bits: dict[ClBit, Value] = {(r, i): self.zero for r, m in circuit.cregs.items()
                                         for i in range(m)}
        self.conds: dict[int, Value] = {}

    def emit(self, op: str, inputs: Sequence[Value | None], attrs: object,
             name: str = "") -> list[Value]:
        """Add a node, its output types given by the op's own shape rule."""
        types = [None if v is None else v.type for v in inputs]
        ctx = InferCtx(op, attrs, types, [None] * len(inputs), 0, name)
        out_types = lookup(op).infer(ctx)
        return self.g.add_node(op, inputs, out_types, attrs, name=name).outputs

    def gate_value(self, m: np.ndarray) -> Value:
        k = m.shape[0].bit_length() - 1
        t = np.ascontiguousarray(np.asarray(m).astype(self.dtype.np).reshape((2,) * (2 * k)))
        key = (t.tobytes(), t.shape)
        v = self.gate_consts.get(key)
        if v is None:
            v = self.g.add_constant(self.g.fresh_name("gate"), t)
            self.gate_consts[key] = v
        return v

    def next_draw(self) -> int:
        self.draws += 1
        return self.draws - 1

    def build(self) -> Graph:
        self.rand.type = TensorType(DType.F64, (self._count_draws(),))
        state = self.emit("InitState", [], InitStateAttrs(self.c.num_qubits, self.dtype),
                          "init")[0]
        for ins in self.c.instrs:
            cid = None if isinstance(ins, Cond) else ins.cond
            cond = None if cid is None else self.conds[cid]
            if isinstance(ins, Cond):
                srcs = [self.conds[s.id] if isinstance(s, CondRef) else self.bits[s]
                        for s in ins.sources]
                self.conds[ins.id] = self.emit("BitsEqual", srcs,
                                               BitsEqualAttrs(ins.value, ins.negate), "cond")[0]
            elif isinstance(ins, Gate):
                ins_: list[Value | None] = [state, self.gate_value(ins.matrix)]
                if cond is not None:
                    ins_.append(cond)
                state = self.emit("ApplyGate", ins_, ApplyGateAttrs(ins.qubits), "gate")[0]
            elif isinstance(ins, Measure):
                attrs = MeasureAttrs(ins.qubit, self.next_draw())
                ins_ = [state, self.rand]
                if cond is not None:
                    old = self.bits[ins.clbit] if ins.clbit is not None else self.zero
                    ins_ += [cond, old]
                state, bit = self.emit("Measure", ins_, attrs, "measure")
                if ins.clbit is not None:
                    self.bits[ins.clbit] = bit
            elif isinstance(ins, Reset):
                attrs = MeasureAttrs(ins.qubit, self.next_draw())
                ins_ = [state, self.rand]
                if cond is not None:
                    ins_.append(cond)
                state = self.emit("Reset", ins_, attrs, "reset")[0]
        state.name = "state" if "state" not in self.c.cregs else "state_"
        self.g.outputs.append(state)
        for reg, m in self.c.cregs.items():
            bits = [self.bits[(reg, i)] for i in range(m)]
            node = self.g.add_node("PackBits", bits, [TensorType(DType.BOOL, (m,))],
                                   name=reg, out_names=[reg])
            self.g.outputs.append(node.outputs[0])
        if self.draws:
            self.g.inputs.append(self.rand)
        return self.g

    def _count_draws(self) -> int:
        return sum(isinstance(i, (Measure, Reset)) for i in self.c.instrs)


def build_graph(circuit: Circuit, dtype: DType = DType.C64, name: str = "circuit") -> Graph:
    """The Graph of a lowered circuit (see the module docstring for its inputs and outputs)."""
    if not dtype.is_complex:
        raise ValueError(f"a state is complex, not {dtype}")
    return _Builder(circuit, dtype, name).build()

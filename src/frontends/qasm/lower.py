"""Check an OpenQASM syntax tree and flatten it into a Circuit: gate matrices on global qubit
indices, measurements, resets and classical conditions, in program order.

This is where names are resolved (registers, gates, includes), arities and indices checked,
registers broadcast, custom gates inlined and gate modifiers turned into matrices. Every error is a
ParseError at the offending token.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import ast as A
from .gates import (
    BUILTINS,
    GATES,
    GPHASE,
    LIBRARIES,
    LibraryGate,
    compose,
    controlled,
    matrix_power,
)

ClBit = tuple[str, int]          # (register, index)
MAX_MODIFIED_QUBITS = 12         # a modified custom gate becomes one dense matrix


@dataclass(frozen=True)
class CondRef:
    """The value of an earlier Cond instruction."""

    id: int


@dataclass(frozen=True)
class Cond:
    """Define condition `id`: the integer read from `sources` (bit i = source i) == value
    (!= with negate). Later instructions name it by id."""

    id: int
    sources: tuple[ClBit | CondRef, ...]
    value: int
    negate: bool = False


@dataclass(frozen=True)
class Gate:
    matrix: np.ndarray          # 2^k x 2^k (k = 0: a global phase)
    qubits: tuple[int, ...]
    cond: int | None = None


@dataclass(frozen=True)
class Measure:
    qubit: int
    clbit: ClBit | None
    cond: int | None = None


@dataclass(frozen=True)
class Reset:
    qubit: int
    cond: int | None = None


Instr = Cond | Gate | Measure | Reset


@dataclass
class Circuit:
    num_qubits: int = 0
    cregs: dict[str, int] = field(default_factory=dict)   # declaration order
    instrs: list[Instr] = field(default_factory=list)


@dataclass
class _QReg:
    offset: int
    size: int
    single: bool  # `qubit q;`: q is one qubit, not a register to broadcast over


GateEntry = LibraryGate | A.GateDef


class Lowering:
    def __init__(self, version: int, base_dir: Path | None = None):
        self.version = version
        self.base_dir = base_dir
        self.circuit = Circuit()
        self.qregs: dict[str, _QReg] = {}
        self.cregs: dict[str, tuple[int, bool]] = {}   # name -> (size, single)
        self.gates: dict[str, GateEntry] = {n: GATES[n] for n in BUILTINS[version]}
        if version == 3:
            self.gates["gphase"] = GPHASE
        self.included: set[str] = set()
        self.physical = False
        self.touched: set[int] = set()
        self._conds = 0

    # -- program ------------------------------------------------------------------------------
    def program(self, prog: A.Program) -> Circuit:
        for s in prog.statements:
            self.statement(s, None, top=True)
        return self.circuit

    def statement(self, s: A.Stmt, cond: int | None, top: bool = False) -> None:
        if isinstance(s, A.GateCall):
            self.call(s, cond)
        elif isinstance(s, A.Measure):
            self.measure(s, cond)
        elif isinstance(s, A.Reset):
            for q in self.qubits(s.qubit):
                if q in self.touched:
                    self.circuit.instrs.append(Reset(q, cond))
                # else: a qubit still in |0> stays there; dropping the reset keeps statevector()
        elif isinstance(s, A.Barrier):
            for a in s.args:
                self.qubits(a)
        elif isinstance(s, A.If):
            self.if_(s, cond)
        elif not top:
            raise s.pos.error("declarations, gate definitions and includes are only allowed at "
                              "the top level")
        elif isinstance(s, A.Include):
            self.include(s)
        elif isinstance(s, A.RegDecl):
            self.declare(s)
        elif isinstance(s, A.GateDef):
            self.define(s)
        else:  # pragma: no cover - the parser builds no other statements
            raise s.pos.error(f"unsupported statement {type(s).__name__}")

    # -- declarations ---------------------------------------------------------------------------
    def include(self, s: A.Include) -> None:
        if s.path in LIBRARIES:
            if s.path not in self.included:
                self.included.add(s.path)
                for n in LIBRARIES[s.path]:
                    if n not in self.gates:
                        self.gates[n] = GATES[n]
            return
        from .parser import parse
        base = self.base_dir or Path.cwd()
        path = (base / s.path).resolve()
        if not path.is_file():
            raise s.pos.error(f"cannot find include file '{s.path}' (looked in {base}); the "
                              "built-in libraries are qelib1.inc and stdgates.inc")
        if str(path) in self.included:
            return
        self.included.add(str(path))
        prog = parse(path.read_text(encoding="utf-8"), str(path), self.version)
        saved = self.base_dir
        self.base_dir = path.parent
        try:
            for st in prog.statements:
                self.statement(st, None, top=True)
        finally:
            self.base_dir = saved

    def declare(self, s: A.RegDecl) -> None:
        if s.name in self.qregs or s.name in self.cregs:
            raise s.pos.error(f"register '{s.name}' is already declared")
        size = 1 if s.size is None else s.size
        if size < 1:
            raise s.pos.error(f"register '{s.name}' must have at least one "
                              f"{'qubit' if s.quantum else 'bit'}")
        if s.quantum:
            if self.physical:
                raise s.pos.error("cannot declare qubits in a program that uses hardware qubits")
            self.qregs[s.name] = _QReg(self.circuit.num_qubits, size, s.size is None)
            self.circuit.num_qubits += size
        else:
            self.cregs[s.name] = (size, s.size is None)
            self.circuit.cregs[s.name] = size

    def define(self, d: A.GateDef) -> None:
        if d.name in self.gates:
            raise d.pos.error(f"gate '{d.name}' is already defined")
        for names, what in ((d.params, "parameter"), (d.qubits, "qubit argument")):
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise d.pos.error(f"gate '{d.name}' repeats {what} '{sorted(dup)[0]}'")
        for st in d.body or ():
            if isinstance(st, A.GateCall):
                self.check_body_call(d, st)
            elif isinstance(st, A.Barrier):
                for a in st.args:
                    self.body_qubit(d, a)
            else:
                raise st.pos.error(f"only gate calls may appear in the body of gate '{d.name}'")
        self.gates[d.name] = d

    def check_body_call(self, d: A.GateDef, c: A.GateCall) -> None:
        entry = self.gate(c)
        for e in list(c.params) + [m.arg for m in c.modifiers if m.arg is not None]:
            for n in sorted(e.names()):
                if n not in d.params and n not in A.CONSTANTS:
                    raise e.pos.error(f"undefined identifier '{n}' in gate '{d.name}' (its "
                                      f"parameters are {', '.join(d.params) or 'none'})")
        self.check_params(c, entry)
        dummy = dict.fromkeys(d.params, 0.5)
        width = self.num_operands(c, entry, dummy)
        self.check_arity(c, width)
        qs = [self.body_qubit(d, a) for a in c.args]
        self.check_distinct(c, qs)

    def body_qubit(self, d: A.GateDef, a: A.Arg) -> str:
        if a.index is not None or a.physical:
            raise a.pos.error(f"qubit arguments inside gate '{d.name}' are names, not indexed "
                              "registers")
        if a.name not in d.qubits:
            raise a.pos.error(f"undefined qubit '{a.name}' in gate '{d.name}' (its qubits are "
                              f"{', '.join(d.qubits) or 'none'})")
        return a.name

    # -- operands -------------------------------------------------------------------------------
    def _indices(self, a: A.Arg, size: int, kind: str) -> list[int]:
        ix = a.index
        if ix is None:
            return list(range(size))
        start = self._int(ix.start, "index")
        if ix.stop is None:
            picks = [start]
        else:
            stop = self._int(ix.stop, "index")
            step = 1 if ix.step is None else self._int(ix.step, "step")
            if step == 0:
                raise a.pos.error("a range step cannot be 0")
            picks = list(range(start, stop + (1 if step > 0 else -1), step))
        for i in picks:
            if not -size <= i < size:
                raise a.pos.error(f"index {i} is out of range for {kind} register '{a.name}' "
                                  f"of size {size}")
        return [i % size for i in picks]

    def _int(self, e: A.Expr, what: str) -> int:
        v = e.eval({})
        if not float(v).is_integer():
            raise e.pos.error(f"{what} must be an integer, got {v!r}")
        return int(v)

    def qubits(self, a: A.Arg) -> list[int]:
        """The global qubit indices `a` names (one, or a register / range to broadcast over)."""
        if a.physical:
            if self.qregs:
                raise a.pos.error("cannot use hardware qubits in a program that declares qubits")
            self.physical = True
            n = int(a.name[1:])
            self.circuit.num_qubits = max(self.circuit.num_qubits, n + 1)
            return [n]
        reg = self.qregs.get(a.name)
        if reg is None:
            if a.name in self.cregs:
                raise a.pos.error(f"'{a.name}' is a classical register; a qubit is needed here")
            raise a.pos.error(f"undefined quantum register '{a.name}'")
        if reg.single and a.index is not None:
            raise a.pos.error(f"'{a.name}' is a single qubit and cannot be indexed")
        return [reg.offset + i for i in self._indices(a, reg.size, "quantum")]

    def clbits(self, a: A.Arg) -> list[ClBit]:
        if a.physical or a.name not in self.cregs:
            if a.name in self.qregs:
                raise a.pos.error(f"'{a.name}' is a quantum register; a classical bit is needed "
                                  "here")
            raise a.pos.error(f"undefined classical register '{a.name}'")
        size, single = self.cregs[a.name]
        if single and a.index is not None:
            raise a.pos.error(f"'{a.name}' is a single bit and cannot be indexed")
        return [(a.name, i) for i in self._indices(a, size, "classical")]

    def broadcast(self, pos: A.Pos, lists: Sequence[list[int]], args: Sequence[A.Arg],
                  what: str) -> list[list[int]]:
        """QASM's register broadcast: whole registers go index by index, single qubits repeat."""
        sizes = {len(q) for q, a in zip(lists, args) if self._is_many(a)}
        if len(sizes) > 1:
            desc = ", ".join(f"'{a.name}' has {len(q)}" for q, a in zip(lists, args)
                             if self._is_many(a))
            raise pos.error(f"{what}: registers of different sizes ({desc})")
        n = sizes.pop() if sizes else 1
        return [[q[i] if self._is_many(a) else q[0] for q, a in zip(lists, args)]
                for i in range(n)]

    def _is_many(self, a: A.Arg) -> bool:
        if a.physical:
            return False
        if a.index is None:
            reg = self.qregs.get(a.name)
            creg = self.cregs.get(a.name)
            return not (reg.single if reg else creg[1] if creg else True)
        return a.index.stop is not None

    # -- gates ------------------------------------------------------------------------------------
    def gate(self, c: A.GateCall) -> GateEntry:
        entry = self.gates.get(c.name)
        if entry is None:
            hint = ""
            lib = "qelib1.inc" if self.version == 2 else "stdgates.inc"
            if c.name in LIBRARIES[lib] and lib not in self.included:
                hint = f' (it is in {lib}: add include "{lib}";)'
            raise c.pos.error(f"undefined gate '{c.name}'{hint}")
        if isinstance(entry, A.GateDef) and entry.body is None:
            raise c.pos.error(f"gate '{c.name}' is opaque (declared without a body), so it "
                              "cannot be simulated")
        return entry

    def check_params(self, c: A.GateCall, entry: GateEntry) -> None:
        want = entry.num_params if isinstance(entry, LibraryGate) else len(entry.params)
        if len(c.params) != want:
            raise c.pos.error(f"gate '{c.name}' takes {want} parameter(s), got {len(c.params)}")

    def num_operands(self, c: A.GateCall, entry: GateEntry, env: Mapping[str, float]) -> int:
        width = entry.num_qubits if isinstance(entry, LibraryGate) else len(entry.qubits)
        for m in c.modifiers:
            if m.kind in ("ctrl", "negctrl"):
                n = 1 if m.arg is None else self._count(m.arg, env)
                width += n
        return width

    def _count(self, e: A.Expr, env: Mapping[str, float]) -> int:
        v = e.eval(env)
        if not float(v).is_integer() or v < 1:
            raise e.pos.error(f"the number of controls must be a positive integer, got {v!r}")
        return int(v)

    def check_arity(self, c: A.GateCall, width: int) -> None:
        if len(c.args) != width:
            raise c.pos.error(f"gate '{c.name}' takes {width} qubit argument(s), got "
                              f"{len(c.args)}")

    def check_distinct(self, c: A.GateCall, qubits: Sequence[object]) -> None:
        if len(set(qubits)) != len(qubits):
            raise c.pos.error(f"gate '{c.name}' is given the same qubit more than once")

    def call(self, c: A.GateCall, cond: int | None) -> None:
        entry = self.gate(c)
        self.check_params(c, entry)
        params = [p.eval({}) for p in c.params]
        self.check_arity(c, self.num_operands(c, entry, {}))
        lists = [self.qubits(a) for a in c.args]
        for qs in self.broadcast(c.pos, lists, c.args, f"gate '{c.name}'"):
            self.check_distinct(c, qs)
            for m, on in self.expand(c, entry, params, qs, {}):
                self.circuit.instrs.append(Gate(m, tuple(on), cond))
            self.touched.update(qs)

    def expand(self, c: A.GateCall, entry: GateEntry, params: Sequence[float],
               qubits: Sequence[int], env: Mapping[str, float],
               ) -> list[tuple[np.ndarray, Sequence[int]]]:
        """A call as library-gate matrices on `qubits` (custom gates inlined)."""
        if c.modifiers:
            return [(self.modified(c, entry, params, env), qubits)]
        if isinstance(entry, LibraryGate):
            return [(entry.matrix(*params), qubits)]
        return self.inline(entry, params, qubits)

    def inline(self, d: A.GateDef, params: Sequence[float], qubits: Sequence[int],
               ) -> list[tuple[np.ndarray, Sequence[int]]]:
        env = dict(zip(d.params, params))
        qmap = dict(zip(d.qubits, qubits))
        out: list[tuple[np.ndarray, Sequence[int]]] = []
        for st in d.body or ():
            if not isinstance(st, A.GateCall):
                continue  # barriers
            sub = self.gate(st)
            sub_params = [p.eval(env) for p in st.params]
            out += self.expand(st, sub, sub_params, [qmap[a.name] for a in st.args], env)
        return out

    def matrix(self, entry: GateEntry, params: Sequence[float], pos: A.Pos) -> np.ndarray:
        if isinstance(entry, LibraryGate):
            return entry.matrix(*params)
        k = len(entry.qubits)
        if k > MAX_MODIFIED_QUBITS:
            raise pos.error(f"gate '{entry.name}' acts on {k} qubits; modifiers are supported "
                            f"on gates of at most {MAX_MODIFIED_QUBITS}")
        return compose(k, self.inline(entry, params, list(range(k))))

    def modified(self, c: A.GateCall, entry: GateEntry, params: Sequence[float],
                 env: Mapping[str, float]) -> np.ndarray:
        """`inv @`, `pow(k) @`, `ctrl(n) @`, `negctrl(n) @`: the rightmost applies first; controls
        become the leading operands."""
        m = self.matrix(entry, params, c.pos)
        for mod in reversed(c.modifiers):
            if mod.kind == "inv":
                m = m.conj().T
            elif mod.kind == "pow":
                assert mod.arg is not None
                m = matrix_power(m, mod.arg.eval(env))
            else:
                n = 1 if mod.arg is None else self._count(mod.arg, env)
                m = controlled(m, n, 0 if mod.kind == "negctrl" else None)
        return m

    # -- measurement and control flow ----------------------------------------------------------
    def measure(self, s: A.Measure, cond: int | None) -> None:
        qs = self.qubits(s.qubit)
        if s.target is None:
            for q in qs:
                self.circuit.instrs.append(Measure(q, None, cond))
            self.touched.update(qs)
            return
        cs = self.clbits(s.target)
        many_q, many_c = self._is_many(s.qubit), self._is_many(s.target)
        if many_q != many_c:
            raise s.pos.error(f"measure: '{s.qubit.name}' and '{s.target.name}' must both be "
                              "registers or both be single (qu)bits")
        if len(qs) != len(cs):
            raise s.pos.error(f"measure: '{s.qubit.name}' has {len(qs)} qubit(s) but "
                              f"'{s.target.name}' has {len(cs)} bit(s)")
        for q, b in zip(qs, cs):
            self.circuit.instrs.append(Measure(q, b, cond))
        self.touched.update(qs)

    def if_(self, s: A.If, cond: int | None) -> None:
        c = s.cond
        bits = self.clbits(c.target)
        value = c.value.eval({})
        if not float(value).is_integer() or value < 0:
            raise c.value.pos.error(f"a condition compares with a non-negative integer, got "
                                    f"{value!r}")
        here = self.new_cond(tuple(bits), int(value), c.negate)
        then = self.and_(here, cond)
        for st in s.then:
            self.statement(st, then)
        if s.orelse:
            other = self.and_(self.new_cond((CondRef(here),), 0), cond)
            for st in s.orelse:
                self.statement(st, other)

    def new_cond(self, sources: tuple[ClBit | CondRef, ...], value: int,
                 negate: bool = False) -> int:
        self._conds += 1
        self.circuit.instrs.append(Cond(self._conds, sources, value, negate))
        return self._conds

    def and_(self, c: int, outer: int | None) -> int:
        if outer is None:
            return c
        return self.new_cond((CondRef(c), CondRef(outer)), 3)


def lower(prog: A.Program, base_dir: Path | None = None) -> Circuit:
    """Check `prog` and flatten it into a Circuit."""
    return Lowering(prog.version, base_dir).program(prog)

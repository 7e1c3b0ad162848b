"""cpu rules for the recurrent layers RNN, GRU and LSTM: one kernel per node whose time loop runs
in order and whose steps are parallel loops over batch x hidden (the gate matmuls as loops).
Everything computes in float64, as the references do, and is stored in the input's dtype."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ....ir import Node, TensorType, Type
from ....ir.kernel import F64, I64, Buffer, Expr, Kernel, KernelBuilder, Var, intrinsics
from ....ir.ops.rnn import _ACTIVATIONS, GRUAttrs, LSTMAttrs, RNNAttrs, _num_directions
from . import RULES

# The states live in arrays the kernel allocates, which are on the stack of the calling thread
# (the kernel IR has no heap scratch): layers whose states would not fit there are declined.
STACK_SCRATCH = 2 << 20

# an activation as (lower-case name, alpha, beta)
Act = tuple[str, float, float]


def _activation_list(a: RNNAttrs, defaults: list[str]) -> list[list[Act]] | None:
    """Each direction's activations with alpha/beta bound as the reference binds them
    (alphas and betas consumed in order by the functions that take them)."""
    dirs = _num_directions(a.direction)
    names = list(a.activations) if a.activations else defaults * dirs
    if len(names) == len(defaults) and dirs == 2:
        names = names * 2
    if len(names) != len(defaults) * dirs:
        return None
    alphas, betas = list(a.activation_alpha or ()), list(a.activation_beta or ())
    bound: list[Act] = []
    for name in names:
        key = name.lower()
        if key not in _ACTIVATIONS:
            return None
        takes_alpha, alpha, takes_beta, beta, _ = _ACTIVATIONS[key]
        if takes_alpha and alphas:
            alpha = alphas.pop(0)
        if takes_beta and betas:
            beta = betas.pop(0)
        bound.append((key, alpha, beta))
    per = len(defaults)
    return [bound[d * per:(d + 1) * per] for d in range(dirs)]


def _apply(kb: KernelBuilder, act: Act, clip: float | None, x: Expr, name: str) -> Var:
    """The activation of x (clipped first when clip is set), as a float64 variable."""
    fn, alpha, beta = act
    v = kb.let(name, x if clip is None else x.max(-clip).min(clip))
    sel = intrinsics.select
    out: Expr
    if fn == "relu":
        out = sel(v >= 0.0, v, 0.0)
    elif fn == "tanh":
        out = intrinsics.tanh(v)
    elif fn == "sigmoid":
        out = 1.0 / (1.0 + intrinsics.exp(-v))
    elif fn == "affine":
        out = v * alpha + beta
    elif fn == "leakyrelu":
        out = sel(v >= 0.0, v, v * alpha)
    elif fn == "thresholdedrelu":
        out = sel(v > alpha, v, 0.0)
    elif fn == "scaledtanh":
        out = intrinsics.tanh(v * beta) * alpha
    elif fn == "hardsigmoid":
        out = (v * alpha + beta).max(0.0).min(1.0)
    elif fn == "elu":
        out = sel(v >= 0.0, v, intrinsics.math("expm1", v) * alpha)
    elif fn == "softsign":
        out = v / (abs(v) + 1.0)
    else:  # softplus = log(1 + e^x), without overflow for large x
        out = v.max(0.0) + intrinsics.math("log1p", intrinsics.exp(-abs(v)))
    return kb.let(name + "_f", out)


@dataclass
class _Layer:
    """The node's buffers and sizes, with loads and stores in its layout."""

    kb: KernelBuilder
    attrs: RNNAttrs
    gates: int
    seq: int
    batch: int
    inputs: int
    hidden: int
    dirs: int
    x: Buffer
    w: Buffer
    r: Buffer
    b: Buffer | None
    lens: Buffer | None
    init: list[Buffer | None]
    peep: Buffer | None
    y: Buffer | None
    finals: list[Buffer | None]

    def xv(self, t: Expr, n: Expr, k: Expr) -> Expr:
        return (self.x[n, t, k] if self.attrs.layout else self.x[t, n, k]).cast(F64)

    def dot_x(self, d: int, t: Expr, n: Expr, row: Expr, name: str) -> Var:
        """sum_k X[t, n, k] * W[d, row, k]"""
        acc = self.kb.let(name, 0.0, F64)
        with self.kb.for_(name + "_k", 0, self.inputs, type=I64) as k:
            self.kb.assign(acc, acc + self.xv(t, n, k) * self.w[d, row, k].cast(F64))
        return acc

    def dot_h(self, d: int, h: Callable[[Expr], Expr], row: Expr, name: str) -> Var:
        """sum_k h(k) * R[d, row, k]"""
        acc = self.kb.let(name, 0.0, F64)
        with self.kb.for_(name + "_k", 0, self.hidden, type=I64) as k:
            self.kb.assign(acc, acc + h(k) * self.r[d, row, k].cast(F64))
        return acc

    def with_bias(self, v: Expr, d: int, gate: int, j: Expr, recurrent: bool) -> Expr:
        """v plus the input (Wb) or recurrent (Rb) bias of `gate` for hidden unit j."""
        if self.b is None:
            return v
        col = (self.gates * self.hidden if recurrent else 0) + gate * self.hidden
        return v + self.b[d, j + col].cast(F64)

    def gate(self, d: int, gate: int, t: Expr, n: Expr, j: Expr,
             h: Callable[[Expr], Expr], name: str) -> Expr:
        """X W^T + Wb + h R^T + Rb of one gate, for batch n and hidden unit j."""
        row = j + gate * self.hidden
        xw = self.with_bias(self.dot_x(d, t, n, row, "x" + name), d, gate, j, False)
        return self.with_bias(xw + self.dot_h(d, h, row, "h" + name), d, gate, j, True)

    def active(self, t: Expr, n: Expr) -> Expr | None:
        """Whether step t is inside batch n's sequence (None: every step is)."""
        return None if self.lens is None else t < self.lens[n].cast(I64)

    def state_index(self, d: int, n: Expr, j: Expr) -> tuple[Expr | int, ...]:
        return (n, d, j) if self.attrs.layout else (d, n, j)

    def store_y(self, d: int, t: Expr, n: Expr, j: Expr, v: Expr) -> None:
        if self.y is not None:
            idx = (n, t, d, j) if self.attrs.layout else (t, d, n, j)
            self.y[idx] = v.cast(self.y.elem)


def _layer(node: Node, attrs: RNNAttrs, types: list[Type | None], name: str, gates: int,
           n_states: int) -> _Layer | None:
    x_t = types[0]
    if not isinstance(x_t, TensorType) or not x_t.is_static or attrs.layout not in (0, 1):
        return None
    outs = [o.type for o in node.outputs]
    if not all(isinstance(t, TensorType) and t.is_static for t in outs):
        return None
    r_t = types[2]
    assert isinstance(r_t, TensorType)
    hidden = attrs.hidden_size if attrs.hidden_size is not None else r_t.static_shape[2]
    xs = x_t.static_shape
    seq, batch = (xs[1], xs[0]) if attrs.layout else (xs[0], xs[1])
    if (2 * n_states + 1) * batch * hidden * 8 > STACK_SCRATCH:
        return None
    kb = KernelBuilder(name)
    names = ["x", "w", "r", "b", "seq_lens", "initial_h", "initial_c", "p"]
    bufs: list[Buffer | None] = []
    for k, t in enumerate(types):
        if t is None:
            bufs.append(None)
            continue
        assert isinstance(t, TensorType)
        bufs.append(kb.buffer(names[k], t.dtype, t.static_shape, access="r"))
    bufs += [None] * (8 - len(bufs))
    written: list[Buffer | None] = []
    for j, t in enumerate(outs):
        assert isinstance(t, TensorType)
        written.append(kb.buffer(["y", "y_h", "y_c"][j], t.dtype, t.static_shape, access="w"))
    written += [None] * (1 + n_states - len(written))
    x, w, r = bufs[0], bufs[1], bufs[2]
    assert x is not None and w is not None and r is not None
    return _Layer(kb, attrs, gates, seq, batch, xs[2], hidden, _num_directions(attrs.direction),
                  x, w, r, bufs[3], bufs[4], bufs[5:5 + n_states], bufs[7], written[0],
                  written[1:])


# A step (direction d, time t, batch n, hidden unit j) writes the new states at h[nxt, n, j]
# (and c[nxt, n, j]) from those at cur.
StepFn = Callable[[int, Expr, Var, Var, Var, Var, list[Buffer]], None]


def _recurrence(L: _Layer, step: StepFn, before: StepFn | None = None) -> Kernel:
    """Initial states, then for each direction the time loop (in order) of steps that are
    parallel over batch x hidden, then the final states. States ping-pong between two slots."""
    kb = L.kb
    n_states = len(L.init)
    states = [kb.alloc(nm, F64, (2, L.batch, L.hidden)) for nm in ("h", "c")[:n_states]]
    for d in range(L.dirs):
        reverse = L.attrs.direction == "reverse" or d == 1
        with kb.for_(f"n0_{d}", 0, L.batch, kind="parallel", type=I64) as n, \
                kb.for_(f"j0_{d}", 0, L.hidden, kind="parallel", type=I64) as j:
            for s, init in zip(states, L.init):
                s[0, n, j] = (0.0 if init is None
                              else init[L.state_index(d, n, j)].cast(F64))
        with kb.for_(f"s_{d}", 0, L.seq, type=I64) as s_:
            t = kb.let(f"t_{d}", (L.seq - 1) - s_ if reverse else s_)
            cur = kb.let(f"cur_{d}", s_ % 2)
            nxt = kb.let(f"nxt_{d}", 1 - cur)
            for phase in ([before] if before is not None else []) + [step]:
                with kb.for_(f"n_{d}", 0, L.batch, kind="parallel", type=I64) as n, \
                        kb.for_(f"j_{d}", 0, L.hidden, kind="parallel", type=I64) as j:
                    phase(d, t, n, j, cur, nxt, states)
        last = L.seq % 2
        with kb.for_(f"n1_{d}", 0, L.batch, kind="parallel", type=I64) as n, \
                kb.for_(f"j1_{d}", 0, L.hidden, kind="parallel", type=I64) as j:
            for s, out in zip(states, L.finals):
                if out is not None:
                    out[L.state_index(d, n, j)] = s[last, n, j].cast(out.elem)
    return kb.finish()


def _commit(L: _Layer, d: int, t: Expr, n: Var, j: Var, cur: Var, nxt: Var,
            states: list[Buffer], new: list[Expr]) -> None:
    """Store the new states where the step is active (else keep the old) and the output."""
    active = L.active(t, n)
    for s, v in zip(states, new):
        s[nxt, n, j] = v if active is None else intrinsics.select(active, v, s[cur, n, j])
    L.store_y(d, t, n, j, new[0] if active is None else intrinsics.select(active, new[0], 0.0))


@RULES.register("RNN")
def lower_rnn(node: Node, attrs: RNNAttrs, types: list[Type | None]) -> Kernel | None:
    acts = _activation_list(attrs, ["Tanh"])
    L = _layer(node, attrs, types, "rnn", 1, 1)
    if acts is None or L is None:
        return None

    def step(d: int, t: Expr, n: Var, j: Var, cur: Var, nxt: Var, st: list[Buffer]) -> None:
        kb = L.kb
        h = st[0]
        pre = L.gate(d, 0, t, n, j, lambda k: h[cur, n, k], "i")
        _commit(L, d, t, n, j, cur, nxt, st, [_apply(kb, acts[d][0], attrs.clip, pre, "a")])
    return _recurrence(L, step)


@RULES.register("GRU")
def lower_gru(node: Node, attrs: GRUAttrs, types: list[Type | None]) -> Kernel | None:
    acts = _activation_list(attrs, ["Sigmoid", "Tanh"])
    L = _layer(node, attrs, types, "gru", 3, 1)
    if acts is None or L is None:
        return None
    H = L.hidden
    # (r * h) for every hidden unit, which the candidate's matmul needs before the step
    rh = L.kb.alloc("rh", F64, (L.batch, H)) if not attrs.linear_before_reset else None

    def reset(L: _Layer, d: int, n: Expr, j: Expr, h: Buffer, cur: Var, t: Expr) -> Var:
        pre = L.gate(d, 1, t, n, j, lambda k: h[cur, n, k], "r")
        return _apply(L.kb, acts[d][0], attrs.clip, pre, "reset")

    def before(d: int, t: Expr, n: Var, j: Var, cur: Var, nxt: Var, st: list[Buffer]) -> None:
        assert rh is not None
        rh[n, j] = reset(L, d, n, j, st[0], cur, t) * st[0][cur, n, j]

    def step(d: int, t: Expr, n: Var, j: Var, cur: Var, nxt: Var, st: list[Buffer]) -> None:
        kb = L.kb
        h = st[0]
        z = _apply(kb, acts[d][0], attrs.clip, L.gate(d, 0, t, n, j, lambda k: h[cur, n, k], "z"),
                   "update")
        xh = L.with_bias(L.dot_x(d, t, n, j + 2 * H, "xh"), d, 2, j, False)
        if rh is None:
            r = reset(L, d, n, j, h, cur, t)
            hh = L.dot_h(d, lambda k: h[cur, n, k], j + 2 * H, "hh")
            cpre = xh + r * L.with_bias(hh, d, 2, j, True)
        else:
            hh = L.dot_h(d, lambda k: rh[n, k], j + 2 * H, "hh")
            cpre = L.with_bias(xh + hh, d, 2, j, True)
        cand = _apply(kb, acts[d][1], attrs.clip, cpre, "g")
        _commit(L, d, t, n, j, cur, nxt, st, [(1.0 - z) * cand + z * h[cur, n, j]])
    return _recurrence(L, step, before if rh is not None else None)


@RULES.register("LSTM")
def lower_lstm(node: Node, attrs: LSTMAttrs, types: list[Type | None]) -> Kernel | None:
    acts = _activation_list(attrs, ["Sigmoid", "Tanh", "Tanh"])
    L = _layer(node, attrs, types, "lstm", 4, 2)
    if acts is None or L is None:
        return None
    H = L.hidden

    def step(d: int, t: Expr, n: Var, j: Var, cur: Var, nxt: Var, st: list[Buffer]) -> None:
        kb = L.kb
        h, c = st
        f, g, h_act = acts[d]
        cell = kb.let("cell", c[cur, n, j])

        def gate(k: int, name: str) -> Expr:
            return L.gate(d, k, t, n, j, lambda m: h[cur, n, m], name)

        def peep(pre: Expr, k: int, state: Expr) -> Expr:
            """pre plus the peephole term of gate k (P lists i, o, f)."""
            return pre if L.peep is None else pre + L.peep[d, j + k * H].cast(F64) * state
        i = _apply(kb, f, attrs.clip, peep(gate(0, "i"), 0, cell), "i")
        if attrs.input_forget:
            forget = kb.let("forget", 1.0 - i)
        else:
            forget = _apply(kb, f, attrs.clip, peep(gate(2, "f"), 2, cell), "f")
        gc = _apply(kb, g, attrs.clip, gate(3, "c"), "gc")
        cell_new = kb.let("cell_new", forget * cell + i * gc)
        o = _apply(kb, f, attrs.clip, peep(gate(1, "o"), 1, cell_new), "o")
        h_new = o * _apply(kb, h_act, attrs.clip, cell_new, "act_c")
        _commit(L, d, t, n, j, cur, nxt, st, [h_new, cell_new])
    return _recurrence(L, step)

"""Recurrent layers: RNN, GRU and LSTM, over one direction or both, with ONNX's activation list
(alpha/beta consumed in order by the functions that take them), clip, sequence_lens, initial states,
peepholes, input_forget, linear_before_reset and the batch-first layout. References compute in
float64 and return the input's dtype."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..types import Dim, TensorType, Type
from .registry import InferCtx, op

Activation = Callable[[np.ndarray], np.ndarray]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# name -> (takes alpha, default alpha, takes beta, default beta, function of (x, alpha, beta))
_ACTIVATIONS: dict[str, tuple[bool, float, bool, float,
                              Callable[[np.ndarray, float, float], np.ndarray]]] = {
    "relu": (False, 0.0, False, 0.0, lambda x, a, b: np.maximum(x, 0.0)),
    "tanh": (False, 0.0, False, 0.0, lambda x, a, b: np.tanh(x)),
    "sigmoid": (False, 0.0, False, 0.0, lambda x, a, b: _sigmoid(x)),
    "affine": (True, 1.0, True, 0.0, lambda x, a, b: a * x + b),
    "leakyrelu": (True, 0.01, False, 0.0, lambda x, a, b: np.where(x >= 0, x, a * x)),
    "thresholdedrelu": (True, 1.0, False, 0.0, lambda x, a, b: np.where(x > a, x, 0.0)),
    "scaledtanh": (True, 1.0, True, 1.0, lambda x, a, b: a * np.tanh(b * x)),
    "hardsigmoid": (True, 0.2, True, 0.5, lambda x, a, b: np.clip(a * x + b, 0.0, 1.0)),
    "elu": (True, 1.0, False, 0.0, lambda x, a, b: np.where(x >= 0, x, a * np.expm1(x))),
    "softsign": (False, 0.0, False, 0.0, lambda x, a, b: x / (1.0 + np.abs(x))),
    "softplus": (False, 0.0, False, 0.0, lambda x, a, b: np.logaddexp(0.0, x)),
}


@dataclass(frozen=True)
class RNNAttrs:
    activation_alpha: tuple[float, ...] | None = None
    activation_beta: tuple[float, ...] | None = None
    activations: tuple[str, ...] | None = None
    clip: float | None = None
    direction: str = "forward"
    hidden_size: int | None = None
    layout: int = 0


@dataclass(frozen=True)
class GRUAttrs(RNNAttrs):
    linear_before_reset: int = 0


@dataclass(frozen=True)
class LSTMAttrs(RNNAttrs):
    input_forget: int = 0


def _num_directions(direction: str) -> int:
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ValueError(f"direction must be forward, reverse or bidirectional, got {direction!r}")
    return 2 if direction == "bidirectional" else 1


def _activations(a: RNNAttrs, defaults: Sequence[str]) -> list[list[Activation]]:
    """The activation functions of each direction, with alpha/beta bound and clip applied."""
    dirs = _num_directions(a.direction)
    names = list(a.activations) if a.activations else list(defaults) * dirs
    if len(names) == len(defaults) and dirs == 2:  # one list given for both directions
        names = names * 2
    if len(names) != len(defaults) * dirs:
        raise ValueError(f"expected {len(defaults) * dirs} activations, got {len(names)}")
    alphas, betas = list(a.activation_alpha or ()), list(a.activation_beta or ())
    bound: list[Activation] = []
    for name in names:
        key = name.lower()
        if key not in _ACTIVATIONS:
            raise ValueError(f"unknown activation function {name!r}")
        takes_alpha, alpha, takes_beta, beta, fn = _ACTIVATIONS[key]
        if takes_alpha and alphas:
            alpha = alphas.pop(0)
        if takes_beta and betas:
            beta = betas.pop(0)
        bound.append(_clipped(fn, alpha, beta, a.clip))
    per = len(defaults)
    return [bound[d * per:(d + 1) * per] for d in range(dirs)]


def _clipped(fn: Callable[[np.ndarray, float, float], np.ndarray], alpha: float, beta: float,
             clip: float | None) -> Activation:
    if clip is None:
        return lambda x: fn(x, alpha, beta)
    return lambda x: fn(np.clip(x, -clip, clip), alpha, beta)


# -- shape rule --------------------------------------------------------------------------------

def _rnn_rule(gates: int, n_states: int) -> Callable[[InferCtx], list[Type]]:
    def rule(c: InferCtx) -> list[Type]:
        a: RNNAttrs = c.attrs
        x, w, r = c.t(0), c.t(1), c.t(2)
        if x.rank != 3 or w.rank != 3 or r.rank != 3:
            raise c.error(f"X, W and R must have rank 3, got {x}, {w}, {r}")
        try:
            dirs = _num_directions(a.direction)
        except ValueError as e:
            raise c.error(str(e)) from None
        hidden: Dim = a.hidden_size if a.hidden_size is not None else r.shape[2]
        rows: Dim = gates * hidden if isinstance(hidden, int) else w.shape[1]
        for name, t, want in (("W", w, (dirs, rows, x.shape[2])), ("R", r, (dirs, rows, hidden))):
            if any(isinstance(have, int) and isinstance(need, int) and have != need
                   for have, need in zip(t.shape, want)):
                raise c.error(f"{name} is {t}; expected [{', '.join(map(str, want))}] for "
                              f"direction {a.direction!r} and hidden size {hidden}")
        y: tuple[Dim, ...]
        state: tuple[Dim, ...]
        if a.layout:
            batch, seq = x.shape[0], x.shape[1]
            y, state = (batch, seq, dirs, hidden), (batch, dirs, hidden)
        else:
            seq, batch = x.shape[0], x.shape[1]
            y, state = (seq, dirs, batch, hidden), (dirs, batch, hidden)
        out: list[Type] = [TensorType(x.dtype, y)]
        return out + [TensorType(x.dtype, state)] * n_states
    return rule


# -- references ---------------------------------------------------------------------------------

Step = Callable[[np.ndarray, list[np.ndarray]], list[np.ndarray]]


def _prepare(a: RNNAttrs, x: np.ndarray, r: np.ndarray, seq_lens: np.ndarray | None,
             initial: Sequence[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray, int,
                                                            list[np.ndarray]]:
    """X as float64 [seq, batch, input], each batch's length, the hidden size and the initial
    states as float64 [dirs, batch, hidden]."""
    xs = np.asarray(x, dtype=np.float64)
    if a.layout:
        xs = xs.transpose(1, 0, 2)
    seq, batch = xs.shape[:2]
    hidden = a.hidden_size if a.hidden_size is not None else r.shape[2]
    dirs = _num_directions(a.direction)
    lens = (np.full(batch, seq, dtype=np.int64) if seq_lens is None
            else np.asarray(seq_lens, dtype=np.int64).reshape(batch))
    states = []
    for s in initial:
        if s is None:
            states.append(np.zeros((dirs, batch, hidden)))
        else:
            s64 = np.asarray(s, dtype=np.float64)
            states.append(s64.transpose(1, 0, 2) if a.layout else s64)
    return xs, lens, hidden, states


def _recur(xs: np.ndarray, lens: np.ndarray, reverse: bool, states: list[np.ndarray],
           step: Step) -> tuple[np.ndarray, list[np.ndarray]]:
    """Run one direction; steps at or past a batch's length keep its state and output zeros."""
    seq, batch = xs.shape[:2]
    ys = np.zeros((seq, batch, states[0].shape[-1]))
    order = range(seq - 1, -1, -1) if reverse else range(seq)
    for t in order:
        active = (t < lens)[:, None]
        new = step(xs[t], states)
        states = [np.where(active, n, s) for n, s in zip(new, states)]
        ys[t] = np.where(active, states[0], 0.0)
    return ys, states


def _finish(a: RNNAttrs, dtype: np.dtype, ys: list[np.ndarray],
            finals: list[list[np.ndarray]]) -> tuple[np.ndarray, ...]:
    y = np.stack(ys, axis=1)  # [seq, dirs, batch, hidden]
    states = [np.stack(f) for f in zip(*finals)]  # each [dirs, batch, hidden]
    if a.layout:
        y = y.transpose(2, 0, 1, 3)
        states = [s.transpose(1, 0, 2) for s in states]
    return tuple(v.astype(dtype) for v in (y, *states))


def _bias(b: np.ndarray | None, d: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    if b is None:
        return np.zeros(width), np.zeros(width)
    bd = np.asarray(b, dtype=np.float64)[d]
    return bd[:width], bd[width:]


def _directions(a: RNNAttrs) -> list[bool]:
    """For each direction, whether it runs backwards in time."""
    return [False, True] if a.direction == "bidirectional" else [a.direction == "reverse"]


def _rnn_ref(a: RNNAttrs, x: np.ndarray, w: np.ndarray, r: np.ndarray,
             b: np.ndarray | None = None, seq_lens: np.ndarray | None = None,
             h0: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    xs, lens, hidden, (h_init,) = _prepare(a, x, r, seq_lens, [h0])
    acts = _activations(a, ["Tanh"])
    ys, finals = [], []
    for d, reverse in enumerate(_directions(a)):
        wd, rd = np.asarray(w, np.float64)[d], np.asarray(r, np.float64)[d]
        wb, rb = _bias(b, d, hidden)
        f = acts[d][0]

        def step(xt: np.ndarray, s: list[np.ndarray], wd: np.ndarray = wd, rd: np.ndarray = rd,
                 bias: np.ndarray = wb + rb, f: Activation = f) -> list[np.ndarray]:
            return [f(xt @ wd.T + s[0] @ rd.T + bias)]
        y, st = _recur(xs, lens, reverse, [h_init[d]], step)
        ys.append(y)
        finals.append(st)
    return _finish(a, x.dtype, ys, finals)


def _gru_ref(a: GRUAttrs, x: np.ndarray, w: np.ndarray, r: np.ndarray,
             b: np.ndarray | None = None, seq_lens: np.ndarray | None = None,
             h0: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    xs, lens, hidden, (h_init,) = _prepare(a, x, r, seq_lens, [h0])
    acts = _activations(a, ["Sigmoid", "Tanh"])
    ys, finals = [], []
    for d, reverse in enumerate(_directions(a)):
        wd, rd = np.asarray(w, np.float64)[d], np.asarray(r, np.float64)[d]
        wb, rb = _bias(b, d, 3 * hidden)
        f, g = acts[d]

        def step(xt: np.ndarray, s: list[np.ndarray], wd: np.ndarray = wd, rd: np.ndarray = rd,
                 wb: np.ndarray = wb, rb: np.ndarray = rb, f: Activation = f,
                 g: Activation = g) -> list[np.ndarray]:
            h = s[0]
            xw = xt @ wd.T + wb  # [batch, 3*hidden]: z, r, h
            hr = h @ rd[:2 * hidden].T + rb[:2 * hidden]
            z = f(xw[:, :hidden] + hr[:, :hidden])
            rt = f(xw[:, hidden:2 * hidden] + hr[:, hidden:])
            rh, rbh = rd[2 * hidden:], rb[2 * hidden:]
            if a.linear_before_reset:
                cand = g(xw[:, 2 * hidden:] + rt * (h @ rh.T + rbh))
            else:
                cand = g(xw[:, 2 * hidden:] + (rt * h) @ rh.T + rbh)
            return [(1.0 - z) * cand + z * h]
        y, st = _recur(xs, lens, reverse, [h_init[d]], step)
        ys.append(y)
        finals.append(st)
    return _finish(a, x.dtype, ys, finals)


def _lstm_ref(a: LSTMAttrs, x: np.ndarray, w: np.ndarray, r: np.ndarray,
              b: np.ndarray | None = None, seq_lens: np.ndarray | None = None,
              h0: np.ndarray | None = None, c0: np.ndarray | None = None,
              p: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    xs, lens, hidden, (h_init, c_init) = _prepare(a, x, r, seq_lens, [h0, c0])
    acts = _activations(a, ["Sigmoid", "Tanh", "Tanh"])
    ys, finals = [], []
    for d, reverse in enumerate(_directions(a)):
        wd, rd = np.asarray(w, np.float64)[d], np.asarray(r, np.float64)[d]
        wb, rb = _bias(b, d, 4 * hidden)
        peep = np.zeros(3 * hidden) if p is None else np.asarray(p, np.float64)[d]
        pi, po, pf = peep[:hidden], peep[hidden:2 * hidden], peep[2 * hidden:]
        f, g, h_act = acts[d]

        def step(xt: np.ndarray, s: list[np.ndarray], wd: np.ndarray = wd, rd: np.ndarray = rd,
                 bias: np.ndarray = wb + rb, pi: np.ndarray = pi, po: np.ndarray = po,
                 pf: np.ndarray = pf, f: Activation = f, g: Activation = g,
                 h_act: Activation = h_act) -> list[np.ndarray]:
            h, cell = s
            gates = xt @ wd.T + h @ rd.T + bias  # i, o, f, c
            gi, go, gf, gc = (gates[:, k * hidden:(k + 1) * hidden] for k in range(4))
            i = f(gi + pi * cell)
            forget = 1.0 - i if a.input_forget else f(gf + pf * cell)
            cell_new = forget * cell + i * g(gc)
            o = f(go + po * cell_new)
            return [o * h_act(cell_new), cell_new]
        y, st = _recur(xs, lens, reverse, [h_init[d], c_init[d]], step)
        ys.append(y)
        finals.append(st)
    return _finish(a, x.dtype, ys, finals)


# RNN-1, GRU-1/3 and LSTM-1 (with output_sequence) are rewritten by legacy_misc.py.
op("RNN", RNNAttrs, versions=(1, 7, 14, 22), infer=_rnn_rule(1, 1), reference=_rnn_ref)
op("GRU", GRUAttrs, versions=(1, 3, 7, 14, 22), infer=_rnn_rule(3, 1), reference=_gru_ref)
op("LSTM", LSTMAttrs, versions=(1, 7, 14, 22), infer=_rnn_rule(4, 2), reference=_lstm_ref)

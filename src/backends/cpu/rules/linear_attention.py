"""cpu rules for the state-carrying attention ops, LinearAttention (linear, gated, delta and gated
delta recurrences) and CausalConvWithState: one kernel each, parallel over independent (batch,
head) or (batch, channel) rows, the recurrence run in order inside a private state."""
from __future__ import annotations

import math

from ....ir import DType, Node, TensorType, Type
from ....ir.kernel import F32, F64, I64, Buffer, Expr, Kernel, KernelBuilder, const
from ....ir.kernel import intrinsics as ki
from ....ir.ops.attention import CausalConvAttrs, LinearAttentionAttrs
from . import RULES


def _tensors(types: list[Type | None], n: int) -> list[TensorType | None]:
    ts = [t if isinstance(t, TensorType) else None for t in types]
    return (ts + [None] * n)[:n]


def _out_types(node: Node) -> list[TensorType]:
    outs = [o.type for o in node.outputs]
    assert all(isinstance(t, TensorType) for t in outs)
    return outs  # type: ignore[return-value]


# -- LinearAttention -----------------------------------------------------------------------

def _per_head(x: Buffer, last: int, heads: int, d_k: int, b: Expr, t: Expr, h: Expr,
              kk: Expr) -> Expr:
    """Decay or beta at (b, t, head h, key dim kk) as float32: one value per head (last ==
    heads), one for all heads (last == 1) or one per key dim (last == heads * d_k)."""
    if last == heads:
        return x[b, t, h].cast(F32)
    if last == 1:
        return x[b, t, 0].cast(F32)
    return x[b, t, h * d_k + kk].cast(F32)


@RULES.register("LinearAttention")
def lower_linear_attention(node: Node, attrs: LinearAttentionAttrs,
                           types: list[Type | None]) -> Kernel | None:
    a = attrs
    q_t, k_t, v_t, past_t, decay_t, beta_t = _tensors(types, 6)
    assert q_t is not None and k_t is not None and v_t is not None
    batch, steps, q_hidden = q_t.static_shape
    heads, group = a.kv_num_heads, a.q_num_heads // a.kv_num_heads
    d_k, d_v = q_hidden // a.q_num_heads, v_t.static_shape[2] // heads
    decay_last = decay_t.static_shape[2] if decay_t is not None else 0
    beta_last = beta_t.static_shape[2] if beta_t is not None else 0
    for last in (decay_last, beta_last):
        if last not in (0, 1, heads, heads * d_k):
            return None
    # beta packed per key dim scales v_t (d_v wide) elementwise: only when the sizes agree
    if beta_last not in (0, 1, heads) and d_k != d_v:
        return None
    out_t, state_t = _out_types(node)
    scale = float(DType.F32.np.type(a.scale if a.scale else 1.0 / math.sqrt(d_k)))

    kb = KernelBuilder("linear_attention")
    q = kb.buffer("query", q_t.dtype, q_t.static_shape, access="r")
    k = kb.buffer("key", k_t.dtype, k_t.static_shape, access="r")
    v = kb.buffer("value", v_t.dtype, v_t.static_shape, access="r")
    past = kb.buffer("past_state", past_t.dtype, past_t.static_shape, access="r") \
        if past_t is not None else None
    decay = kb.buffer("decay", decay_t.dtype, decay_t.static_shape, access="r") \
        if decay_t is not None else None
    beta = kb.buffer("beta", beta_t.dtype, beta_t.static_shape, access="r") \
        if beta_t is not None else None
    out = kb.buffer("output", out_t.dtype, out_t.static_shape, access="w")
    state_out = kb.buffer("present_state", state_t.dtype, state_t.static_shape, access="w")
    zero = const(0.0, F32)

    with kb.for_("r", 0, batch * heads, kind="parallel", type=I64) as r:
        b = kb.let("b", r // heads)
        h = kb.let("h", r % heads)
        s = kb.alloc("s", F32, (d_k, d_v), scope="private")
        vt = kb.alloc("vt", F32, (d_v,), scope="private")
        with kb.for_("i", 0, d_k, type=I64) as i, kb.for_("j", 0, d_v, type=I64) as j:
            s[i, j] = past[b, h, i, j].cast(F32) if past is not None else zero
        with kb.for_("t", 0, steps, type=I64) as t:
            if decay is not None:
                with kb.for_("i", 0, d_k, type=I64) as i:
                    g = kb.let("g", ki.exp(_per_head(decay, decay_last, heads, d_k, b, t, h, i)))
                    with kb.for_("j", 0, d_v, type=I64) as j:
                        s[i, j] = s[i, j] * g
            with kb.for_("j", 0, d_v, type=I64) as j:
                vj = v[b, t, h * d_v + j].cast(F32)
                if beta is None:
                    vt[j] = vj
                else:
                    # delta rule: write only what the (decayed) state does not yet recall
                    recalled = kb.let("recalled", zero)
                    with kb.for_("i", 0, d_k, type=I64) as i:
                        kb.assign(recalled, recalled + s[i, j] * k[b, t, h * d_k + i].cast(F32))
                    rate = _per_head(beta, beta_last, heads, d_k, b, t, h, j)
                    vt[j] = rate * (vj - recalled)
            with kb.for_("i", 0, d_k, type=I64) as i:
                ki_ = kb.let("ki", k[b, t, h * d_k + i].cast(F32))
                with kb.for_("j", 0, d_v, type=I64) as j:
                    s[i, j] = s[i, j] + ki_ * vt[j]
            # the q heads of this kv head's group read its state
            with kb.for_("gq", 0, group, type=I64) as gq:
                hq = kb.let("hq", h * group + gq)
                with kb.for_("j", 0, d_v, type=I64) as j:
                    acc = kb.let("acc", zero)
                    with kb.for_("i", 0, d_k, type=I64) as i:
                        kb.assign(acc, acc + q[b, t, hq * d_k + i].cast(F32) * s[i, j])
                    out[b, t, hq * d_v + j] = (acc * scale).cast(out_t.dtype)
        with kb.for_("i", 0, d_k, type=I64) as i, kb.for_("j", 0, d_v, type=I64) as j:
            state_out[b, h, i, j] = s[i, j].cast(state_t.dtype)
    return kb.finish()


# -- CausalConvWithState -------------------------------------------------------------------

@RULES.register("CausalConvWithState")
def lower_causal_conv(node: Node, attrs: CausalConvAttrs,
                      types: list[Type | None]) -> Kernel | None:
    x_t, w_t, bias_t, past_t = _tensors(types, 4)
    assert x_t is not None and w_t is not None
    batch, channels, length = x_t.static_shape
    taps = w_t.static_shape[2]
    pad = taps - 1
    dt = x_t.dtype
    acc_t = F64 if dt is DType.F64 else F32
    out_t, state_t = _out_types(node)

    kb = KernelBuilder("causal_conv_with_state")
    x = kb.buffer("input", dt, x_t.static_shape, access="r")
    w = kb.buffer("weight", w_t.dtype, w_t.static_shape, access="r")
    bias = kb.buffer("bias", bias_t.dtype, bias_t.static_shape, access="r") \
        if bias_t is not None else None
    past = kb.buffer("past_state", past_t.dtype, past_t.static_shape, access="r") \
        if past_t is not None else None
    out = kb.buffer("output", dt, out_t.static_shape, access="w")
    state = kb.buffer("present_state", dt, state_t.static_shape, access="w")

    def padded(b: Expr, c: Expr, p: Expr) -> Expr:
        """Element p of past_state (or zeros) followed by the input, in the input's type."""
        if pad == 0:
            return x[b, c, p]
        old = past[b, c, p.min(pad - 1)].cast(dt) if past is not None else const(0.0, dt)
        return ki.select(p < pad, old, x[b, c, (p - pad).max(0)])

    with kb.for_("r", 0, batch * channels, kind="parallel", type=I64) as r:
        b = kb.let("b", r // channels)
        c = kb.let("c", r % channels)
        with kb.for_("t", 0, length, type=I64) as t:
            acc = kb.let("acc", const(0.0, acc_t))
            with kb.for_("j", 0, taps, type=I64) as j:
                kb.assign(acc, acc + padded(b, c, t + j).cast(acc_t) * w[c, 0, j].cast(acc_t))
            if bias is not None:
                kb.assign(acc, acc + bias[c].cast(acc_t))
            y: Expr = acc.cast(dt)
            if attrs.activation in ("silu", "swish"):
                # the reference applies SiLU in float32 whatever the input type
                wide = kb.let("wide", y.cast(F32))
                y = (wide / (1.0 + ki.exp(-wide))).cast(dt)
            out[b, c, t] = y
        with kb.for_("s", 0, pad, type=I64) as s:
            state[b, c, s] = padded(b, c, s + length)
    return kb.finish()

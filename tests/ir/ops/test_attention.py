"""Attention (3-D/4-D, GQA, masks, causal offsets of a KV cache, windows, softcap, the four
qk_matmul_output modes, softmax_precision), FlexAttention, RotaryEmbedding, LinearAttention,
CausalConvWithState and SwiGLU, against onnx.reference and hand-worked values."""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import dlc
from dlc.errors import ShapeError
from dlc.frontends.onnx.importer import import_onnx
from dlc.ir import OPS, Sym
from dlc.ir.ops import RefCtx
from dlc.ir.ops.attention import FlexAttentionAttrs

RNG = np.random.default_rng(3)


def model(op: str, inputs: dict[str, np.ndarray | None], n_out: int, opset: int,
          shapes: dict[str, list] | None = None, **attrs: object) -> onnx.ModelProto:
    """A one-node model; an input given as None is left out (an empty name)."""
    given = {k: v for k, v in inputs.items() if v is not None}
    names = list(inputs)
    while names and inputs[names[-1]] is None:
        names.pop()
    outs = [f"out{i}" for i in range(n_out)]
    node = helper.make_node(op, [n if inputs[n] is not None else "" for n in names], outs,
                            **attrs)
    vis = [helper.make_tensor_value_info(
        n, helper.np_dtype_to_tensor_dtype(v.dtype), (shapes or {}).get(n, list(v.shape)))
        for n, v in given.items()]
    g = helper.make_graph([node], op, vis,
                          [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None)
                           for o in outs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(m: onnx.ModelProto, inputs: dict[str, np.ndarray | None]) -> list[np.ndarray]:
    out = dlc.compile(m, target="reference")(*(v for v in inputs.values() if v is not None))
    return list(out) if isinstance(out, tuple) else [out]


def oracle(m: onnx.ModelProto, inputs: dict[str, np.ndarray | None]) -> list[np.ndarray]:
    return ReferenceEvaluator(m).run(None, {k: v for k, v in inputs.items() if v is not None})


def check(op: str, inputs: dict[str, np.ndarray | None], n_out: int, opset: int,
          rtol: float = 1e-5, **attrs: object) -> list[np.ndarray]:
    m = model(op, inputs, n_out, opset, **attrs)
    got, want = run(m, inputs), oracle(m, inputs)
    assert len(got) == n_out
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol,
                                   atol=1e-6)
    return got


def randn(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def qkv(batch: int = 2, q_heads: int = 4, kv_heads: int = 2, q_len: int = 3, kv_len: int = 5,
        head: int = 8, v_head: int = 6) -> dict[str, np.ndarray | None]:
    return {"Q": randn(batch, q_heads, q_len, head), "K": randn(batch, kv_heads, kv_len, head),
            "V": randn(batch, kv_heads, kv_len, v_head)}


# -- Attention -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [1, 2, 3])
def test_gqa_with_float_mask_softcap_and_each_qk_output_mode(mode: int) -> None:
    ins = qkv() | {"attn_mask": randn(3, 5)}
    check("Attention", ins, 4, 23, qk_matmul_output_mode=mode, softcap=1.5, scale=0.2)


def test_qk_output_mode_0_is_the_raw_product_even_with_softcap() -> None:
    ins = qkv(kv_heads=4)
    y, _, _, qk = run(model("Attention", ins, 4, 23, softcap=0.5), ins)
    raw = ins["Q"] @ np.swapaxes(ins["K"], -1, -2) / math.sqrt(8)  # type: ignore[operator]
    np.testing.assert_allclose(qk, raw, rtol=1e-5)
    assert np.abs(qk).max() > 0.5  # the capped scores could not be this large


def test_3d_inputs_with_a_kv_cache_return_4d_present_states() -> None:
    ins: dict[str, np.ndarray | None] = {
        "Q": randn(2, 3, 32), "K": randn(2, 2, 16), "V": randn(2, 2, 12), "attn_mask": None,
        "past_key": randn(2, 2, 4, 8), "past_value": randn(2, 2, 4, 6)}
    y, pk, pv = check("Attention", ins, 3, 24, q_num_heads=4, kv_num_heads=2, is_causal=1)
    assert y.shape == (2, 3, 24) and pk.shape == (2, 2, 6, 8) and pv.shape == (2, 2, 6, 6)
    np.testing.assert_array_equal(pk[:, :, :4], ins["past_key"])


def test_a_fully_masked_query_row_gives_zeros_not_nan() -> None:
    ins = qkv() | {"attn_mask": np.array([[True] * 5, [False] * 5, [True, False] * 2 + [True]])}
    y, _, _, probs = check("Attention", ins, 4, 23, qk_matmul_output_mode=3)
    assert (y[:, :, 1] == 0).all() and (probs[:, :, 1] == 0).all()
    assert not np.isnan(y).any()


def test_a_short_mask_is_padded_as_masked() -> None:
    ins = qkv() | {"attn_mask": np.zeros((3, 2), np.float32)}
    y = run(model("Attention", ins, 1, 24), ins)[0]
    first_two_keys = {"Q": ins["Q"], "K": ins["K"][:, :, :2], "V": ins["V"][:, :, :2]}  # type: ignore[index]
    want = run(model("Attention", first_two_keys, 1, 24), first_two_keys)[0]
    np.testing.assert_allclose(y, want, rtol=1e-5)


def test_causal_with_nonpad_kv_seqlen_aligns_queries_bottom_right() -> None:
    ins = qkv(q_len=2, kv_len=6) | {"attn_mask": None, "past_key": None, "past_value": None,
                                   "nonpad_kv_seqlen": np.array([3, 6], np.int64)}
    y = check("Attention", ins, 1, 24, is_causal=1)[0]
    # Batch 0 holds 3 valid keys: query 1 (the last) sees keys 0..2, query 0 sees keys 0..1.
    q, k, v = (ins[n][0, 0] for n in "QKV")  # type: ignore[index]
    s = q[0] @ k[:2].T / math.sqrt(8)
    p = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
    np.testing.assert_allclose(y[0, 0, 0], p @ v[:2], rtol=1e-5)


def test_negative_offset_rows_are_empty() -> None:
    ins = qkv(q_len=4, kv_len=4) | {"attn_mask": None, "past_key": None, "past_value": None,
                                   "nonpad_kv_seqlen": np.array([2, 4], np.int64)}
    y = check("Attention", ins, 1, 24, is_causal=1)[0]
    assert (y[0, :, :2] == 0).all() and (y[1] != 0).any()


@pytest.mark.parametrize("left,right,causal", [(2, -1, 1), (1, 2, 0), (0, 0, 0)])
def test_sliding_windows_with_a_cache(left: int, right: int, causal: int) -> None:
    ins = qkv(q_len=3, kv_len=2) | {"attn_mask": None, "past_key": randn(2, 2, 4, 8),
                                   "past_value": randn(2, 2, 4, 6)}
    check("Attention", ins, 3, 25, left_window_size=left, right_window_size=right,
          is_causal=causal)


def test_softmax_precision_with_float16_inputs() -> None:
    ins = {k: v.astype(np.float16) for k, v in qkv().items()}
    ins["attn_mask"] = np.tril(np.ones((3, 5), bool), 2)
    got = check("Attention", ins, 4, 24, rtol=2e-3, softmax_precision=1,
                qk_matmul_output_mode=3)
    assert all(g.dtype == np.float16 for g in got)


def test_symbolic_batch_and_lengths_flow_into_the_outputs() -> None:
    ins = qkv()
    m = model("Attention", ins, 4, 23, shapes={"Q": ["B", 4, "L", 8], "K": ["B", 2, "S", 8],
                                               "V": ["B", 2, "S", 6]})
    y, pk, pv, qk = (v.type for v in import_onnx(m).outputs)
    assert y.shape == (Sym("B"), 4, Sym("L"), 6) and qk.shape == (Sym("B"), 4, Sym("L"), Sym("S"))
    assert pk.shape[2] == Sym("S")
    np.testing.assert_allclose(run(m, ins)[0], oracle(m, ins)[0], rtol=1e-5)


def test_3d_inputs_need_head_counts() -> None:
    ins = {"Q": randn(1, 2, 8), "K": randn(1, 2, 8), "V": randn(1, 2, 8)}
    with pytest.raises(ShapeError, match="q_num_heads"):
        import_onnx(model("Attention", ins, 1, 23))
    with pytest.raises(ShapeError, match="multiple"):
        import_onnx(model("Attention", ins, 1, 23, q_num_heads=3, kv_num_heads=2))


# -- FlexAttention ---------------------------------------------------------------------------

def test_flex_attention_without_modifiers_is_scaled_dot_product_attention() -> None:
    q, k, v = randn(1, 4, 3, 8), randn(1, 2, 5, 8), randn(1, 2, 5, 6)
    (y,) = OPS["FlexAttention"].run_reference(FlexAttentionAttrs(scale=0.3), [q, k, v],
                                              RefCtx(1))
    kk, vv = np.repeat(k, 2, axis=1), np.repeat(v, 2, axis=1)
    s = q @ np.swapaxes(kk, -1, -2) * 0.3
    p = np.exp(s - s.max(-1, keepdims=True))
    np.testing.assert_allclose(y, p / p.sum(-1, keepdims=True) @ vv, rtol=1e-5)
    assert OPS["FlexAttention"].domain == "ai.onnx.preview"


# -- RotaryEmbedding, LinearAttention, CausalConvWithState, SwiGLU ------------------------------

@pytest.mark.parametrize("interleaved,rot_dim", [(0, 0), (1, 0), (0, 4), (1, 4)])
def test_rotary_embedding_with_position_ids(interleaved: int, rot_dim: int) -> None:
    half = (rot_dim or 8) // 2
    ins = {"X": randn(2, 3, 5, 8), "cos": randn(16, half), "sin": randn(16, half),
           "position_ids": RNG.integers(0, 16, (2, 5)).astype(np.int64)}
    check("RotaryEmbedding", ins, 1, 23, interleaved=interleaved, rotary_embedding_dim=rot_dim)


def test_rotary_embedding_3d_without_position_ids() -> None:
    ins = {"X": randn(2, 5, 24), "cos": randn(2, 5, 4), "sin": randn(2, 5, 4)}
    check("RotaryEmbedding", ins, 1, 23, num_heads=3)


@pytest.mark.parametrize("rule,decay_last,beta_last", [
    ("linear", 0, 0), ("gated", 16, 0), ("gated", 2, 0), ("delta", 0, 2),
    ("gated_delta", 16, 1)])
def test_linear_attention_update_rules(rule: str, decay_last: int, beta_last: int) -> None:
    ins: dict[str, np.ndarray | None] = {
        "query": randn(2, 4, 32), "key": randn(2, 4, 16) / 4, "value": randn(2, 4, 12),
        "past_state": randn(2, 2, 8, 6),
        "decay": -abs(randn(2, 4, decay_last)) if decay_last else None,
        "beta": abs(randn(2, 4, beta_last)) / 2 if beta_last else None}
    out, state = check("LinearAttention", ins, 2, 27, rtol=1e-4, q_num_heads=4, kv_num_heads=2,
                       update_rule=rule)
    assert out.shape == (2, 4, 24) and state.shape == (2, 2, 8, 6)


@pytest.mark.parametrize("activation", ["none", "silu"])
@pytest.mark.parametrize("with_state", [False, True])
def test_causal_conv_with_state(activation: str, with_state: bool) -> None:
    ins = {"input": randn(2, 3, 2), "weight": randn(3, 1, 4), "bias": randn(3),
           "past_state": randn(2, 3, 3) if with_state else None}
    out, state = check("CausalConvWithState", ins, 2, 27, activation=activation)
    # The input is shorter than k - 1: the new state still holds 3 steps, the last 2 from it.
    np.testing.assert_array_equal(state[:, :, 1:], ins["input"])


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_swiglu(dtype: type) -> None:
    ins = {"A": randn(3, 4, dtype=dtype), "B": randn(3, 4, dtype=dtype)}
    # onnx.reference rounds the float16 sigmoid from float32 rather than float16 steps: 1 ulp apart.
    (y,) = check("SwiGLU", ins, 1, 28, rtol=2e-3, alpha=1.7)
    a = ins["A"].astype(np.float64)
    np.testing.assert_allclose(y, a / (1 + np.exp(-1.7 * a)) * ins["B"], rtol=3e-3, atol=1e-3)

"""cpu rules of the attention family (src/backends/cpu/rules/attention.py, linear_attention.py):
Attention, FlexAttention, LinearAttention and CausalConvWithState on the ONNX conformance cases,
interpreted and native against their expected outputs, and one-node graphs for what those cases
miss (softmax_precision wider and narrower than the input, bfloat16 rows long enough for the
pairwise sum, float64, windows with a KV cache and a short mask, beta per key dim, a float64
state, a score_mod that is not element-wise), against the op's reference."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from rule_testing import check_case, lowered_one_node

import dlc.backends.cpu  # noqa: F401 - registers the cpu rules
from dlc.errors import UnsupportedOp
from dlc.ir import OPS, DType, Graph, Node, TensorType, Value
from dlc.passes import run_passes

sys.path.insert(0, str(Path(__file__).parents[2] / "passes"))
from lowering_testing import one_node_graph  # noqa: E402


def _attention_cases() -> list[str]:
    four = ["", "_fp16", "_gqa", "_diff_heads_sizes", "_scaled", "_gqa_scaled",
            "_diff_heads_sizes_scaled", "_causal", "_gqa_causal", "_diff_heads_sizes_causal",
            "_attn_mask", "_attn_mask_3d", "_attn_mask_3d_causal", "_attn_mask_4d",
            "_attn_mask_4d_causal", "_attn_mask_bool", "_attn_mask_bool_4d", "_gqa_attn_mask",
            "_diff_heads_sizes_attn_mask", "_with_past_and_present",
            "_gqa_with_past_and_present", "_gqa_with_past_and_present_fp16",
            "_diff_heads_with_past_and_present", "_diff_heads_with_past_and_present_mask3d",
            "_diff_heads_with_past_and_present_mask4d", "_softcap", "_gqa_softcap",
            "_diff_heads_sizes_softcap", "_with_qk_matmul", "_with_qk_matmul_bias",
            "_with_qk_matmul_softcap", "_with_qk_matmul_softmax",
            "_with_past_and_present_qk_matmul_bias",
            "_with_past_and_present_qk_matmul_bias_3d_mask",
            "_with_past_and_present_qk_matmul_bias_4d_mask",
            "_with_past_and_present_qk_matmul_bias_3d_mask_causal",
            "_with_past_and_present_qk_matmul_bias_4d_mask_causal",
            "_with_past_and_present_qk_matmul", "_diff_heads_mask4d_padded_kv", "_causal_bf16",
            "_causal_fp16", "_padded_kv_bf16", "_causal_padded_kv_bf16",
            "_attn_mask_causal_bf16", "_softcap_neginf_mask", "_softcap_neginf_mask_poison",
            "_gqa_causal_nonpad_decode", "_gqa_causal_nonpad_decode_fp16",
            "_causal_nonpad_continued_prefill", "_causal_with_past_and_present",
            "_causal_nonpad_negative_offset_structural_empty",
            "_causal_nonpad_attn_mask_composition", "_causal_nonpad_batch_prefill"]
    three = ["", "_gqa", "_diff_heads_sizes", "_scaled", "_gqa_scaled",
             "_diff_heads_sizes_scaled", "_causal", "_gqa_causal", "_diff_heads_sizes_causal",
             "_attn_mask", "_gqa_attn_mask", "_diff_heads_sizes_attn_mask", "_softcap",
             "_gqa_softcap", "_diff_heads_sizes_softcap", "_with_past_and_present",
             "_gqa_with_past_and_present", "_diff_heads_with_past_and_present",
             "_with_past_and_present_qk_matmul", "_with_past_and_present_qk_matmul_bias",
             "_with_past_and_present_qk_matmul_softcap",
             "_with_past_and_present_qk_matmul_softmax", "_transpose_verification",
             "_causal_bf16", "_local_window"]
    other = ["causal_boolmask_nan_robustness", "23_boolmask_fullymasked_row_nan_robustness",
             "23_fullymasked_qk_matmul_output_mode3_zero",
             "24_fullymasked_qk_matmul_output_mode3_zero",
             "24_qk_matmul_output_mode3_softmax_precision", "local_window",
             "bidirectional_window", "local_window_default", "local_window_rank1_boolean_mask",
             "local_window_with_past", "local_window_ext_cache_rank3_head_mask",
             "local_window_ext_cache_rank4_batch_mask", "local_window_ext_cache_rank2_mask",
             "local_window_ext_cache_float16_mask", "local_window_gqa_rank4_mask"]
    return ([f"test_attention_4d{c}" for c in four] + [f"test_attention_3d{c}" for c in three]
            + [f"test_attention_{c}" for c in other])


LINEAR = ["linear", "gated", "gated_per_head_decay", "delta", "gated_delta",
          "gated_delta_beta_scalar", "gated_delta_gqa", "gated_delta_mqa", "decode_step",
          "prefill_with_past", "no_past_explicit_zeros", "explicit_scale", "fp16",
          "linear_t1_no_past"]
CONV = ["basic", "with_bias", "with_past_state", "silu", "swish_alias", "decode_step",
        "kernel_size_one", "with_bias_and_past_state", "silu_with_past_state", "b1_c1_degenerate",
        "short_input_no_past_state", "fp16", "silu_fp16"]
FLEX = ["", "_scaled", "_gqa", "_diff_head_sizes", "_score_mod", "_prob_mod", "_fp16", "_double",
        "_causal_mask", "_soft_cap", "_relative_positional"]
CASES = (_attention_cases() + [f"test_flexattention{c}" for c in FLEX]
         + [f"test_linear_attention_{c}" for c in LINEAR]
         + [f"test_causal_conv_with_state_{c}" for c in CONV])


@pytest.mark.parametrize("name", CASES)
def test_conformance_case(name: str) -> None:
    check_case(name)


RNG = np.random.default_rng(0)


def rand(*shape: int, dtype: Any = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("precision, mode", [(11, 3), (10, 3), (1, 2)])
def test_attention_softmax_precision(precision: int, mode: int) -> None:
    # float32 inputs with the softmax in float64 or float16; a float mask shorter than the keys
    lowered_one_node("Attention", {"softmax_precision": precision, "qk_matmul_output_mode": mode},
                     [rand(2, 2, 3, 4), rand(2, 2, 5, 4), rand(2, 2, 5, 3), rand(3, 4)], 4,
                     rtol=1e-3, atol=1e-4)


def test_attention_bf16_long_rows() -> None:
    # 20 keys: the bfloat16 row sum is taken pairwise, as the reference takes it
    bf = ml_dtypes.bfloat16
    lowered_one_node("Attention", {"qk_matmul_output_mode": 3, "softcap": 2.0},
                     [rand(1, 2, 3, 4, dtype=bf), rand(1, 1, 20, 4, dtype=bf),
                      rand(1, 1, 20, 4, dtype=bf)], 4, rtol=0, atol=0)


def test_attention_float64_windows_with_cache() -> None:
    # 3-D float64 inputs with a KV cache, both windows and a bool mask shorter than the keys
    mask = RNG.random((2, 1, 3, 6)) < 0.8
    lowered_one_node("Attention", {"q_num_heads": 4, "kv_num_heads": 2, "left_window_size": 2,
                                   "right_window_size": 1, "scale": 0.3},
                     [rand(2, 3, 16, dtype=np.float64), rand(2, 3, 8, dtype=np.float64),
                      rand(2, 3, 6, dtype=np.float64), mask, rand(2, 2, 4, 4, dtype=np.float64),
                      rand(2, 2, 4, 3, dtype=np.float64)], 3)


def test_linear_attention_beta_per_key_dim_float64_state() -> None:
    # beta packed per key dim (d_k == d_v), decay per head, a float64 past state
    lowered_one_node("LinearAttention", {"q_num_heads": 4, "kv_num_heads": 2,
                                         "update_rule": "gated_delta", "scale": 0.5},
                     [rand(2, 3, 16), rand(2, 3, 8), rand(2, 3, 8),
                      rand(2, 2, 4, 4, dtype=np.float64), -RNG.random((2, 3, 2), np.float32),
                      RNG.random((2, 3, 8), np.float32)], 2, rtol=1e-4, atol=1e-5)


def test_causal_conv_float64_silu() -> None:
    # float64 input (SiLU still in float32, as the reference), a float16 past state
    lowered_one_node("CausalConvWithState", {"activation": "silu"},
                     [rand(2, 3, 5, dtype=np.float64), rand(3, 1, 3, dtype=np.float64),
                      rand(3, dtype=np.float64), rand(2, 3, 2, dtype=np.float16)], 2)


def test_flex_attention_softmax_precision_float64() -> None:
    lowered_one_node("FlexAttention", {"softmax_precision": 11, "scale": 0.7},
                     [rand(1, 4, 3, 4), rand(1, 2, 5, 4), rand(1, 2, 5, 6)], 1)


def test_flex_attention_declines_a_mod_that_moves_elements() -> None:
    # a score_mod reading its input transposed is not element-wise: UnsupportedOp, not a wrong
    # answer
    mod = Graph("transposed")
    x = mod.add_input("scores", TensorType(DType.F32, (1, 1, 3, 3)))
    y = Value("out", TensorType(DType.F32, (1, 1, 3, 3)))
    mod.nodes.append(Node("Transpose", [x], [y], OPS["Transpose"].make_attrs(perm=(0, 1, 3, 2)),
                          "t"))
    mod.outputs = [y]
    g, _ = one_node_graph("FlexAttention", {"score_mod": mod},
                          [rand(1, 1, 3, 4), rand(1, 1, 3, 4), rand(1, 1, 3, 4)])
    with pytest.raises(UnsupportedOp, match="FlexAttention"):
        run_passes(g, "lower{target=cpu}")

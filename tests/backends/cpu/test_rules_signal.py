"""cpu rules of the signal family (src/backends/cpu/rules/signal.py): DFT, STFT, GridSample,
RoiAlign and DeformConv on the ONNX conformance cases, interpreted and native against their
expected outputs, and one-node graphs for what those cases miss (shape operands as constants,
other attributes and dtypes), against the op's reference."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rule_testing import (
    PIPELINE,
    check_case,
    close,
    conformance_case,
    lowered_one_node,
    run_natively,
    to_value,
)

import dlc.backends.cpu  # noqa: F401 - registers the cpu rules
from dlc.api import import_graph, make_options
from dlc.ir import interpret
from dlc.passes import run_passes

sys.path.insert(0, str(Path(__file__).parents[2] / "passes"))
from lowering_testing import one_node_graph  # noqa: E402

GRIDSAMPLE = [
    "test_gridsample", *(f"test_gridsample_{p}_padding" for p in ("zeros", "border", "reflection")),
    *(f"test_gridsample_{m}" for m in ("bilinear", "aligncorners_true", "nearest", "bicubic")),
    *(f"test_gridsample_{m}_align_corners_{c}_additional_1" for m in ("nearest", "bilinear",
                                                                      "bicubic") for c in (0, 1)),
    *(f"test_gridsample_volumetric_{m}_align_corners_{c}" for m in ("nearest", "bilinear")
      for c in (0, 1)),
]
CASES = [
    *GRIDSAMPLE,
    "test_dft_opset19", "test_dft_axis_opset19", "test_dft_rfft_opset19", "test_dft_irfft_opset19",
    "test_dft", "test_dft_axis",
    "test_basic_deform_conv_with_padding", "test_basic_deform_conv_without_padding",
    "test_deform_conv_with_mask_bias", "test_deform_conv_with_multiple_offset_groups",
    "test_roialign_aligned_false", "test_roialign_aligned_true", "test_roialign_mode_max",
]
# The expected outputs hold float32 FFT rounding noise (1.9e-7) where the exact value is 0; a
# direct transform in float64 gives ~1e-15 there, outside the harness's atol of 1e-7.
NOISY = ["test_dft_inverse_opset19", "test_dft_inverse"]


@pytest.mark.parametrize("name", CASES)
def test_conformance_case(name: str) -> None:
    check_case(name)


@pytest.mark.parametrize("name", NOISY)
def test_conformance_case_atol_1e6(name: str) -> None:
    case = conformance_case(name)
    g = import_graph(case.model, make_options())
    g = run_passes(g, PIPELINE, make_options(target="cpu"), verify_each=True)
    for inputs, outputs in case.data_sets:
        feed, want = [to_value(x) for x in inputs], [to_value(x) for x in outputs]
        for how, got in (("interpreted", interpret(g, feed)), ("native", run_natively(g, feed))):
            for x, w in zip(got, want):
                assert close(x, w, atol=1e-6), f"{name}: differs ({how})"


RNG = np.random.default_rng(0)


def floats(*shape: int, dtype: Any = np.float32, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def i64(v: int) -> np.ndarray:
    return np.array(v, np.int64)


# -- DFT / STFT ------------------------------------------------------------------------------------

DFT = [
    # (signal shape, dft_length, axis, inverse, onesided)
    ((2, 7, 3, 1), None, 1, 0, 0),
    ((2, 7, 3, 2), 10, -2, 0, 0),           # zero-padded
    ((2, 7, 3, 2), 5, 0 + 1, 1, 0),         # truncated inverse
    ((3, 6, 2), 6, 0, 0, 1),                # onesided from a complex signal, axis 0
    ((2, 5, 4, 2), 9, -3, 1, 1),            # irfft to an odd length
    ((2, 4, 3, 2), None, 2, 1, 1),          # irfft, length from the half spectrum
]


@pytest.mark.parametrize("shape,length,axis,inverse,onesided", DFT)
def test_dft_constant_operands(shape: tuple[int, ...], length: int | None, axis: int,
                               inverse: int, onesided: int) -> None:
    ins = [floats(*shape, dtype=np.float64), None if length is None else i64(length), i64(axis)]
    lowered_one_node("DFT", {"inverse": inverse, "onesided": onesided}, ins, known=(1, 2),
                     rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["test_dft_rfft", "test_dft_irfft", "test_stft",
                                  "test_stft_with_window"])
def test_dynamic_conformance_case_as_constants(name: str) -> None:
    """The conformance cases whose shape operands are graph inputs, with them as constants."""
    case = conformance_case(name)
    op = case.model.graph.node[0]
    attrs = {a.name: a.i for a in op.attribute}
    inputs, outputs = case.data_sets[0]
    feed = [to_value(x) for x in inputs]
    names = [i.name for i in case.model.graph.input]
    by_name = dict(zip(names, feed))
    ins = [by_name.get(n) if n else None for n in op.input]
    known = tuple(k for k, v in enumerate(ins) if v is not None and v.dtype == np.int64)
    g, graph_feed = one_node_graph(op.op_type, attrs, ins, known)
    g = run_passes(g, "lower{target=cpu}", verify_each=True)
    want = to_value(outputs[0])
    for how, got in (("interpreted", interpret(g, graph_feed)),
                     ("native", run_natively(g, graph_feed))):
        assert close(got[0], want, atol=1e-5), f"{name}: differs ({how})"


@pytest.mark.parametrize("onesided,complex_signal,window,frame", [
    (0, False, True, None), (1, True, False, 8), (1, False, True, 8)])
def test_stft(onesided: int, complex_signal: bool, window: bool, frame: int | None) -> None:
    signal = floats(2, 40, 2 if complex_signal else 1)
    ins = [signal, i64(6), floats(8) if window else None, None if frame is None else i64(frame)]
    lowered_one_node("STFT", {"onesided": onesided}, ins, known=(1, 3), atol=1e-5)


# -- GridSample ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,padding,corners,rank", [
    ("linear", "reflection", 1, 2), ("cubic", "border", 0, 2), ("cubic", "reflection", 1, 2),
    ("nearest", "reflection", 0, 2), ("nearest", "border", 1, 3), ("linear", "reflection", 0, 3),
    ("linear", "border", 1, 1), ("linear", "zeros", 0, 3),
])
def test_grid_sample(mode: str, padding: str, corners: int, rank: int) -> None:
    sizes = (4, 3, 5)[:rank]
    x = floats(2, 3, *sizes)
    grid = floats(2, *(3, 4, 2)[:rank], rank, scale=1.6)   # some points far outside
    lowered_one_node("GridSample", {"mode": mode, "padding_mode": padding,
                                    "align_corners": corners}, [x, grid])


def test_grid_sample_float64_single_pixel_axis() -> None:
    """A size-1 axis with align_corners: reflection has nothing to fold into."""
    x, grid = floats(1, 2, 1, 4, dtype=np.float64), floats(1, 3, 3, 2, dtype=np.float64)
    lowered_one_node("GridSample", {"padding_mode": "reflection", "align_corners": 1}, [x, grid],
                     rtol=1e-12, atol=1e-12)


# -- RoiAlign / DeformConv -------------------------------------------------------------------------

@pytest.mark.parametrize("mode,transform,ratio", [
    ("avg", "half_pixel", 0), ("max", "output_half_pixel", 0), ("max", "half_pixel", 3)])
def test_roi_align(mode: str, transform: str, ratio: int) -> None:
    x = floats(2, 3, 9, 8)
    rois = np.array([[0.5, 1.0, 6.2, 7.9], [-2.0, -1.0, 3.0, 2.5], [2.0, 3.0, 30.0, 12.0],
                     [4.0, 4.0, 4.2, 4.1]], np.float32)
    attrs = {"mode": mode, "coordinate_transformation_mode": transform, "sampling_ratio": ratio,
             "output_height": 3, "output_width": 2, "spatial_scale": 0.75}
    lowered_one_node("RoiAlign", attrs, [x, rois, np.array([1, 0, 1, 0], np.int64)])


@pytest.mark.parametrize("rank,group,offset_group,mask", [(2, 2, 2, True), (1, 1, 3, False),
                                                          (3, 1, 1, True)])
def test_deform_conv(rank: int, group: int, offset_group: int, mask: bool) -> None:
    sizes, kernel = (6, 5, 4)[:rank], (3, 2, 2)[:rank]
    strides, dilations, pads = (2, 1, 1)[:rank], (1, 2, 1)[:rank], (1, 0, 1)[:rank] * 2
    outs = [(s + 2 * p - d * (k - 1) - 1) // st + 1
            for s, k, st, d, p in zip(sizes, kernel, strides, dilations, pads)]
    taps = int(np.prod(kernel))
    x = floats(2, 6, *sizes)
    w = floats(4, 6 // group, *kernel)
    offset = floats(2, offset_group * taps * rank, *outs, scale=1.5)
    ins = [x, w, offset, floats(4), floats(2, offset_group * taps, *outs) if mask else None]
    attrs = {"group": group, "offset_group": offset_group, "kernel_shape": kernel,
             "strides": strides, "dilations": dilations, "pads": pads}
    lowered_one_node("DeformConv", attrs, ins, rtol=1e-4, atol=1e-5)

"""The kernel cost model: FLOPs and bytes counted from loop nests (exact for lowered matmul and
convolution kernels, tiled loops with remainders, SPMD kernels) and the roofline's bounds."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from dlc.ir.text import parse_kernel
from dlc.passes.cost import KernelCost, Roofline, kernel_cost, peak_flops
from dlc.passes.target import TargetDesc


def _lowered(nodes, inputs, outputs, inits, opt_level=2):
    import dlc
    g = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    mod = dlc.compile(m.SerializeToString(), target="cpu", frontend="onnx", opt_level=opt_level)
    return [n.attrs.kernel for n in mod.graph.nodes]


def _init(name, shape):
    return helper.make_tensor(name, TensorProto.FLOAT, shape,
                              np.ones(int(np.prod(shape)), np.float32))


@pytest.mark.parametrize("m,k,n,opt_level", [(48, 96, 40, 1), (48, 96, 48, 2), (37, 50, 29, 1)])
def test_matmul_flops_and_bytes_are_exact(m, k, n, opt_level):
    """Unscheduled (-O1), and scheduled (packed, register-blocked) where the tiles divide the
    sizes: a schedule's padded tiles compute more than 2mnk (see the next test)."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])
    (kern,) = _lowered([helper.make_node("MatMul", ["a", "w"], ["y"])], [a], [y],
                       [_init("w", [k, n])], opt_level)
    c = kernel_cost(kern)
    assert c.flops == 2 * m * n * k
    assert c.bytes == 4 * (m * k + k * n + m * n)


def test_scheduled_matmul_counts_the_arithmetic_it_executes():
    m, k, n = 48, 96, 40
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])
    (kern,) = _lowered([helper.make_node("MatMul", ["a", "w"], ["y"])], [a], [y],
                       [_init("w", [k, n])])
    assert kernel_cost(kern).flops >= 2 * m * n * k


@pytest.mark.parametrize("pads", [[0, 0, 0, 0], [1, 1, 1, 1]])
@pytest.mark.parametrize("opt_level", [1, 2])
def test_conv_flops_are_exact(pads, opt_level):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 14, 14])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    (kern,) = _lowered([helper.make_node("Conv", ["x", "w"], ["y"], pads=pads)], [x], [y],
                       [_init("w", [16, 8, 3, 3])], opt_level)
    out = 14 if pads[0] else 12
    useful = 2 * 16 * 8 * 9 * out * out
    flops = kernel_cost(kern).flops
    assert flops == useful if opt_level == 1 else flops >= useful  # scheduled: padded tiles


def test_tiled_loops_with_a_remainder_count_every_iteration():
    k = parse_kernel("""
kernel @saxpy(%n: i64, %a: f32, %x: f32* global r, %y: f32* global rw) {
  parallel for %o: i64 in 0 to %n step 4096 {
    vectorized for %i: i64 in %o to min(%o + 4096, %n) { %y[%i] = %a * %x[%i] + %y[%i] }
  }
}""")
    n = 100_003
    c = kernel_cost(k, scalars={"n": n})
    assert c.exact and c.flops == 2 * n
    assert c.bytes == 3 * 4 * n  # x read, y read and written
    assert kernel_cost(k, scalars={"n": n}, buffer_bytes={"x": 40}).bytes == 40 + 2 * 4 * n


def test_spmd_kernel_counts_each_work_item():
    k = parse_kernel("""
kernel @scale(%n: i32, %x: f32* global rw) spmd(1) {
  let %i: i32 = global_id(0)
  if %i < %n { %x[%i] = %x[%i] * 2.0 + 1.0 }
}""")
    c = kernel_cost(k, scalars={"n": 1000}, global_size=(1024,))
    assert c.flops == 2 * 1024 and not c.exact  # the bounds check is per work-item


def test_roofline_bounds():
    roof = Roofline(peak_flops=100e9, bandwidth=10e9)
    assert roof.bound(KernelCost(100e9, 1e9), 2.0) == ("compute", 0.5)
    assert roof.bound(KernelCost(1e6, 10e9), 2.0) == ("memory", 0.5)
    assert roof.bound(KernelCost(0, 5e9), 1.0) == ("memory", 0.5)
    t = TargetDesc("cpu", vector_bits=256, cores=2, l1_bytes=1, l2_bytes=1, l3_bytes=1)
    assert peak_flops(t, 3.0) == 2 * 8 * 2 * 2 * 3.0e9

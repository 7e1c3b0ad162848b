"""KernelModule: kernel_names, launches OpenCL- and CUDA-style, argument conversion and the checks
that run before anything does, copy-back, local and dynamic shared memory, save and load."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dlc.errors import ExecutionError, InputError
from dlc.ir import verify_kernel
from dlc.ir.kernel import Kernel
from dlc.ir.text import parse_kernel
from dlc.runtime import KernelModule, LocalMemory, load_kernel_module


def K(text: str) -> Kernel:
    k = parse_kernel(text)
    verify_kernel(k)
    return k


SAXPY = K("""
kernel @saxpy(%n: i32, %a: f32, %x: f32* global r, %y: f32* global rw) spmd(1) {
  let %i: i32 = global_id(0)
  if %i < %n { %y[%i] = %a * %x[%i] + %y[%i] }
}""")
REDUCE = K("""
kernel @reduce(%x: f32* global r, %out: f32* global w, %tmp: f32* local rw, %n: u32) spmd(1) {
  let %lid: u32 = local_id(0):u32
  let %gid: u32 = global_id(0):u32
  %tmp[%lid] = select(%gid < %n, %x[%gid], 0.0)
  barrier local
  for %s: u32 in 0 to 6 {
    if %lid % (2:u32 << %s) == 0 { %tmp[%lid] = %tmp[%lid] + %tmp[%lid + (1:u32 << %s)] }
    barrier local
  }
  if %lid == 0 { %out[group_id(0):u32] = %tmp[0] }
}""")
SHARED = K("""
kernel @rev(%x: i32* global rw, %s: i32* local rw) spmd(1) dynamic_shared(%s) {
  %s[local_id(0)] = %x[global_id(0)]
  barrier all
  %x[global_id(0)] = %s[local_size(0) - 1 - local_id(0)]
}""")
VEC = K("""
kernel @scale4(%v: f32x4* global rw, %k: f32x4) spmd(1) {
  %v[global_id(0)] = %v[global_id(0)] * %k
}""")


def module() -> KernelModule:
    return KernelModule([SAXPY, REDUCE, SHARED, VEC], language="opencl")


def test_names_signatures_and_both_launch_styles() -> None:
    m = module()
    assert m.kernel_names == ["saxpy", "reduce", "rev", "scale4"]
    assert "saxpy" in m and len(m) == 4 and list(m) == m.kernel_names
    assert m["saxpy"].signature == "saxpy(int n, float a, const float* x, float* y)"
    assert m["reduce"].signature == ("reduce(const float* x, float* out, __local float* tmp, "
                                     "uint n)")
    x, y = np.arange(100, dtype=np.float32), np.ones(100, np.float32)
    m["saxpy"](100, 2, x, y, global_size=(128,), local_size=(64,))  # an int for a float
    np.testing.assert_array_equal(y, 2 * x + 1)
    m["saxpy"](np.int32(100), np.float64(0.5), x, y, grid=(4,), block=(32,))
    np.testing.assert_array_equal(y, 2.5 * x + 1)
    m["saxpy"](100, 1.0, x, y, global_size=100)  # dlc picks the local size
    np.testing.assert_array_equal(y, 3.5 * x + 1)
    with pytest.raises(InputError, match="no kernel 'sxpy' in this module; it has saxpy, reduce"):
        m["sxpy"]


def test_local_memory_and_dynamic_shared_memory() -> None:
    m = module()
    x = np.random.default_rng(1).random(200, dtype=np.float32)
    out = np.zeros(4, np.float32)
    m["reduce"](x, out, LocalMemory(64 * 4), 200, global_size=256, local_size=64)
    np.testing.assert_allclose(out, np.pad(x, (0, 56)).reshape(4, 64).sum(1), rtol=1e-5)
    xi = np.arange(64, dtype=np.int32)
    m["rev"](xi, grid=4, block=16, shared_mem=16 * 4)
    np.testing.assert_array_equal(xi, np.arange(64).reshape(4, 16)[:, ::-1].reshape(-1))
    with pytest.raises(ExecutionError, match="out-of-bounds write of local buffer 's' at index "
                                             r"\[8\]; it has 8 elements"):
        m["rev"](xi, grid=4, block=16, shared_mem=8 * 4)
    np.testing.assert_array_equal(xi, np.arange(64).reshape(4, 16)[:, ::-1].reshape(-1))


def test_vector_buffers_take_flat_scalar_data_of_any_shape() -> None:
    v = np.arange(32, dtype=np.float32).reshape(4, 2, 4)
    module()["scale4"](v, (1, 2, 3, 4), global_size=8, local_size=4)
    np.testing.assert_array_equal(v.reshape(8, 4), np.arange(32).reshape(8, 4) * [1, 2, 3, 4])


def test_written_arrays_are_copied_back_and_a_failed_launch_changes_nothing() -> None:
    m = module()
    x, y = np.arange(64, dtype=np.float32), np.zeros(64, np.float32)
    x_before = x.copy()
    with pytest.raises(ExecutionError, match="out-of-bounds read of buffer 'x' at index \\[64\\]"):
        m["saxpy"](65, 1.0, x, np.zeros(65, np.float32), global_size=128, local_size=32)
    m["saxpy"](64, 1.0, x, y, global_size=64, local_size=32)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, x)
    m["saxpy"](64, 1.0, y, y, global_size=64, local_size=32)  # one array bound twice
    np.testing.assert_array_equal(y, 2 * x)


X, Y = np.zeros(64, np.float32), np.zeros(64, np.float32)


@pytest.mark.parametrize("args, launch, message", [
    ((64, 1.0, X), dict(global_size=64), "kernel 'saxpy' takes 4 argument\\(s\\), got 3: "
     r"saxpy\(int n, float a, const float\* x, float\* y\)"),
    ((64.0, 1.0, X, Y), dict(global_size=64), r"argument 0 \(int n\) takes an int, not float"),
    ((True, 1.0, X, Y), dict(global_size=64), "takes an int, not bool"),
    ((2**31, 1.0, X, Y), dict(global_size=64), "2147483648 is outside the range of int"),
    ((64, "2", X, Y), dict(global_size=64), r"argument 1 \(float a\) takes a number, not str"),
    ((64, 1.0, X.astype(np.float64), Y), dict(global_size=64),
     r"argument 2 \(const float\* x\) takes an array of float32, not float64"),
    ((64, 1.0, list(X), Y), dict(global_size=64), "takes a numpy array of float32, not list"),
    ((64, 1.0, X, np.zeros(128, np.float32)[::2]), dict(global_size=64),
     r"argument 3 \(float\* y\): the array is not C-contiguous"),
    ((64, 1.0, X, np.zeros((8, 8), np.float32).T), dict(global_size=64), "not C-contiguous"),
    ((64, 1.0, X, LocalMemory(4)), dict(global_size=64), "is global memory; LocalMemory is for"),
    ((64, 1.0, X, Y), dict(global_size=64, local_size=48), r"global size \[64\] is not a "
     r"multiple of local size \[48\]"),
    ((64, 1.0, X, Y), dict(global_size=64, local_size=0), r"local_size \[0\] must be positive"),
    ((64, 1.0, X, Y), dict(global_size=(64, 1, 1, 1)), "1 to 3 ints"),
    ((64, 1.0, X, Y), dict(global_size=2048, local_size=2048), "a work-group of \\[2048\\] is "
     "2048 work-items; at most 1024"),
    ((64, 1.0, X, Y), dict(grid=2), "needs both grid= and block="),
    ((64, 1.0, X, Y), dict(grid=2, block=32, global_size=64), "not both"),
    ((64, 1.0, X, Y), {}, "give global_size="),
])
def test_bad_arguments_fail_before_running(args: tuple[Any, ...], launch: dict[str, Any],
                                           message: str) -> None:
    with pytest.raises(InputError, match=message):
        module()["saxpy"](*args, **launch)


def test_read_only_arrays_bound_to_written_pointers() -> None:
    m = module()
    ro = np.zeros(64, np.float32)
    ro.flags.writeable = False
    m["saxpy"](64, 1.0, ro, Y.copy(), global_size=64)  # x is only read: fine
    with pytest.raises(InputError, match=r"argument 3 \(float\* y\): the kernel writes this "
                                         "buffer, but the array is read-only"):
        m["saxpy"](64, 1.0, X, ro, global_size=64)


def test_local_memory_arguments() -> None:
    m = module()
    out = np.zeros(4, np.float32)
    with pytest.raises(InputError, match=r"argument 2 \(__local float\* tmp\) is local memory: "
                                         "pass dlc.LocalMemory\\(nbytes\\), not int"):
        m["reduce"](X, out, 256, 64, global_size=64)
    with pytest.raises(InputError, match="254 bytes is not a whole number of float"):
        m["reduce"](X, out, LocalMemory(254), 64, global_size=64)
    with pytest.raises(InputError, match="LocalMemory takes a byte count"):
        LocalMemory(-1)
    with pytest.raises(InputError, match="shared_mem .*: 6 bytes is not a whole number of int"):
        m["rev"](np.zeros(4, np.int32), grid=1, block=4, shared_mem=6)
    assert repr(LocalMemory(8)) == "LocalMemory(8)"


def test_sizes_known_to_be_too_small() -> None:
    k = K("""
    kernel @rows(%n: i32, %a: f32[%n, 4] global rw, %v: f32x2[3] global r) spmd(1) {
      %a[global_id(0), 0] = extract<0>(%v[0])
    }""")
    m = KernelModule([k])
    m["rows"](2, np.zeros(8, np.float32), np.ones(6, np.float32), global_size=2)
    with pytest.raises(InputError, match=r"argument 1 \(float\* a\) has 8 elements; the kernel "
                                         r"declares it \[3, 4\] \(12\)"):
        m["rows"](3, np.zeros(8, np.float32), np.ones(6, np.float32), global_size=3)
    with pytest.raises(InputError, match=r"argument 2 \(const float2\* v\) has 2 elements"):
        m["rows"](2, np.zeros(8, np.float32), np.ones(4, np.float32), global_size=2)
    with pytest.raises(InputError, match=r"5 values are not a whole number of float2"):
        m["rows"](2, np.zeros(8, np.float32), np.ones(5, np.float32), global_size=2)


def test_save_and_load(tmp_path: Path) -> None:
    m = module()
    m.save(tmp_path / "k.dlc")
    manifest = json.loads((tmp_path / "k.dlc" / "manifest.json").read_text())
    assert manifest["kind"] == "kernels" and manifest["language"] == "opencl"
    m2 = load_kernel_module(tmp_path / "k.dlc", manifest)
    assert m2.kernel_names == m.kernel_names and m2.kernels["reduce"] == REDUCE
    y = np.ones(8, np.float32)
    m2["saxpy"](8, 3.0, np.ones(8, np.float32), y, global_size=8)
    assert (y == 4).all()
    assert "kernel @saxpy" in str(m2) and "KernelModule reference" in repr(m2)


def test_sanitizer_messages_of_c_kernels_start_with_the_source_position() -> None:
    from dlc.frontends.c import import_kernels
    src = ("__kernel void k(__global float* x, int n) {\n"
           "    int i = get_global_id(0);\n"
           "    if (i < n)\n"
           "        barrier(CLK_LOCAL_MEM_FENCE);\n"
           "    x[i + 1] = 2.0f;\n"
           "}\n")
    m = KernelModule(import_kernels(src, language="opencl", filename="k.cl"))
    x = np.zeros(64, np.float32)
    with pytest.raises(ExecutionError, match=r"^k\.cl:5:5: kernel 'k': out-of-bounds write of "
                                             r"buffer 'x' at index \[64\]; it has 64 elements; "
                                             r"by work-item global id \(63,\)"):
        m["k"](x, 64, global_size=64, local_size=32)
    with pytest.raises(ExecutionError, match=r"^k\.cl:4:9: kernel 'k': barrier 1 of 1 "
                                             r"\(`barrier local`\) is reached by 16 of 32"):
        m["k"](x, 16, global_size=64, local_size=32)
    assert (x == 0).all()

"""The kernel interpreter's launch semantics: work-groups and barriers, local and private memory,
divergent control flow, the sanitizer's messages, launch checks, and KernelCall nodes.
(Arithmetic, vectors, atomics and warps: test_kernel_interpret_ops.py.)"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dlc.errors import ExecutionError, InputError
from dlc.ir import DType, Graph, TensorType, interpret, verify, verify_kernel
from dlc.ir.kernel import F32, I32, Kernel, KernelBuilder
from dlc.ir.kernel.interpret import choose_local_size, kernel_source, run_kernel
from dlc.ir.ops.kernel_call import KernelCallAttrs
from dlc.ir.text import parse_kernel


def K(text: str) -> Kernel:
    k = parse_kernel(text)
    verify_kernel(k)
    return k


def f32(*shape: int, fill: float | None = None) -> np.ndarray:
    rng = np.random.default_rng(sum(shape) + 1)
    if fill is not None:
        return np.full(shape, fill, np.float32)
    return rng.random(shape, dtype=np.float32)


def saxpy() -> Kernel:
    kb = KernelBuilder("saxpy", spmd=1)
    n, a = kb.scalar("n", I32), kb.scalar("a", F32)
    x, y = kb.buffer("x", F32, (n,), access="r"), kb.buffer("y", F32, (n,))
    i = kb.let("i", kb.global_id(0))
    with kb.if_(i < n):
        y[i] = a * x[i] + y[i]
    return kb.finish()


def test_saxpy_guards_the_partial_last_group() -> None:
    x, y = f32(100), f32(100)
    expect = np.float32(2.5) * x + y
    run_kernel(saxpy(), [100, 2.5, x, y], (128,), (32,))
    np.testing.assert_array_equal(y, expect)
    assert "def kernel_saxpy(R" in kernel_source(saxpy())


REDUCE = K("""
kernel @reduce(%n: i32, %x: f32* global r, %out: f32* global w, %tmp: f32* local rw) spmd(1) {
  let %gid: i32 = global_id(0)
  let %lid: i32 = local_id(0)
  let %v: f32 = 0.0
  if %gid < %n { %v = %x[%gid] }
  %tmp[%lid] = %v
  barrier local
  let %s: i32 = floordiv(local_size(0), 2)
  while %s > 0 {
    if %lid < %s { %tmp[%lid] = %tmp[%lid] + %tmp[%lid + %s] }
    barrier local
    %s = %s >> 1
  }
  if %lid == 0 { %out[group_id(0)] = %tmp[0] }
}""")


@pytest.mark.parametrize("batch", [8192, 64, 100])
def test_local_reduction_tree_is_right_in_any_batching(batch: int) -> None:
    x = f32(1000)
    out = np.zeros(16, np.float32)
    run_kernel(REDUCE, [1000, x, out, 64 * 4], (1024,), (64,), batch_lanes=batch)
    padded = np.concatenate([x, np.zeros(24, np.float32)]).reshape(16, 64)
    np.testing.assert_allclose(out, padded.sum(1), rtol=1e-5)


def test_local_memory_is_one_copy_per_group() -> None:
    k = K("""
    kernel @rev(%x: i32* global r, %y: i32* global w) spmd(1) {
      alloc %t: i32[8] local rw
      let %l: i32 = local_id(0)
      %t[%l] = %x[global_id(0)]
      barrier local
      %y[global_id(0)] = %t[7 - %l]
    }""")
    x, y = np.arange(32, dtype=np.int32), np.zeros(32, np.int32)
    run_kernel(k, [x, y], 32, 8, batch_lanes=16)
    np.testing.assert_array_equal(y, x.reshape(4, 8)[:, ::-1].reshape(-1))


def test_a_barrier_in_a_divergent_branch_is_an_error() -> None:
    k = K("""
    kernel @half(%x: f32* global rw) spmd(1) {
      barrier local
      if local_id(0) < 16 { barrier all }
      %x[global_id(0)] = 1.0
    }""")
    x = np.zeros(64, np.float32)
    with pytest.raises(ExecutionError) as e:
        run_kernel(k, [x], 64, 32)
    msg = str(e.value)
    assert "kernel 'half': barrier 2 of 2 (`barrier all`) is reached by 16 of 32 work-items " \
           "of work-group (0,)" in msg
    assert "work-item global id (16,) (local id (16,)) does not reach it" in msg
    assert (x == 0).all()


def test_returning_before_a_barrier_is_an_error_unless_the_whole_group_returns() -> None:
    k = K("""
    kernel @ret(%n: i32, %x: f32* global rw) spmd(1) {
      let %gid: i32 = global_id(0)
      if %gid >= %n { return }
      barrier local
      %x[%gid] = 1.0
    }""")
    x = np.zeros(64, np.float32)
    run_kernel(k, [32, x], 64, 32)  # group 1 returns as a whole
    assert x.sum() == 32
    with pytest.raises(ExecutionError, match=r"reached by 8 of 32 work-items of work-group \(1,\)"
                                             r": work-item global id \(40,\) .*returned"):
        run_kernel(k, [40, x], 64, 32)


def test_barriers_in_branches_and_loops_uniform_per_group_are_fine() -> None:
    k = K("""
    kernel @uni(%x: i32* global rw) spmd(1) {
      alloc %t: i32[4] local rw
      let %g: i32 = group_id(0)
      if %g % 2 == 0 {
        %t[local_id(0)] = 1
        barrier local
      } else {
        %t[local_id(0)] = 2
        barrier local
      }
      for %k: i32 in 0 to %g {
        barrier local
        %x[global_id(0)] = %x[global_id(0)] + %t[3 - local_id(0)]
      }
    }""")
    x = np.zeros(16, np.int32)
    run_kernel(k, [x], 16, 4)
    np.testing.assert_array_equal(x, np.repeat([0, 2, 2, 6], 4))


def test_a_barrier_in_a_loop_with_per_work_item_trip_counts_is_an_error() -> None:
    k = K("""
    kernel @trip(%x: i32* global rw) spmd(1) {
      for %k: i32 in 0 to local_id(0) % 3 { barrier local }
    }""")
    with pytest.raises(ExecutionError, match=r"barrier 1 of 1 .* reached by 2 of 4 work-items"):
        run_kernel(k, [np.zeros(4, np.int32)], 4, 4)


def test_out_of_bounds_accesses_name_kernel_buffer_index_and_work_item() -> None:
    k = K("""
    kernel @shift(%x: f32* global r, %y: f32* global w) spmd(1) {
      let %i: i32 = global_id(0)
      %y[%i] = %x[%i + 1]
    }""")
    x, y = f32(100), f32(100)
    with pytest.raises(ExecutionError) as e:
        run_kernel(k, [x, y], (100,), (20,))
    assert str(e.value) == (
        "kernel 'shift': out-of-bounds read of buffer 'x' at index [100]; it has 100 elements; "
        "by work-item global id (99,) (local id (19,), work-group (4,)), in `%y[%i] = %x[%i + 1]`")
    w = K("""
    kernel @neg(%y: f32* global w) spmd(2) {
      %y[global_id(1) * 4 + global_id(0) - 3] = 0.0
    }""")
    with pytest.raises(ExecutionError, match=r"out-of-bounds write of buffer 'y' at index \[-3\]"
                                             r".*global id \(0, 0\)"):
        run_kernel(w, [f32(16)], (4, 4), (2, 2))


def test_bounds_of_local_and_private_arrays() -> None:
    k = K("""
    kernel @tile(%j: i32, %y: f32* global w) spmd(1) {
      alloc %t: f32[4, 4] local rw
      alloc %p: f32[2] private rw
      %p[0] = 1.0
      %t[local_id(0), %j] = %p[0]
      barrier local
      %y[global_id(0)] = %t[local_id(0), %j] + %p[%j - 3]
    }""")
    y = np.zeros(4, np.float32)
    with pytest.raises(ExecutionError, match=r"out-of-bounds write of local buffer 't' at index "
                                             r"\[3, 4\]; it has shape \[4, 4\];.*local id \(3,\)"):
        run_kernel(k, [4, y], 4, 4)  # rows 0-2 run into the next row: C allows that
    with pytest.raises(ExecutionError, match=r"read of private buffer 'p' at index \[-3\]; it "
                                             r"has 2 elements"):
        run_kernel(k, [0, y], 4, 4)
    run_kernel(k, [3, y], 4, 4)
    assert (y == 2).all()
    lead = K("""
    kernel @lead(%y: f32* global w) spmd(1) {
      alloc %t: f32[4, 4] local rw
      %t[local_id(0) + 1, -1] = 1.0
    }""")
    with pytest.raises(ExecutionError, match=r"write of local buffer 't' at index \[4, -1\]"):
        run_kernel(lead, [y], 4, 4)


def test_accesses_work_items_do_not_execute_never_fault() -> None:
    k = K("""
    kernel @guard(%n: i32, %x: f32* global r, %y: f32* global w) spmd(1) {
      let %i: i32 = global_id(0)
      let %a: bool = %i < %n && %x[%i] > 0.5
      let %b: f32 = select(%i < %n, %x[%i], -1.0)
      let %c: i32 = select(%i < %n, 7 / (%n - %i), 0)
      if %i < %n { %y[%i] = select(%a, %b, 0.0) + cast<f32>(%c) }
    }""")
    x, y = f32(50), np.zeros(50, np.float32)
    run_kernel(k, [50, x, y], 64, 64)
    expect = np.where(x > 0.5, x, 0) + (7 // (50 - np.arange(50)))
    np.testing.assert_allclose(y, expect)


def test_divergent_loops_with_break_continue_and_return() -> None:
    k = K("""
    kernel @cf(%n: i32, %out: i32* global w) spmd(1) {
      let %i: i32 = global_id(0)
      let %acc: i32 = 0
      for %k: i32 in %i to %n {
        if %k % 3 == 1 { continue }
        if %k > %i + 5 { break }
        %acc = %acc + %k
      }
      let %j: i32 = 0
      while true {
        %j = %j + 1
        if %j >= %i { break }
      }
      do { %j = %j + 100 } while %j < 350
      if %i == 7 { return }
      %out[%i] = %acc * 1000 + %j
    }""")

    def ref(i: int, n: int) -> int:
        acc = 0
        for k in range(i, n):
            if k % 3 == 1:
                continue
            if k > i + 5:
                break
            acc += k
        j = max(i, 1)
        j += 100
        while j < 350:
            j += 100
        return acc * 1000 + j
    out = np.full(32, -5, np.int32)
    run_kernel(k, [20, out], 32, 16)
    expect = np.array([ref(i, 20) for i in range(32)], np.int32)
    expect[7] = -5
    np.testing.assert_array_equal(out, expect)


def test_scalar_parameters_are_per_work_item_copies() -> None:
    k = K("""
    kernel @halve(%n: i32, %out: i32* global w) spmd(1) {
      let %i: i32 = global_id(0)
      while %n > %i { %n = %n >> 1 }
      %out[%i] = %n
    }""")
    out = np.zeros(8, np.int32)
    run_kernel(k, [100, out], 8, 8)
    np.testing.assert_array_equal(out, [0, 1, 1, 3, 3, 3, 6, 6])


def test_private_arrays_and_uninitialized_memory() -> None:
    k = K("""
    kernel @priv(%out: f32* global w, %junk: f32* global w) spmd(1) {
      alloc %acc: f32[3] private rw
      alloc %t: f32[4] local rw
      let %u: f32
      for %k: i32 in 0 to 3 { %acc[%k] = cast<f32>(global_id(0) * %k) }
      %out[global_id(0)] = %acc[0] + %acc[1] + %acc[2]
      %junk[global_id(0)] = %t[local_id(0)] + %u
    }""")
    out, junk = np.zeros(8, np.float32), np.zeros(8, np.float32)
    run_kernel(k, [out, junk], 8, 4)
    np.testing.assert_array_equal(out, 3 * np.arange(8))
    assert np.isnan(junk).all()  # uninitialized memory is poison


def test_multi_dimensional_launches() -> None:
    k = K("""
    kernel @ids(%out: u64* global w) spmd(3) {
      let %lin: u64 = global_id(0):u64 + global_size(0):u64 * (global_id(1):u64
                      + global_size(1):u64 * global_id(2):u64)
      %out[%lin * 4] = local_id(0):u64 + 10 * local_id(1):u64 + 100 * local_id(2):u64
      %out[%lin * 4 + 1] = group_id(0):u64 + 10 * group_id(1):u64 + 100 * group_id(2):u64
      %out[%lin * 4 + 2] = num_groups(0):u64 + 10 * num_groups(1):u64 + 100 * num_groups(2):u64
      %out[%lin * 4 + 3] = local_size(0):u64 * local_size(1):u64 * local_size(2):u64
    }""")
    out = np.zeros((3, 4, 6, 4), np.uint64)  # z, y, x
    run_kernel(k, [out], (6, 4, 3), (3, 2, 1))
    z, y, x = np.meshgrid(range(3), range(4), range(6), indexing="ij")
    np.testing.assert_array_equal(out[..., 0], x % 3 + 10 * (y % 2))
    np.testing.assert_array_equal(out[..., 1], x // 3 + 10 * (y // 2) + 100 * z)
    assert (out[..., 2] == 2 + 20 + 300).all() and (out[..., 3] == 6).all()
    one_d = np.zeros(24, np.uint64)
    run_kernel(saxpy(), [0, 1.0, f32(1), f32(1)], (4, 6), (2, 3))  # extra axes just run
    run_kernel(K("""
    kernel @ax(%out: u64* global w) spmd(1) {
      %out[global_id(0):u64 * 6] = global_size(0):u64
    }"""), [one_d], (4,), (2,))
    assert one_d[0] == 4 and one_d[18] == 4


def test_global_offset_moves_global_ids() -> None:
    k = K("""
    kernel @off(%out: i32* global w) spmd(1) {
      %out[global_id(0) - global_offset(0)] = global_id(0)
    }""")
    out = np.zeros(4, np.int32)
    run_kernel(k, [out], 4, 2, global_offset=(10,))
    np.testing.assert_array_equal(out, [10, 11, 12, 13])


def test_a_kernel_without_domain_runs_once() -> None:
    kb = KernelBuilder("cumsum")
    n = kb.scalar("n", I32)
    x = kb.buffer("x", F32, (n,))
    acc = kb.let("acc", 0.0, F32)
    with kb.for_("i", n) as i:
        kb.assign(acc, acc + x[i])
        x[i] = acc
    k = kb.finish()
    x = f32(10)
    expect = np.cumsum(x, dtype=np.float32)
    run_kernel(k, [10, x])
    np.testing.assert_allclose(x, expect, rtol=1e-6)
    with pytest.raises(InputError, match="no SPMD domain"):
        run_kernel(k, [10, x], (4,))


@pytest.mark.parametrize("args, gs, ls, msg", [
    ([1, 1.0, f32(1)], (4,), (2,), "takes 4 argument"),
    ([1, 1.0, f32(1), f32(1)], (10,), (4,), r"global size \[10\] is not a multiple of local size"),
    ([1, 1.0, f32(1), f32(1)], None, None, "needs a global size"),
    ([1, 1.0, f32(1), f32(1)], (0,), None, "must be positive"),
    ([1.5, 1.0, f32(1), f32(1)], (4,), (2,), "is i32, not float"),
    ([2**31, 1.0, f32(1), f32(1)], (4,), (2,), "does not fit argument %n"),
    ([1, 1.0, f32(1).astype(np.float64), f32(1)], (4,), (2,), "C-contiguous array of float32"),
    ([1, 1.0, f32(1), f32(4)[::2]], (4,), (2,), "non-contiguous"),
    ([9, 1.0, f32(8), f32(9)], (4,), (2,), r"declared \[9\] \(9 elements\), the array bound to it "
                                           "has 8"),
])
def test_launch_checks(args: list[Any], gs: Any, ls: Any, msg: str) -> None:
    with pytest.raises(InputError, match=msg):
        run_kernel(saxpy(), args, gs, ls)


def test_required_local_size_and_chosen_local_size() -> None:
    kb = KernelBuilder("req", spmd=1, local_size=(8,))
    y = kb.buffer("y", I32, None, access="w")
    y[kb.global_id(0)] = kb.local_size(0)
    k = kb.finish()
    y = np.zeros(16, np.int32)
    run_kernel(k, [y], 16)
    assert (y == 8).all()
    with pytest.raises(InputError, match=r"requires local size \[8\], the launch gives \[4\]"):
        run_kernel(k, [y], 16, 4)
    assert choose_local_size((1000,)) == (250,)
    assert choose_local_size((64, 64)) == (64, 4)
    assert choose_local_size((7, 3)) == (7, 3)


def test_kernel_call_node_runs_the_interpreter() -> None:
    kb = KernelBuilder("fill", spmd=1)
    n, a = kb.scalar("n", I32), kb.scalar("a", F32)
    y = kb.buffer("y", F32, (n, 2), access="w")
    i = kb.let("i", kb.global_id(0))
    y[i, 0] = a
    y[i, 1] = a + kb.local_size(0).cast(F32)
    k = kb.finish()
    g = Graph("main")
    nv = g.add_constant("n", np.array(4, np.int32))
    av = g.add_input("a", TensorType(DType.F32, ()))
    attrs = KernelCallAttrs(k, global_size=(4,), local_size=(2,))
    node = g.add_node("KernelCall", [nv, av, None], [TensorType(DType.F32, (4, 2))], attrs,
                      name="call", out_names=["y"])
    g.outputs = list(node.outputs)
    verify(g)
    (out,) = interpret(g, [np.float32(1.5)])
    np.testing.assert_array_equal(out, [[1.5, 3.5]] * 4)
    g.nodes[0].attrs = KernelCallAttrs(k)
    with pytest.raises(ExecutionError, match="KernelCall node 'call': kernel 'fill' is SPMD and "
                                             "the call gives no global size"):
        interpret(g, [np.float32(1.5)])


# -- kernels without a domain: parallel loops run as lanes --------------------------------------

def test_parallel_loop_nests_run_as_lanes_with_sequential_results() -> None:
    k = K("""
    kernel @mm(%a: f32[64, 32] global r, %b: f32[32, 48] global r, %c: f32[64, 48] global w,
               %order: i32* global w, %count: i32* global rw) {
      parallel for %i: i64 in 0 to 64 {
        parallel for %j: i64 in 0 to 48 {
          let %acc: f32 = 0.0
          for %k: i64 in 0 to 32 { %acc = %acc + %a[%i, %k] * %b[%k, %j] }
          %c[%i, %j] = %acc
          let %slot: i32 = atomic add(%count[0], 1)
          %order[%slot] = cast<i32>(%i * 48 + %j)
        }
      }
    }""")
    assert ".parallel((('i'," in kernel_source(k)  # both loops became one set of lanes
    a, b = f32(64, 32), f32(32, 48)
    c, order = np.zeros((64, 48), np.float32), np.zeros(64 * 48, np.int32)
    count = np.zeros(1, np.int32)
    run_kernel(k, [a, b, c, order, count])
    np.testing.assert_allclose(c, a @ b, rtol=1e-5)
    np.testing.assert_array_equal(order, np.arange(64 * 48))  # atomics in iteration order


def test_parallel_loops_that_need_sequential_state_still_run_right() -> None:
    k = K("""
    kernel @tri(%n: i32, %x: f32* global rw, %h: i32* global rw) {
      let %s: f32 = 0.0
      parallel for %i: i32 in 0 to %n {
        alloc %p: f32[2] private rw
        %p[0] = 1.0
        parallel for %j: i32 in 0 to %i {
          if %j % 2 == 1 { continue }
          %x[%i * %n + %j] = %p[0] + cast<f32>(%j)
          atomic add(%h[0], 1)
        }
      }
      parallel for %i: i32 in 0 to %n { %s = %s + 1.0 }
      %x[%n * %n - 1] = %s
    }""")
    x, h = np.zeros(100, np.float32), np.zeros(1, np.int32)
    run_kernel(k, [10, x, h])
    ref = np.zeros((10, 10), np.float32)
    for i in range(10):
        ref[i, 0:i:2] = 1 + np.arange(0, i, 2)
    ref[9, 9] = 10
    np.testing.assert_array_equal(x.reshape(10, 10), ref)
    assert h[0] == sum(len(range(0, i, 2)) for i in range(10))
    oob = K("""
    kernel @oob(%x: f32[8, 8] global w) {
      parallel for %i: i32 in 0 to 8 {
        parallel for %j: i32 in 0 to 8 { %x[%i, %j + %i] = 1.0 }
      }
    }""")
    with pytest.raises(ExecutionError, match=r"write of buffer 'x' at index \[7, 8\]; it has shape"
                                             r" \[8, 8\]; by the iteration %i = 7, %j = 1 of a "
                                             "parallel loop"):
        run_kernel(oob, [np.zeros(64, np.float32)])
    ret = K("""
    kernel @ret(%n: i32, %x: f32* global w) {
      if %n > 2 { return }
      parallel for %i: i32 in 0 to 4 { %x[%i] = 1.0 }
    }""")
    x = np.zeros(4, np.float32)
    run_kernel(ret, [3, x])
    assert (x == 0).all()
    run_kernel(ret, [2, x])
    assert (x == 1).all()
    with pytest.raises(ExecutionError, match="by the kernel's single run"):
        run_kernel(K("kernel @one(%x: f32* global w) { %x[3] = 1.0 }"),
                   [np.zeros(3, np.float32)])


def test_kernel_call_binds_vector_scalars_and_local_memory_by_size() -> None:
    k = K("""
    kernel @scale(%s: f32x2, %y: f32x2* global rw, %t: f32x2* local rw) spmd(1) {
      %t[local_id(0)] = %y[global_id(0)] * %s
      barrier local
      %y[global_id(0)] = %t[local_size(0) - 1 - local_id(0)]
    }""")
    g = Graph("main")
    s = g.add_input("s", TensorType(DType.F32, (2,)))
    y = g.add_input("y", TensorType(DType.F32, (4, 2)))
    t = g.add_constant("t", np.zeros((2, 2), np.float32))  # its size sizes the local buffer
    attrs = KernelCallAttrs(k, global_size=(4,), local_size=(2,))
    node = g.add_node("KernelCall", [s, y, t], [y.type, t.type], attrs, name="c",
                      out_names=["y2", "t2"])
    g.outputs = list(node.outputs)
    verify(g)
    y_in = np.arange(8, dtype=np.float32).reshape(4, 2)
    y2, t2 = interpret(g, [np.array([1, 10], np.float32), y_in])
    np.testing.assert_array_equal(y2, [[2, 30], [0, 10], [6, 70], [4, 50]])
    np.testing.assert_array_equal(t2, 0)  # a local buffer's value is what was bound

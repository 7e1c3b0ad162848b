"""SPMD kernels on the cpu backend: work-groups across cores, work-item loops, builtins on three
axes, divergent control flow, barriers at top level and inside loops and branches, local
memory (static and parameters), private arrays across barriers, atomics, and 32-lane warps — each
kernel run natively and in the interpreter on the same inputs."""
from __future__ import annotations

import numpy as np
import pytest
from cpu_testing import differential, same

from dlc.backends.cpu import compile_kernel, compile_kernels, host_target, kernel_ir, optimized_ir
from dlc.ir.kernel import Kernel
from dlc.ir.text import parse_kernel
from dlc.options import CompileOptions


def K(text: str) -> Kernel:
    return parse_kernel(text)


def f32(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(n, dtype=np.float32)


SAXPY = K("""
kernel @saxpy(%n: i32, %a: f32, %x: f32* global r, %y: f32* global rw) spmd(1) {
  let %i: i32 = global_id(0)
  if %i < %n { %y[%i] = %a * %x[%i] + %y[%i] }
}""")


def test_saxpy_over_groups_on_all_cores_is_vectorized() -> None:
    ck = compile_kernel(SAXPY, options=CompileOptions(threads=3))
    differential(SAXPY, [1000, 2.5, f32(1000), f32(1000, 1)], (1024,), (64,), ck=ck)
    differential(SAXPY, [1000, 2.5, f32(1000), f32(1000, 1)], (1000,), (1000,), ck=ck)
    lanes = host_target().vector_lanes(np.dtype(np.float32) and SAXPY.params[1].type.dtype)
    assert f"<{lanes} x float>" in optimized_ir(kernel_ir([SAXPY])[0], host_target())


def test_builtins_on_three_axes_with_offsets() -> None:
    k = K("""
    kernel @ids(%out: u64* global w) spmd(3) {
      let %lin: u64 = global_id(0):u64 + global_size(0):u64 * (global_id(1):u64
                      + global_size(1):u64 * global_id(2):u64)
      %out[%lin * 4] = local_id(0):u64 + 10 * local_id(1):u64 + 100 * local_id(2):u64
      %out[%lin * 4 + 1] = group_id(0):u64 + 10 * group_id(1):u64 + 100 * group_id(2):u64
      %out[%lin * 4 + 2] = num_groups(0):u64 + 10 * num_groups(1):u64 + 100 * num_groups(2):u64
      %out[%lin * 4 + 3] = local_size(0):u64 * local_size(1):u64 * local_size(2):u64
                           + 1000 * cast<u64>(lane_id()) + 100000 * cast<u64>(warp_size())
    }""")
    differential(k, [np.zeros(6 * 4 * 3 * 4, np.uint64)], (6, 4, 3), (3, 2, 1))
    differential(k, [np.zeros(8 * 8 * 2 * 4, np.uint64)], (8, 8, 2), (8, 4, 2))


DIVERGENT = K("""
kernel @cf(%n: i32, %x: f32* global r, %out: i32* global w) spmd(1) {
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
  let %g: bool = %i < %n && %x[%i] > 0.5
  %out[%i] = %acc * 1000 + %j + select(%g, 1, 0) + select(%i < %n, cast<i32>(%x[%i] * 8.0), 0)
  while %n > %i { %n = %n >> 1 }
  %out[%i + 32] = %n
}""")


def test_divergent_loops_returns_and_per_item_parameters() -> None:
    differential(DIVERGENT, [20, f32(20), np.full(64, -5, np.int32)], 32, 16)


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
  if %lid == 0 { %out[group_id(0)] = %tmp[0] + %v * 0.0 }
}""")


def test_local_memory_reduction_tree_with_barriers_in_a_loop() -> None:
    x = f32(1000)
    got = differential(REDUCE, [1000, x, np.zeros(16, np.float32), 64 * 4], (1024,), (64,),
                       rtol=1e-6)
    padded = np.concatenate([x, np.zeros(24, np.float32)]).reshape(16, 64)
    same(got[2], padded.sum(1), rtol=1e-5)


def test_barriers_in_branches_loops_and_private_arrays_across_them() -> None:
    k = K("""
    kernel @mix(%n: i32, %x: f32* global r, %y: f32* global w) spmd(1) {
      alloc %t: f32[32] local rw
      alloc %acc: f32[3] private rw
      let %l: i32 = local_id(0)
      for %r: i32 in 0 to 3 { %acc[%r] = cast<f32>(%l * %r) }
      let %keep: f32 = %x[global_id(0)]
      for %k: i32 in 0 to %n {
        %t[%l] = %keep + cast<f32>(%k)
        barrier local
        if %n > 2 {
          %keep = %keep + %t[(%l + 1) % 32]
          barrier local
        } else {
          %keep = %keep - %t[(%l + 31) % 32]
        }
        %acc[%k % 3] = %acc[%k % 3] + %keep
      }
      %y[global_id(0)] = %keep + %acc[0] + %acc[1] * 2.0 + %acc[2] * 3.0
    }""")
    (ck,) = compile_kernels([k])
    for n in (2, 5):
        differential(k, [n, f32(128), np.zeros(128, np.float32)], 128, 32, ck=ck, rtol=1e-5)


def test_local_memory_is_one_copy_per_group_and_groups_run_anywhere() -> None:
    k = K("""
    kernel @rev(%x: i32* global r, %y: i32* global w) spmd(1) {
      alloc %t: i32[8] local rw
      %t[local_id(0)] = %x[global_id(0)]
      barrier local
      %y[global_id(0)] = %t[7 - local_id(0)] + cast<i32>(group_id(0)) * 1000
    }""")
    x = np.arange(8 * 37, dtype=np.int32)
    ck = compile_kernel(k, options=CompileOptions(threads=4))
    got = differential(k, [x, np.zeros_like(x)], 8 * 37, 8, ck=ck)
    same(got[1][:8], x[:8][::-1])


def test_returning_groups_and_barriers_reached_by_all() -> None:
    k = K("""
    kernel @ret(%n: i32, %x: f32* global rw) spmd(1) {
      let %gid: i32 = global_id(0)
      if group_id(0) == 1 { return }
      %x[%gid] = %x[%gid] + 1.0
      barrier local
      if %gid >= %n { return }
      %x[%gid] = %x[%gid] * 2.0
      for %k: i32 in 0 to 2 { barrier local }
      %x[%gid] = %x[%gid] + %x[(%gid + 1) % 64]
    }""")
    differential(k, [40, f32(96)], 96, 32)


ATOMIC = """
kernel @at(%idx: i32* global r, %v: {t}* global r, %buf: {t}* global rw, %old: {t}* global w)
    spmd(1) {{
  let %i: i32 = global_id(0)
  atomic {op}(%buf[%idx[%i]]{args})
  %old[%i] = %v[%i]
}}"""


@pytest.mark.parametrize("t", ["i32", "u32", "f32", "i64", "f64"])
def test_atomics_update_memory_like_some_order_of_the_work_items(t: str) -> None:
    ops = ["add", "sub", "min", "max", "and", "or", "xor", "inc", "dec"]
    if t.startswith("f"):
        ops = ["add", "sub", "min", "max"]
    ks = [K(ATOMIC.format(t=t, op=op, args="" if op in ("inc", "dec") else ", %v[%i]"))
          for op in ops]
    dt = np.dtype({"i32": np.int32, "u32": np.uint32, "f32": np.float32, "i64": np.int64,
                   "f64": np.float64}[t])
    rng = np.random.default_rng(7)
    idx = rng.integers(0, 3, 4096).astype(np.int32)
    v = rng.integers(0, 9, 4096).astype(dt)
    for k, ck in zip(ks, compile_kernels(ks, options=CompileOptions(threads=4))):
        with np.errstate(all="ignore"):  # exact and commutative: any order gives the same
            differential(k, [idx, v, np.array([3, 5, 8], dt), np.zeros(4096, dt)], 4096, 64,
                         ck=ck)


def test_atomic_results_cas_loops_and_local_histograms() -> None:
    k = K("""
    kernel @hist(%n: i32, %x: i32* global r, %h: u32* global rw, %sum: i32* global rw,
                 %slots: i32* global rw, %got: i32* global w) spmd(1) {
      alloc %lh: u32[4] local rw
      if local_id(0) < 4 { %lh[local_id(0)] = 0 }
      barrier local
      let %i: i32 = global_id(0)
      if %i < %n {
        atomic inc(%lh[%x[%i]])
        let %old: i32 = %sum[0]
        let %seen: i32 = 0
        do {
          %seen = %old
          let %r: i32 = atomic cas(%sum[0], %seen, bitcast<i32>(bitcast<f32>(%seen) + 0.5))
          %old = %r
        } while %old != %seen
        let %slot: i32 = atomic add(%slots[0], 1)
        %got[%slot] = %i
      }
      barrier local
      if local_id(0) < 4 { atomic add(%h[local_id(0)], %lh[local_id(0)]) }
    }""")
    x = np.random.default_rng(3).integers(0, 4, 300).astype(np.int32)
    h, s = np.zeros(4, np.uint32), np.zeros(1, np.float32)
    slots, got = np.zeros(1, np.int32), np.full(300, -1, np.int32)
    compile_kernel(k, options=CompileOptions(threads=4)).launch(
        [300, x, h, s.view(np.int32), slots, got], 320, 32)
    same(h, np.bincount(x, minlength=4))
    assert s[0] == 150.0 and slots[0] == 300
    same(np.sort(got), np.arange(300))  # each work-item got its own slot


SHUFFLE = """
kernel @sh(%b: i32, %x: i32* global r, %out: i32* global w) spmd(1) {{
  %out[global_id(0)] = shuffle<{mode}{w}>(%x[global_id(0)], %b)
}}"""


def test_shuffles_follow_ptx_in_full_and_partial_warps() -> None:
    cases = [(mode, width) for mode in ("idx", "up", "down", "xor") for width in (32, 16, 4)]
    ks = [K(SHUFFLE.format(mode=m, w="" if w == 32 else f", {w}")) for m, w in cases]
    x = np.arange(100, 200, dtype=np.int32)
    for k, ck in zip(ks, compile_kernels(ks)):
        for b in (1, 3, 6, 17, 33):
            differential(k, [b, x, np.zeros(100, np.int32)], 100, 50, ck=ck)


def test_warp_reduction_ballot_vote_and_active_mask() -> None:
    k = K("""
    kernel @warp(%x: f32* global r, %sum: f32* global w, %bal: u32* global rw,
                 %act: u32* global w, %all: i32* global w) spmd(2) {
      let %i: i32 = global_id(0) + global_size(0) * global_id(1)
      let %v: f32 = %x[%i]
      for %o: i32 in 0 to 5 { %v = %v + shuffle<xor>(%v, 1 << %o) }
      %sum[%i] = %v
      %bal[%i] = ballot(%x[%i] > 0.5)
      %act[%i] = 0
      if lane_id() % 3 == 0 { %act[%i] = activemask() }
      %all[%i] = cast<i32>(vote<all>(%x[%i] >= 0.0)) + 2 * cast<i32>(vote<any>(%x[%i] > 0.99))
      if lane_id() >= 20 { return }
      %bal[%i] = %bal[%i] + ballot(%v > 0.0) * 0 + activemask()
    }""")
    x = f32(128, 5) * 0.98
    x[70] = 0.995
    outs = [np.zeros(128, t) for t in (np.float32, np.uint32, np.uint32, np.int32)]
    differential(k, [x, *outs], (16, 8), (16, 4), rtol=1e-6)


def test_uniform_loops_run_at_group_level_under_full_and_partial_masks() -> None:
    k = K("""
    kernel @rowdot(%n: i32, %m: i32, %a: f32* global r, %x: f32* global r, %y: f32* global w)
        spmd(1) {
      let %i: i32 = cast<i32>(global_id(0):u64)
      let %twice: i32 = %m * 2
      if %i == %n + 3 { return }
      if %i < %n {
        let %acc: f32 = 0.0
        for %k: i32 in 0 to %m {
          if %k % 7 != 3 { %acc = %acc + %a[%k * %n + %i] * %x[%k] }
          for %r: i32 in 0 to %k step 5 { %acc = %acc + %a[%r * %n + %i] * 0.5 }
        }
        for %k: i32 in 0 to %twice step 9 {
          if %k == 18 { continue }
          %acc = %acc - %x[%k / 2]
        }
        for %k: i32 in 1 to %twice step 7 { %acc = %acc - %x[%k / 2] }
        %y[%i] = %acc
      }
    }""")
    from dlc.backends.cpu.spmd import prepare
    _, plan, _ = prepare(k)
    # the uniform loops with memory work, not the one bounded by %k nor the one that continues
    assert len(plan.hoisted) == 3 and len(plan.uniform) == 3
    (ck,) = compile_kernels([k])
    for n, gs in ((64, 64), (50, 64), (40, 96)):
        a, x = f32(n * 30, n), f32(60, 2 * n)
        differential(k, [n, 30, a, x, np.zeros(96, np.float32)], gs, 16, ck=ck, rtol=1e-5)


def test_group_loops_with_per_item_bounds_break_continue_and_warp_ops() -> None:
    k = K("""
    kernel @loops(%cnt: i32* global r, %x: f32* global rw, %out: f32* global w) spmd(1) {
      alloc %t: f32[64] local rw
      let %l: i32 = local_id(0)
      let %trips: i32 = %cnt[0]
      let %acc: f32 = 0.0
      for %k: i32 in 0 to %trips {
        %t[%l] = %x[global_id(0)] + cast<f32>(%k)
        barrier local
        if %k == 2 { continue }
        %acc = %acc + %t[63 - %l]
        if %k == 4 { break }
        barrier local
        if %l < 40 { %acc = %acc + shuffle<xor>(%acc, 1) }
      }
      let %n: i32 = %cnt[1] + %l % 3
      do {
        %acc = %acc * 0.5
        %n = %n - 1
        if %n == 1 && %l % 2 == 0 { break }
      } while %n > 0
      let %w: u32 = ballot(%acc > 1.0)
      %out[global_id(0)] = %acc + cast<f32>(%w % 7)
    }""")
    x = f32(128, 9)
    for cnt in ([3, 2], [6, 4]):
        differential(k, [np.array(cnt, np.int32), x, np.zeros(128, np.float32)], 128, 64,
                     rtol=1e-5)


def test_strided_loops_run_over_the_iteration_number() -> None:
    k = K("""
    kernel @strided(%rows: i32, %cols: i32, %x: f32* global r, %y: f32* global w,
                    %sums: f32* global w) spmd(1) {
      alloc %part: f32[16] local rw
      let %row: i32 = cast<i32>(group_id(0))
      let %l: i32 = local_id(0)
      let %acc: f32 = 0.0
      for %c: i32 in %l + 3 to %cols step 16 {
        %acc = %acc + %x[%row * %cols + %c]
        %y[%row * %cols + %c] = %x[%row * %cols + %c] * 2.0
      }
      for %r: i32 in 0 to 2 {
        for %c: i32 in %l * 2 + %r to %cols - 1 step 32 { %acc = %acc + %x[%c] * 0.25 }
      }
      %part[%l] = %acc
      barrier local
      if %l == 0 {
        let %s: f32 = 0.0
        for %i: i32 in 0 to 16 { %s = %s + %part[%i] }
        %sums[%row] = %s
      }
    }""")
    from dlc.backends.cpu.spmd import prepare
    assert len(prepare(k)[1].strided) == 2
    for cols in (40, 7):
        x = f32(5 * cols, cols)
        differential(k, [5, cols, x, np.zeros(5 * cols, np.float32), np.zeros(5, np.float32)],
                     5 * 16, 16, rtol=1e-5)

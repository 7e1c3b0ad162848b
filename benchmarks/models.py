"""Model latency at batch 1, fp32, all cores: dlc target="cpu" against ONNX Runtime's CPU
provider with the same thread count (the peer), each side timed in a process of its own.

    python benchmarks/models.py [--repeat 20] [--warmup 3] [--threads N] [NAME ...]

Models are the ONNX files of ~/.cache/dlc-test-models (written by
tests/models/export_models.py; "bert"/"gpt2" have 2 layers, "bert-full"/"gpt2-full" are
BERT-base and GPT-2 with 12); inputs are made as export_models.export makes them (seed 0).
Each side warms up, then runs --repeat times; the figure is the median. dlc's compile time
(import, passes, lowering, LLVM) is printed too. The ratio is dlc / ORT (below 1: dlc is faster);
the last line is the geometric mean of the ratios.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

CACHE = Path.home() / ".cache" / "dlc-test-models"
MODELS = ["resnet18", "mobilenet_v2", "efficientnet_b0", "squeezenet1_1", "shufflenet_v2_x1_0",
          "bert", "gpt2", "bert-full", "gpt2-full"]
VOCAB = {"bert": 30522, "gpt2": 50257}


def inputs(name: str) -> dict[str, np.ndarray]:
    """What tests/models/export_models.export feeds NAME (same seed, shapes and dtypes)."""
    rng = np.random.default_rng(0)
    family = name.split("-")[0]
    if family not in VOCAB:
        return {"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
    ids = rng.integers(0, VOCAB[family], (1, 16)).astype(np.int64)
    return {"input_ids": ids, "attention_mask": np.ones((1, 16), np.int64)}


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _time(run: Any, warmup: int, repeat: int) -> list[float]:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return times


def worker(side: str, name: str, threads: int, warmup: int, repeat: int) -> dict[str, Any]:
    path = CACHE / f"{name}.onnx"
    feeds = inputs(name)
    if side == "ort":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        t0 = time.perf_counter()
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        setup = time.perf_counter() - t0
        feeds = {i.name: feeds[i.name] for i in sess.get_inputs()}
        times = _time(lambda: sess.run(None, feeds), warmup, repeat)
        return {"median": statistics.median(times), "setup": setup}
    import dlc
    t0 = time.perf_counter()
    m = dlc.compile(path, target="cpu", threads=threads)
    setup = time.perf_counter() - t0
    feeds = {k: feeds[k] for k in m.input_names}
    times = _time(lambda: m.run(feeds), warmup, repeat)
    return {"median": statistics.median(times), "setup": setup}


def measure(side: str, name: str, a: argparse.Namespace) -> dict[str, Any] | str:
    cmd = [sys.executable, __file__, "--worker", side, "--threads", str(a.threads),
           "--warmup", str(a.warmup), "--repeat", str(a.repeat), name]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {a.timeout} s"
    if res.returncode != 0:
        lines = (res.stderr or res.stdout).strip().splitlines()
        return lines[-1] if lines else f"exit {res.returncode}"
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=None)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=cores())
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per side and model")
    ap.add_argument("--worker", choices=("dlc", "ort"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.names[0], a.threads, a.warmup, a.repeat)))
        return
    import onnxruntime
    print(f"{datetime.date.today()} {platform.node()} ({platform.processor() or 'cpu'}, "
          f"{cores()} cores); threads {a.threads} on both sides; ONNX Runtime "
          f"{onnxruntime.__version__}; median of {a.repeat} runs after {a.warmup} warm-up")
    print(f"{'model':20} {'dlc ms':>9} {'ORT ms':>9} {'dlc/ORT':>8} {'compile s':>10}")
    ratios = []
    for name in a.names or MODELS:
        if not (CACHE / f"{name}.onnx").is_file():
            print(f"{name:20} (no {CACHE / name}.onnx: run tests/models/export_models.py)")
            continue
        ours, peer = measure("dlc", name, a), measure("ort", name, a)
        if isinstance(ours, str) or isinstance(peer, str):
            print(f"{name:20} failed: dlc: {ours if isinstance(ours, str) else 'ok'}; "
                  f"ORT: {peer if isinstance(peer, str) else 'ok'}", flush=True)
            continue
        r = ours["median"] / peer["median"]
        ratios.append(r)
        print(f"{name:20} {ours['median'] * 1e3:9.2f} {peer['median'] * 1e3:9.2f} {r:8.2f} "
              f"{ours['setup']:10.1f}", flush=True)
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"geometric mean of dlc/ORT over {len(ratios)} models: {geo:.2f} "
              f"(worst {max(ratios):.2f})")


if __name__ == "__main__":
    main()

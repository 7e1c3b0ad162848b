"""Convolutions on the cpu target: ResNet-18 and MobileNetV2 end to end, and single conv layers,
with and without the conv schedule (passes/schedule_conv.py), against ONNX Runtime's CPU
provider with the same thread count. Every side runs in its own process, one after the other.

    python benchmarks/conv.py [--repeat 20] [--threads 2] [--models resnet18,mobilenet_v2]
                              [--layers] [--no-models]

Prints median latency (ms) per side and the ratios dlc / ORT (above 1: dlc is slower) and
before / after the schedule; for single layers also GFLOP/s. Models come from
~/.cache/dlc-test-models (tests/models/export_models.py makes them); ORT runs under
/work/venv-models/bin/python (or --ort-python).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

MODELS = Path.home() / ".cache" / "dlc-test-models"
ORT_PYTHON = "/work/venv-models/bin/python"
SRC = Path(__file__).resolve().parent.parent / "src"

# (name, c_in, h, w, c_out, kernel, stride, pad, group)
LAYERS = [
    ("resnet 3x3 64->64 56x56", 64, 56, 56, 64, 3, 1, 1, 1),
    ("resnet 3x3 512->512 7x7", 512, 7, 7, 512, 3, 1, 1, 1),
    ("resnet 7x7/2 3->64 224x224", 3, 224, 224, 64, 7, 2, 3, 1),
    ("1x1 64->256 56x56", 64, 56, 56, 256, 1, 1, 0, 1),
    ("1x1 960->160 7x7", 960, 7, 7, 160, 1, 1, 0, 1),
    ("depthwise 3x3 144 56x56", 144, 56, 56, 144, 3, 1, 1, 144),
    ("depthwise 3x3/2 96 112x112", 96, 112, 112, 96, 3, 2, 1, 96),
]


def conv_model(c: int, h: int, w: int, m: int, k: int, s: int, p: int, g: int) -> bytes:
    """One Conv + Relu as an ONNX model (random weights, seed 0)."""
    import onnx
    from onnx import helper, numpy_helper
    rng = np.random.default_rng(0)
    wt = rng.standard_normal((m, c // g, k, k)).astype(np.float32) * 0.1
    b = rng.standard_normal(m).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["y"], kernel_shape=[k, k],
                              strides=[s, s], pads=[p] * 4, group=g),
             helper.make_node("Relu", ["y"], ["z"])]
    f32 = onnx.TensorProto.FLOAT
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", f32,
                                                                            [1, c, h, w])],
                              [helper.make_tensor_value_info("z", f32, None)],
                              [numpy_helper.from_array(wt, "W"), numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()  # type: ignore[no-any-return]


def layer_flops(c: int, h: int, w: int, m: int, k: int, s: int, p: int, g: int) -> int:
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    return 2 * m * oh * ow * (c // g) * k * k


# -- workers (each in its own process) --------------------------------------------------------
def input_for(shape: list[int]) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def timed(fn: Any, repeat: int) -> list[float]:
    for _ in range(3):
        fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def worker_dlc(path: str, repeat: int, threads: int, schedule: bool) -> dict[str, Any]:
    sys.path.insert(0, str(SRC.parent))
    import dlc
    from dlc.passes import schedule as sched
    if not schedule:
        sched.SCHEDULES.pop("conv", None)
    t0 = time.perf_counter()
    m = dlc.compile(path, target="cpu", threads=threads)
    compile_s = time.perf_counter() - t0
    import onnx
    shape = [d.dim_value for d in onnx.load(path).graph.input[0].type.tensor_type.shape.dim]
    x = input_for(shape)
    return {"times": timed(lambda: m(x), repeat), "compile_s": compile_s}


def worker_ort(path: str, repeat: int, threads: int) -> dict[str, Any]:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    feed = {inp.name: input_for(list(inp.shape))}
    return {"times": timed(lambda: s.run(None, feed), repeat)}


def run_worker(python: str, kind: str, path: str, repeat: int, threads: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(SRC.parent),
               OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    cmd = [python, __file__, "--worker", kind, "--path", path, "--repeat", str(repeat),
           "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} on {path} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def compare(path: str, repeat: int, threads: int, ort_python: str) -> dict[str, float]:
    # unscheduled convolutions are slow: fewer runs suffice for their median
    before = run_worker(sys.executable, "dlc-noschedule", path, min(repeat, 5), threads)
    after = run_worker(sys.executable, "dlc", path, repeat, threads)
    ort = run_worker(ort_python, "ort", path, repeat, threads)
    med = {k: float(np.median(v["times"])) for k, v in
           (("before", before), ("after", after), ("ort", ort))}
    med["compile_s"] = after["compile_s"]
    med["compile_before_s"] = before["compile_s"]
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--no-models", action="store_true")
    ap.add_argument("--layers", action="store_true", help="also time single conv layers")
    ap.add_argument("--ort-python", default=ORT_PYTHON)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        if a.worker == "ort":
            res = worker_ort(a.path, a.repeat, a.threads)
        else:
            res = worker_dlc(a.path, a.repeat, a.threads, a.worker == "dlc")
        print(json.dumps(res))
        return
    print(f"threads {a.threads}, medians of {a.repeat} runs; each side in its own process")
    if not a.no_models:
        print(f"{'model':<16}{'no sched ms':>12}{'dlc ms':>10}{'ORT ms':>10}"
              f"{'dlc/ORT':>9}{'speedup':>9}{'compile s (no sched)':>22}")
        for name in a.models.split(","):
            r = compare(str(MODELS / f"{name}.onnx"), a.repeat, a.threads, a.ort_python)
            print(f"{name:<16}{r['before'] * 1e3:>12.2f}{r['after'] * 1e3:>10.2f}"
                  f"{r['ort'] * 1e3:>10.2f}{r['after'] / r['ort']:>9.2f}"
                  f"{r['before'] / r['after']:>9.1f}{r['compile_s']:>14.1f}"
                  f" ({r['compile_before_s']:.1f})", flush=True)
    if a.layers:
        print(f"{'layer (conv+relu)':<28}{'no sched':>10}{'dlc':>8}{'ORT':>8}  GFLOP/s"
              f"{'dlc/ORT time':>14}")
        with tempfile.TemporaryDirectory() as tmp:
            for name, *geo in LAYERS:
                path = Path(tmp) / "layer.onnx"
                path.write_bytes(conv_model(*geo))
                r = compare(str(path), a.repeat, a.threads, a.ort_python)
                gf = layer_flops(*geo) / 1e9
                print(f"{name:<28}{gf / r['before']:>10.1f}{gf / r['after']:>8.1f}"
                      f"{gf / r['ort']:>8.1f}{'':>9}{r['after'] / r['ort']:>12.2f}", flush=True)


if __name__ == "__main__":
    main()

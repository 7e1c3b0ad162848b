"""Export real models (torchvision, transformers; random weights from a seed) to ONNX, and compare
dlc against ONNX Runtime on them. Needs torch, torchvision and transformers, which are not test
dependencies: the tests that use this skip when they are absent.

    python tests/models/export_models.py [--target reference] [NAME ...]   # prints a table
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

VISION = ["resnet18", "mobilenet_v2", "efficientnet_b0", "squeezenet1_1", "shufflenet_v2_x1_0"]
TEXT = ["bert", "gpt2"]
ALL = VISION + TEXT
CACHE = Path.home() / ".cache" / "dlc-test-models"


def _KeywordCall(model):  # noqa: N802 - builds a torch module class lazily (torch is optional)
    """transformers' forward takes keywords only; the TorchScript exporter passes positions."""
    import torch

    class KeywordCall(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask)
            return out.last_hidden_state

    return KeywordCall(model).eval()


def export(name: str, out_dir: Path = CACHE, layers: int = 2) -> tuple[Path, dict[str, np.ndarray]]:
    """Write NAME.onnx (opset 17, TorchScript exporter) and return its path and seeded inputs;
    transformers models get `layers` layers (their full depth with layers=0)."""
    import torch
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (f"{name}.onnx" if name in VISION else f"{name}-{layers or 'full'}.onnx")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    if name in VISION:
        import torchvision
        model = getattr(torchvision.models, name)(weights=None).eval()
        x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
        args: tuple = (torch.from_numpy(x),)
        inputs, names = {"input": x}, ["input"]
    else:
        import transformers
        if name == "bert":
            cfg = transformers.BertConfig(**({"num_hidden_layers": layers} if layers else {}))
            model = transformers.BertModel(cfg).eval()
        else:
            cfg = transformers.GPT2Config(**({"n_layer": layers} if layers else {}))
            model = transformers.GPT2Model(cfg).eval()
        model = _KeywordCall(model)
        ids = rng.integers(0, cfg.vocab_size, (1, 16)).astype(np.int64)
        mask = np.ones((1, 16), np.int64)
        args = (torch.from_numpy(ids), torch.from_numpy(mask))
        inputs, names = {"input_ids": ids, "attention_mask": mask}, ["input_ids", "attention_mask"]
    if not path.is_file():
        with torch.no_grad():
            torch.onnx.export(model, args, str(path), opset_version=17, dynamo=False,
                              input_names=names, do_constant_folding=True)
    return path, inputs


def compare(name: str, target: str = "reference", layers: int = 2) -> dict[str, float]:
    """Largest |dlc - ort| / max |ort| over the outputs, and both run times."""
    import onnxruntime as ort

    import dlc
    path, inputs = export(name, layers=layers)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: inputs[i.name] for i in sess.get_inputs()}
    t0 = time.perf_counter()
    want = sess.run(None, feeds)
    t_ort = time.perf_counter() - t0
    m = dlc.compile(path, target=target)
    t0 = time.perf_counter()
    got = m.run({k: feeds[k] for k in m.input_names})
    t_dlc = time.perf_counter() - t0
    worst = 0.0
    for w, g in zip(want, got.values()):
        assert g.shape == w.shape and g.dtype == w.dtype, (name, g.shape, w.shape)
        worst = max(worst, float(np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-30)))
    return {"rel_err": worst, "dlc_s": t_dlc, "ort_s": t_ort}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=ALL)
    ap.add_argument("--target", default="reference")
    ap.add_argument("--layers", type=int, default=2, help="transformer layers (0: full depth)")
    a = ap.parse_args()
    print(f"{'model':22} {'max|dlc-ort|/max|ort|':>22} {'dlc s':>8} {'ort s':>8}")
    for n in a.names:
        r = compare(n, a.target, a.layers)
        print(f"{n:22} {r['rel_err']:22.2e} {r['dlc_s']:8.3f} {r['ort_s']:8.3f}")


if __name__ == "__main__":
    main()

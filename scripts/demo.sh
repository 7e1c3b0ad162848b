#!/usr/bin/env bash
# Set up dlc, build the example model from a seed, compile it, run it, print outputs and time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p out
python examples/make_tiny_cnn.py out/tiny_cnn.onnx
dlc compile out/tiny_cnn.onnx -o out/tiny_cnn.dlc
dlc run out/tiny_cnn.dlc --random --seed 1 --repeat 5 -o out/tiny_cnn_outputs.npz

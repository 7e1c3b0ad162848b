"""Frontends: each turns one kind of input (ONNX, OpenCL C / CUDA C, OpenQASM) into dlc IR."""

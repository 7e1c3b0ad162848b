"""dlc: one compiler for DNN models, GPU kernels and quantum circuits.

    import dlc
    m = dlc.compile("model.onnx")      # or bytes, an onnx.ModelProto, ...
    outputs = m.run({"input": x})
"""
from .api import __version__, compile, load
from .errors import DlcError
from .ir import DType
from .options import CompileOptions
from .runtime.kernels import LocalMemory

__all__ = ["CompileOptions", "DType", "DlcError", "LocalMemory", "__version__", "compile", "load"]

"""The runtime: compiled modules, the devices they run on, artifacts on disk.

It knows devices, memory and launches; it reaches the compiler only through the callback that
`dlc.compile` / `dlc.load` hand a module, and never imports frontends, passes or backends."""
from .kernels import KernelLauncher, KernelModule, LocalMemory, load_kernel_module
from .module import Executor, GraphModule

__all__ = ["Executor", "GraphModule", "KernelLauncher", "KernelModule", "LocalMemory",
           "load_kernel_module"]

"""dlc's IR: the graph level (tensor dataflow) and the kernel level (loops and SPMD programs)."""
from . import kernel
from .dtype import DType
from .graph import Graph, Node, Value
from .interpret import Interpreter, interpret
from .kernel import Kernel, KernelBuilder
from .ops import OPS, OpDef, lookup
from .types import Dim, OptionalType, SequenceType, Sym, TensorType, Type
from .verify import verify, verify_kernel

__all__ = ["DType", "Dim", "Graph", "Interpreter", "Node", "OPS", "OpDef", "OptionalType",
           "SequenceType", "Sym", "TensorType", "Type", "Value", "interpret", "lookup",
           "kernel", "Kernel", "KernelBuilder", "verify", "verify_kernel"]

"""The text form of the IR, both levels: print it, parse it back (lark) to an equal IR.

    text = print_graph(g)                       # everything inline
    text, consts = print_module(g)              # tensors over 16 elements by name, beside the text
    g2 = parse_module(text, consts)             # graphs_equal(g, g2)
    k2 = parse_kernel(print_kernel(k))          # k2 == k

Parse errors raise dlc.errors.ParseError with line:col.
"""
from .equal import arrays_equal, graph_difference, graphs_equal, kernels_equal
from .graph_printer import print_graph, print_module, type_text
from .kernel_printer import expr_text, print_kernel, stmt_text
from .parser import parse_kernel, parse_module

__all__ = ["arrays_equal", "expr_text", "graph_difference", "graphs_equal", "kernels_equal",
           "parse_kernel", "parse_module", "print_graph", "print_kernel", "print_module",
           "stmt_text", "type_text"]

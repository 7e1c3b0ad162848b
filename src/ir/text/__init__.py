"""The text form of the IR, both levels: print it, parse it back (lark) to an equal IR.

    text = print_graph(g)                       # everything inline
    text, consts = print_module(g)              # tensors over 16 elements by name, beside the text
    g2 = parse_module(text, consts)             # graphs_equal(g, g2)
    k2 = parse_kernel(print_kernel(k))          # k2 == k

A module is the kernels its kernel-call nodes use, then the graph (grammar: dlc_ir.lark):

    kernel @scale(%n: i32, %y: f32[%n] global rw) spmd(1) {
      let %i: i32 = global_id(0)
      if %i < %n {
        %y[%i] = %y[%i] * 2.0
      }
    }

    graph @main(%x: f32[N, 4]) {
      const %w: f32[4] = dense<f32[4]: [1.0, 2.0, 3.0, 4.0]>
      const %n: i32[] = dense<i32[]: 4>
      %y = Add(%x, %w) : f32[N, 4] @"/add/Add"
      %z = KernelCall(%n, %y) {kernel=@scale, global_size=[4], local_size=none} : f32[N, 4]
      return %z
    }

Names that are not identifiers are quoted (`%"/conv/Conv_output_0"`); floats print so that they
read back bit-exact (`nan(0x7fc00001)` for nan payloads); kernel literals carry a `:type` suffix
only where their context does not give their type (`3:i64`). `//` starts a comment. Parse errors
raise dlc.errors.ParseError with line:col.
"""
from .equal import arrays_equal, graph_difference, graphs_equal, kernels_equal
from .graph_printer import print_graph, print_module, type_text
from .kernel_printer import expr_text, print_kernel, stmt_text
from .parser import parse_kernel, parse_module

__all__ = ["arrays_equal", "expr_text", "graph_difference", "graphs_equal", "kernels_equal",
           "parse_kernel", "parse_module", "print_graph", "print_kernel", "print_module",
           "stmt_text", "type_text"]

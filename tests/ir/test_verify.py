"""The verifier accepts valid IR and rejects each broken invariant with a message naming the node
or kernel statement (`*_invalid` cases check the message)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dlc.errors import VerifyError
from dlc.ir import OPS, DType, Graph, Node, Sym, TensorType, Value, verify, verify_kernel
from dlc.ir.kernel import (
    BOOL,
    F32,
    I8,
    I32,
    I64,
    U32,
    Assign,
    Binary,
    Block,
    Break,
    Buffer,
    Builtin,
    Const,
    Domain,
    Kernel,
    KernelBuilder,
    Let,
    Load,
    MakeVector,
    MemScope,
    Store,
    Var,
)
from dlc.ir.kernel import intrinsics as K
from dlc.ir.ops import InferCtx


def f32(*shape: int | str) -> TensorType:
    return TensorType(DType.F32, tuple(Sym(d) if isinstance(d, str) else d for d in shape))


def add(g: Graph, a: Value, b: Value, name: str, out: str | None = None) -> Value:
    ctx = InferCtx("Add", None, [a.type, b.type], [None, None], 1, name)
    return g.add_node("Add", [a, b], OPS["Add"].infer(ctx), None, name,
                      [out or name]).outputs[0]


def chain() -> Graph:
    g = Graph("main")
    x = g.add_input("x", f32("N", 3))
    w = g.add_constant("w", np.ones(3, np.float32))
    y = add(g, x, w, "a0")
    g.outputs = [add(g, y, y, "a1")]
    return g


def test_valid_graph_passes() -> None:
    verify(chain())


def test_undefined_input_invalid() -> None:
    g = chain()
    g.nodes[0].inputs[1] = Value("ghost", f32(3))
    with pytest.raises(VerifyError, match="Add node 'a0': input 1 '%ghost' is not defined in this "
                                          "graph or an enclosing one"):
        verify(g)


def test_use_before_definition_invalid() -> None:
    g = chain()
    g.nodes.reverse()
    with pytest.raises(VerifyError, match="Add node 'a1': input 0 '%a0' is defined later "
                                          "\\(by Add node 'a0'\\)"):
        verify(g)


def test_value_produced_twice_invalid() -> None:
    g = chain()
    g.nodes.append(Node("Add", list(g.nodes[1].inputs), list(g.nodes[1].outputs), None, "dup"))
    with pytest.raises(VerifyError, match="value '%a1' is produced twice: by Add node 'a1' and by "
                                          "Add node 'dup'"):
        verify(g)


def test_duplicate_names_invalid() -> None:
    g = chain()
    g.nodes[1].outputs[0].name = "a0"
    with pytest.raises(VerifyError, match="Add node 'a1': the name '%a0' is already used by Add "
                                          "node 'a0'"):
        verify(g)


def test_wrong_output_type_invalid() -> None:
    g = chain()
    g.nodes[1].outputs[0].type = f32("N", 4)
    with pytest.raises(VerifyError, match=r"Add node 'a1': output 0 '%a1' has type f32\[N, 4\], "
                                          r"but the op's rule gives f32\[N, 3\]"):
        verify(g)
    g.nodes[1].outputs[0].type = TensorType(DType.F64, (Sym("N"), 3))
    with pytest.raises(VerifyError, match="has type f64"):
        verify(g)


def test_shape_rule_error_names_node_invalid() -> None:
    g = chain()
    g.nodes[1].inputs[1] = g.add_input("z", f32(7))
    with pytest.raises(VerifyError, match="Add node 'a1': shapes .* do not broadcast"):
        verify(g)


def test_wrong_attrs_invalid() -> None:
    g = chain()
    g.nodes[0].attrs = OPS["LeakyRelu"].make_attrs(alpha=0.5)
    with pytest.raises(VerifyError, match="Add node 'a0': Add takes no attributes, got "
                                          "LeakyReluAttrs"):
        verify(g)
    g = Graph()
    x = g.add_input("x", f32(2))
    g.outputs = g.add_node("LeakyRelu", [x], [f32(2)], None, "lr").outputs
    with pytest.raises(VerifyError, match="LeakyRelu node 'lr': attributes must be LeakyReluAttrs, "
                                          "not NoneType"):
        verify(g)


def test_unknown_op_invalid() -> None:
    g = Graph()
    x = g.add_input("x", f32(2))
    g.outputs = g.add_node("Frobnicate", [x], [f32(2)], None, "f").outputs
    with pytest.raises(VerifyError, match="Frobnicate node 'f': unknown op 'Frobnicate'"):
        verify(g)


def test_graph_output_undefined_invalid() -> None:
    g = chain()
    g.outputs.append(Value("nowhere", f32(1)))
    with pytest.raises(VerifyError, match="graph @main: output 1 '%nowhere' is not defined"):
        verify(g)


def test_constant_type_mismatch_invalid() -> None:
    g = chain()
    v = list(g.constants)[0]
    g.constants[v] = np.ones(4, np.float32)
    with pytest.raises(VerifyError, match=r"constant '%w' holds float32 data of shape \[4\], but "
                                          r"its type is f32\[3\]"):
        verify(g)


def _if_graph(body_reads: Callable[[Graph, Value], Value]) -> Graph:
    g = Graph("main")
    c = g.add_input("c", TensorType(DType.BOOL, ()))
    x = g.add_input("x", f32(2))
    then, other = Graph("then"), Graph("else")
    then.outputs = [body_reads(then, x)]
    other.outputs = [x]
    attrs = OPS["If"].make_attrs(then_branch=then, else_branch=other)
    g.outputs = g.add_node("If", [c], [f32(2)], attrs, "if0").outputs
    return g


def test_subgraph_reads_outer_values() -> None:
    if "If" not in OPS:
        pytest.skip("If not in the op table yet")
    verify(_if_graph(lambda body, x: add(body, x, x, "inner")))


def test_subgraph_reads_later_outer_value_invalid() -> None:
    if "If" not in OPS:
        pytest.skip("If not in the op table yet")
    late = Value("late", f32(2))
    g = _if_graph(lambda body, x: add(body, x, late, "inner"))
    g.add_node("Add", [g.inputs[1], g.inputs[1]], [f32(2)], None, "late", ["late"])
    g.nodes[-1].outputs[0] = late
    with pytest.raises(VerifyError, match="Add node 'inner': input 1 '%late' is defined later "
                                          "\\(by Add node 'late'\\)"):
        verify(g)


def test_subgraph_name_shadowing_invalid() -> None:
    if "If" not in OPS:
        pytest.skip("If not in the op table yet")
    with pytest.raises(VerifyError, match="Add node 'x': the name '%x' is already used by graph "
                                          "@main input 1"):
        verify(_if_graph(lambda body, x: add(body, x, x, "x")))


def test_imported_models_verify() -> None:
    import onnx
    from onnx import TensorProto, helper

    from dlc.frontends.onnx import import_onnx
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ConstantOfShape", ["s"], ["z"]),
             helper.make_node("Add", ["x", "z"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                         [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    verify(import_onnx(model))


# -- kernels -------------------------------------------------------------------------------------

def spmd_kernel(body: Callable[[KernelBuilder, Var, Buffer, Buffer], None],
                spmd: int | None = 1) -> Kernel:
    kb = KernelBuilder("k", spmd=spmd)
    n = kb.scalar("n", I32)
    x = kb.buffer("x", F32, (n,), access="r")
    y = kb.buffer("y", F32, (n,))
    body(kb, n, x, y)
    return kb.finish(verify=False)


def kernel_invalid(body: Callable[[KernelBuilder, Var, Buffer, Buffer], None], match: str,
                   spmd: int | None = 1) -> None:
    with pytest.raises(VerifyError, match=match):
        verify_kernel(spmd_kernel(body, spmd))


def test_valid_kernel_passes() -> None:
    def body(kb: KernelBuilder, n: Var, x: Buffer, y: Buffer) -> None:
        i = kb.let("i", kb.global_id(0))
        with kb.if_(i < n):
            y[i] = x[i] * 2.0
        with kb.for_("j", 0, n):
            pass
        with kb.for_("j", 0, n):  # a sibling scope may reuse the name
            pass
    verify_kernel(spmd_kernel(body))


def test_store_to_read_only_invalid() -> None:
    kernel_invalid(lambda kb, n, x, y: kb.store(x, 0, 1.0),
                   r"kernel 'k', at `%x\[0\] = 1.0`: stores to buffer %x, which is read-only")


def test_load_from_write_only_invalid() -> None:
    def body(kb: KernelBuilder, n: Var, x: Buffer, y: Buffer) -> None:
        w = Buffer("w", F32, None, write=True, read=False)
        kb.params.append(w)
        y[0] = w[0]
    kernel_invalid(body, "reads buffer %w, which is write-only")


def test_undeclared_variable_invalid() -> None:
    kernel_invalid(lambda kb, n, x, y: kb.store(y, Var("i", I32), 1.0),
                   r"at `%y\[%i\] = 1.0`: variable %i is not declared here")


def test_variable_used_with_wrong_type_invalid() -> None:
    kernel_invalid(lambda kb, n, x, y: kb.store(y, Var("n", I64), 1.0),
                   "variable %n is declared i32 but used as i64")


def test_variable_out_of_scope_invalid() -> None:
    def body(kb: KernelBuilder, n: Var, x: Buffer, y: Buffer) -> None:
        with kb.for_("j", 0, n) as j:
            pass
        y[j] = 1.0
    kernel_invalid(body, r"at `%y\[%j\] = 1.0`: variable %j is not declared here")


def test_buffer_not_in_scope_invalid() -> None:
    def body(kb: KernelBuilder, n: Var, x: Buffer, y: Buffer) -> None:
        with kb.block():
            t = kb.alloc("t", F32, (4,), scope="private")
        y[0] = t[0]
    kernel_invalid(body, r"at `%y\[0\] = %t\[0\]`: buffer %t is not declared here")


def test_redeclared_variable_invalid() -> None:
    def body(kb: KernelBuilder, n: Var, x: Buffer, y: Buffer) -> None:
        kb.let("a", 1)
        with kb.block():
            kb.let("a", 2)
    kernel_invalid(body, "variable %a is declared again while the first is in scope")


def test_non_integer_index_invalid() -> None:
    kernel_invalid(lambda kb, n, x, y: kb.store(y, Const(1.0, F32), 1.0),
                   r"index 0 of %y must be a scalar integer, not f32 \(`1.0`\)")
    kernel_invalid(lambda kb, n, x, y: kb.store(y, (0, 1), 1.0),
                   "buffer %y takes 1 index\\(es\\), got 2")


def test_non_integer_buffer_dimension_invalid() -> None:
    k = Kernel("k", (Buffer("b", F32, (Const(2.5, F32),)),), Block())
    with pytest.raises(VerifyError, match="dimension of buffer %b must be a scalar integer"):
        verify_kernel(k)


def test_operand_types_must_match_invalid() -> None:
    kernel_invalid(lambda kb, n, x, y: kb.let("s", Binary("add", n, Const(1, I64))),
                   r"at `let %s: i32 = %n \+ 1:i64`: operands of add have types i32 and i64")
    kernel_invalid(lambda kb, n, x, y: kb.let("s", Binary("shl", x[0], x[0])),
                   "shl takes integers, not f32")
    kernel_invalid(lambda kb, n, x, y: kb.let("s", K.exp(n)), "exp takes floats, not i32")
    kernel_invalid(lambda kb, n, x, y: kb.emit(Let(Var("s", F32), n)),
                   "the value of %s is i32, expected f32")
    kernel_invalid(lambda kb, n, x, y: kb.emit(Assign(n, Const(1.0, F32))),
                   "the value of %n is f32, expected i32")


def test_condition_must_be_bool_invalid() -> None:
    def body(kb: KernelBuilder, n: Var, x: Buffer, y: Buffer) -> None:
        with kb.if_(n):
            pass
    kernel_invalid(body, "at `if %n`: an if condition is i32, expected bool")


def test_barrier_outside_spmd_invalid() -> None:
    kernel_invalid(lambda kb, n, x, y: kb.barrier(), "at `barrier local`: a barrier is only "
                   "allowed in SPMD kernels", spmd=None)
    kernel_invalid(lambda kb, n, x, y: kb.store(y, kb.global_id(0), 1.0),
                   "builtin global_id\\(\\) is only allowed in SPMD kernels", spmd=None)
    kernel_invalid(lambda kb, n, x, y: kb.let("b", K.ballot(n < 1)),
                   "warp ballot is only allowed in SPMD kernels", spmd=None)


def test_builtin_axis_out_of_domain_invalid() -> None:
    kernel_invalid(lambda kb, n, x, y: kb.store(y, kb.local_id(1), 1.0),
                   r"local_id\(1\): the domain has 1 axes")


def test_break_outside_loop_invalid() -> None:
    kernel_invalid(lambda kb, n, x, y: kb.emit(Break()), "at `break`: break outside a loop")


def test_alloc_scope_invalid() -> None:
    kernel_invalid(lambda kb, n, x, y: kb.alloc("t", F32, (4,), scope="global"),
                   "buffer %t is in global memory, which an alloc cannot be")
    k = Kernel("k", (Buffer("p", F32, None, MemScope.PRIVATE),), Block())
    with pytest.raises(VerifyError, match="in private memory, which a parameter cannot be"):
        verify_kernel(k)
    k = Kernel("k", (Buffer("c", F32, None, MemScope.CONSTANT),), Block())
    with pytest.raises(VerifyError, match="constant memory, which is read-only"):
        verify_kernel(k)


def test_atomic_rules_invalid() -> None:
    kernel_invalid(lambda kb, n, x, y: kb.atomic("add", x, 0, 1.0), "updates buffer %x, which "
                   "is read-only")
    kernel_invalid(lambda kb, n, x, y: kb.atomic("xor", y, 0, 1.0),
                   "atomic xor needs an integer buffer")
    kernel_invalid(lambda kb, n, x, y: kb.atomic("cas", y, 0, 1.0), "a compare value goes with "
                   "atomic cas")
    kernel_invalid(lambda kb, n, x, y: kb.atomic("inc", y, 0, 1.0), "atomic inc takes no value")
    kernel_invalid(lambda kb, n, x, y: kb.atomic("add", y, 0), "atomic add needs a value")


def test_vector_rules_invalid() -> None:
    v = Var("v", F32.with_lanes(4))
    kernel_invalid(lambda kb, n, x, y: kb.emit(Let(v, K.broadcast(x[0], 4)))
                   or kb.let("e", K.extract(v, 4)), "lane 4 of a f32x4 value")
    kernel_invalid(lambda kb, n, x, y: kb.let("m", MakeVector((Const(1.0, F32), n))),
                   "vec\\(...\\) takes two or more scalars of one type")
    kernel_invalid(lambda kb, n, x, y: kb.emit(Store(y, (Const(0, I32),), Const(1, I32))),
                   "stores a i32 value into buffer %y of f32")
    kernel_invalid(lambda kb, n, x, y: kb.let("c", K.bitcast(n, DType.F64)),
                   "bitcast from i32 to f64 changes the width")


def test_constant_out_of_range_invalid() -> None:
    kernel_invalid(lambda kb, n, x, y: kb.let("c", Const(300, I8)), "constant 300 does not fit i8")
    kernel_invalid(lambda kb, n, x, y: kb.let("c", Const(-1, U32)), "constant -1 does not fit u32")


def test_load_count_and_domain_invalid() -> None:
    k = Kernel("k", (), Block(), Domain(4))
    with pytest.raises(VerifyError, match="an SPMD domain has 1 to 3 axes, not 4"):
        verify_kernel(k)
    b = Buffer("b", F32, (Const(2, I32), Const(2, I32)))
    k = Kernel("k", (b,), Block((Let(Var("v", F32), Load(b, (Const(0, I32),))),)))
    with pytest.raises(VerifyError, match="buffer %b takes 2 index\\(es\\), got 1"):
        verify_kernel(k)
    k = Kernel("k", (), Block((Let(Var("v", BOOL), Builtin("frob", 0)),)), Domain(1))
    with pytest.raises(VerifyError, match="unknown builtin 'frob'"):
        verify_kernel(k)


def test_kernel_call_node_kernel_is_verified_invalid() -> None:
    from dlc.ir.ops.kernel_call import KernelCallAttrs

    def body(kb: KernelBuilder, n: Var, x: Buffer, y: Buffer) -> None:
        kb.barrier()
    k = spmd_kernel(body, spmd=None)
    g = Graph()
    n = g.add_input("n", TensorType(DType.I32, ()))
    x = g.add_input("x", f32(4))
    y = g.add_input("y", f32(4))
    g.outputs = g.add_node("KernelCall", [n, x, y], [f32(4)], KernelCallAttrs(k), "call").outputs
    with pytest.raises(VerifyError, match="KernelCall node 'call': kernel 'k', at `barrier "
                                          "local`: a barrier is only allowed in SPMD kernels"):
        verify(g)
    g.nodes[0].attrs = KernelCallAttrs(spmd_kernel(lambda kb, n, x, y: None))
    verify(g)
    g.nodes[0].inputs[0] = g.add_input("m", TensorType(DType.I64, ()))
    with pytest.raises(VerifyError, match="KernelCall node 'call': argument 0 binds scalar "
                                          "parameter %n: i32"):
        verify(g)

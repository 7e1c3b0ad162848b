"""Text form of graphs: print -> parse gives an equal graph and printing it again the same text,
over awkward names, special floats, symbolic dims, subgraphs, tensor attributes, every dtype,
sequences/optionals, kernel-call nodes and imported ONNX models; parse errors carry line:col."""
from __future__ import annotations

import dataclasses
import enum
from collections import ChainMap

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from dlc.errors import ParseError
from dlc.ir import (
    OPS,
    DType,
    Graph,
    OptionalType,
    SequenceType,
    Sym,
    TensorType,
    Value,
    verify,
)
from dlc.ir.kernel import F32, I32, KernelBuilder
from dlc.ir.ops import InferCtx
from dlc.ir.text import (
    graph_difference,
    graphs_equal,
    parse_module,
    print_graph,
    print_module,
)
from dlc.ir.text.equal import value_difference
from dlc.ir.text.graph_printer import GraphPrinter
from dlc.ir.text.parser import ModuleReader, parse_tree


def f32(*shape: int | str) -> TensorType:
    return TensorType(DType.F32, tuple(Sym(d) if isinstance(d, str) else d for d in shape))


def need(*ops: str) -> None:
    missing = [o for o in ops if o not in OPS]
    if missing:
        pytest.skip(f"ops not in the table yet: {', '.join(missing)}")


def add_node(g: Graph, op: str, inputs: list[Value | None], name: str = "",
             out_names: list[str] | None = None, num_outputs: int = 1,
             **attrs: object) -> list[Value]:
    """Add a node whose output types come from the op's shape rule (as the importer does)."""
    d = OPS[op]
    a = d.make_attrs(**attrs) if d.attrs is not None else None
    ctx = InferCtx(op, a, [None if v is None else v.type for v in inputs],
                   [g.constants.get(v) if v is not None else None for v in inputs], num_outputs,
                   name)
    types = d.infer(ctx)[:num_outputs]
    return g.add_node(op, inputs, types, a, name=name, out_names=out_names).outputs


def roundtrip(g: Graph, verify_it: bool = True) -> str:
    """Both printers round-trip `g`; returns print_graph's text."""
    if verify_it:
        verify(g)
    text = print_graph(g)
    g2 = parse_module(text)
    assert graph_difference(g, g2) is None, graph_difference(g, g2)
    assert print_graph(g2) == text
    mtext, consts = print_module(g, inline_limit=4)
    g3 = parse_module(mtext, consts)
    assert graph_difference(g, g3) is None, graph_difference(g, g3)
    mtext2, consts2 = print_module(g3, inline_limit=4)
    assert mtext2 == mtext and list(consts2) == list(consts)
    if verify_it:
        verify(g2)
    return text


def test_golden_text() -> None:
    need("Add", "Relu")
    g = Graph("main")
    x = g.add_input("x", f32("N", 3))
    b = g.add_constant("bias", np.array([1.0, 2.0, 3.0], np.float32))
    (y,) = add_node(g, "Add", [x, b], name="add0", out_names=["y"])
    (z,) = add_node(g, "Relu", [y], name="/relu/Relu", out_names=["/relu/Relu_output_0"])
    g.outputs = [z]
    assert roundtrip(g) == """\
graph @main(%x: f32[N, 3]) {
  const %bias: f32[3] = dense<f32[3]: [1.0, 2.0, 3.0]>
  %y = Add(%x, %bias) : f32[N, 3] @add0
  %"/relu/Relu_output_0" = Relu(%y) : f32[N, 3] @"/relu/Relu"
  return %"/relu/Relu_output_0"
}
"""


def test_awkward_names_are_quoted() -> None:
    need("Add")
    g = Graph("torch-jit/export")
    names = ["/layer1/0/conv1/Conv_output_0", "a b", 'quo"te\\d', "", "123", "ß∑", "x.y", "let",
             "%", "nan"]
    vals = [g.add_input(n, f32(2)) for n in names]
    outs = []
    for i, v in enumerate(vals):
        outs += add_node(g, "Add", [v, v], name=f"node {i}\n\t", out_names=[names[i] + "/out"])
    g.outputs = outs
    text = roundtrip(g)
    assert 'graph @"torch-jit/export"(' in text
    assert '%"/layer1/0/conv1/Conv_output_0": f32[2]' in text
    assert '%"quo\\"te\\\\d"' in text and '%"": f32[2]' in text and "%let: f32[2]" in text
    assert '@"node 0\\n\\t"' in text


def test_duplicate_names_are_renamed_when_printed() -> None:
    need("Add")
    g = Graph()
    x = g.add_input("x", f32(2))
    (a,) = add_node(g, "Add", [x, x], out_names=["t"])
    (b,) = add_node(g, "Add", [a, a], out_names=["t"])
    (c,) = add_node(g, "Add", [b, b], out_names=["t_1"])
    g.outputs = [c]
    text = print_graph(g)
    assert "%t_1 = Add(%t, %t)" in text and "%t_1_1 = Add(%t_1, %t_1)" in text
    g2 = parse_module(text)
    verify(g2)
    assert print_graph(g2) == text


def test_floats_read_back_bit_exact() -> None:
    need("LeakyRelu")
    g = Graph()
    x = g.add_input("x", f32(2))
    specials = [float("nan"), float("inf"), -float("inf"), -0.0, 0.0, 1e-45, 5e-324, 0.1, 1 / 3,
                1.7976931348623157e308, -2.5e-310]
    outs = []
    for i, alpha in enumerate(specials):
        outs += add_node(g, "LeakyRelu", [x], name=f"l{i}", alpha=alpha)
    f32s = np.array([np.nan, -np.nan, np.inf, -0.0, 1e-45, 0.1, 3.4028235e38, 1.17549435e-38],
                    np.float32)
    payload = np.array([0x7FC00001, 0xFFC00123, 0x7F800001], np.uint32).view(np.float32)
    g.add_constant("f32s", np.concatenate([f32s, payload]))
    g.add_constant("f64s", np.array([np.nan, -0.0, 5e-324, 1 / 3, -np.inf], np.float64))
    g.add_constant("f16s", np.array([np.nan, -0.0, 6e-8, 65504.0, 0.1], np.float16))
    g.add_constant("bf16s", np.array([np.nan, -0.0, 0.1, 3e38], ml_dtypes.bfloat16))
    g.outputs = outs
    text = roundtrip(g)
    for s in ("alpha=nan", "alpha=inf", "alpha=-inf", "alpha=-0.0", "alpha=5e-324", "alpha=1e-45",
              "nan(0x7fc00001)", "-nan", "1e-45", "0.1"):
        assert s in text, s
    g2 = parse_module(text)
    for (_, a), (_, b) in zip(g.constants.items(), g2.constants.items()):
        assert a.tobytes() == b.tobytes()


def test_symbolic_dims_and_scalar_types() -> None:
    need("Add")
    g = Graph()
    x = g.add_input("x", TensorType(DType.F32, (Sym("N"), Sym("batch size"), 3, Sym("d0"))))
    s = g.add_input("s", TensorType(DType.F32, ()))
    g.outputs = add_node(g, "Add", [x, s])
    text = roundtrip(g)
    assert '%x: f32[N, "batch size", 3, d0]' in text and "%s: f32[]" in text


def _all_dtype_arrays() -> dict[DType, np.ndarray]:
    out: dict[DType, np.ndarray] = {}
    for dt in DType:
        if dt is DType.STRING:
            arr = np.array(["a", "", "]\"\\", "ß∑\n", "x, y"], dtype=object)
        elif dt is DType.BOOL:
            arr = np.array([True, False, True, True, False])
        elif dt.is_complex:
            arr = np.array([1 + 2j, -0.0 - 1j, complex(np.nan, np.inf), 0.1j, 3], dt.np)
        elif dt.is_float:
            vals = np.array([0.0, 1.0, -2.0, 0.5, 448.0 if "f8" in dt.value else 3.0])
            with np.errstate(all="ignore"):
                arr = vals.astype(dt.np)
        else:
            info = (-1, 1) if dt.bits < 8 and dt.is_signed else (0, 1)
            lo = -(1 << (dt.bits - 1)) if dt.is_signed else 0
            hi = (1 << (dt.bits - 1)) - 1 if dt.is_signed else (1 << dt.bits) - 1
            arr = np.array([lo, hi, info[0], info[1], 0], dtype=object).astype(dt.np)
        out[dt] = arr
    return out


def test_every_dtype_roundtrips_inline_and_external() -> None:
    g = Graph()
    for dt, arr in _all_dtype_arrays().items():
        g.add_constant(f"c_{dt.value}", arr.reshape(5, 1))
        g.add_constant(f"splat_{dt.value}", np.repeat(arr[:1], 6).reshape(2, 3))
        g.add_constant(f"scalar_{dt.value}", arr[1:2].reshape(()))
        g.add_constant(f"empty_{dt.value}", arr[:0].reshape(0, 2))
    g.outputs = list(g.constants)[:1]
    text = roundtrip(g)
    assert "dense<u64[5, 1]: [0, 18446744073709551615, 0, 1, 0]>" in text
    assert "dense<i4[5, 1]: [-8, 7, -1, 1, 0]>" in text
    assert "dense<c64[5, 1]: [(1.0, 2.0), (-0.0, -1.0), (nan, inf), (0.0, 0.1), (3.0, 0.0)]>" \
        in text
    assert 'dense<string[5, 1]: ["a", "", "]\\"\\\\", "\\u00df\\u2211\\n", "x, y"]>' in text
    assert "dense<bool[2, 3]: true>" in text and "dense<f8e4m3fn[]: 1.0>" in text
    _, consts = print_module(g, inline_limit=4)
    assert "c_f32" in consts and "splat_f32" in consts and "scalar_f32" not in consts


def test_npy_round_trip_of_external_tensors(tmp_path: object) -> None:
    """Weights saved as .npy come back as raw void (ml_dtypes) or str arrays: still accepted."""
    g = Graph()
    g.add_constant("w", np.arange(20).astype(ml_dtypes.bfloat16))
    g.add_constant("s", np.array(["x"] * 20, dtype=object))
    g.outputs = list(g.constants)
    text, consts = print_module(g)
    raw = {"w": np.frombuffer(consts["w"].tobytes(), dtype="V2"), "s": consts["s"].astype(str)}
    assert graphs_equal(parse_module(text, raw), g)


def test_sequences_optionals_and_type_attributes() -> None:
    need("SequenceConstruct", "Optional", "OptionalHasElement")
    g = Graph()
    x = g.add_input("x", f32(2, 3))
    s = g.add_input("s", SequenceType(f32("N")))
    o = g.add_input("o", OptionalType(SequenceType(TensorType(DType.I64, ()))))
    (seq,) = add_node(g, "SequenceConstruct", [x, x])
    (opt,) = add_node(g, "Optional", [None], type=f32(2))
    (has,) = add_node(g, "OptionalHasElement", [o])
    g.outputs = [seq, opt, has, s]
    text = roundtrip(g)
    assert "%o: opt<seq<i64[]>>" in text and "%s: seq<f32[N]>" in text
    assert "Optional(none) {type=type<f32[2]>} : opt<f32[2]>" in text


def test_tensor_attributes_inline_and_external() -> None:
    need("ConstantOfShape", "Constant")
    g = Graph()
    shape = g.add_constant("shape", np.array([2, 3], np.int64))
    (a,) = add_node(g, "ConstantOfShape", [shape], name="cos", value=np.array([-0.0], np.float32))
    (b,) = add_node(g, "Constant", [], name="/big", value=np.arange(40, dtype=np.float32))
    g.outputs = [a, b]
    text = roundtrip(g)
    assert "value=dense<f32[1]: [-0.0]>" in text
    mtext, consts = print_module(g)
    assert 'value=external<f32[40]: "/big.value">' in mtext and list(consts) == ["/big.value"]


def _if_graph() -> Graph:
    g = Graph()
    c = g.add_input("c", TensorType(DType.BOOL, ()))
    x = g.add_input("x", f32(2))
    then = Graph("then")
    (t,) = add_node(then, "Add", [x, x], out_names=["t"])  # reads an outer value
    inner_then, inner_else = Graph("it"), Graph("ie")
    inner_then.outputs = [t]                                # an outer value of the outer branch
    inner_else.outputs = add_node(inner_else, "Relu", [x], out_names=["t2"])
    then.outputs = add_node(then, "If", [c], then_branch=inner_then, else_branch=inner_else)
    other = Graph("else")
    other.add_constant("k", np.ones(2, np.float32))
    other.outputs = add_node(other, "Add", [x, list(other.constants)[0]], out_names=["t"])
    g.outputs = add_node(g, "If", [c], name="if0", then_branch=then, else_branch=other)
    return g


def test_subgraphs_with_outer_reads() -> None:
    need("If", "Add", "Relu")
    text = roundtrip(_if_graph())
    assert " = If(%c) {then_branch=graph @then() {\n    %t = Add(%x, %x) : f32[2]\n" in text
    assert "\n      return %t\n    }, else_branch=graph @ie() {\n" in text  # an outer value
    assert "}, else_branch=graph @else() {\n    const %k: f32[2] = dense<f32[2]: 1.0>\n" \
        "    %t = Add(%x, %k) : f32[2]\n" in text  # sibling graphs may reuse names


def test_kernel_call_nodes_refer_to_module_kernels() -> None:

    def scale(name: str, factor: float) -> object:
        kb = KernelBuilder(name, spmd=1)
        n = kb.scalar("n", I32)
        y = kb.buffer("y", F32, (n,))
        i = kb.let("i", kb.global_id(0))
        with kb.if_(i < n):
            y[i] = y[i] * factor
        return kb.finish()

    k1, k2, k3 = scale("scale", 2.0), scale("scale", 3.0), scale("other", 2.0)
    g = Graph()
    n = g.add_constant("n", np.array(4, np.int32))
    v = g.add_input("x", f32(4))
    for i, k in enumerate((k1, k2, k1, k3)):
        (v,) = add_node(g, "KernelCall", [n, v], name=f"call{i}", kernel=k, global_size=(4,),
                        local_size=None)
    g.outputs = [v]
    text = roundtrip(g)
    assert text.startswith("kernel @scale(%n: i32, %y: f32[%n] global rw) spmd(1) {")
    assert "kernel @scale(%n: i32, %y: f32[%n] global rw) spmd(1) as @scale_1 {" in text
    assert text.count("kernel @") == 3
    assert "KernelCall(%n, %x) {kernel=@scale, global_size=[4], local_size=none}" in text
    assert "{kernel=@scale_1," in text and "{kernel=@other," in text
    g2 = parse_module(text)
    assert g2.nodes[0].attrs.kernel is g2.nodes[2].attrs.kernel


def test_every_op_default_attrs_roundtrip() -> None:
    """The printer/parser are generic over attrs dataclasses: every op whose attrs all have
    defaults prints and parses back to equal attrs."""
    checked = 0
    for name, d in sorted(OPS.items()):
        if d.attrs is None:
            continue
        try:
            attrs = d.attrs()
        except TypeError:
            continue  # has required fields
        text = GraphPrinter(None).attr_dict(attrs, name, "")
        tree = parse_tree(f"graph @g() {{\n  {name}() {text}\n  return\n}}", "start_module")
        node_t = tree.children[0].children[2]
        back = ModuleReader("", None).struct(d.attrs, node_t.children[3], ChainMap())
        assert value_difference(attrs, back, {}, name) is None
        checked += 1
    assert checked > 10


class _Mode(enum.Enum):
    FAST = 1
    EXACT = 2


@dataclasses.dataclass(frozen=True)
class _Inner:
    k: int = 0
    mode: _Mode = _Mode.FAST


@dataclasses.dataclass(frozen=True)
class _OddAttrs:
    mode: _Mode
    modes: tuple[_Mode, ...]
    maybe: _Mode | None
    inner: _Inner
    dtype: DType
    dim: Sym
    types: tuple[TensorType | SequenceType, ...]
    arrays: tuple[np.ndarray, ...]
    nested: tuple[tuple[int, float], ...]
    text: str
    flag: bool
    nothing: None = None


def test_attribute_values_of_every_kind() -> None:
    """Enums (by the field's annotation), nested dataclasses, symbols, types, tensors, nested
    tuples: printed generically and read back equal."""
    attrs = _OddAttrs(_Mode.EXACT, (_Mode.FAST, _Mode.EXACT), None, _Inner(3, _Mode.EXACT),
                      DType.BF16, Sym("batch size"), (f32("N", 2), SequenceType(f32(1))),
                      (np.arange(3, dtype=np.int8), np.zeros((0,), np.float32)),
                      ((1, -0.0), (2, float("inf"))), 'say "hi"\n', True)
    text = GraphPrinter(None).attr_dict(attrs, "odd", "")
    assert text == ('{mode=EXACT, modes=[FAST, EXACT], maybe=none, inner={k=3, mode=EXACT}, '
                    'dtype=bf16, dim=sym<"batch size">, types=[type<f32[N, 2]>, '
                    'type<seq<f32[1]>>], arrays=[dense<i8[3]: [0, 1, 2]>, dense<f32[0]: []>], '
                    'nested=[[1, -0.0], [2, inf]], text="say \\"hi\\"\\n", flag=true, '
                    'nothing=none}')
    tree = parse_tree(f"graph @g() {{\n  X() {text}\n  return\n}}", "start_module")
    back = ModuleReader("", None).struct(_OddAttrs, tree.children[0].children[2].children[3],
                                         ChainMap())
    assert value_difference(attrs, back, {}, "attrs") is None


def test_parse_errors_have_line_and_column() -> None:
    need("Add")
    with pytest.raises(ParseError, match=r"<input>:2:16: '%y' is not defined before this use"):
        parse_module("graph @g(%x: f32[2]) {\n  %z = Add(%x, %y) : f32[2]\n  return %z\n}")
    with pytest.raises(ParseError, match=r":2:6: unexpected 'Add'; expected .*'='"):
        parse_module("graph @g(%x: f32[2]) {\n  %z Add(%x, %x) : f32[2]\n  return %z\n}")
    with pytest.raises(ParseError, match="unknown op 'Frobnicate'"):
        parse_module("graph @g() {\n  %z = Frobnicate() {a=1} : f32[2]\n  return %z\n}")
    with pytest.raises(ParseError, match="LeakyReluAttrs has no attribute 'beta'"):
        parse_module("graph @g(%x: f32[2]) {\n  %z = LeakyRelu(%x) {beta=1.0} : f32[2]\n"
                     "  return %z\n}")
    with pytest.raises(ParseError, match='external tensor "w" is not among the constants'):
        parse_module('graph @g() {\n  const %w: f32[2] = external<f32[2]: "w">\n  return %w\n}')
    with pytest.raises(ParseError, match="has shape \\[3\\]; the text says f32\\[2\\]"):
        parse_module('graph @g() {\n  const %w: f32[2] = external<f32[2]: "w">\n  return %w\n}',
                     {"w": np.zeros(3, np.float32)})
    with pytest.raises(ParseError, match="3 elements for shape \\[2\\]"):
        parse_module("graph @g() {\n  const %w: f32[2] = dense<f32[2]: [1.0, 2.0, 3.0]>\n"
                     "  return %w\n}")
    with pytest.raises(ParseError, match="'%x' is already defined"):
        parse_module("graph @g(%x: f32[2], %x: f32[2]) {\n  return %x\n}")
    with pytest.raises(ParseError, match=r":1:\d+: unexpected end of input"):
        parse_module("graph @g() {")


def test_documented_example_parses() -> None:
    import dlc.ir.text as text_module
    doc = text_module.__doc__ or ""
    example = doc[doc.index("    kernel @scale"):doc.index("Names that are not")]
    g = parse_module("\n".join(line[4:] for line in example.splitlines()))
    verify(g)
    assert [n.op for n in g.nodes] == ["Add", "KernelCall"]


def test_comments_are_ignored() -> None:
    g = parse_module("// a module\ngraph @g(%x: f32[2]) { // inputs\n  return %x // done\n}\n")
    assert [v.name for v in g.inputs] == ["x"] and g.outputs == g.inputs


# -- real models imported from ONNX -------------------------------------------------------------

def _import(model: onnx.ModelProto) -> Graph:
    from dlc.frontends.onnx import import_onnx
    onnx.checker.check_model(model)
    return import_onnx(model)


def test_onnx_conv_net_roundtrip() -> None:
    need("Conv", "Relu", "MaxPool", "Reshape", "Gemm", "Shape", "Gather", "Concat", "Unsqueeze")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    fw = rng.standard_normal((10, 128)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input", "/conv1/W", "/conv1/B"], ["/conv1/Conv_output_0"],
                         name="/conv1/Conv", pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["/conv1/Conv_output_0"], ["/relu/Relu_output_0"],
                         name="/relu/Relu"),
        helper.make_node("MaxPool", ["/relu/Relu_output_0"], ["/pool/MaxPool_output_0"],
                         name="/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Shape", ["/pool/MaxPool_output_0"], ["/Shape_output_0"], name="/Shape"),
        helper.make_node("Gather", ["/Shape_output_0", "zero"], ["/Gather_output_0"],
                         name="/Gather", axis=0),
        helper.make_node("Unsqueeze", ["/Gather_output_0", "zero1"], ["/Unsqueeze_output_0"],
                         name="/Unsqueeze"),
        helper.make_node("Concat", ["/Unsqueeze_output_0", "minus1"], ["/Concat_output_0"],
                         name="/Concat", axis=0),
        helper.make_node("Reshape", ["/pool/MaxPool_output_0", "/Concat_output_0"],
                         ["/Reshape_output_0"], name="/Reshape"),
        helper.make_node("Gemm", ["/Reshape_output_0", "fc.weight", "fc.bias"], ["logits"],
                         name="/fc/Gemm", transB=1, alpha=1.0, beta=1.0),
    ]
    inits = [numpy_helper.from_array(w, "/conv1/W"), numpy_helper.from_array(b, "/conv1/B"),
             numpy_helper.from_array(fw, "fc.weight"),
             numpy_helper.from_array(np.zeros(10, np.float32), "fc.bias"),
             numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "zero1"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    graph = helper.make_graph(nodes, "convnet",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                             ["batch", 3, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                                             ["batch", 10])],
                              inits)
    g = _import(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    text = roundtrip(g)
    assert '%"/conv1/Conv_output_0" = Conv(%input, %"/conv1/W", %"/conv1/B") {' in text
    mtext, consts = print_module(g)
    assert set(consts) == {"/conv1/W", "fc.weight"}
    assert len(mtext) < 3000


def test_onnx_if_model_roundtrip() -> None:
    need("If", "Add", "Sub", "ReduceSum", "Greater")
    then_g = helper.make_graph([helper.make_node("Add", ["x", "one"], ["then_out"])], "then_body",
                               [], [helper.make_tensor_value_info("then_out", TensorProto.FLOAT,
                                                                  [2, 3])],
                               [numpy_helper.from_array(np.float32(1.0).reshape(()), "one")])
    else_g = helper.make_graph([helper.make_node("Sub", ["x", "x"], ["else_out"])], "else_body",
                               [], [helper.make_tensor_value_info("else_out", TensorProto.FLOAT,
                                                                  [2, 3])])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)]
    graph = helper.make_graph(nodes, "if_model",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
                              [numpy_helper.from_array(np.float32(0.0).reshape(()), "zero")])
    g = _import(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    text = roundtrip(g)
    assert "then_branch=graph @then_body() {" in text and "else_branch=graph @else_body() {" in text


def test_node_without_braces_takes_default_attrs():
    from dlc.ir.ops.shape import ShapeAttrs
    g = parse_module("graph @g(%x: f32[2, 3]) {\n  %y = Shape(%x) : i64[2]\n  return %y\n}\n")
    assert g.nodes[0].attrs == ShapeAttrs()

"""ONNX ModelProto -> dlc Graph: op versions resolved and adapted to the op table's form, types
inferred by the op table's rules, and values known at compile time propagated so that shapes that
depend on them fold to constants."""
from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import MutableMapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnx.defs
from onnx import numpy_helper

from ...errors import DlcError, InvalidModel, ShapeError, UnsupportedOp
from ...ir import OPS, DType, Graph, OptionalType, SequenceType, Sym, TensorType, Type, Value
from ...ir.ops import InferCtx, OpDef, RefCtx
from ...ir.types import Dim
from . import legacy  # noqa: F401  (declares the adapters)
from .adapters import ADAPTERS, NodeView
from .dtypes import dtype_from_onnx, dtype_to_onnx

MAX_OPSET = 28
# Folding at import time only for values this small (shape arithmetic, not weights).
FOLD_LIMIT = 1 << 16
NOT_FOLDABLE = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                          "Bernoulli", "Multinomial"})
Scope = MutableMapping[str, Value]


class GraphBuilder:
    """Builds one Graph (a model's main graph or a subgraph) node by node."""

    def __init__(self, importer: Importer, graph: Graph, scope: Scope):
        self.importer, self.graph, self.scope = importer, graph, scope
        self.known: dict[Value, Any] = importer.known
        self.node_name = ""

    def const(self, array: np.ndarray, name: str = "") -> Value:
        arr = np.asarray(array)
        v = self.graph.add_constant(self.graph.fresh_name(name or "const"), arr)
        self.known[v] = arr
        return v

    def emit(self, op: str, inputs: Sequence[Value | None], attrs: dict[str, Any] | None = None,
             num_outputs: int = 1, out_names: Sequence[str] | None = None) -> list[Value]:
        d = OPS.get(op)
        if d is None:
            raise UnsupportedOp(f"op {op} is not implemented by dlc", op=op, node=self.node_name)
        a = make_attrs(d, attrs or {}, self.node_name)
        types = [None if v is None else v.type for v in inputs]
        values = [None if v is None else self.known.get(v) for v in inputs]
        ctx = InferCtx(op, a, types, values, num_outputs, self.node_name)
        try:
            out_types = d.infer(ctx)
        except DlcError:
            raise
        except Exception as e:
            raise ShapeError(f"{op} node '{self.node_name}': cannot infer its output types "
                             f"({type(e).__name__}: {e})") from e
        if len(out_types) < num_outputs:
            raise InvalidModel(f"{op} node '{self.node_name}' has {num_outputs} outputs; the op "
                               f"has at most {len(out_types)}")
        names = [n or self.graph.fresh_name(f"{self.node_name or op}_unused")
                 for n in (out_names or [])] or None
        node = self.graph.add_node(op, list(inputs), out_types[:num_outputs], a,
                                   self.node_name, names)
        self._fold(d, a, node.inputs, node.outputs, values)
        for i, val in ctx.out_values.items():
            self.known.setdefault(node.outputs[i], val)
        return node.outputs

    def _fold(self, d: OpDef, attrs: Any, inputs: list[Value | None], outputs: list[Value],
              values: list[Any]) -> None:
        if d.name in NOT_FOLDABLE or any(v is not None and x is None
                                         for v, x in zip(inputs, values)):
            return
        if sum(np.size(x) for x in values if isinstance(x, np.ndarray)) > FOLD_LIMIT:
            return
        if any(not isinstance(x, np.ndarray) for x in values if x is not None):
            return
        try:
            res = d.run_reference(attrs, values, RefCtx(len(outputs), None, self.node_name))
        except Exception:  # noqa: BLE001 - not folding is always allowed; running will report it
            return
        for v, r in zip(outputs, res):
            if isinstance(r, np.ndarray) and r.size <= FOLD_LIMIT:
                self.known[v] = r


class Importer:
    def __init__(self, opsets: dict[str, int], functions: dict[tuple[str, str], onnx.FunctionProto],
                 where: str):
        self.opsets, self.functions, self.where = opsets, functions, where
        self.known: dict[Value, Any] = {}

    # -- graphs ------------------------------------------------------------------------------
    def graph(self, gp: onnx.GraphProto, outer: Scope | None,
              input_types: Sequence[Type | None] | None = None) -> Graph:
        g = Graph(name=gp.name or "main")
        scope: Scope = ChainMap({}, outer) if outer is not None else {}
        b = GraphBuilder(self, g, scope)
        inits = set()
        for t in gp.initializer:
            arr = tensor_to_array(t)
            v = g.add_constant(t.name, arr)
            scope[t.name] = v
            self.known[v] = arr
            inits.add(t.name)
        for t in gp.sparse_initializer:
            arr = sparse_to_array(t)
            v = g.add_constant(t.values.name, arr)
            scope[t.values.name] = v
            self.known[v] = arr
        k = 0
        for vi in gp.input:
            if vi.name in inits:
                continue
            hint = input_types[k] if input_types is not None and k < len(input_types) else None
            k += 1
            g.inputs.append(Value(vi.name, value_type(vi.type, vi.name, hint)))
            scope[vi.name] = g.inputs[-1]
        for n in gp.node:
            self.node(b, n, self.opsets)
        for vi in gp.output:
            if vi.name not in scope:
                raise InvalidModel(f"{self.where}: graph output '{vi.name}' is not produced by "
                                   "any node")
            g.outputs.append(scope[vi.name])
        return g

    # -- nodes -------------------------------------------------------------------------------
    def node(self, b: GraphBuilder, n: onnx.NodeProto, opsets: dict[str, int]) -> None:
        name = n.name or (n.output[0] if n.output else n.op_type)
        b.node_name = name
        domain = "" if n.domain in ("", "ai.onnx") else n.domain
        inputs: list[Value | None] = []
        for x in n.input:
            if not x:
                inputs.append(None)
            elif x in b.scope:
                inputs.append(b.scope[x])
            else:
                raise InvalidModel(f"{self.where}: {n.op_type} node '{name}' reads '{x}', which "
                                   "no node, input or initializer defines before it")
        if (n.domain, n.op_type) in self.functions:
            outs = self.inline(b, self.functions[(n.domain, n.op_type)], n, inputs, None)
            return self._bind(b, n, outs)
        if domain not in opsets:
            raise UnsupportedOp(f"{n.op_type} node '{name}': operator domain '{n.domain}' is not "
                                "imported by the model", op=n.op_type, node=name)
        opset = opsets[domain]
        d = OPS.get(n.op_type)
        if d is not None and d.domain != domain:
            d = None
        try:
            schema = onnx.defs.get_schema(n.op_type, opset, domain)
        except onnx.defs.SchemaError:
            schema = None
        if schema is None:
            if d is None:
                raise UnsupportedOp(f"{n.op_type} node '{name}': unknown op '{n.op_type}' "
                                    f"(domain '{domain or 'ai.onnx'}', opset {opset})",
                                    op=n.op_type, node=name)
            version = max((v for v in d.versions if v <= opset), default=0)
        else:
            version = schema.since_version
        if n.op_type == "If" and domain == "" and inputs and inputs[0] in b.known:
            # A condition known now: only the taken branch exists (the other may not even
            # type-check, as in ONNX's own function bodies that guard rank-specific code).
            taken = "then_branch" if bool(np.asarray(b.known[inputs[0]])) else "else_branch"
            branch = next((a.g for a in n.attribute if a.name == taken), None)
            if branch is not None:
                return self._bind(b, n, self.inline_graph(b, branch))
        attrs = {a.name: self.attribute(a, n, b) for a in n.attribute}
        if d is None or version not in d.versions:
            fn = self.schema_function(schema, n, inputs, opset) if schema is not None else None
            if fn is None:
                have = f"; dlc implements versions {', '.join(map(str, d.versions))}" if d else ""
                raise UnsupportedOp(f"{n.op_type} node '{name}': {n.op_type} version {version} "
                                    f"(model opset {opset}) is not implemented by dlc{have}",
                                    op=n.op_type, node=name)
            outs = self.inline(b, fn, n, inputs, schema)
            return self._bind(b, n, outs)
        view = NodeView(n.op_type, version, inputs, attrs, name, len(n.output), opset)
        adapt = ADAPTERS.get((n.op_type, version))
        res = adapt(b, view) if adapt else None
        if res is None:
            res = b.emit(view.op, view.inputs, view.attrs, view.num_outputs, list(n.output))
        self._bind(b, n, res)

    def _bind(self, b: GraphBuilder, n: onnx.NodeProto, outs: Sequence[Value]) -> None:
        if len(outs) < len([o for o in n.output if o]):
            raise InvalidModel(f"{n.op_type} node '{b.node_name}' gives fewer outputs than named")
        for name, v in zip(n.output, outs):
            if name:
                b.scope[name] = v

    def attribute(self, a: onnx.AttributeProto, n: onnx.NodeProto, b: GraphBuilder) -> Any:
        T = onnx.AttributeProto
        if a.type == T.FLOAT:
            return float(a.f)
        if a.type == T.INT:
            return int(a.i)
        if a.type == T.STRING:
            return a.s.decode("utf-8", "replace")
        if a.type == T.FLOATS:
            return tuple(float(x) for x in a.floats)
        if a.type == T.INTS:
            return tuple(int(x) for x in a.ints)
        if a.type == T.STRINGS:
            return tuple(s.decode("utf-8", "replace") for s in a.strings)
        if a.type == T.TENSOR:
            return tensor_to_array(a.t)
        if a.type == T.SPARSE_TENSOR:
            return sparse_to_array(a.sparse_tensor)
        if a.type == T.TENSORS:
            return tuple(tensor_to_array(t) for t in a.tensors)
        if a.type == T.GRAPH:
            hints = subgraph_input_types(n, a.name, b)
            g = self.graph(a.g, b.scope, hints)
            if n.op_type == "Loop":
                # Loop-carried values may change shape between iterations: where the body's
                # outputs differ from the first iteration's types, import it again with symbols.
                wider = widen_carried(hints, g)
                if wider != hints:
                    g = self.graph(a.g, b.scope, wider)
            return g
        if a.type == T.GRAPHS:
            return tuple(self.graph(g, b.scope) for g in a.graphs)
        if a.type == T.TYPE_PROTO:
            return value_type(a.tp, a.name)
        raise UnsupportedOp(f"{n.op_type} node '{b.node_name}': attribute '{a.name}' has a kind "
                            "dlc does not read", op=n.op_type, node=b.node_name)

    def inline_graph(self, b: GraphBuilder, gp: onnx.GraphProto) -> list[Value]:
        """Import the nodes of an input-less subgraph into the current graph."""
        outer = b.scope
        b.scope = ChainMap({}, outer)
        try:
            for t in gp.initializer:
                b.scope[t.name] = b.const(tensor_to_array(t), t.name)
            for node in gp.node:
                self.node(b, node, self.opsets)
            missing = [o.name for o in gp.output if o.name not in b.scope]
            if missing:
                raise InvalidModel(f"{self.where}: subgraph output(s) {', '.join(missing)} are "
                                   "not produced by any node")
            return [b.scope[o.name] for o in gp.output]
        finally:
            b.scope = outer

    # -- functions ---------------------------------------------------------------------------
    def schema_function(self, schema: Any, n: onnx.NodeProto, inputs: Sequence[Value | None],
                        opset: int) -> onnx.FunctionProto | None:
        """The function body ONNX defines for this op, if any: dlc then runs its expansion."""
        raw = None
        if schema.has_function:
            versions = [v for v in schema.function_opset_versions if v <= opset]
            if versions:
                raw = schema.get_function_with_opset_version(max(versions))
        if raw is None and schema.has_context_dependent_function:
            versions = [v for v in schema.context_dependent_function_opset_versions if v <= opset]
            types = [type_proto(v.type).SerializeToString() if v is not None
                     else onnx.TypeProto().SerializeToString() for v in inputs]
            if versions:
                try:
                    raw = schema.get_context_dependent_function_with_opset_version(
                        max(versions), n.SerializeToString(), types)
                except Exception:  # noqa: BLE001 - no expansion for these inputs
                    raw = None
        if not raw:
            return None
        fn = onnx.FunctionProto()
        fn.ParseFromString(raw)
        return fn

    def inline(self, b: GraphBuilder, fn: onnx.FunctionProto, call: onnx.NodeProto,
               inputs: Sequence[Value | None], schema: Any) -> list[Value]:
        """Import a function body in place of `call`; attributes the call leaves out take the
        function's defaults, then the op schema's."""
        opsets = dict(self.opsets)
        opsets.update({(o.domain if o.domain != "ai.onnx" else ""): o.version
                       for o in fn.opset_import})
        given = {a.name: a for a in call.attribute}
        defaults = {}
        if schema is not None:
            defaults = {name: a.default_value for name, a in schema.attributes.items()
                        if a.default_value.name}
        defaults.update({a.name: a for a in fn.attribute_proto})
        scope: dict[str, Value] = {}
        outer = b.scope
        for formal, actual in zip(fn.input, inputs):
            if actual is not None:
                scope[formal] = actual
        prefix = re.sub(r"\W", "_", b.node_name or call.op_type)
        b.scope = ChainMap(scope, outer)  # function bodies see only their formals (and consts)
        try:
            for inner in fn.node:
                node = onnx.NodeProto()
                node.CopyFrom(inner)
                _substitute_attrs(node, given, defaults)
                node.name = f"{prefix}/{inner.name or inner.op_type}"
                self.node(b, node, opsets)
            outs = []
            for o in fn.output:
                if o not in scope:
                    raise InvalidModel(f"function {fn.name}: output '{o}' is never computed")
                outs.append(scope[o])
        finally:
            b.scope = outer
        return outs


def _substitute_attrs(node: onnx.NodeProto, given: dict[str, onnx.AttributeProto],
                      defaults: dict[str, onnx.AttributeProto]) -> None:
    kept = []
    for a in node.attribute:
        if a.ref_attr_name:
            src = given.get(a.ref_attr_name) or defaults.get(a.ref_attr_name)
            if src is None:
                continue
            new = onnx.AttributeProto()
            new.CopyFrom(src)
            new.name = a.name
            kept.append(new)
        else:
            kept.append(a)
    del node.attribute[:]
    node.attribute.extend(kept)


# -- types and tensors -------------------------------------------------------------------------

def tensor_to_array(t: onnx.TensorProto) -> np.ndarray:
    try:
        arr = numpy_helper.to_array(t)
    except Exception as e:
        raise InvalidModel(f"tensor '{t.name}' cannot be read: {e}") from None
    if t.data_type == onnx.TensorProto.STRING:
        arr = np.array([x.decode("utf-8", "replace") if isinstance(x, bytes) else x
                        for x in arr.reshape(-1)], dtype=object).reshape(arr.shape)
    return np.asarray(arr)


def sparse_to_array(t: onnx.SparseTensorProto) -> np.ndarray:
    values = tensor_to_array(t.values)
    idx = tensor_to_array(t.indices).astype(np.int64)
    dims = tuple(t.dims)
    out = np.zeros(dims, dtype=values.dtype)
    if idx.ndim == 1:
        out.reshape(-1)[idx] = values
    else:
        out[tuple(idx.T)] = values
    return out


def value_type(tp: onnx.TypeProto, name: str, hint: Type | None = None) -> Type:
    kind = tp.WhichOneof("value")
    if kind == "tensor_type":
        tt = tp.tensor_type
        if tt.elem_type == 0 and isinstance(hint, TensorType):
            return hint
        dtype = dtype_from_onnx(tt.elem_type, name)
        if not tt.HasField("shape"):
            if isinstance(hint, TensorType):
                return TensorType(dtype, hint.shape)
            raise UnsupportedOp(f"'{name}' has no shape (not even a rank); dlc needs the rank of "
                                "every graph input")
        dims: list[Dim] = []
        for i, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param") and d.dim_param:
                dims.append(Sym(d.dim_param))
            else:
                dims.append(Sym(f"{re.sub(r'[^A-Za-z0-9_]', '_', name)}_d{i}"))
        return TensorType(dtype, tuple(dims))
    if kind == "sequence_type":
        elem = value_type(tp.sequence_type.elem_type, name,
                          hint.elem if isinstance(hint, SequenceType) else None)
        if not isinstance(elem, TensorType):
            raise UnsupportedOp(f"'{name}': sequences of non-tensors are not supported")
        return SequenceType(elem)
    if kind == "optional_type":
        inner = value_type(tp.optional_type.elem_type, name,
                           hint.elem if isinstance(hint, OptionalType) else None)
        if isinstance(inner, OptionalType):
            raise UnsupportedOp(f"'{name}': nested optionals are not supported")
        return OptionalType(inner)
    if hint is not None:
        return hint
    raise UnsupportedOp(f"'{name}' has a type dlc does not read ({kind})")


def type_proto(t: Type) -> onnx.TypeProto:
    if isinstance(t, TensorType):
        return onnx.helper.make_tensor_type_proto(
            dtype_to_onnx(t.dtype), [d if isinstance(d, int) else str(d) for d in t.shape])
    if isinstance(t, SequenceType):
        return onnx.helper.make_sequence_type_proto(type_proto(t.elem))
    return onnx.helper.make_optional_type_proto(type_proto(t.elem))


def subgraph_input_types(n: onnx.NodeProto, attr: str, b: GraphBuilder) -> list[Type | None]:
    """Types of a Loop/Scan body's inputs, for bodies that leave them undeclared."""
    ins = [b.scope.get(x) if x else None for x in n.input]
    if n.op_type == "Loop" and attr == "body":
        return [TensorType(DType.I64, ()), TensorType(DType.BOOL, ()),
                *[v.type if v is not None else None for v in ins[2:]]]
    if n.op_type == "Scan" and attr == "body":
        nsi = next((a.i for a in n.attribute if a.name == "num_scan_inputs"), 0)
        axes = next((list(a.ints) for a in n.attribute if a.name == "scan_input_axes"), None)
        state = [v.type if v is not None else None for v in ins[:len(ins) - nsi]]
        scans: list[Type | None] = []
        for k, v in enumerate(ins[len(ins) - nsi:]):
            if v is None or not isinstance(v.type, TensorType):
                scans.append(None)
                continue
            ax = (axes[k] if axes else 0) % max(v.type.rank, 1)
            scans.append(v.type.with_shape(v.type.shape[:ax] + v.type.shape[ax + 1:]))
        return state + scans
    return []


def widen_carried(hints: list[Type | None], body: Graph) -> list[Type | None]:
    """Loop body input types where each carried dim the body changes becomes a symbol."""
    out = list(hints)
    for k in range(2, len(hints)):
        h, o = hints[k], body.outputs[k - 1].type if k - 1 < len(body.outputs) else None
        if isinstance(h, TensorType) and isinstance(o, TensorType) and h.rank == o.rank and h != o:
            out[k] = TensorType(h.dtype, tuple(
                a if a == c else Sym(f"loop_carried{k}_d{i}")
                for i, (a, c) in enumerate(zip(h.shape, o.shape))))
    return out


def make_attrs(d: OpDef, values: dict[str, Any], node_name: str) -> Any:
    fields = d.attr_fields()
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UnsupportedOp(f"{d.name} node '{node_name}': attribute(s) {', '.join(unknown)} are "
                            f"not supported by dlc's {d.name}", op=d.name, node=node_name)
    out = {}
    for k, v in values.items():
        ann = str(fields[k].type)
        if isinstance(v, int) and not isinstance(v, bool) and "float" in ann and "int" not in ann:
            v = float(v)
        elif isinstance(v, list):
            v = tuple(v)
        out[k] = v
    try:
        return d.make_attrs(**out)
    except TypeError as e:
        raise InvalidModel(f"{d.name} node '{node_name}': {e}") from None


def import_onnx(src: object, base_dir: Any = None) -> Graph:
    from .load import load_model
    model, where = load_model(src, base_dir)
    opsets: dict[str, int] = {}
    for imp in model.opset_import:
        opsets["" if imp.domain in ("", "ai.onnx") else imp.domain] = int(imp.version)
    if "" not in opsets:
        opsets[""] = 1 if model.ir_version < 3 else MAX_OPSET
    if opsets[""] > MAX_OPSET:
        raise UnsupportedOp(f"{where}: the model imports opset {opsets['']}; dlc reads opsets up "
                            f"to {MAX_OPSET}")
    functions = {(f.domain, f.name): f for f in model.functions}
    return Importer(opsets, functions, where).graph(model.graph, None)

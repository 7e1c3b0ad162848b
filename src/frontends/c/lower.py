"""A checked C translation unit to Kernels: program-scope declarations (typedefs, structs, enums,
constant tables, functions), one KernelLowerer per kernel, helper functions inlined at each call,
and the finishing touches (buffer access flags, the domain, hoisted local arrays)."""
from __future__ import annotations

from dataclasses import replace

from ...errors import DlcError
from ...ir.kernel import (
    AXIS_BUILTINS,
    BOOL,
    I64,
    U32,
    Alloc,
    Block,
    Buffer,
    Builtin,
    Const,
    Domain,
    Kernel,
    Let,
    Load,
    MemScope,
    Param,
    ScalarType,
    Stmt,
    Var,
    While,
    replace_buffers,
    substitute,
    walk,
)
from ...ir.kernel import Atomic as IrAtomic
from ...ir.kernel import Store as IrStore
from ...ir.verify import verify_kernel
from . import ast as A
from .ctype import INT, Array, CType, Pointer, Scalar, Struct, Void
from .emit import FuncCtx, const_of
from .lexer import Pos
from .lower_stmt import StmtLowerer
from .scope import ConstVal, GlobalTable, HostGlobal, Scope, unsupported
from .values import RV, ArrObj, Obj, PtrVal, PtrVar, StructObj, VarLV

WORK_DIM = Var("get_work_dim()", U32)


class Program:
    """The program-scope declarations of a translation unit."""

    def __init__(self, unit: A.Unit, language: str):
        self.language = language
        self.globals = Scope()
        self.kernels: list[A.FunctionDef] = []
        self.const_eval = KernelLowerer(self, None)
        for item in unit.items:
            if isinstance(item, A.FunctionDef):
                self.function(item)
            else:
                self.declaration(item)

    def is_kernel(self, f: A.FunctionDef) -> bool:
        words = f.specs.words()
        return ("__kernel" in words or "kernel" in words) if self.language == "opencl" \
            else "__global__" in words

    def function(self, f: A.FunctionDef) -> None:
        old = self.globals.names.get(f.name)
        if isinstance(old, A.FunctionDef):
            raise f.declarator.pos.error(f"function '{f.name}' is defined twice (overloads are "
                                         "not supported)")
        self.globals.names[f.name] = f
        if self.is_kernel(f):
            if f.template is not None:
                raise unsupported(f.declarator.pos, f"template kernel '{f.name}': dlc reads no "
                                  "instantiations; write the kernel for concrete types")
            self.kernels.append(f)

    def declaration(self, d: A.Declaration) -> None:
        lw = self.const_eval
        lw.scope = self.globals
        base, info = lw.base_type(d.specs, self.globals)
        for it in d.declarators:
            decl = it.declarator
            assert decl.name is not None
            if decl.ops and isinstance(decl.ops[0], A.FuncOp):
                continue   # a prototype
            t, _ = lw.declarator_type(base, info, decl, self.globals)
            if info.has("typedef"):
                self.globals.types[decl.name] = t
                continue
            if it.init is None:
                self.globals.names[decl.name] = HostGlobal(decl.name, decl.pos)
            elif isinstance(t, Scalar):
                rv = lw.rvalue(it.init)
                v = lw.convert(rv, t, decl.pos)
                if not isinstance(v, Const):
                    raise decl.pos.error(f"program-scope '{decl.name}' needs a constant "
                                         "initializer")
                self.globals.names[decl.name] = ConstVal(v.value, t)  # type: ignore[arg-type]
            elif isinstance(t, Array):
                if t.size is None and isinstance(it.init, A.InitList):
                    t = Array(t.elem, len(it.init.items))
                self.globals.names[decl.name] = GlobalTable(decl.name, t, it.init, decl.pos)
            else:
                raise unsupported(decl.pos, f"program-scope variables of type {t} are not "
                                  "supported")


class KernelLowerer(StmtLowerer):
    def __init__(self, program: Program, f: A.FunctionDef | None):
        super().__init__(program)
        self.f = f
        self.params: list[Param] = []
        self.local_allocs: list[Alloc] = []
        self.prologue: list[Stmt] = []
        self.tables: dict[str, ArrObj] = {}
        self.dyn: Buffer | None = None
        if f is not None:
            self.stmt_pos = f.pos
        self.funcs = [FuncCtx("", Void(), assigned=self.assigned_names(f.body) if f else set())]

    def work_dim_var(self) -> Var:
        """get_work_dim(): the domain's axis count, known once the kernel is lowered."""
        return WORK_DIM

    # -- constants -------------------------------------------------------------------------------
    def const_int(self, e: A.Expr, scope: Scope) -> int:
        outer = self.scope
        self.scope = scope
        try:
            with self.nested() as junk:
                rv = self.rvalue(e)
        finally:
            self.scope = outer
        v = self.value(rv)
        if junk or not isinstance(v, Const) or not isinstance(v.value, int):
            raise e.pos.error("expected an integer constant expression")
        return v.value

    # -- the kernel ------------------------------------------------------------------------------
    def run(self) -> Kernel:
        f = self.f
        assert f is not None
        fn = f.func
        if not isinstance(self.return_type(f, self.scope), Void):
            raise f.declarator.pos.error(f"kernel '{f.name}' must return void")
        for p in real_params(fn):
            self.kernel_param(p)
        self.stmt_pos = f.body.pos or f.pos
        with self.nested() as body:
            self.s_Compound(f.body)
        self.stmt_pos = f.pos
        return self.finish(f, self.local_allocs + self.prologue + body)

    def kernel_param(self, p: A.Param) -> None:
        base, info = self.base_type(p.specs, self.scope)
        t, is_ref = self.declarator_type(base, info, p.declarator, self.scope)
        name = p.declarator.name
        if name is None:
            raise p.pos.error("kernel parameters need names")
        if is_ref:
            raise unsupported(p.pos, f"reference parameter '{name}' of a kernel")
        self.names.add(name)
        if isinstance(t, Array):
            t = Pointer(t.elem, info.space, info.const)
        if isinstance(t, Scalar):
            v = Var(name, t.st)
            self.params.append(v)
            self.scope.names[name] = VarLV(v, t)
        elif isinstance(t, Pointer):
            space = t.space or MemScope.GLOBAL
            if space is MemScope.PRIVATE:
                raise p.pos.error(f"kernel pointer parameter '{name}' cannot point to private "
                                  "memory")
            elem = self.buffer_elem(t.pointee, p.pos, name)
            b = Buffer(name, elem, None, space, True, not (t.const or space is
                                                          MemScope.CONSTANT))
            self.params.append(b)
            pt = Pointer(t.pointee, space, t.const or space is MemScope.CONSTANT)
            pv = PtrVar(name, pt, PtrVal(pt, b, (), const_of(0, INT.st)))
            if name in self.func().assigned:
                ov = Var(self.fresh(name + ".off"), I64)
                self.prologue.append(Let(ov, Const(0, I64)))
                pv.offset_var = ov
            self.scope.names[name] = pv
        elif isinstance(t, Struct):
            raise unsupported(p.pos, f"struct parameter '{name}' passed by value; pass its "
                                     "fields as separate parameters or a pointer")
        else:
            raise p.pos.error(f"kernel parameter '{name}' cannot have type {t}")

    def buffer_elem(self, t: CType, pos: Pos, name: str) -> ScalarType:
        if isinstance(t, Scalar):
            if t.lanes == 3 and self.language == "opencl":
                return t.st.with_lanes(4)
            return t.st
        if isinstance(t, Struct):
            from .ctype import leaf_dtype
            d = leaf_dtype(t)
            if d is None:
                raise unsupported(pos, f"'{name}' points to {t}, whose fields are not all of "
                                  "one type; dlc supports buffers of structs of one element type")
            return ScalarType(d)
        raise unsupported(pos, f"'{name}' points to {t}, which is not supported")

    def dynamic_shared_array(self, name: str, t: Array, pos: Pos) -> ArrObj:
        assert isinstance(t.elem, Scalar)
        elem = self.buffer_elem(t.elem, pos, "extern __shared__")
        if self.dyn is None:
            self.dyn = Buffer(self.fresh(name), elem, None, MemScope.LOCAL)
        elif self.dyn.elem != elem:
            raise unsupported(pos, "extern __shared__ arrays of different element types "
                                   f"({self.dyn.elem} and {elem})")
        return ArrObj(Array(t.elem, None), self.dyn, (), const_of(0, INT.st))

    def global_table(self, g: GlobalTable) -> ArrObj:
        if g.name in self.tables:
            return self.tables[g.name]
        outer_scope, outer_funcs = self.scope, self.funcs
        self.scope, self.funcs = self.program.globals.child(), self.funcs[:1]
        try:
            with self.nested() as stmts:
                arr = self.new_array(g.name, g.ctype, MemScope.PRIVATE, g.pos)
                self.init_array(arr, g.init, g.pos)
        finally:
            self.scope, self.funcs = outer_scope, outer_funcs
        self.prologue.extend(stmts)
        self.tables[g.name] = arr
        return arr

    def finish(self, f: A.FunctionDef, body: list[Stmt]) -> Kernel:
        params = list(self.params)
        if self.dyn is not None:
            params.append(self.dyn)
        block = Block(tuple(body))
        reads: set[str] = set()
        writes: set[str] = set()
        axes = 0
        for n in walk(block):
            if isinstance(n, Load):
                reads.add(n.buffer.name)
            elif isinstance(n, IrStore):
                writes.add(n.buffer.name)
            elif isinstance(n, IrAtomic):
                reads.add(n.buffer.name)
                writes.add(n.buffer.name)
            elif isinstance(n, Builtin) and n.name in AXIS_BUILTINS:
                axes = max(axes, n.axis + 1)
        mapping: dict[Buffer, Buffer] = {}
        final: list[Param] = []
        for p in params:
            if isinstance(p, Buffer):
                w = p.name in writes
                if w and not p.write:
                    raise f.declarator.pos.error(f"kernel '{f.name}' writes '{p.name}', which "
                                                 "is const")
                r = p.name in reads or not w
                q = replace(p, read=r, write=w)
                mapping[p] = q
                final.append(q)
            else:
                final.append(p)
        if mapping:
            block = replace_buffers(block, mapping)
        local = self.required_local_size(f)
        ndim = max(axes, 1, len(local) if local else 0)
        block = substitute(block, {WORK_DIM: Const(ndim, U32)})
        if local is not None:
            local = (tuple(local) + (1, 1, 1))[:ndim]
        k = Kernel(f.name, tuple(final), block, Domain(ndim, local),
                   self.dyn.name if self.dyn is not None else None)
        try:
            verify_kernel(k)
        except DlcError as e:
            raise DlcError(f"{f.declarator.pos.where()}internal error: kernel '{f.name}' "
                           f"lowered to invalid IR: {e}") from e
        return k

    def required_local_size(self, f: A.FunctionDef) -> tuple[int, ...] | None:
        for a in list(f.declarator.attributes) + [s for s in f.specs.items
                                                  if isinstance(s, A.Attribute)]:
            if a.name != "__attribute__":
                continue
            texts = [t.text for t in a.tokens]
            if "reqd_work_group_size" in texts:
                i = texts.index("reqd_work_group_size")
                nums = []
                for t in a.tokens[i + 1:]:
                    if t.text == ")":
                        break
                    if t.kind == "num":
                        nums.append(int(t.text.rstrip("uUlL"), 0))
                if len(nums) != 3 or any(n <= 0 for n in nums):
                    raise a.pos.error("reqd_work_group_size takes three positive sizes")
                while len(nums) > 1 and nums[-1] == 1:
                    nums.pop()
                return tuple(nums)
        return None

    # -- helper functions ------------------------------------------------------------------------
    def return_type(self, f: A.FunctionDef, scope: Scope) -> CType:
        base, info = self.base_type(f.specs, scope)
        rest = A.Declarator(f.declarator.pos, None, f.declarator.ops[1:])
        return self.declarator_type(base, info, rest, scope)[0]

    def inline_call(self, f: A.FunctionDef, call: A.Call, discard: bool) -> Obj:
        pos = call.pos
        if any(fc.name == f.name for fc in self.funcs[1:]):
            chain = " -> ".join([fc.name for fc in self.funcs[1:]] + [f.name])
            raise unsupported(pos, f"recursion is not supported ({chain})")
        if self.program.is_kernel(f) and self.language == "cuda":
            raise unsupported(pos, f"launching kernel '{f.name}' from a kernel (dynamic "
                                   "parallelism) is not supported")
        params = real_params(f.func)
        if len(call.args) != len(params):
            raise pos.error(f"function '{f.name}' takes {len(params)} argument(s), got "
                            f"{len(call.args)}")
        args = [self.expr(a) for a in call.args]
        fscope = self.program.globals.child()
        if f.template is not None:
            self.bind_template(f, call, args, fscope)
        elif call.targs:
            raise pos.error(f"'{f.name}' is not a template")
        ret = self.return_type(f, fscope)
        ctx = FuncCtx(f.name, ret, assigned=self.assigned_names(f.body))
        bindings: dict[str, Obj] = {}
        self.funcs.append(ctx)
        try:
            for p, a, ae in zip(params, args, call.args):
                bindings[p.declarator.name or "_"] = self.bind_param(p, a, ae.pos, fscope)
            fscope.names.update(bindings)
            outer = self.scope
            self.scope = fscope.child()
            try:
                return self.inline_body(f, ctx, pos)
            finally:
                self.scope = outer
        finally:
            self.funcs.pop()

    def bind_template(self, f: A.FunctionDef, call: A.Call, args: list[Obj],
                      scope: Scope) -> None:
        assert f.template is not None
        targs = list(call.targs or ())
        for k, tp in enumerate(f.template):
            if k < len(targs):
                ta = targs[k]
                if tp.kind is None:
                    if not isinstance(ta, A.TypeName):
                        raise ta.pos.error(f"template parameter '{tp.name}' takes a type")
                    scope.types[tp.name] = self.type_name(ta, self.scope)
                else:
                    if isinstance(ta, A.TypeName):
                        raise ta.pos.error(f"template parameter '{tp.name}' takes a value")
                    t = self.base_type(tp.kind, scope)[0]
                    assert isinstance(t, Scalar)
                    scope.names[tp.name] = ConstVal(self.const_int(ta, self.scope), t)
                continue
            if tp.kind is not None:
                raise call.pos.error(f"template value parameter '{tp.name}' of '{f.name}' "
                                     "must be given (f<...>(...))")
            deduced = None
            for p, a in zip(real_params(f.func), args):
                refs = [s for s in p.specs.items if isinstance(s, A.TypeRef)]
                if refs and refs[0].name == tp.name:
                    at: CType = a.ctype
                    ptrs = sum(isinstance(op, A.PtrOp) for op in p.declarator.ops)
                    if ptrs and isinstance(a, (PtrVal, PtrVar)):
                        at = a.ctype.pointee
                    elif ptrs and isinstance(a, ArrObj):
                        at = a.ctype.elem
                    deduced = at
                    break
            if deduced is None:
                raise call.pos.error(f"cannot deduce template parameter '{tp.name}' of "
                                     f"'{f.name}'; give it: {f.name}<...>(...)")
            scope.types[tp.name] = deduced

    def bind_param(self, p: A.Param, a: Obj, pos: Pos, scope: Scope) -> Obj:
        base, info = self.base_type(p.specs, scope)
        t, is_ref = self.declarator_type(base, info, p.declarator, scope)
        name = p.declarator.name or "_"
        if is_ref:
            return a
        if isinstance(t, Array):
            t = Pointer(t.elem, info.space, info.const)
        if isinstance(t, Pointer):
            pv = self.pointer(a, pos)
            if isinstance(t.pointee, Scalar) and isinstance(pv.ctype.pointee, Scalar) \
                    and t.pointee.st != pv.ctype.pointee.st:
                raise pos.error(f"argument for '{name}' is {pv.ctype}, expected {t}")
            pt = Pointer(t.pointee, pv.ctype.space, t.const or pv.ctype.const)
            value = self.stable(replace(pv, ctype=pt))
            var = PtrVar(name, pt, value)
            if name in self.func().assigned or not isinstance(value.offset, Const):
                ov = Var(self.var_name(name + ".off"), I64)
                self.emit(Let(ov, self.cast(value.offset, I64)))
                var.offset_var = ov
            return var
        if isinstance(t, Scalar):
            rv = self.to_rv(a, pos)
            v = Var(self.var_name(name), t.st)
            self.emit(Let(v, self.convert(rv, t, pos, f"parameter '{name}'")))
            return VarLV(v, t, info.const)
        if isinstance(t, Struct):
            if not isinstance(a, StructObj) or a.ctype != t:
                raise pos.error(f"argument for '{name}' is {self.describe(a)}, expected {t}")
            obj = self.new_struct(name, t, pos)
            self.copy_struct(obj, a, pos)
            return obj
        raise unsupported(pos, f"parameters of type {t} are not supported")

    def inline_body(self, f: A.FunctionDef, ctx: FuncCtx, pos: Pos) -> Obj:
        items = list(f.body.items)
        returns = [n for n in nodes_of(f.body) if isinstance(n, A.Return)]
        last = items[-1] if items else None
        simple = (not returns) or (len(returns) == 1 and last is returns[0])
        ret = ctx.ret_type
        if simple:
            for it in items[:-1] if returns else items:
                self.stmt(it)
            if not returns or returns[0].value is None:
                if not isinstance(ret, Void) and not returns:
                    raise f.declarator.pos.error(f"'{f.name}' returns {ret} but has no return "
                                                 "statement")
                return RV(INT, Const(0, INT.st))
            assert isinstance(last, A.Return) and last.value is not None
            if isinstance(ret, Void):
                raise last.pos.error(f"'{f.name}' returns void; 'return' takes no value here")
            return self.returned(last.value, ctx)
        if isinstance(ret, Scalar):
            rv = Var(self.var_name("result"), ret.st)
            self.emit(Let(rv))
            ctx.result = VarLV(rv, ret)
        elif isinstance(ret, Struct):
            ctx.result = self.new_struct(f"{f.name}.result", ret, pos)
        elif not isinstance(ret, Void):
            raise unsupported(pos, f"'{f.name}' returns {ret} from more than one place")
        ctx.wrapped = True
        if any(self.inside_loop(f.body, r) for r in returns):
            ctx.done = Var(self.var_name("returned"), BOOL)
            self.emit(Let(ctx.done, Const(False, BOOL)))
        with self.nested() as body:
            for it in items:
                self.stmt(it)
        self.emit(While(Const(False, BOOL), Block(tuple(body)), test_first=False))
        if isinstance(ctx.result, VarLV):
            return RV(ctx.result.ctype, ctx.result.var)
        if ctx.result is None:
            return RV(INT, Const(0, INT.st))
        return ctx.result

    def inside_loop(self, body: A.Stmt, target: A.Return) -> bool:
        def walk_(s: object, depth: int) -> bool:
            if s is target:
                return depth > 0
            loop = isinstance(s, (A.While, A.DoWhile, A.For, A.Switch))
            for child in children_of(s):
                if walk_(child, depth + loop):
                    return True
            return False
        return walk_(body, 0)

    def call(self, e: A.Call, discard: bool) -> Obj:
        if not isinstance(e.func, A.Name):
            raise unsupported(e.pos, "calls through function pointers are not supported")
        name = e.func.id
        entry = self.scope.lookup(name)
        if isinstance(entry, A.FunctionDef):
            return self.inline_call(entry, e, discard)
        if entry is not None:
            raise e.pos.error(f"'{name}' is not a function")
        from .builtins import call_builtin
        return call_builtin(self, name, e, discard)


def real_params(fn: A.FuncOp) -> tuple[A.Param, ...]:
    ps = fn.params
    if len(ps) == 1 and ps[0].declarator.name is None and not ps[0].declarator.ops \
            and ps[0].specs.words() == ["void"]:
        return ()
    return ps


def nodes_of(x: object) -> list[object]:
    from .lower_stmt import nodes
    return list(nodes(x))


def children_of(s: object) -> list[object]:
    import dataclasses
    out: list[object] = []
    if not dataclasses.is_dataclass(s) or isinstance(s, type):
        return out
    for f in dataclasses.fields(s):
        v = getattr(s, f.name)
        if isinstance(v, tuple):
            out.extend(x for x in v if isinstance(x, A.Stmt))
        elif isinstance(v, A.Stmt):
            out.append(v)
    return out


def lower_unit(unit: A.Unit, language: str) -> list[Kernel]:
    program = Program(unit, language)
    return [KernelLowerer(program, f).run() for f in program.kernels]


__all__ = ["KernelLowerer", "Program", "lower_unit", "ArrObj", "StructObj", "Obj"]

"""Lowering of C declarations inside functions: scalars, pointers (resolved to one buffer each),
private and local/shared arrays (local ones hoisted), structs flattened into their fields, and
initializer lists."""
from __future__ import annotations

import dataclasses

from ...ir.kernel import (
    I64,
    Alloc,
    Buffer,
    Const,
    Expr,
    Let,
    MemScope,
    Var,
)
from . import ast as A
from .ctype import INT, Array, CType, Pointer, Scalar, Struct, Void
from .emit import const_of
from .lexer import Pos
from .lower_expr import ExprLowerer
from .scope import DeclInfo, unsupported
from .values import RV, ArrObj, LaneLV, MemLV, Obj, PtrVal, PtrVar, StructObj, VarLV


class DeclLowerer(ExprLowerer):
    # -- declarations ----------------------------------------------------------------------------
    def declaration(self, d: A.Declaration) -> None:
        base, info = self.base_type(d.specs, self.scope)
        if info.has("typedef"):
            for it in d.declarators:
                t, _ = self.declarator_type(base, info, it.declarator, self.scope)
                assert it.declarator.name is not None
                self.scope.types[it.declarator.name] = t
            return
        for it in d.declarators:
            decl = it.declarator
            if decl.ops and isinstance(decl.ops[0], A.FuncOp):
                continue    # a function prototype
            t, is_ref = self.declarator_type(base, info, decl, self.scope)
            assert decl.name is not None
            if is_ref:
                if it.init is None:
                    raise decl.pos.error(f"reference '{decl.name}' needs an initializer")
                self.scope.names[decl.name] = self.expr(it.init)
                continue
            self.declare(decl.name, t, info, it.init, decl.pos)

    def declare(self, name: str, t: CType, info: DeclInfo, init: A.Expr | None,
                pos: Pos) -> None:
        if isinstance(t, Void):   # `auto`: the initializer's type
            if init is None:
                raise pos.error(f"variable '{name}' has type void (or is 'auto' without an "
                                "initializer)")
            with self.nested():
                o = self.expr(init)
            t = self.pointer(o, pos).ctype if isinstance(o, ArrObj) else o.ctype
        if (info.space is MemScope.LOCAL or info.has("__shared__")) \
                and not isinstance(t, Pointer):
            self.declare_shared(name, t, info, init, pos)
            return
        if isinstance(t, Scalar):
            value = self.initial_scalar(t, init, pos) if init is not None else None
            if info.const and isinstance(value, Const) and name not in self.func().assigned:
                self.scope.names[name] = VarLV(Var(name, t.st), t, True, value)
                return
            v = Var(self.var_name(name), t.st)
            self.emit(Let(v, value))
            self.scope.names[name] = VarLV(v, t, info.const)
        elif isinstance(t, Pointer):
            self.declare_pointer(name, t, init, pos)
        elif isinstance(t, Array):
            if t.size is None:
                if isinstance(init, A.InitList):
                    t = Array(t.elem, len(init.items))
                else:
                    raise pos.error(f"array '{name}' needs a size")
            arr = self.new_array(name, t, MemScope.PRIVATE, pos)
            self.scope.names[name] = arr
            if init is not None:
                self.init_array(arr, init, pos)
        elif isinstance(t, Struct):
            obj = self.new_struct(name, t, pos)
            self.scope.names[name] = obj
            if init is not None:
                self.init_struct(obj, init, pos)
        else:
            raise unsupported(pos, f"variables of type {t} are not supported")

    def initial_scalar(self, t: Scalar, init: A.Expr, pos: Pos) -> Expr:
        if isinstance(init, A.InitList):
            if t.lanes > 1:
                items = list(init.items)
                if 1 < len(items) < t.lanes:    # `float4 v = {1, 2}`: the rest are zero
                    items += [A.Number(pos, "0")] * (t.lanes - len(items))
                return self.vector_literal(t, items, pos)
            if len(init.items) != 1:
                raise pos.error(f"a {t} takes one initializer, got {len(init.items)}")
            init = init.items[0]
        return self.convert(self.rvalue(init), t, pos, "the initializer")

    def declare_pointer(self, name: str, t: Pointer, init: A.Expr | None, pos: Pos) -> None:
        pv = PtrVar(name, t, None)
        value = self.pointer(self.expr(init), pos) if init is not None else None
        needs_var = name in self.func().assigned or (value is not None
                                                     and not isinstance(value.offset, Const))
        if value is not None:
            value = self.stable(value)
            if value.ctype.pointee != t.pointee and not isinstance(t.pointee, Void):
                pass   # C allows it with a warning; the pointee type of t rules accesses
            pv.value = PtrVal(t if t.space is not None else Pointer(
                t.pointee, value.ctype.space, t.const), value.buffer, value.prefix, value.offset,
                value.target)
        if needs_var:
            off = value.offset if value is not None else None
            ov = Var(self.var_name(name + ".off"), I64)
            self.emit(Let(ov, self.cast(off, ov.type) if off is not None else None))
            pv.offset_var = ov
        self.scope.names[name] = pv

    def stable(self, p: PtrVal) -> PtrVal:
        """p with its prefix indices captured in variables (a pointer keeps the value its
        indices had when it was made)."""
        prefix = tuple(x if isinstance(x, (Const, Var)) else self.temp(x, "idx")
                       for x in p.prefix)
        return dataclasses.replace(p, prefix=prefix)

    def new_array(self, name: str, t: Array, scope: MemScope, pos: Pos) -> ArrObj:
        sizes, elem = t.dims()
        if any(s is None for s in sizes):
            raise pos.error(f"array '{name}' needs a size in every dimension")
        if isinstance(elem, Struct):
            fields = {}
            for fname, ft in elem.fields:
                if not isinstance(ft, (Scalar, Struct)):
                    raise unsupported(pos, f"arrays of structs with a {ft} field are not "
                                           "supported")
                fields[fname] = self.new_array(f"{name}.{fname}", replace_elem(t, ft), scope,
                                               pos)
            return ArrObj(t, None, (), const_of(0, INT.st), fields)
        if not isinstance(elem, Scalar):
            raise unsupported(pos, f"arrays of {elem} are not supported")
        shape = tuple(Const(s, INT.st) for s in sizes)  # type: ignore[arg-type]
        elem_st = elem.st.with_lanes(4) if elem.lanes == 3 and self.language == "opencl" \
            else elem.st
        b = Buffer(self.var_name(name), elem_st, shape, scope)
        if scope is MemScope.LOCAL:
            self.local_allocs.append(Alloc(b))
        else:
            self.emit(Alloc(b))
        return ArrObj(t, b, (), const_of(0, INT.st))

    def init_array(self, arr: ArrObj, init: A.Expr, pos: Pos) -> None:
        if not isinstance(init, A.InitList):
            raise pos.error("an array is initialized with a braced list")
        self.init_aggregate(arr, init, pos)

    def members(self, o: ArrObj | StructObj, pos: Pos) -> list[Obj]:
        if isinstance(o, StructObj):
            return list(o.fields.values())
        return [self.index(o, RV(INT, Const(k, INT.st)), pos) for k in range(o.ctype.size or 0)]

    def init_aggregate(self, o: ArrObj | StructObj, init: A.InitList, pos: Pos) -> None:
        """Initialize an array or struct from a braced list; inner braces may be left out (C's
        brace elision) and missing values are zero."""
        items = list(init.items)
        k = 0
        for m in self.members(o, pos):
            if k < len(items):
                k = self.init_member(m, items, k, pos)
            else:
                self.zero(m, pos)
        if k < len(items):
            n = len(self.members(o, pos))
            what = f"an array of {n}" if isinstance(o, ArrObj) else \
                f"{o.ctype} of {n} fields"
            raise items[k].pos.error(f"too many initializers for {what}")

    def init_member(self, m: Obj, items: list[A.Expr], k: int, pos: Pos) -> int:
        """Initialize m from items[k:]; the index of the first item not used."""
        item = items[k]
        if isinstance(m, (ArrObj, StructObj)):
            if isinstance(item, A.InitList):
                self.init_aggregate(m, item, pos)
                return k + 1
            if isinstance(m, StructObj):
                with self.nested():
                    whole = isinstance(self.expr(item), StructObj)
                if whole:
                    self.assign(m, self.expr(item), item.pos)
                    return k + 1
            for sub in self.members(m, pos):
                if k < len(items):
                    k = self.init_member(sub, items, k, pos)
                else:
                    self.zero(sub, pos)
            return k
        if isinstance(m, (VarLV, MemLV, LaneLV)):
            self.assign(m, RV(m.ctype, self.initial_scalar(m.ctype, item, item.pos)), item.pos)
        else:
            self.assign(m, self.expr(item), item.pos)
        return k + 1

    def zero(self, o: Obj, pos: Pos) -> None:
        if isinstance(o, ArrObj):
            for k in range(o.ctype.size or 0):
                self.zero(self.index(o, RV(INT, Const(k, INT.st)), pos), pos)
        elif isinstance(o, StructObj):
            for f in o.fields.values():
                self.zero(f, pos)
        elif isinstance(o, (VarLV, MemLV, LaneLV)):
            self.store(o, self.cast(Const(0, INT.st), o.ctype.st), pos)

    def new_struct(self, name: str, t: Struct, pos: Pos) -> StructObj:
        fields: dict[str, Obj] = {}
        for fname, ft in t.fields:
            full = f"{name}.{fname}"
            if isinstance(ft, Scalar):
                v = Var(self.var_name(full), ft.st)
                self.emit(Let(v))
                fields[fname] = VarLV(v, ft)
            elif isinstance(ft, Struct):
                fields[fname] = self.new_struct(full, ft, pos)
            elif isinstance(ft, Array):
                fields[fname] = self.new_array(full, ft, MemScope.PRIVATE, pos)
            else:
                raise unsupported(pos, f"struct fields of type {ft} are not supported")
        return StructObj(t, fields)

    def init_struct(self, obj: StructObj, init: A.Expr, pos: Pos) -> None:
        if not isinstance(init, A.InitList):
            self.assign(obj, self.expr(init), pos)
            return
        self.init_aggregate(obj, init, pos)

    def declare_shared(self, name: str, t: CType, info: DeclInfo, init: A.Expr | None,
                       pos: Pos) -> None:
        if init is not None:
            raise pos.error(f"local/shared variable '{name}' cannot have an initializer")
        if info.has("extern"):
            if not (isinstance(t, Array) and t.size is None and isinstance(t.elem, Scalar)):
                raise unsupported(pos, "extern __shared__ must be an array of unknown size of "
                                       "a scalar or vector type")
            self.scope.names[name] = self.dynamic_shared_array(name, t, pos)
            return
        if isinstance(t, Scalar):
            arr = self.new_array(name, Array(t, 1), MemScope.LOCAL, pos)
            assert arr.buffer is not None
            self.scope.names[name] = MemLV(arr.buffer, (Const(0, INT.st),), t)
        elif isinstance(t, Array):
            self.scope.names[name] = self.new_array(name, t, MemScope.LOCAL, pos)
        else:
            raise unsupported(pos, f"local/shared variables of type {t} are not supported")

    # -- provided by the kernel lowerer ----------------------------------------------------------
    local_allocs: list[Alloc]

    def dynamic_shared_array(self, name: str, t: Array, pos: Pos) -> ArrObj:
        raise NotImplementedError


def replace_elem(t: Array, elem: CType) -> Array:
    if isinstance(t.elem, Array):
        return Array(replace_elem(t.elem, elem), t.size)
    return Array(elem, t.size)

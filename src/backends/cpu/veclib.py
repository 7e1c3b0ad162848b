"""Vector versions of the math functions, for the loop vectorizer: glibc's libmvec.

Generated code calls the C library's scalar `expf`, `sin`, ... . Where libmvec is present, each
such declaration gets LLVM's "vector-function-abi-variant" attribute naming its libmvec versions
(x86-64 vector-function-ABI names `_ZGV<isa>N<lanes><v per operand>_<name>`: isa b = SSE, d = AVX2,
e = AVX-512), which are declared beside it. LLVM's loop vectorizer then calls one of them for 4,
8 or 16 lanes at once instead of the scalar function once per lane.
"""
from __future__ import annotations

import ctypes
import functools
import re
import weakref
from typing import Any

VECTOR_MATH = {**{n: 1 for n in ("exp", "exp2", "exp10", "log", "log2", "log10", "sin", "cos",
                                 "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "log1p",
                                 "expm1", "cbrt", "asinh", "acosh", "atanh", "erf", "erfc")},
               "pow": 2, "atan2": 2, "hypot": 2}
LIBRARY = "libmvec.so.1"


@functools.cache
def libmvec_loaded() -> bool:
    """Load libmvec into the process (so JIT-linked code finds its symbols); False if absent."""
    try:
        lib = ctypes.CDLL(LIBRARY)
        lib["_ZGVbN4v_expf"]
    except (OSError, AttributeError):
        return False
    from .jit import llvm_binding
    llvm_binding().load_library_permanently(LIBRARY)
    return True


def vector_isas(features: frozenset[str], triple: str) -> str:
    """The libmvec ISA letters the host can run (a string such as "bd")."""
    if not triple.startswith("x86_64") or "linux" not in triple:
        return ""
    out = "b"
    if "avx2" in features:
        out += "d"
    if "avx512f" in features:
        out += "e"
    return out


_ISA_BITS = {"b": 128, "d": 256, "e": 512}
_module_isas: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def register(module: Any, isas: str) -> None:
    """Say which libmvec ISAs code generated into `module` (an llvmlite ir.Module) may call."""
    _module_isas[module] = isas


def vector_function(module: Any, name: str, lanes: int, bits: int) -> str | None:
    """The libmvec function computing C function `name` (`expf`) on a whole vector of `lanes`
    lanes of `bits` bits, if the module may call one."""
    base = name[:-1] if bits == 32 else name
    arity = VECTOR_MATH.get(base)
    for isa in _module_isas.get(module, ""):
        if arity is not None and _ISA_BITS[isa] == lanes * bits:
            return f"_ZGV{isa}N{lanes}{'v' * arity}_{name}"
    return None
_DECL = re.compile(r'^declare (float|double) @"(\w+)"\(([^)]*)\) nounwind readnone$', re.M)


def add_vector_variants(text: str, isas: str) -> str:
    """The module text with libmvec variants attached to its scalar math declarations."""
    if not isas:
        return text
    groups: list[str] = []
    decls: list[str] = []
    names: list[str] = []

    def attach(m: re.Match[str]) -> str:
        ty, name = m.group(1), m.group(2)
        base = name[:-1] if ty == "float" and name.endswith("f") else name
        arity = VECTOR_MATH.get(base)
        if arity is None or (ty == "float") != (name != base):
            return m.group(0)
        bits = 32 if ty == "float" else 64
        variants = []
        for isa in isas:
            lanes = _ISA_BITS[isa] // bits
            vname = f"_ZGV{isa}N{lanes}{'v' * arity}_{name}"
            variants.append(f"{vname}({vname})")
            names.append(vname)
            vt = f"<{lanes} x {ty}>"
            if f'@"{vname}"(' in text:  # already called directly (on a vector value)
                continue
            decls.append(f"declare {vt} @{vname}({', '.join([vt] * arity)}) nounwind readnone")
        gid = 1000 + len(groups)
        groups.append(f'attributes #{gid} = {{ "vector-function-abi-variant"='
                      f'"{",".join(variants)}" }}')
        return f"{m.group(0)} #{gid}"
    text = _DECL.sub(attach, text)
    if not groups:
        return text
    # kept alive until the vectorizer has seen them (as clang keeps `declare simd` variants)
    used = (f"@llvm.compiler.used = appending global [{len(names)} x ptr] "
            f"[{', '.join('ptr @' + n for n in names)}], section \"llvm.metadata\"")
    return text + "\n" + "\n".join([used, *decls, *groups]) + "\n"

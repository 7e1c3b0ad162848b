"""dlc's C preprocessor: macros, conditionals, includes, build options (-D / defines=) and the
predefined macros of each language, and its error messages."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from c_helpers import module

from dlc.errors import ParseError
from dlc.frontends.c import import_kernels, preprocess
from dlc.runtime import KernelModule


def pp(src: str, lang: str = "opencl", **kw: object) -> str:
    return preprocess(src, language=lang, **kw)  # type: ignore[arg-type]


def test_object_and_function_like_macros() -> None:
    assert pp("#define N 16\n#define SQ(x) ((x) * (x))\nint a = SQ(N + 1);") == \
        "int a = ( ( 16 + 1 ) * ( 16 + 1 ) ) ;"
    assert pp("#define F (x)\nF") == "( x )"          # a space: object-like
    assert pp("#define CAT(a, b) a ## b\n#define STR(x) #x\nCAT(foo, bar) STR(a  \"b\")") == \
        'foobar "a \\"b\\""'
    assert pp("#define V(fmt, ...) f(fmt, __VA_ARGS__)\n#define E() 1\nV(1, 2, 3) E()") == \
        "f ( 1 , 2 , 3 ) 1"
    assert pp("#define A B\n#define B A\nA B") == "A B"   # no endless self-expansion
    assert pp("#define F(x) x\nF(F(1)) F (2) F") == "1 2 F"
    assert pp("#define M(a) a\nM((1, 2))") == "( 1 , 2 )"
    assert pp("#define X 1\n#undef X\nX") == "X"
    assert pp("#define L __LINE__\n\nL") == "3"


def test_conditionals() -> None:
    src = """
#define N 8
#if N > 4 && defined(N) && !defined M
big
#elif N > 2
medium
#else
small
#endif
#ifdef N
  #ifndef M
    nested
  #else
    never
  #endif
#endif
#if 0
  #error not seen
  #bogus also not seen
#endif
#if (1 ? 0x10 : 2) == 16 && (7 / 2 == 3) && (-7 % 3 == -1) && ('a' == 97) && (1 << 4 == 16)
arith
#endif
#if UNDEFINED_NAME
no
#endif
"""
    assert pp(src) == "big nested arith"


def test_defines_option_sets_macros() -> None:
    src = "#ifndef N\n#error N is needed\n#endif\nint a[N]; float b = SCALE; int c = FLAG;"
    assert pp(src, defines={"N": 64, "SCALE": "2.5f", "FLAG": True}) == \
        "int a [ 64 ] ; float b = 2.5f ; int c = 1 ;"
    m = module("__kernel void k(__global int *o) { int t[N]; o[0] = N + sizeof(t); }",
               defines={"N": 4})
    o = np.zeros(1, np.int32)
    m["k"](o, global_size=(1,))
    assert o[0] == 4 + 16


def test_predefined_macros_by_language() -> None:
    assert pp("__OPENCL_VERSION__ CLK_LOCAL_MEM_FENCE M_PI_F defined") == \
        "120 1 3.14159265f defined"
    assert pp("#if defined(__CUDACC__) && __CUDA_ARCH__ >= 600\ncuda\n#endif", "cuda") == "cuda"
    assert pp("#ifdef __CUDACC__\nno\n#endif\nINT_MAX", "opencl") == "2147483647"


def test_include_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "a.h").write_text('#include "b.h"\n#define A (B + 1)\n')
    (tmp_path / "inc" / "b.h").write_text("#pragma once\n#define B 41\n")
    (tmp_path / "k.cl").write_text('#include "inc/a.h"\n#include "inc/b.h"\n'
                                   "__kernel void k(__global int *o) { o[0] = A; }\n")
    km = KernelModule(import_kernels(tmp_path / "k.cl"))
    o = np.zeros(1, np.int32)
    km["k"](o, global_size=(1,))
    assert o[0] == 42


def test_include_from_source_text_uses_base_dir(tmp_path: Path) -> None:
    (tmp_path / "consts.h").write_text("#ifndef CONSTS\n#define CONSTS\n#define K 7\n#endif\n")
    src = '#include "consts.h"\n#include "consts.h"\nK'
    assert pp(src, base_dir=tmp_path) == "7"
    assert pp(src, filename=str(tmp_path / "virtual.cl")) == "7"


def test_system_headers_are_ignored() -> None:
    assert pp("#include <cuda_runtime.h>\n#include <math.h>\nok", "cuda") == "ok"


def test_pragmas_are_accepted() -> None:
    assert pp("#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n#pragma unroll 4\nx") == "x"
    assert pp('#define UNROLL _Pragma("unroll")\nUNROLL for _Pragma("unroll 2") (;;)') == \
        "for ( ; ; )"
    (k,) = import_kernels("__kernel void k(__global int *a) {\n#pragma unroll\n"
                          "  for (int i = 0; i < 4; i++) a[i] = i;\n}\n")
    assert k.name == "k"


ERRORS = [  # (source, "line:col", message)
    ("#error this is not supported\n", "1:2", "#error this is not supported"),
    ("#bogus\n", "1:2", "unknown preprocessor directive #bogus"),
    ("#else\n", "1:2", "#else without a matching #if"),
    ("#if 1\n#else\n#else\n#endif\n", "3:2", "#else without a matching #if"),
    ("#endif\n", "1:2", "#endif without a matching #if"),
    ("#if 1\nint x;\n", "2:1", "#if without #endif at the end of the file"),
    ("#define F(a, b) a + b\nF(1)\n", "2:1", "macro F takes 2 argument(s), got 1"),
    ("#define F(a) a\nF(1, 2\n", "2:1", "unterminated call of macro F"),
    ("#define F(a, 1) a\n", "1:14", "macro F: expected a parameter name, got '1'"),
    ("#define\n", "1:2", "#define expects a macro name"),
    ("#define defined 1\n", "1:9", "'defined' cannot be a macro name"),
    ("#if 1 +\n#endif\n", "1:7", "in #if: unexpected end of the expression"),
    ("#if 1 / 0\n#endif\n", "1:9", "in #if: division by zero"),
    ("#if (1\n#endif\n", "1:6", "in #if: expected ')'"),
    ("#if defined\n#endif\n", "1:5", "'defined' expects a macro name"),
    ("#include\n", "1:2", '#include expects "file" or <file>'),
    ('#include "nothere.h"\n', "1:10", "cannot find include file 'nothere.h'"),
    ("#include <nothere.h>\n", "1:10", "cannot find include file 'nothere.h'"),
    ("#define C(a, b) a ## b\nC(+, -)\n", "2:1", "macro C: '##' makes '+-', which is not one "
                                                  "token"),
]


@pytest.mark.parametrize("src,where,message", ERRORS, ids=[m for _, _, m in ERRORS])
def test_preprocessor_errors(src: str, where: str, message: str) -> None:
    with pytest.raises(ParseError) as e:
        pp(src, filename="p.cl")
    assert str(e.value).startswith(f"p.cl:{where}: {message}"), str(e.value)


def test_include_cycles_are_reported(tmp_path: Path) -> None:
    (tmp_path / "self.h").write_text('#include "self.h"\n')
    with pytest.raises(ParseError, match="nested more than 64 deep"):
        pp('#include "self.h"\n', base_dir=tmp_path)


def test_paths_and_source_text(tmp_path: Path) -> None:
    f = tmp_path / "one.cl"
    f.write_text("__kernel void one(__global int *a) { a[0] = 1; }\n")
    assert [k.name for k in import_kernels(str(f))] == ["one"]
    assert [k.name for k in import_kernels(f)] == ["one"]
    from dlc.errors import DlcError
    with pytest.raises(DlcError, match="missing.cl: no such file"):
        import_kernels(str(tmp_path / "missing.cl"))

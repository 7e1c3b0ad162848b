"""Every kind of bad kernel source gets a clear error: syntax and type errors say
file:line:col, what was expected, and show the line (ParseError); constructs dlc does not
support are named (UnsupportedOp); nothing crashes."""
from __future__ import annotations

import re

import pytest

from dlc.errors import DlcError, ParseError, UnsupportedOp
from dlc.frontends.c import import_kernels

K = "__kernel void k(__global int *a, __global float *f) {\n"

SYNTAX = [  # (source, "line:col", message)
    (K + "  a[0] = 1\n}\n", "2:11", "expected ';' after '1' (before '}')"),
    (K + "  a[0] = 1;\n", "2:12", "unexpected end of input; expected one of"),
    (K + "  a[0] = (1 + ;\n}\n", "2:15", "unexpected ';'; expected one of"),
    (K + "  foo_t x;\n}\n", "2:3", "unknown type name 'foo_t'"),
    (K + "  a[0] = 1 @ 2;\n}\n", "2:12", "unexpected character '@'"),
    (K + "  /* a[0] = 1;\n}\n", "2:3", "unterminated /* comment"),
    (K + "  if a[0] { }\n}\n", "2:6", "unexpected 'a'; expected '('"),
    (K + "  a[0] = 'ab';\n}\n", "2:10", "character constant 'ab' must hold one character"),
]


@pytest.mark.parametrize("src,where,message", SYNTAX, ids=[m for _, _, m in SYNTAX])
def test_syntax_errors(src: str, where: str, message: str) -> None:
    with pytest.raises(ParseError) as e:
        import_kernels(src, filename="bad.cl")
    text = str(e.value)
    assert text.startswith(f"bad.cl:{where}: {message}"), text
    line, col = map(int, where.split(":"))
    shown = src.splitlines()[line - 1] if line <= len(src.splitlines()) else ""
    assert f"\n    {shown.rstrip()}\n    {' ' * (col - 1)}^" in text
    assert (e.value.file, e.value.line, e.value.col) == ("bad.cl", line, col)


TYPE_ERRORS = [  # (source body, "line:col", message) — the kernel head is line 1
    ("  a[0] = foo;", "2:10", "'foo' is not declared"),
    ("  a[0] = foo(1);", "2:10", "unknown function 'foo' (not declared in the source and not "
                               "an OpenCL C builtin)"),
    ("  f[0] = f[1] % 2.0f;", "2:10", "'%' needs integers, got float and float"),
    ("  int x = 1 << 2.0f;", "2:11", "'<<' needs integers, got int and float"),
    ("  float4 v; v.q = 1;", "2:13", "'.q' is not a vector component"),
    ("  float2 v; v.z = 1;", "2:13", "'.z' is out of range for a vector of 2 lanes"),
    ("  int x = 1; x.y = 2;", "2:14", "'.y' on int, which has no fields"),
    ("  float2 v = (float4)(1.0f);", "2:10", "cannot convert float4 to float2 for the "
                                           "initializer"),
    ("  float4 v = (float4)(1.0f, 2.0f);", "2:15", "a float4 literal needs 4 components, got 2"),
    ("  int4 i = (float4)(1.0f);", "2:8", "cannot implicitly convert float4 to int4 for the "
                                        "initializer; use convert_int4()"),
    ("  float4 v = a;", "2:14", "expected a number, got a pointer (__global int*)"),
    ("  a[0] = *a[0];", "2:10", "expected a pointer, got int"),
    ("  const int c = 1; c = 2;", "2:20", "cannot assign to a const value"),
    ("  1 = 2;", "2:3", "cannot assign to int: not an lvalue"),
    ("  int i = get_global_id(a[0]);", "2:25", "expected an integer constant expression"),
    ("  barrier(a[0]);", "2:11", "expected an integer constant expression"),
    ("  int x[a[0]];", "2:9", "expected an integer constant expression"),
    ("  int x[0];", "2:7", "array size 0 must be positive"),
    ("  break;", "2:3", "'break' outside a loop or switch"),
    ("  continue;", "2:3", "'continue' outside a loop"),
    ("  return 1;", "2:3", "a kernel returns void; 'return' takes no value here"),
    ("  a[0] = sqrt(1.0f, 2.0f);", "2:10", "sqrt takes 1 argument(s), got 2"),
    ("  int x; atomic_add(&x, 1);", "2:21", "atomic_add needs a pointer to global or local "
                                         "memory, not to a private variable"),
    ("  atomic_and(f, 1);", "2:3", "atomic_and needs an integer pointer, not float"),
    ("  float4 v; if (v) {}", "2:17", "a condition must be a scalar, not float4"),
    ("  float4 v = a[0] ? (float2)(1.0f) : (float4)(1.0f);", "2:14",
     "the two sides of '?:' have types float2 and float4"),
    ("  case 1: a[0] = 1;", "2:3", "'case' outside a switch"),
    ("  __local float t[4] = {0};", "2:17", "local/shared variable 't' cannot have an "
                                          "initializer"),
    ("  int v[2] = {1, 2, 3};", "2:21", "too many initializers for an array of 2"),
    ("  struct P { float x; } p; p.y = 1;", "2:28", "struct P has no field 'y' (it has x)"),
    ("  void v;", "2:8", "variable 'v' has type void"),
]


@pytest.mark.parametrize("body,where,message", TYPE_ERRORS, ids=[m for _, _, m in TYPE_ERRORS])
def test_type_errors(body: str, where: str, message: str) -> None:
    src = K + body + "\n}\n"
    with pytest.raises(ParseError) as e:
        import_kernels(src, filename="bad.cl")
    text = str(e.value)
    assert text.startswith(f"bad.cl:{where}: {message}"), text
    assert f"\n    {body.rstrip()}\n" in text


FUNCTION_ERRORS = [
    ("__kernel int k(__global int *a) { return 1; }", "1:14", "kernel 'k' must return void"),
    ("__kernel void k(__global const int *a) { a[0] = 1; }", "1:42",
     "cannot assign to a const value"),
    ("__kernel void k(__constant int *a) { a[0] = 1; }", "1:38",
     "cannot assign to a const value"),
    ("void f(int a, int b) {}\n__kernel void k(__global int *a) { f(1); }", "2:36",
     "function 'f' takes 2 argument(s), got 1"),
    ("int f(int a) { return a; }\n__kernel void k(__global int *a) { a[0] = f<int>(1); }",
     "2:48", "unexpected '>'"),
    ("int f(int a) { }\n__kernel void k(__global int *a) { a[0] = f(1); }", "1:5",
     "'f' returns int but has no return statement"),
    ("void f(int a) { return a; }\n__kernel void k(__global int *a) { f(1); }", "1:17",
     "'f' returns void; 'return' takes no value here"),
    ("__kernel void k(__global int *a) { a[0] = 1; }\n"
     "__kernel void k(__global int *a) { a[0] = 2; }", "2:15",
     "function 'k' is defined twice (overloads are not supported)"),
    ("__kernel void k(__private int *a) { }", "1:17",
     "kernel pointer parameter 'a' cannot point to private memory"),
    ("__kernel void k(int) { }", "1:17", "kernel parameters need names"),
]


@pytest.mark.parametrize("src,where,message", FUNCTION_ERRORS,
                         ids=[m for _, _, m in FUNCTION_ERRORS])
def test_function_errors(src: str, where: str, message: str) -> None:
    with pytest.raises(ParseError) as e:
        import_kernels(src, filename="bad.cl")
    assert str(e.value).startswith(f"bad.cl:{where}: {message}"), str(e.value)


UNSUPPORTED = [  # (language, source, message) — each names what is not supported
    ("opencl", "int f(int n) { return n ? n * f(n - 1) : 1; }\n"
     "__kernel void k(__global int *a) { a[0] = f(3); }", "recursion is not supported (f -> f)"),
    ("opencl", "int g(int n);\nint f(int n) { return g(n); }\nint g(int n) { return f(n); }\n"
     "__kernel void k(__global int *a) { a[0] = f(3); }",
     "recursion is not supported (f -> g -> f)"),
    ("opencl", "__kernel void k(__global int *a) { int (*fp)(int) = 0; }",
     "function pointers are not supported"),
    ("opencl", "int sq(int x) { return x * x; }\n"
     "__kernel void k(__global int *a) { int y = sq; }", "function 'sq' used as a value"),
    ("opencl", "__kernel void k(__global int *a) { printf(\"%d\", a[0]); }",
     "printf is not supported in kernels"),
    ("opencl", "__kernel void k(__global int *a) { goto end; }", "goto is not supported"),
    ("opencl", "union U { int i; float f; };\n__kernel void k(__global int *a) { }",
     "unions are not supported"),
    ("opencl", "typedef struct { int x; } S;\n__kernel void k(S s, __global int *a) { }",
     "struct parameter 's' passed by value"),
    ("opencl", "typedef struct { int x; float y; } S;\n"
     "__kernel void k(__global S *s) { s[0].x = 1; }",
     "'s' points to struct <anonymous 1>, whose fields are not all of one type"),
    ("cuda", "__device__ float table[16];\n__global__ void k(float *a) { a[0] = table[0]; }",
     "program-scope variable 'table' (set by the host, e.g. cudaMemcpyToSymbol) is not "
     "supported"),
    ("cuda", "template <int N> __global__ void k(float *a) { a[0] = N; }",
     "template kernel 'k': dlc reads no instantiations"),
    ("opencl", "__kernel void k(__global int *a) { int **p; }",
     "pointers to pointers are not supported ('p')"),
    ("opencl", "__kernel void k(__global int *a) { a[0] = \"hi\"; }",
     "string literals are not supported in kernels"),
    ("opencl", "__kernel void k(__global int *a) { switch (a[0]) { case 1: continue; } }",
     "'continue' inside a switch is not supported"),
    ("opencl", "__kernel void k(__global int *a, __global int *b, int c) {\n"
     "  __global int *p = a;\n  if (c) p = b;\n}", "pointer 'p' is made to point into "
     "different buffers"),
    ("opencl", "__kernel void k(__global int *a, __global int *b, int c) {\n"
     "  __global int *p = c ? a : b;\n}", "'?:' choosing between pointers or structs"),
    ("cuda", "__global__ void k(float *a) { extern __shared__ float s[]; "
     "extern __shared__ int t[]; }", "extern __shared__ arrays of different element types"),
    ("cuda", "__global__ void k(float *a) { __syncthreads_count(1); }",
     "__syncthreads_count is not supported"),
    ("cuda", "__global__ void other(float *a) { }\n"
     "__global__ void k(float *a) { other(a); }", "launching kernel 'other' from a kernel"),
    ("opencl", "__kernel void k(__global int *a, __global int *b) { a[0] = a < b; }",
     "'<' between pointers into different buffers"),
    ("opencl", "__kernel void k(read_only image2d_t img) { }",
     "image2d_t (images, samplers, events, pipes) is not supported"),
]


@pytest.mark.parametrize("lang,src,message", UNSUPPORTED, ids=[m for _, _, m in UNSUPPORTED])
def test_unsupported_constructs_are_named(lang: str, src: str, message: str) -> None:
    with pytest.raises(UnsupportedOp) as e:
        import_kernels(src, language=lang, filename="u.cl")
    text = str(e.value)
    assert re.match(r"u\.cl:\d+:\d+: ", text), text
    assert message in text, text


def test_template_argument_errors() -> None:
    pre = "template <typename T> __device__ T id(T x) { return x; }\n"
    with pytest.raises(ParseError, match="cannot deduce template parameter 'T' of 'g'"):
        import_kernels("template <typename T> __device__ T g() { return 0; }\n"
                       "__global__ void k(float *a) { a[0] = g(); }", language="cuda")
    with pytest.raises(ParseError, match="template value parameter 'N' of 'h' must be given"):
        import_kernels("template <int N> __device__ int h() { return N; }\n"
                       "__global__ void k(int *a) { a[0] = h(); }", language="cuda")
    with pytest.raises(ParseError, match="template parameter 'T' takes a type"):
        import_kernels(pre + "__global__ void k(int *a) { a[0] = id<3>(1); }", language="cuda")


def test_errors_inside_included_files_name_that_file(tmp_path: object) -> None:
    from pathlib import Path
    d = Path(str(tmp_path))
    (d / "helper.h").write_text("inline int bad(int x) {\n  return x +;\n}\n")
    (d / "main.cl").write_text('#include "helper.h"\n__kernel void k(__global int *a) '
                               "{ a[0] = bad(1); }\n")
    with pytest.raises(ParseError) as e:
        import_kernels(d / "main.cl")
    assert str(e.value).startswith(f"{d / 'helper.h'}:2:13: unexpected ';'")
    assert "\n      return x +;\n" in str(e.value)


def test_errors_in_macro_expansions_point_at_the_use() -> None:
    src = "#define BAD(x) ((x) % 1.5f)\n__kernel void k(__global int *a) {\n  a[0] = BAD(3);\n}\n"
    with pytest.raises(ParseError) as e:
        import_kernels(src, filename="m.cl")
    assert str(e.value).startswith("m.cl:3:10: '%' needs integers, got int and float")


def test_unknown_language() -> None:
    with pytest.raises(DlcError, match="unknown kernel language 'glsl'; use 'opencl' or 'cuda'"):
        import_kernels("", language="glsl")

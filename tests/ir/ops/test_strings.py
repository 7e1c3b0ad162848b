"""String ops: StringConcat broadcasting, StringNormalizer stop words and case, StringSplit on
whitespace, delimiters and maxsplit, RegexFullMatch, with hand-worked values."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper

import dlc
from dlc.errors import ShapeError


def strings(*rows: object) -> np.ndarray:
    return np.array(rows, dtype=object)


def one_node(op: str, inputs: dict[str, np.ndarray], n_out: int = 1, opset: int = 20,
             **attrs: object) -> onnx.ModelProto:
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, list(inputs), outs, **attrs)
    ins = [helper.make_tensor_value_info(n, T.STRING, list(v.shape)) for n, v in inputs.items()]
    g = helper.make_graph([node], op, ins, [helper.make_tensor_value_info(o, T.UNDEFINED, None)
                                            for o in outs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def run(op: str, inputs: dict[str, np.ndarray], n_out: int = 1, opset: int = 20,
        **attrs: object) -> object:
    return dlc.compile(one_node(op, inputs, n_out, opset, **attrs),
                       target="reference")(*inputs.values())


def test_concat_broadcasts() -> None:
    got = run("StringConcat", {"a": strings(["x", "y"], ["z", "w"]), "b": strings("!")})
    assert got.tolist() == [["x!", "y!"], ["z!", "w!"]]


def test_concat_rejects_numbers() -> None:
    node = helper.make_node("StringConcat", ["a", "b"], ["y"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("a", T.STRING, [2]),
                                        helper.make_tensor_value_info("b", T.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", T.STRING, None)])
    with pytest.raises(ShapeError, match="must be a string tensor"):
        dlc.compile(helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)]),
                    target="reference")


def test_normalizer_drops_stop_words_ignoring_case_then_changes_case() -> None:
    got = run("StringNormalizer", {"x": strings("Monday", "tuesday", "MONDAY", "wed")}, opset=10,
              stopwords=["monday"], case_change_action="UPPER")
    assert got.tolist() == ["TUESDAY", "WED"]
    kept = run("StringNormalizer", {"x": strings("Monday", "monday")}, opset=10,
               stopwords=["monday"], is_case_sensitive=1)
    assert kept.tolist() == ["Monday"]


def test_normalizer_keeps_one_empty_string_when_everything_is_dropped() -> None:
    got = run("StringNormalizer", {"x": strings(["a", "A"])}, opset=10, stopwords=["a"])
    assert got.shape == (1, 1) and got.tolist() == [[""]]


@pytest.mark.parametrize("attrs,parts,counts", [
    ({}, [["a", "b"], ["c--", ""]], [2, 1]),
    ({"delimiter": "-"}, [[" a  b ", "", ""], ["c", "", ""]], [1, 3]),
    ({"delimiter": "--"}, [[" a  b ", ""], ["c", ""]], [1, 2]),
    ({"delimiter": " ", "maxsplit": 2}, [["", "a", " b "], ["c--", "", ""]], [3, 1]),
])
def test_split(attrs: dict, parts: list, counts: list) -> None:
    y, z = run("StringSplit", {"x": strings(" a  b ", "c--")}, n_out=2, **attrs)  # type: ignore
    assert y.tolist() == parts and z.tolist() == counts and z.dtype == np.int64


def test_regex_must_match_the_whole_string() -> None:
    got = run("RegexFullMatch", {"x": strings(["abc@x.com", "abc@x.com.au"], ["", "@x.com"])},
              pattern=r"[a-z]+@[a-z]+\.com")
    assert got.dtype == np.bool_ and got.tolist() == [[True, False], [False, False]]

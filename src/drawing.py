"""Pictures of graphs: Graphviz DOT text, and SVG through the `dot` program when installed."""
from __future__ import annotations

import shutil
import subprocess

from .errors import DlcError
from .ir import Graph, TensorType, Value


def _q(text: str) -> str:
    """A DOT double-quoted string: names from input files never reach the output unescaped."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{out}"'


def _type(v: Value) -> str:
    return str(v.type) if isinstance(v.type, TensorType) else str(v.type)


def to_dot(graph: Graph, groups: dict[int, int] | None = None) -> str:
    """DOT for `graph`; `groups` maps node index -> fused-group id (drawn as clusters)."""
    lines = [f"digraph {_q(graph.name)} {{", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
             'fontname="Helvetica"];']
    ids: dict[Value, str] = {}
    for i, v in enumerate(graph.inputs):
        ids[v] = f"in{i}"
        lines.append(f"  in{i} [label={_q(v.name + chr(10) + _type(v))}, shape=ellipse, "
                     'fillcolor="#e3f4e1"];')
    by_group: dict[int, list[str]] = {}
    for i, n in enumerate(graph.nodes):
        nid = f"n{i}"
        label = n.op if not n.name else f"{n.op}\n{n.name}"
        stmt = f"  {nid} [label={_q(label)}];"
        if groups and i in groups:
            by_group.setdefault(groups[i], []).append(stmt)
        else:
            lines.append(stmt)
        for o in n.outputs:
            ids[o] = nid
    for gid, stmts in by_group.items():
        lines.append(f"  subgraph cluster_{gid} {{ label={_q(f'group {gid}')}; style=dashed;")
        lines.extend("  " + s for s in stmts)
        lines.append("  }")
    for i, n in enumerate(graph.nodes):
        for src in n.inputs:
            if src is not None and src in ids:
                lines.append(f"  {ids[src]} -> n{i} [label={_q(_type(src))}, fontsize=9];")
    for k, v in enumerate(graph.outputs):
        lines.append(f"  out{k} [label={_q(v.name)}, shape=ellipse, fillcolor=\"#fbe9e7\"];")
        if v in ids:
            lines.append(f"  {ids[v]} -> out{k};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(dot_text: str) -> str:
    exe = shutil.which("dot")
    if exe is None:
        raise DlcError("drawing SVG needs Graphviz's `dot` program (apt-get install graphviz); "
                       "--format dot writes the DOT text instead")
    res = subprocess.run([exe, "-Tsvg"], input=dot_text, capture_output=True, text=True,
                         timeout=120)
    if res.returncode != 0:
        raise DlcError(f"dot failed: {res.stderr.strip()}")
    return res.stdout

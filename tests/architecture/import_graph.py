"""The import graph of ``src/iclab``, read from the source (AST), for the architecture checks.

Every ``import``/``from ... import`` statement counts, at module level or inside a function
(lazy imports included). ``from pkg import name`` is an edge to ``pkg.name`` when that is a
module, else to ``pkg``. The implicit import of a parent package is not an edge.

Run as a script to print the layer graph as a Mermaid diagram (pasted in
``docs/architecture.md``)::

    python tests/architecture/import_graph.py           # print it
    python tests/architecture/import_graph.py --write   # update docs/architecture.md
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "iclab"


def module_files(src: Path = SRC) -> dict[str, Path]:
    """Every module of the package, by dotted name (``pkg/__init__.py`` is ``pkg``)."""
    out = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, str]]:
    """``(target, alias)`` for every import in ``tree``: ``target`` the dotted module or
    ``module.name`` candidate."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ""
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                yield base, alias.name


def import_edges(src: Path = SRC) -> dict[str, set[str]]:
    """``{module: {imported modules}}`` over the package's modules, plus external top-level
    packages (``torch``, ``numpy`` ...) as leaf names."""
    files = module_files(src)
    edges: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets: set[str] = set()
        for base, name in _imported_names(tree, module, path.name == "__init__.py"):
            if not base.startswith(PACKAGE + ".") and base != PACKAGE:
                targets.add(base.split(".")[0])
            elif name and f"{base}.{name}" in files:
                targets.add(f"{base}.{name}")
            else:
                targets.add(base)
        targets.discard(module)
        edges[module] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def layer_of(module: str) -> str:
    """The folder (sub-package) a module belongs to, or the module itself at the top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between top-level folders and modules of the package."""
    out: dict[str, set[str]] = {}
    for module, targets in edges.items():
        src = layer_of(module)
        for t in targets:
            if t.startswith(PACKAGE + ".") and layer_of(t) != src:
                out.setdefault(src, set()).add(layer_of(t))
        out.setdefault(src, set())
    return out


#: Small support modules every layer may use; left out of the drawing to keep it readable.
UTILITIES = ("errors", "validation", "seeding", "devices", "__main__", "iclab", "_version",
             "_cli_errors", "figure_names")


def mermaid(edges: dict[str, set[str]]) -> str:
    """The folder-level graph as a Mermaid ``graph TD`` block (utilities left out)."""
    layers = layer_edges(edges)
    lines = ["```mermaid", "graph TD"]
    for src in sorted(layers):
        if src in UTILITIES:
            continue
        for dst in sorted(layers[src]):
            if dst not in UTILITIES:
                lines.append(f"    {src} --> {dst}")
    lines.append("```")
    return "\n".join(lines)


DOC = SRC.parent / "docs" / "architecture.md"
START, END = "<!-- import-graph:start -->", "<!-- import-graph:end -->"


def documented_graph(doc: Path = DOC) -> str:
    """The Mermaid block between the markers of ``docs/architecture.md``."""
    text = doc.read_text()
    return text[text.index(START) + len(START): text.index(END)].strip()


def write_graph(doc: Path = DOC) -> None:
    """Replace the documented graph with the one drawn from the source now."""
    text = doc.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{START}\n{mermaid(import_edges())}\n{END}{tail}")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_graph()
    print(mermaid(import_edges()))

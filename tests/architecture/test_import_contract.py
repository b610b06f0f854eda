"""The import contract of the package, checked on the source (see docs/architecture.md).

Arrows point down: theory is a NumPy/SciPy leaf; the engine knows experiments only through
:mod:`iclab.contract`; models do not train; nothing imports in a circle; no module is longer
than 400 lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_graph import (  # noqa: E402
    cycles,
    documented_graph,
    import_edges,
    mermaid,
    module_files,
)

EDGES = import_edges()
MAX_LINES = 400

#: (layer, forbidden import prefixes): a module of ``layer`` may import none of them.
FORBIDDEN = {
    "iclab.theory": ("torch", "iclab.models", "iclab.tasks", "iclab.fit", "iclab.engine",
                     "iclab.evaluate", "iclab.experiments", "iclab.baselines", "iclab.cli"),
    "iclab.engine": ("iclab.experiments", "iclab.cli", "iclab.report", "iclab.demo"),
    "iclab.models": ("iclab.fit", "iclab.evaluate", "iclab.experiments", "iclab.engine"),
    "iclab.tasks": ("iclab.models", "iclab.fit", "iclab.evaluate", "iclab.experiments",
                    "iclab.engine"),
    "iclab.evaluate": ("iclab.fit", "iclab.experiments", "iclab.engine"),
    "iclab.fit": ("iclab.experiments", "iclab.engine"),
    "iclab.contract": ("iclab.experiments", "iclab.engine"),
    "iclab.llm": ("iclab.engine", "iclab.cli", "iclab.experiments"),
}


def _in(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(edges: dict[str, set[str]]) -> list[str]:
    """``"a imports b"`` for every edge a layer rule forbids."""
    found = []
    for module, targets in sorted(edges.items()):
        for layer, banned in FORBIDDEN.items():
            if not _in(module, layer):
                continue
            found += [f"{module} imports {t}" for t in sorted(targets)
                      if any(_in(t, b) for b in banned)]
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer: str) -> None:
    bad = [v for v in violations(EDGES) if _in(v.split()[0], layer)]
    assert not bad, "forbidden imports:\n" + "\n".join(bad)


def test_no_import_circles() -> None:
    found = cycles(EDGES)
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_module_is_longer_than_the_limit() -> None:
    long = {m: n for m, p in module_files().items()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


# ---- the checks themselves can fail ------------------------------------------------------
def test_the_rules_catch_a_forbidden_edge_and_a_circle() -> None:
    toy = {"iclab.theory.x": {"torch", "numpy"}, "iclab.engine.a": {"iclab.experiments.b"},
           "iclab.experiments.b": {"iclab.engine.a"}, "iclab.models.m": {"iclab.fit.f"},
           "iclab.fit.f": set()}
    assert violations(toy) == ["iclab.engine.a imports iclab.experiments.b",
                               "iclab.models.m imports iclab.fit.f",
                               "iclab.theory.x imports torch"]
    assert cycles(toy) == [["iclab.engine.a", "iclab.experiments.b"]]


def test_lazy_and_relative_imports_are_edges(tmp_path: Path) -> None:
    pkg = tmp_path / "iclab"
    (pkg / "theory").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "theory" / "__init__.py").write_text("")
    (pkg / "theory" / "a.py").write_text("def f():\n    import torch\n    from . import b\n")
    (pkg / "theory" / "b.py").write_text("from iclab.theory import a\n")
    edges = import_edges(tmp_path)
    assert edges["iclab.theory.a"] == {"torch", "iclab.theory.b"}
    assert cycles(edges) == [["iclab.theory.a", "iclab.theory.b"]]


def test_the_documented_graph_is_the_current_one() -> None:
    """docs/architecture.md shows the graph drawn from the source now (regenerate with
    ``python tests/architecture/import_graph.py --write``)."""
    assert documented_graph() == mermaid(EDGES)

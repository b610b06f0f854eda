"""Every registered experiment goes through the same structural checks: its module is named
as it is, it is generic in its own settings, every variant validates, and its grid is
well formed. (Claims are checked in tests/claims; runs of every experiment there too.)"""

from __future__ import annotations

import ast
import json
import typing
from pathlib import Path

import pytest

from iclab.contract import Experiment, ExperimentSettings
from iclab.experiments.registry import all_experiments

SRC = Path(__file__).resolve().parents[2] / "src" / "iclab"
SHIPPED = {name: cls for name, cls in all_experiments().items()
           if cls.__module__.startswith("iclab.experiments")}
NAMES = sorted(SHIPPED)


def test_all_shipped_experiments_are_found() -> None:
    assert len(NAMES) >= 18, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_module_is_named_as_the_experiment(name: str) -> None:
    assert SHIPPED[name].__module__ == f"iclab.experiments.{name}", SHIPPED[name].__module__


def _settings_parameter(cls: type) -> object:
    """The nearest concrete settings type the class (or a generic base of it) is
    parametrised with, e.g. ``Fig1Settings`` in ``class Fig1(Experiment[Fig1Settings])`` or
    in ``class Fig(PaperExperiment[FigSettings])``."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            origin = typing.get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Experiment):
                for arg in typing.get_args(base):
                    if isinstance(arg, type) and issubclass(arg, ExperimentSettings):
                        return arg
    return None


@pytest.mark.parametrize("name", NAMES)
def test_experiment_is_generic_in_its_settings(name: str) -> None:
    cls = SHIPPED[name]
    assert issubclass(cls.Settings, ExperimentSettings), name
    param = _settings_parameter(cls)
    assert isinstance(param, type) and issubclass(cls.Settings, param), (name, param)


@pytest.mark.parametrize("name", NAMES)
def test_every_setting_says_what_it_means(name: str) -> None:
    """`iclab show NAME` prints each setting's description: none may be missing."""
    fields = SHIPPED[name].Settings.model_fields
    missing = [key for key, field in fields.items() if not (field.description or "").strip()]
    assert not missing, f"{name}: settings without a description: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_variants_validate_and_grid_is_well_formed(name: str) -> None:
    cls = SHIPPED[name]
    assert cls.title.strip() and cls.paper.strip() and isinstance(cls.version, str), name
    assert {"quick", "full"} <= set(cls.variants), name
    exp = cls()
    for variant in cls.variants:
        settings = exp.make_settings(variant)
        assert isinstance(settings, cls.Settings), (name, variant)
    quick = exp.make_settings("quick")
    points = exp.points(quick)
    # a study that needs the user's own resources (local LLM checkpoints) may plan nothing
    assert points or not cls.in_demo, name
    assert all(isinstance(p, dict) for p in points), name
    json.dumps(points)
    assert all(exp.trials(quick, p) >= 1 for p in points), name


@pytest.mark.parametrize("name", NAMES)
def test_paper_variant_and_a_note_for_every_variant(name: str) -> None:
    """Every shipped experiment has a ``paper`` variant (the authors' settings where known),
    and each variant says in one line how it differs from it (``paper``: its sources)."""
    cls = SHIPPED[name]
    assert "paper" in cls.variants, f"{name}: no paper variant"
    assert set(cls.variant_notes) == set(cls.variants), (
        f"{name}: notes {sorted(cls.variant_notes)} for variants {sorted(cls.variants)}")
    for variant, note in cls.variant_notes.items():
        assert note.strip() and "\n" not in note and len(note) <= 240, (name, variant, note)
        assert "../shared" not in note, (name, variant)


#: how a note says that a variant has exactly the paper variant's settings
_SAME_AS_PAPER = ("identical to paper", "the same settings as paper", "the paper variant")


@pytest.mark.parametrize("name", NAMES)
def test_a_variant_said_to_be_the_paper_variant_has_its_settings(name: str) -> None:
    """A note that calls a variant identical to ``paper`` stays true when either changes."""
    cls = SHIPPED[name]
    exp = cls()
    for variant, note in cls.variant_notes.items():
        if not variant.startswith("paper") and note.lower().startswith(_SAME_AS_PAPER):
            assert exp.make_settings(variant) == exp.make_settings("paper"), (name, variant)


def _annotations(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, text)`` of every argument annotated ``Any`` named like settings."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            text = ast.unparse(node.annotation)
            if node.arg in {"settings", "s"} and text in {"Any", "object"}:
                found.append((node.lineno, f"{node.arg}: {text}"))
    return found


def test_no_untyped_settings_and_no_type_ignore_in_experiments() -> None:
    bad = []
    for path in sorted((SRC / "experiments").rglob("*.py")):
        text = path.read_text()
        bad += [f"{path.name}:{i}: type: ignore" for i, line in
                enumerate(text.splitlines(), 1) if "type: ignore" in line]
        bad += [f"{path.name}:{i}: {a}" for i, a in _annotations(ast.parse(text))]
    assert not bad, "\n".join(bad)


def test_every_folder_says_what_it_is_for() -> None:
    missing = [str(p.relative_to(SRC)) for p in sorted(SRC.rglob("__init__.py"))
               if not (ast.get_docstring(ast.parse(p.read_text())) or "").strip()]
    assert not missing, f"packages without a docstring: {missing}"


def test_looking_one_experiment_up_imports_only_its_module() -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom iclab.experiments.registry import get_experiment\n"
            "assert get_experiment('lu2024.fig4').name == 'lu2024.fig4'\n"
            "print(sorted(m for m in sys.modules if m.startswith('iclab.experiments.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    loaded = done.stdout
    assert "iclab.experiments.lu2024.fig4" in loaded
    assert "iclab.experiments.li2024" not in loaded and "fig5" not in loaded, loaded

"""The predictors and tasks the conformance tests go through.

Each ``predictors_<area>.py`` module beside this one exposes ``PREDICTORS`` (name → factory
returning a small predictor and test prompts of matching dimension) and ``TASKS`` (name →
factory returning a small task). They are collected here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _collect(attribute: str) -> dict[str, Callable[[], Any]]:
    found: dict[str, Callable[[], Any]] = {}
    for path in sorted(HERE.glob("predictors_*.py")):
        module = importlib.import_module(path.stem)
        for name, factory in getattr(module, attribute, {}).items():
            assert name not in found, f"{attribute} entry {name!r} defined twice"
            found[name] = factory
    return found


def predictors() -> dict[str, Callable[[], Any]]:
    """``{name: () -> (Predictor, Prompts)}`` from every area."""
    return _collect("PREDICTORS")


def tasks() -> dict[str, Callable[[], Any]]:
    """``{name: () -> Task}`` from every area."""
    return _collect("TASKS")

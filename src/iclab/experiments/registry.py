"""Registry of experiments by name.

Experiment modules live in :mod:`iclab.experiments` and register their classes with
``@register``; :func:`all_experiments` imports every module of the package (plus any
modules named in the ``ICLAB_EXPERIMENT_MODULES`` environment variable, comma-separated),
so adding a figure needs no edit anywhere else.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from typing import TypeVar

from iclab.errors import UnknownExperimentError
from iclab.experiments.base import Experiment

_REGISTRY: dict[str, type[Experiment]] = {}
_SKIP = {"base", "registry"}
E = TypeVar("E", bound=type[Experiment])


def register(cls: E) -> E:
    """Class decorator: add ``cls`` to the registry under ``cls.name``."""
    name = cls.name
    existing = _REGISTRY.get(name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"experiment name {name!r} registered twice")
    _REGISTRY[name] = cls
    return cls


def _import_all() -> None:
    import iclab.experiments as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name not in _SKIP and not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    for mod in filter(None, os.environ.get("ICLAB_EXPERIMENT_MODULES", "").split(",")):
        importlib.import_module(mod.strip())


def all_experiments() -> dict[str, type[Experiment]]:
    """Every registered experiment, by name (sorted)."""
    _import_all()
    return dict(sorted(_REGISTRY.items()))


def get_experiment(name: str) -> Experiment:
    """An instance of the experiment registered as ``name``.

    Raises :class:`UnknownExperimentError` listing the known names.
    """
    experiments = all_experiments()
    if name not in experiments:
        raise UnknownExperimentError(name, list(experiments))
    return experiments[name]()

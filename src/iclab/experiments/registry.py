"""Registry of experiments by name.

Experiment modules live in :mod:`iclab.experiments`, one module per figure named as its
registered name: ``lu2024.fig1`` is the class in :mod:`iclab.experiments.lu2024.fig1`. They
register their classes with ``@register``; :func:`all_experiments` imports every public
module of the package and its sub-packages (plus any modules named in the
``ICLAB_EXPERIMENT_MODULES`` environment variable, comma-separated), so adding a figure needs
no edit anywhere else.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import TypeVar

from iclab.contract import Experiment
from iclab.environment import experiment_modules
from iclab.errors import UnknownExperimentError

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


_PACKAGE_DIR = str(Path(__file__).resolve().parent)
_PACKAGE = __name__.rpartition(".")[0]


def _import_all() -> None:
    for info in pkgutil.walk_packages([_PACKAGE_DIR], prefix=f"{_PACKAGE}."):
        parts = info.name.split(".")[2:]
        if parts[-1] not in _SKIP and not any(p.startswith("_") for p in parts):
            importlib.import_module(info.name)
    for mod in experiment_modules():  # each checked importable, naming the variable
        importlib.import_module(mod)


def all_experiments() -> dict[str, type[Experiment]]:
    """Every registered experiment, by name (sorted)."""
    _import_all()
    return dict(sorted(_REGISTRY.items()))


def _import_own_module(name: str) -> None:
    """Import ``iclab.experiments.<name>``, the module an experiment named ``name`` lives in
    (``lu2024.fig4`` → ``iclab.experiments.lu2024.fig4``), if there is one: looking one
    experiment up then imports one figure's module, not all of them."""
    parts = name.split(".")
    if not all(p.isidentifier() and not p.startswith("_") for p in parts):
        return
    try:
        importlib.import_module(f"{_PACKAGE}.{name}")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith(_PACKAGE):
            raise


def get_experiment(name: str) -> Experiment:
    """An instance of the experiment registered as ``name``.

    Raises :class:`UnknownExperimentError` listing the known names.
    """
    _import_own_module(name)
    if name in _REGISTRY:
        return _REGISTRY[name]()
    experiments = all_experiments()
    if name not in experiments:
        raise UnknownExperimentError(name, list(experiments))
    return experiments[name]()

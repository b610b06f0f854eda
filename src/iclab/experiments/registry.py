"""Registry of experiments by name.

Experiment modules live in :mod:`iclab.experiments`, one module per figure named as its
registered name: ``lu2024.fig1`` is the class in :mod:`iclab.experiments.lu2024.fig1`. They
register their classes with ``@register``; :func:`all_experiments` imports every public
module of the package and its sub-packages, so adding a figure needs no edit anywhere else.

Experiments outside the package are registered in two ways (docs/architecture.md):

* an installed package declares its modules in the entry-point group ``iclab.experiments``
  (``[project.entry-points."iclab.experiments"] mine = "mine.figures"``), loaded by
  :func:`all_experiments` like the package's own;
* the ``ICLAB_EXPERIMENT_MODULES`` environment variable names modules, comma-separated, each
  an importable module name (``mine.figures``) or a path to a ``.py`` file
  (``~/lab/mine_fig1.py``, no ``PYTHONPATH`` needed).

A plug-in that cannot be loaded raises a one-line :class:`PluginError` naming it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from iclab._plugin_paths import is_path, module_name
from iclab.contract import Experiment
from iclab.errors import ICLabError, UnknownExperimentError

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


#: the entry-point group an installed package declares its experiment modules in
ENTRY_POINT_GROUP = "iclab.experiments"
#: the environment variable naming further experiment modules (names or ``.py`` paths)
ENV_VAR = "ICLAB_EXPERIMENT_MODULES"


class PluginError(ICLabError):
    """An experiment module named by an entry point or ``ICLAB_EXPERIMENT_MODULES`` that
    cannot be loaded."""


def load_module_path(path: str | Path) -> ModuleType:
    """Import the Python file at ``path`` (once per resolved path) and return the module.

    Its module name is :func:`iclab._plugin_paths.module_name` of the path, which worker
    processes resolve too (their classes pickle by it).
    """
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise PluginError(f"{ENV_VAR}: {path} is not a file; give a module name or a path "
                          "to a .py file")
    name = module_name(file)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise PluginError(f"{ENV_VAR}: cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _load(spec: str, origin: str) -> None:
    """Import one plug-in module (a name or a file path); errors become a :class:`PluginError`."""
    try:
        if is_path(spec):
            load_module_path(spec)
        else:
            importlib.import_module(spec)
    except PluginError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of third-party code, in one line
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
        hint = (" (a module name must be importable: install its package or give the path "
                "of its .py file)" if isinstance(exc, ModuleNotFoundError) else "")
        raise PluginError(f"{origin}: cannot load experiment module {spec!r}: {detail}{hint}"
                          ) from None


def plugin_modules() -> list[tuple[str, str]]:
    """``(module, origin)`` of every plug-in: entry points of the group
    :data:`ENTRY_POINT_GROUP`, then the entries of :data:`ENV_VAR`."""
    found = [(ep.value.partition(":")[0].strip(), f"entry point {ep.name!r} of "
              f"{ENTRY_POINT_GROUP!r}") for ep in entry_points(group=ENTRY_POINT_GROUP)]
    env = os.environ.get(ENV_VAR, "")
    found += [(m.strip(), ENV_VAR) for m in env.split(",") if m.strip()]
    return found


def _import_all() -> None:
    for info in pkgutil.walk_packages([_PACKAGE_DIR], prefix=f"{_PACKAGE}."):
        parts = info.name.split(".")[2:]
        if parts[-1] not in _SKIP and not any(p.startswith("_") for p in parts):
            importlib.import_module(info.name)
    for module, origin in plugin_modules():
        _load(module, origin)


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

"""Experiment engine: planning, executors, and the resumable SQLite store.

The engine knows experiments only through :mod:`iclab.contract`: it runs an
:class:`~iclab.contract.Experiment` instance (or class). Running a registered experiment by
name is :func:`iclab.run_experiment`.

The names below load on first use, so ``iclab.engine.defaults`` (and the command line's
``--help``) stay light: no torch, no pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iclab.engine.defaults import DEFAULT_STORE_PATH

if TYPE_CHECKING:
    from iclab.engine.executor_factory import make_executor
    from iclab.engine.executors import LocalExecutor, ProcessPoolExecutor
    from iclab.engine.runner import RunResult, load_results, run_experiment
    from iclab.engine.store import Store

__all__ = [
    "DEFAULT_STORE_PATH",
    "LocalExecutor",
    "ProcessPoolExecutor",
    "RunResult",
    "Store",
    "load_results",
    "make_executor",
    "run_experiment",
]

_HOME = {
    "make_executor": "iclab.engine.executor_factory",
    "LocalExecutor": "iclab.engine.executors",
    "ProcessPoolExecutor": "iclab.engine.executors",
    "RunResult": "iclab.engine.runner",
    "load_results": "iclab.engine.runner",
    "run_experiment": "iclab.engine.runner",
    "Store": "iclab.engine.store",
}


def __getattr__(name: str) -> Any:
    """Load ``iclab.engine.<name>`` from its module on first use."""
    if name not in _HOME:
        raise AttributeError(f"module 'iclab.engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value

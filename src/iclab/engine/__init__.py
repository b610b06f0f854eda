"""Experiment engine: planning, executors, and the resumable SQLite store.

The engine knows experiments only through :mod:`iclab.contract`: it runs an
:class:`~iclab.contract.Experiment` instance (or class). Running a registered experiment by
name is :func:`iclab.run_experiment`.
"""

from iclab.engine.executor_factory import make_executor
from iclab.engine.executors import LocalExecutor, ProcessPoolExecutor
from iclab.engine.runner import RunResult, load_results, run_experiment
from iclab.engine.store import DEFAULT_STORE_PATH, Store

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

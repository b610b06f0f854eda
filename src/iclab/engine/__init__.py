"""Experiment engine: planning, executors, and the resumable SQLite store."""

from iclab.engine.executors import LocalExecutor, ProcessPoolExecutor, make_executor
from iclab.engine.runner import DEFAULT_STORE, RunResult, load_results, run_experiment
from iclab.engine.store import Store

__all__ = [
    "DEFAULT_STORE",
    "LocalExecutor",
    "ProcessPoolExecutor",
    "RunResult",
    "Store",
    "load_results",
    "make_executor",
    "run_experiment",
]

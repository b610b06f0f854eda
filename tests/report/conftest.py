"""Register the report's toy experiments (tests/report/report_toy_experiments.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the helper and toy modules, importable at collection time
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session", autouse=True)
def report_toy_experiments() -> None:
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(HERE) not in paths:  # subprocesses of any test folder must import the toys too
        os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), *paths])
    modules = [m for m in os.environ.get("ICLAB_EXPERIMENT_MODULES", "").split(",") if m]
    if "report_toy_experiments" not in modules:
        os.environ["ICLAB_EXPERIMENT_MODULES"] = ",".join([*modules, "report_toy_experiments"])
    import report_toy_experiments  # noqa: F401

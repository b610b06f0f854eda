"""Make the toy experiments importable (in this process and in spawned subprocesses)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session", autouse=True)
def toy_experiments() -> None:
    sys.path.insert(0, str(HERE))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])
    modules = [m for m in os.environ.get("ICLAB_EXPERIMENT_MODULES", "").split(",") if m]
    if "engine_toy_experiments" not in modules:  # other folders' toys must stay importable
        os.environ["ICLAB_EXPERIMENT_MODULES"] = ",".join([*modules, "engine_toy_experiments"])
    import engine_toy_experiments  # noqa: F401

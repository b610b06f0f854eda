"""One local Ray session (2 CPUs, plus a declared GPU) shared by every test in tests/ray.

The toy experiments must be importable by Ray's worker processes: the local Ray started
here inherits ``PYTHONPATH`` from this process, and the executor forwards
``ICLAB_EXPERIMENT_MODULES`` to the tasks. ``RAYTOY_DRIVER_PID`` lets a toy unit know it runs
in a worker (only there may it kill its own process).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ENGINE_TESTS = HERE.parent / "engine"
MODULES = ("engine_toy_experiments", "ray_toy_experiments")


def _append_env(name: str, values: list[str], sep: str) -> None:
    current = [v for v in os.environ.get(name, "").split(sep) if v]
    os.environ[name] = sep.join(current + [v for v in values if v not in current])


@pytest.fixture(scope="session")
def toy_modules() -> None:
    """Register tests/engine's ``toy.mc`` and this folder's ``toyray.crash``."""
    for folder in (HERE, ENGINE_TESTS):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    _append_env("PYTHONPATH", [str(HERE), str(ENGINE_TESTS)], os.pathsep)
    _append_env("ICLAB_EXPERIMENT_MODULES", list(MODULES), ",")
    os.environ["RAYTOY_DRIVER_PID"] = str(os.getpid())
    import engine_toy_experiments  # noqa: F401
    import ray_toy_experiments  # noqa: F401


@pytest.fixture(scope="module")
def ray_session(toy_modules: None) -> Iterator[object]:
    """A local Ray with 2 CPUs and one declared (possibly fake) GPU, shared by a test module.

    Ray takes seconds to start, so the tests share it; the executors under test find it
    initialised and use it as it is. A small object store (the results are a few kB) keeps
    the footprint low on CI machines.
    """
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING", object_store_memory=128 * 1024**2)
    yield ray
    ray.shutdown()

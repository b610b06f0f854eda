"""Run experiments by registered name: the engine's entry points above the registry.

The engine (:mod:`iclab.engine`) takes an :class:`~iclab.contract.Experiment` and knows
nothing of the registry; these wrappers accept a registered name (``"lu2024.fig1"``) as well,
resolve it with :func:`iclab.experiments.get_experiment` and call the engine.

>>> import iclab
>>> res = iclab.run_experiment("lu2024.fig1", "quick", overrides={"trials": 1})  # doctest: +SKIP
>>> run, verdicts = iclab.check_experiment("lu2024.fig1")                          # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iclab.claims import ClaimResult
from iclab.contract import Experiment
from iclab.engine import check as _check
from iclab.engine import runner as _runner
from iclab.engine.runner import ExperimentLike, RunResult
from iclab.engine.store import DEFAULT_STORE_PATH, Store
from iclab.engine.units import Executor
from iclab.experiments.registry import get_experiment


def resolve_experiment(experiment: str | ExperimentLike) -> Experiment:
    """A registered name, an :class:`Experiment` class or instance → an instance.

    An unknown name raises :class:`~iclab.errors.UnknownExperimentError` listing the known ones.
    """
    if isinstance(experiment, str):
        return get_experiment(experiment)
    return _runner.as_experiment(experiment)


def run_experiment(
    experiment: str | ExperimentLike,
    variant: str = "quick",
    overrides: dict[str, Any] | None = None,
    store: str | Path | Store = DEFAULT_STORE_PATH,
    executor: Executor | None = None,
    device: str = "cpu",
    progress: bool = False,
    allow_large: bool = False,
) -> RunResult:
    """Run (or resume) an experiment given by registered name, class or instance.

    The arguments are those of :func:`iclab.engine.run_experiment`; only ``experiment`` may
    also be a name such as ``"lu2024.fig1"`` (``iclab list`` shows them).
    """
    return _runner.run_experiment(resolve_experiment(experiment), variant, overrides,
                                  store=store, executor=executor, device=device,
                                  progress=progress, allow_large=allow_large)


def check_experiment(
    experiment: str | ExperimentLike,
    variant: str = "quick",
    overrides: dict[str, Any] | None = None,
    store: str | Path | Store = DEFAULT_STORE_PATH,
    executor: Executor | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[RunResult, list[ClaimResult]]:
    """Run (or resume) an experiment by name, class or instance, and check its claims.

    See :func:`iclab.engine.check.check_experiment`.
    """
    return _check.check_experiment(resolve_experiment(experiment), variant, overrides,
                                   store=store, executor=executor, device=device,
                                   progress=progress)

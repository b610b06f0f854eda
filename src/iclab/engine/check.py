"""Run (or resume) experiments and check their claims: the engine behind ``iclab check``.

>>> from iclab.engine.check import check_experiment
>>> from iclab.experiments import get_experiment
>>> run, verdicts = check_experiment(get_experiment("lu2024.fig1"))    # doctest: +SKIP
>>> [(v.claim, v.verdict) for v in verdicts]                            # doctest: +SKIP

By registered name: :func:`iclab.check_experiment`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iclab.claims import ClaimData, ClaimResult, evaluate_claims
from iclab.engine.runner import ExperimentLike, RunResult, prepare_run, run_plans
from iclab.engine.store import DEFAULT_STORE_PATH, Store
from iclab.engine.units import Executor


def claims_of_run(run: RunResult) -> list[ClaimResult]:
    """The verdicts of a finished run's claims (for its variant)."""
    data = ClaimData(run.settings, run.results, run.theory, run.variant or "custom")
    return evaluate_claims(run.experiment, data)


def check_experiment(
    experiment: ExperimentLike,
    variant: str = "quick",
    overrides: dict[str, Any] | None = None,
    store: str | Path | Store = DEFAULT_STORE_PATH,
    executor: Executor | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[RunResult, list[ClaimResult]]:
    """Run (or resume) ``experiment`` and evaluate its claims declared for ``variant``.

    ``experiment`` is an :class:`~iclab.contract.Experiment` instance or class. With
    ``overrides`` the sweep is no longer the variant the claims were stated for: the
    verdicts are still computed (and labelled with the variant), but read them as a check of
    other settings.
    """
    return check_experiments([experiment], variant, overrides, store, executor, device,
                             progress)[0]


def check_experiments(
    experiments: list[ExperimentLike],
    variant: str = "quick",
    overrides: dict[str, Any] | None = None,
    store: str | Path | Store = DEFAULT_STORE_PATH,
    executor: Executor | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> list[tuple[RunResult, list[ClaimResult]]]:
    """:func:`check_experiment` for several experiments whose units share one executor.

    Every plan is validated before any unit runs; with several workers one experiment's
    units fill the workers another leaves idle (:func:`iclab.engine.runner.run_plans`).
    Returns ``(run, verdicts)`` per experiment, in the order given.
    """
    plans = [(prepare_run(e, variant, overrides, device), variant) for e in experiments]
    runs = run_plans(plans, store=store, executor=executor, progress=progress)
    return [(run, claims_of_run(run)) for run in runs]


def exit_code(results: list[ClaimResult]) -> int:
    """0 when every claim holds (and there is at least one), else 1."""
    return 0 if results and all(r.verdict == "holds" for r in results) else 1

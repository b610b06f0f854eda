"""Run (or resume) experiments and check their claims: the engine behind ``iclab check``.

>>> from iclab.engine.check import check_experiment
>>> from iclab.experiments import get_experiment
>>> run, verdicts = check_experiment(get_experiment("lu2024.fig1"))    # doctest: +SKIP
>>> [(v.claim, v.verdict) for v in verdicts]                            # doctest: +SKIP

By registered name: :func:`iclab.check_experiment`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from iclab.claims import (
    Claim,
    ClaimData,
    ClaimResult,
    Control,
    claim_result,
    evaluate_claims,
    run_check,
)
from iclab.engine.runner import (
    ExperimentLike,
    RunResult,
    as_experiment,
    prepare_run,
    run_plans,
)
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


# ---- negative controls -----------------------------------------------------------------------
@dataclass(frozen=True)
class Uncontrolled:
    """A claim checked without a negative control, and why (``iclab check --controls``)."""

    experiment: str
    claim: str
    source: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _overrides_key(overrides: dict[str, Any]) -> str:
    return json.dumps(overrides, sort_keys=True, default=repr)


def check_controls(
    experiments: list[ExperimentLike],
    variant: str = "quick",
    store: str | Path | Store = DEFAULT_STORE_PATH,
    executor: Executor | None = None,
    device: str = "cpu",
    progress: bool = False,
    overrides: dict[str, Any] | None = None,
) -> tuple[list[ClaimResult], list[Uncontrolled]]:
    """Run every negative control of ``experiments`` declared for ``variant``.

    A control (:class:`iclab.claims.Control`) is the same experiment with its ``overrides``
    applied on top of the variant (and on top of ``overrides``, e.g. another ``seed``, where
    given); its claim's check must say ``fails`` there. Controls of
    one experiment with equal overrides share one sweep. Returns the controls' verdicts
    (``role="control"``) and the claims that have no control for ``variant``, with the
    reason.
    """
    todo: list[tuple[Any, Claim, Control, str]] = []
    plans: dict[tuple[str, str], Any] = {}
    missing: list[Uncontrolled] = []
    for e in experiments:
        exp = as_experiment(e)
        for claim in exp.claims:
            if variant not in claim.variants:
                continue
            mine = [c for c in claim.controls if variant in c.variants]
            if not mine:
                reason = claim.no_control or ("no control declared for this variant"
                                              if claim.controls else "no control declared")
                missing.append(Uncontrolled(exp.name, claim.id, claim.source, reason))
            for control in mine:
                merged = {**(overrides or {}), **control.overrides}
                key = (exp.name, _overrides_key(merged))
                if key not in plans:
                    plans[key] = prepare_run(exp, variant, merged, device)
                todo.append((exp, claim, control, key[1]))
    keys = list(plans)
    runs = run_plans([(plans[k], variant) for k in keys], store=store, executor=executor,
                     progress=progress)
    by_key = dict(zip(keys, runs, strict=True))
    out = []
    for exp, claim, control, okey in todo:
        run = by_key[(exp.name, okey)]
        data = ClaimData(run.settings, run.results, run.theory, variant)
        where = ", ".join(f"{k}={v}" for k, v in control.overrides.items())
        out.append(claim_result(exp, claim, data, run_check(claim, data), role="control",
                                control=f"{where}: {control.why}"))
    return out, missing


def controls_exit_code(results: list[ClaimResult]) -> int:
    """0 when every control's check says ``fails`` (and there is at least one), else 1."""
    return 0 if results and all(r.verdict == "fails" for r in results) else 1

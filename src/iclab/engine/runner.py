"""Plan and run an experiment: skip stored units, compute the rest, store as they finish.

The engine takes an :class:`~iclab.contract.Experiment` (an instance or its class); running
a registered experiment by name is :func:`iclab.run_experiment`.

>>> from iclab.engine import run_experiment
>>> from iclab.experiments import get_experiment
>>> res = run_experiment(get_experiment("lu2024.fig1"), variant="quick")  # doctest: +SKIP
>>> res.results.head()          # tidy DataFrame, columns named by the papers' symbols
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from iclab._version import package_version
from iclab.contract import Experiment, ExperimentSettings
from iclab.devices import resolve_device
from iclab.engine.executors import LocalExecutor
from iclab.engine.progress import SweepProgress, expected_unit_cost
from iclab.engine.store import DEFAULT_STORE_PATH, Store, UnitRecord, records_to_frame
from iclab.engine.units import Executor, Unit, UnitJob
from iclab.errors import ParameterError, RunInterrupted
from iclab.seeding import content_hash, derive_seed
from iclab.validation import (
    check_plan_size,
    check_points,
    check_setting_inputs,
    check_settings_model,
)

ExperimentLike = Experiment | type[Experiment]
"""What the engine runs: an experiment instance, or its class (instantiated without arguments)."""


def as_experiment(experiment: ExperimentLike) -> Experiment:
    """``experiment`` as an instance; a name or anything else is a one-line ParameterError
    (names are resolved above the engine, by :func:`iclab.run_experiment`)."""
    if isinstance(experiment, Experiment):
        return experiment
    if isinstance(experiment, type) and issubclass(experiment, Experiment):
        return experiment()
    if isinstance(experiment, str):
        raise ParameterError("experiment", experiment,
                             "an Experiment instance or class here; to run a registered "
                             "experiment by name use iclab.run_experiment(name, ...)")
    raise ParameterError("experiment", experiment, "an Experiment instance or class")


def code_version() -> str:
    """``iclab <version>`` plus the git commit when run from a checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"iclab {package_version()}" + (f" ({sha})" if sha else "")


def settings_hash(exp: Experiment, settings: ExperimentSettings) -> str:
    """Content hash of (experiment, version, settings) — identifies a sweep in the store."""
    return content_hash(exp.name, exp.version, settings.model_dump(mode="json"))


def plan_units(exp: Experiment, settings: ExperimentSettings,
               points: list[dict[str, Any]] | None = None) -> list[Unit]:
    """All (point, trial) units of a sweep, each with its content key and seed."""
    s_json = settings.model_dump(mode="json")
    units: list[Unit] = []
    for point in exp.points(settings) if points is None else points:
        for trial in range(exp.trials(settings, point)):
            key = content_hash(exp.name, exp.version, s_json, point, trial)
            seed = derive_seed(settings.seed, exp.name, point, trial)
            units.append(Unit(key=key, point=point, trial=trial, seed=seed))
    return units


@dataclass(frozen=True)
class Plan:
    """A validated sweep, ready to run: nothing has been written yet."""

    experiment: Experiment
    settings: ExperimentSettings
    device: torch.device
    units: list[Unit]


def prepare_run(
    experiment: ExperimentLike,
    variant: str = "quick",
    overrides: dict[str, Any] | None = None,
    device: str = "cpu",
    allow_large: bool = False,
) -> Plan:
    """Validate everything a run needs, in under a second, before the store is opened.

    Checks the raw overrides (no ``true`` for a number, no NaN), the settings model (bounds,
    non-empty grids), the device, every planned point, the number of trials per point, and
    the size guards (:data:`iclab.validation.MAX_UNITS` units; memory per unit estimated
    from d, n, ℓ), which ``allow_large=True`` lifts. Raises one-line :class:`ICLabError` s.
    """
    exp = as_experiment(experiment)
    check_setting_inputs(exp.Settings, overrides or {})
    settings = exp.make_settings(variant, overrides)
    check_settings_model(settings)
    dev = resolve_device(device)
    points = exp.points(settings)
    check_points(points)
    unit_setting = "trials" if "trials" in type(settings).model_fields else "the grid"
    n_units = 0
    for point in points:
        n = exp.trials(settings, point)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ParameterError(unit_setting, n, "an integer >= 1 (trials per point)")
        n_units += n
    s_json = settings.model_dump(mode="json")
    check_plan_size(n_units, [{**s_json, **p} for p in points], allow_large=allow_large,
                    unit_setting=unit_setting)
    return Plan(exp, settings, dev, plan_units(exp, settings, points))


@dataclass
class RunResult:
    """What a run produced: the settings, the tidy results, the theory, and the bookkeeping."""

    experiment: Experiment
    settings: ExperimentSettings
    variant: str | None
    settings_hash: str
    results: pd.DataFrame
    n_units: int
    n_computed: int
    seconds: float

    @property
    def theory(self) -> pd.DataFrame | None:
        return self.experiment.theory(self.settings)


def load_results(
    store: Store, exp: Experiment, settings: ExperimentSettings
) -> pd.DataFrame:
    """The stored tidy table of one sweep (empty if nothing is stored)."""
    return records_to_frame(store.units(exp.name, settings_hash(exp, settings)))


def run_experiment(
    experiment: ExperimentLike,
    variant: str = "quick",
    overrides: dict[str, Any] | None = None,
    store: str | Path | Store = DEFAULT_STORE_PATH,
    executor: Executor | None = None,
    device: str = "cpu",
    progress: bool = False,
    allow_large: bool = False,
) -> RunResult:
    """Run (or resume) a sweep; every finished unit is committed to the store at once.

    Args:
        experiment: an :class:`Experiment` instance or class (by registered name:
            :func:`iclab.run_experiment`).
        variant: ``"quick"`` or ``"full"`` (or another variant the experiment declares).
        overrides: settings to change, e.g. ``{"d": 20, "trials": 5}``.
        store: SQLite path or an open :class:`Store`.
        executor: where units run (default: in this process).
        device: ``"cpu"`` or ``"cuda[:N]"``.
        progress: show a rich progress bar.
        allow_large: lift the size guards of :func:`prepare_run`.

    Validation (:func:`prepare_run`) happens before the store is touched: bad input writes
    nothing. Ctrl-C raises :class:`~iclab.errors.RunInterrupted` (how many units are stored;
    a rerun resumes).
    """
    plan = prepare_run(experiment, variant, overrides, device, allow_large)
    executor = executor or LocalExecutor()
    if isinstance(store, Store):
        return _run_plan(plan, variant, store, executor, progress)
    with Store(store) as db:  # a store opened here is closed here
        return _run_plan(plan, variant, db, executor, progress)


def _run_plan(plan: Plan, variant: str, db: Store, executor: Executor,
              progress: bool) -> RunResult:
    """Run a validated plan into ``db`` (see :func:`run_experiment`)."""
    exp, settings, dev, units = plan.experiment, plan.settings, plan.device, plan.units
    db.check_writable()
    s_hash = settings_hash(exp, settings)
    done = db.existing_keys([u.key for u in units])
    todo = [u for u in units if u.key not in done]

    db.register_settings(exp.name, variant, exp.version, s_hash, settings.model_dump(mode="json"))
    run_id = db.start_run(exp.name, variant, s_hash, len(units), executor.name, str(dev),
                          code_version())
    start = time.perf_counter()
    computed = 0  # units this run stored (a unit another run stored first is not counted)
    s_json = settings.model_dump(mode="json")
    costs = {u.key: expected_unit_cost(exp, settings, u.point) for u in units}
    jobs = [UnitJob(type(exp), s_json, u, str(dev)) for u in todo]
    if getattr(executor, "workers", 1) > 1:
        # longest expected units first, so that the workers finish together (stable: equal
        # costs keep the sweep's order)
        jobs.sort(key=lambda job: -costs[job.unit.key])
    status = "interrupted"
    try:
        with SweepProgress(progress, exp.name, len(units), len(done), costs, done) as advance:
            for job, rows, seconds in executor.map(jobs):
                u = job.unit
                if db.put(UnitRecord(u.key, exp.name, s_hash, u.point, u.trial, rows, seconds,
                                     str(dev))):
                    computed += 1
                advance(u)
        status = "finished"
    except KeyboardInterrupt:
        stored = len(db.existing_keys([u.key for u in units]))
        raise RunInterrupted(stored, len(units), str(db.path)) from None
    finally:
        db.finish_run(run_id, computed, time.perf_counter() - start, status)
    results = load_results(db, exp, settings)
    return RunResult(exp, settings, variant, s_hash, results, len(units), computed,
                     time.perf_counter() - start)

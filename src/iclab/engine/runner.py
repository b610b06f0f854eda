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
from iclab.engine.api_types import check_api_types, check_store_arg, plain_overrides
from iclab.engine.executors import LocalExecutor
from iclab.engine.progress import SweepProgress, expected_unit_cost
from iclab.engine.store import DEFAULT_STORE_PATH, Store, UnitRecord, records_to_frame
from iclab.engine.units import Executor, Unit, UnitJob
from iclab.environment import unit_threads
from iclab.errors import ParameterError, RunInterrupted
from iclab.seeding import content_hash, derive_seed
from iclab.validation import (
    check_plan_size,
    check_points,
    check_setting_inputs,
    check_settings_model,
    estimate_unit_bytes,
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
    unit_bytes: float = 0.0  # the largest unit's estimated memory (the workers cap uses it)


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
    check_api_types(variant=variant, device=device, allow_large=allow_large)
    overrides = plain_overrides(overrides)
    unit_threads()  # ICLAB_UNIT_THREADS, read by every unit, is checked before anything runs
    check_setting_inputs(exp.Settings, overrides)
    settings = exp.make_settings(variant, overrides or None)
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
    values = [{**s_json, **p} for p in points]
    check_plan_size(n_units, values, allow_large=allow_large, unit_setting=unit_setting)
    unit_bytes = max((estimate_unit_bytes(v)[0] for v in values), default=0.0)
    return Plan(exp, settings, dev, plan_units(exp, settings, points), unit_bytes)


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
    """The stored tidy table of one sweep (empty if nothing is stored).

    Rows come in the sweep's order (point by point, trial by trial), whatever order the units
    finished in, so a run on several workers gives the table of a run in one process.
    """
    return records_to_frame(in_sweep_order(store.units(exp.name, settings_hash(exp, settings)),
                                           exp, settings))


def in_sweep_order(records: list[UnitRecord], exp: Experiment, settings: ExperimentSettings
                   ) -> list[UnitRecord]:
    """``records`` of one sweep sorted as :func:`plan_units` lists their units (records of
    units the plan does not hold go last, in their given order)."""
    rank = {u.key: i for i, u in enumerate(plan_units(exp, settings))}
    return sorted(records, key=lambda rec: rank.get(rec.key, len(rank)))


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
    return run_plans([(plan, variant)], store, executor, progress)[0]


def _check_executor(executor: object) -> None:
    if executor is not None and not callable(getattr(executor, "map", None)):
        raise ParameterError("executor", executor, "None or an executor (an object with a "
                             "map(jobs) method, e.g. from iclab.engine.make_executor)")


def run_plans(
    plans: list[tuple[Plan, str]],
    store: str | Path | Store = DEFAULT_STORE_PATH,
    executor: Executor | None = None,
    progress: bool = False,
) -> list[RunResult]:
    """Run (or resume) several validated sweeps through one executor; one result per plan.

    ``plans`` holds ``(plan, variant)`` pairs from :func:`prepare_run`. The units of all
    plans share the executor, so with several workers the units of one experiment fill the
    workers another leaves idle at its end (each plan's units longest first, the plans in the
    order given). Every plan keeps its own run record; a result's ``seconds`` is the time from
    the start until that plan's last unit was stored (0 when all were stored before). A unit
    gives the same rows as in a run of its plan alone (its seed is part of the unit).

    When ``store`` is a path and every unit of every plan is stored already, the store is only
    read (opened read-only; no run record is added): a rerun that computes nothing writes
    nothing.
    """
    check_store_arg(store)
    _check_executor(executor)
    executor = executor or LocalExecutor()
    if isinstance(store, Store):
        return _run_plans(plans, store, executor, progress)
    with Store(store, read_only=True) as stored:  # nothing to compute: nothing is written
        if all(_fully_stored(plan, stored) for plan, _ in plans):
            return [_stored_result(plan, variant, stored) for plan, variant in plans]
    with Store(store) as db:  # a store opened here is closed here
        return _run_plans(plans, db, executor, progress)


def _fully_stored(plan: Plan, db: Store) -> bool:
    """Whether every unit of ``plan`` and its settings are in ``db`` already."""
    s_hash = settings_hash(plan.experiment, plan.settings)
    if s_hash not in set(db.settings_of(plan.experiment.name).settings_hash):
        return False
    return len(db.existing_keys([u.key for u in plan.units])) == len(plan.units)


def _stored_result(plan: Plan, variant: str, db: Store) -> RunResult:
    """The result of a plan whose units are all stored, read without writing (no run
    record: a rerun that computes nothing leaves the store as it was)."""
    exp, settings = plan.experiment, plan.settings
    return RunResult(exp, settings, variant, settings_hash(exp, settings),
                     load_results(db, exp, settings), len(plan.units), 0, 0.0)


@dataclass
class _Sweep:
    """Book-keeping of one plan inside :func:`_run_plans`."""

    plan: Plan
    variant: str
    s_hash: str
    run_id: int
    todo: list[Unit]
    costs: dict[str, float]
    computed: int = 0
    seconds: float = 0.0


def _start_sweep(plan: Plan, variant: str, db: Store, executor: Executor) -> _Sweep:
    """Register ``plan`` in ``db`` and list its units not stored yet."""
    exp, settings = plan.experiment, plan.settings
    s_hash = settings_hash(exp, settings)
    done = db.existing_keys([u.key for u in plan.units])
    db.register_settings(exp.name, variant, exp.version, s_hash, settings.model_dump(mode="json"))
    run_id = db.start_run(exp.name, variant, s_hash, len(plan.units), executor.name,
                          str(plan.device), code_version())
    costs = {u.key: expected_unit_cost(exp, settings, u.point) for u in plan.units}
    return _Sweep(plan, variant, s_hash, run_id, [u for u in plan.units if u.key not in done],
                  costs)


def _jobs(sweep: _Sweep, sort: bool) -> list[UnitJob]:
    """The jobs of ``sweep``'s missing units; longest expected first when ``sort`` (stable:
    equal costs keep the sweep's order)."""
    plan = sweep.plan
    s_json = plan.settings.model_dump(mode="json")
    jobs = [UnitJob(type(plan.experiment), s_json, u, str(plan.device)) for u in sweep.todo]
    if sort:
        jobs.sort(key=lambda job: -sweep.costs[job.unit.key])
    return jobs


def _progress_costs(sweeps: list[_Sweep]) -> dict[str, float]:
    """Unit weights for one progress bar: each experiment's own costs, rescaled to mean 1
    when there are several (their cost hooks are relative within an experiment only)."""
    if len(sweeps) == 1:
        return sweeps[0].costs
    weights: dict[str, float] = {}
    for sweep in sweeps:
        mean = sum(sweep.costs.values()) / max(1, len(sweep.costs))
        weights.update({k: c / mean for k, c in sweep.costs.items()})
    return weights


def _run_plans(plans: list[tuple[Plan, str]], db: Store, executor: Executor,
               progress: bool) -> list[RunResult]:
    """Run validated plans into ``db`` (see :func:`run_plans`)."""
    db.check_writable()
    sweeps = [_start_sweep(plan, variant, db, executor) for plan, variant in plans]
    start = time.perf_counter()
    sort = getattr(executor, "workers", 1) > 1
    jobs, owner = [], {}
    for sweep in sweeps:
        for job in _jobs(sweep, sort):
            if job.unit.key not in owner:  # a plan given twice computes its units once
                jobs.append(job)
                owner[job.unit.key] = sweep
    costs = _progress_costs(sweeps)  # one entry per distinct unit
    total = len(costs)
    done = set(costs) - set(owner)
    label = (sweeps[0].plan.experiment.name if len(sweeps) == 1
             else f"{len(sweeps)} experiments")
    status = "interrupted"
    try:
        with SweepProgress(progress, label, total, len(done), costs, done) as advance:
            for job, rows, seconds in executor.map(jobs):
                sweep, u = owner[job.unit.key], job.unit
                if db.put(UnitRecord(u.key, sweep.plan.experiment.name, sweep.s_hash, u.point,
                                     u.trial, rows, seconds, str(sweep.plan.device))):
                    sweep.computed += 1  # a unit another run stored first is not counted
                sweep.seconds = time.perf_counter() - start
                advance(u)
        status = "finished"
    except KeyboardInterrupt:
        raise RunInterrupted(len(db.existing_keys(list(costs))), total, str(db.path)) from None
    finally:
        for sweep in sweeps:
            db.finish_run(sweep.run_id, sweep.computed, sweep.seconds, status)
    results = []
    for sweep in sweeps:
        exp, settings = sweep.plan.experiment, sweep.plan.settings
        results.append(RunResult(exp, settings, sweep.variant, sweep.s_hash,
                                 load_results(db, exp, settings), len(sweep.plan.units),
                                 sweep.computed, sweep.seconds))
    return results

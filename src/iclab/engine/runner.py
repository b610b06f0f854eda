"""Plan and run an experiment: skip stored units, compute the rest, store as they finish.

>>> from iclab.engine import run_experiment
>>> res = run_experiment("lu2024.fig1", variant="quick", store="results/iclab.sqlite")
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

import iclab
from iclab.contract import Experiment, ExperimentSettings
from iclab.devices import resolve_device
from iclab.engine.executors import Executor, LocalExecutor, Unit, UnitJob
from iclab.engine.store import Store, UnitRecord, records_to_frame
from iclab.errors import ParameterError, RunInterrupted
from iclab.experiments.registry import get_experiment
from iclab.seeding import content_hash, derive_seed
from iclab.validation import (
    check_plan_size,
    check_points,
    check_setting_inputs,
    check_settings_model,
)

DEFAULT_STORE = Path("results") / "iclab.sqlite"


def code_version() -> str:
    """``iclab <version>`` plus the git commit when run from a checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"iclab {iclab.__version__}" + (f" ({sha})" if sha else "")


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
    experiment: str | Experiment,
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
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
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
    experiment: str | Experiment,
    variant: str = "quick",
    overrides: dict[str, Any] | None = None,
    store: str | Path | Store = DEFAULT_STORE,
    executor: Executor | None = None,
    device: str = "cpu",
    progress: bool = False,
    allow_large: bool = False,
) -> RunResult:
    """Run (or resume) a sweep; every finished unit is committed to the store at once.

    Args:
        experiment: a registered name or an :class:`Experiment` instance.
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
    jobs = [UnitJob(type(exp), s_json, u, str(dev)) for u in todo]
    status = "interrupted"
    try:
        costs = {u.key: _unit_cost(exp, settings, u.point) for u in units}
        with _progress(progress, exp.name, len(units), len(done), costs, done) as advance:
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


def _unit_cost(exp: Experiment, settings: ExperimentSettings, point: dict[str, Any]) -> float:
    """A unit's expected cost from the optional ``exp.unit_cost(settings, point)`` hook (1)."""
    hook = getattr(exp, "unit_cost", None)
    if hook is None:
        return 1.0
    try:
        cost = float(hook(settings, point))
    except Exception:  # a broken estimate must never stop a run
        return 1.0
    return cost if cost > 0 and cost == cost and cost != float("inf") else 1.0


class _progress:
    """Context manager yielding ``advance(unit=None)``: progress weighted by expected cost.

    Each unit weighs ``exp.unit_cost(settings, point)`` (1 when the experiment does not
    define the hook), so the estimated time left is (remaining cost) / (cost rate), not a
    plain count of units. On a terminal it shows a rich bar; otherwise (a log file, CI) it
    writes a heartbeat line to stderr when a unit finishes (at most one per ``line_every_s``
    seconds, and always for the last unit), and a "still running" line when no unit has
    finished for ``heartbeat_s`` seconds.
    """

    def __init__(self, enabled: bool, label: str, total: int, completed: int,
                 costs: dict[str, float] | None = None, done: set[str] | None = None,
                 heartbeat_s: float = 30.0, line_every_s: float = 1.0) -> None:
        self.enabled, self.label, self.total, self.completed = enabled, label, total, completed
        self.costs = costs or {}
        self.done_cost = sum(self.costs.get(k, 1.0) for k in (done or ()))
        self.total_cost = sum(self.costs.values()) if self.costs else float(total)
        if not self.costs:
            self.done_cost = float(completed)
        self._todo = [k for k in self.costs if k not in (done or set())]
        self.heartbeat_s, self.line_every_s = heartbeat_s, line_every_s
        self._bar: Any = None
        self._stop: Any = None
        self._thread: Any = None

    def _next_cost(self, unit: Any) -> float:
        key = getattr(unit, "key", None)
        if key is None and self._todo:
            key = self._todo[0]
        if key in self._todo:
            self._todo.remove(key)
        return self.costs.get(key, 1.0) if key is not None else 1.0

    def __enter__(self):  # noqa: ANN204
        if not self.enabled:
            return lambda unit=None: None
        import sys

        if sys.stderr.isatty():
            return self._rich()
        return self._lines()

    def _rich(self) -> Any:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                             TextColumn("{task.fields[units]}"), TimeElapsedColumn(),
                             TextColumn("left"), TimeRemainingColumn(),
                             transient=False, speed_estimate_period=600)
        self._bar.start()
        count = [self.completed]
        task = self._bar.add_task(self.label, total=self.total_cost, completed=self.done_cost,
                                  units=f"{count[0]}/{self.total} units")

        def advance(unit: Any = None) -> None:
            count[0] += 1
            self._bar.update(task, advance=self._next_cost(unit),
                             units=f"{count[0]}/{self.total} units")

        return advance

    def _lines(self) -> Any:
        import sys
        import threading

        start = time.perf_counter()
        state = {"count": self.completed, "cost": self.done_cost, "last": start,
                 "printed": -float("inf")}
        first_cost = self.done_cost

        def eta() -> str:
            spent, done_now = time.perf_counter() - start, state["cost"] - first_cost
            if done_now <= 0:
                return "?"
            return _clock((self.total_cost - state["cost"]) * spent / done_now)

        def advance(unit: Any = None) -> None:
            state["count"] += 1
            state["cost"] += self._next_cost(unit)
            state["last"] = time.perf_counter()
            if (state["last"] - state["printed"] < self.line_every_s
                    and state["count"] < self.total):
                return
            state["printed"] = state["last"]
            share = 100 * state["cost"] / self.total_cost if self.total_cost else 100.0
            point = getattr(unit, "point", None)
            where = "" if not point else " " + ", ".join(f"{k}={v}" for k, v in point.items()
                                                         if not isinstance(v, list | dict))
            print(f"[{self.label}] unit {state['count']}/{self.total}{where} done; "
                  f"{share:.0f}% of the work, {_clock(state['last'] - start)} elapsed, "
                  f"about {eta()} left", file=sys.stderr, flush=True)

        def beat() -> None:
            while not self._stop.wait(self.heartbeat_s / 3):
                now = time.perf_counter()
                if now - state["last"] >= self.heartbeat_s:
                    state["last"] = now
                    print(f"[{self.label}] still running: {state['count']}/{self.total} units "
                          f"done, {_clock(now - start)} elapsed, about {eta()} left",
                          file=sys.stderr, flush=True)

        self._stop = threading.Event()
        self._thread = threading.Thread(target=beat, daemon=True)
        self._thread.start()
        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        if self._stop is not None:
            self._stop.set()
            self._thread.join(timeout=1)


def _clock(seconds: float) -> str:
    """``0:07``, ``12:05``, ``1:02:03``."""
    s = max(int(round(seconds)), 0)
    h, m = divmod(s, 3600)
    m, s = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"

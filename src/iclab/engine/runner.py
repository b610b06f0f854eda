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

import iclab
from iclab.devices import resolve_device
from iclab.engine.executors import Executor, LocalExecutor, Unit, UnitJob
from iclab.engine.store import Store, UnitRecord, records_to_frame
from iclab.experiments.base import Experiment, ExperimentSettings
from iclab.experiments.registry import get_experiment
from iclab.seeding import content_hash, derive_seed

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


def plan_units(exp: Experiment, settings: ExperimentSettings) -> list[Unit]:
    """All (point, trial) units of a sweep, each with its content key and seed."""
    s_json = settings.model_dump(mode="json")
    units: list[Unit] = []
    for point in exp.points(settings):
        for trial in range(exp.trials(settings, point)):
            key = content_hash(exp.name, exp.version, s_json, point, trial)
            seed = derive_seed(settings.seed, exp.name, point, trial)
            units.append(Unit(key=key, point=point, trial=trial, seed=seed))
    return units


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

    Validation happens before the store is touched: bad input writes nothing.
    """
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    settings = exp.make_settings(variant, overrides)
    dev = resolve_device(device)
    units = plan_units(exp, settings)
    executor = executor or LocalExecutor()
    db = store if isinstance(store, Store) else Store(store)
    s_hash = settings_hash(exp, settings)
    done = db.existing_keys([u.key for u in units])
    todo = [u for u in units if u.key not in done]

    db.register_settings(exp.name, variant, exp.version, s_hash, settings.model_dump(mode="json"))
    run_id = db.start_run(exp.name, variant, s_hash, len(units), executor.name, str(dev),
                          code_version())
    start = time.perf_counter()
    computed = 0
    s_json = settings.model_dump(mode="json")
    jobs = [UnitJob(exp.name, s_json, u, str(dev)) for u in todo]
    status = "interrupted"
    try:
        with _progress(progress, exp.name, len(units), len(done)) as advance:
            for job, rows, seconds in executor.map(jobs):
                u = job.unit
                db.put(UnitRecord(u.key, exp.name, s_hash, u.point, u.trial, rows, seconds,
                                  str(dev)))
                computed += 1
                advance()
        status = "finished"
    finally:
        db.finish_run(run_id, computed, time.perf_counter() - start, status)
    results = load_results(db, exp, settings)
    return RunResult(exp, settings, variant, s_hash, results, len(units), computed,
                     time.perf_counter() - start)


class _progress:
    """Context manager yielding an ``advance()`` callable; a rich bar when enabled."""

    def __init__(self, enabled: bool, label: str, total: int, completed: int) -> None:
        self.enabled, self.label, self.total, self.completed = enabled, label, total, completed
        self._bar: Any = None

    def __enter__(self):  # noqa: ANN204
        if not self.enabled:
            return lambda: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                             transient=False)
        self._bar.start()
        task = self._bar.add_task(self.label, total=self.total, completed=self.completed)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

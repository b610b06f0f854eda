"""With several workers the engine hands out the units longest-expected first; tables and
exports still list a sweep's rows in the sweep's order."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import iclab
from iclab.engine.export import stored_frame
from iclab.engine.runner import run_experiment
from iclab.engine.store import Store
from iclab.engine.units import UnitJob, execute_unit
from iclab.experiments.registry import get_experiment


class RecordingExecutor:
    """Runs the units in this process in the order given, and remembers that order."""

    name = "recording"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.order: list[tuple[float, int]] = []

    def map(self, jobs: Sequence[UnitJob]) -> Iterator[tuple[UnitJob, list[dict], float]]:
        for job in jobs:
            self.order.append((job.unit.point["x"], job.unit.trial))
            rows, seconds = execute_unit(job)
            yield job, rows, seconds


@pytest.mark.parametrize(("workers", "expected"), [
    (2, [(2.0, 0), (2.0, 1), (1.0, 0), (1.0, 1), (0.0, 0), (0.0, 1)]),  # longest first
    (1, [(0.0, 0), (0.0, 1), (1.0, 0), (1.0, 1), (2.0, 0), (2.0, 1)]),  # the sweep's order
])
def test_units_go_out_longest_first_with_several_workers(
        tmp_path: Path, workers: int, expected: list[tuple[float, int]]) -> None:
    executor = RecordingExecutor(workers)
    result = run_experiment(get_experiment("toy.costly"), store=tmp_path / "s.sqlite",
                            executor=executor)
    assert executor.order == expected
    assert result.n_computed == 6


def _exported_order(path: Path) -> list[tuple[float, int]]:
    frame = stored_frame(Store(path), "toy.costly", get_experiment)
    return list(dict.fromkeys(zip(frame.x.astype(float), frame.trial.astype(int), strict=True)))


def test_export_writes_a_sweeps_rows_in_the_sweeps_order(tmp_path: Path) -> None:
    """Units stored longest first (two workers) are exported point by point, trial by trial,
    like ``load_results``; a sweep the registry can no longer rebuild (here: its stored
    version changed) keeps the store's order."""
    path = tmp_path / "s.sqlite"
    result = run_experiment(get_experiment("toy.costly"), store=path,
                            executor=RecordingExecutor(2))
    sweep = [(0.0, 0), (0.0, 1), (1.0, 0), (1.0, 1), (2.0, 0), (2.0, 1)]
    assert _exported_order(path) == sweep
    public = iclab.stored_results("toy.costly", store=path)
    assert list(dict.fromkeys(zip(public.x, public.trial, strict=True))) == sweep
    assert list(dict.fromkeys(zip(result.results.x, result.results.trial, strict=True))) == sweep
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE settings SET version = 'old' WHERE experiment = 'toy.costly'")
    assert _exported_order(path) == [(2.0, 0), (2.0, 1), (1.0, 0), (1.0, 1), (0.0, 0), (0.0, 1)]

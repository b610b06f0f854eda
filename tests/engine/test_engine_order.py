"""With several workers the engine hands out the units longest-expected first."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from iclab.engine.runner import run_experiment
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

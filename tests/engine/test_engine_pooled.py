"""Several sweeps through one executor (``run_plans``, ``iclab check A B``): the same rows as
separate runs, one run record per sweep, each unit computed once."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from typer.testing import CliRunner

from iclab.cli import app
from iclab.engine.runner import prepare_run, run_experiment, run_plans
from iclab.engine.units import UnitJob, execute_unit
from iclab.experiments.registry import get_experiment


class CountingExecutor:
    """Runs jobs in this process and records how each ``map`` call was made."""

    name = "counting"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.calls: list[list[tuple[str, float, int]]] = []

    def map(self, jobs: Sequence[UnitJob]) -> Iterator[tuple[UnitJob, list[dict], float]]:
        self.calls.append([(j.experiment.name, j.unit.point["x"], j.unit.trial) for j in jobs])
        for job in jobs:
            rows, seconds = execute_unit(job)
            yield job, rows, seconds


def _rows(frame: object) -> list[tuple]:
    cols = ["x", "trial", "method", "value"]
    return list(map(tuple, frame[cols].itertuples(index=False)))  # type: ignore[index]


def test_pooled_sweeps_match_separate_runs(tmp_path: Path) -> None:
    names = ["toy.mc", "toy.costly"]
    executor = CountingExecutor(workers=2)
    plans = [(prepare_run(get_experiment(n)), "quick") for n in names]
    pooled = run_plans(plans, store=tmp_path / "pooled.sqlite", executor=executor)
    # one map call with every unit: each experiment's own, longest expected first
    assert len(executor.calls) == 1
    order = executor.calls[0]
    assert [o[0] for o in order] == ["toy.mc"] * 6 + ["toy.costly"] * 6
    assert [o[1] for o in order[6:]] == [2.0, 2.0, 1.0, 1.0, 0.0, 0.0]
    for name, run in zip(names, pooled, strict=True):
        alone = run_experiment(get_experiment(name), store=tmp_path / f"{name}.sqlite")
        assert run.experiment.name == name and run.n_units == 6 and run.n_computed == 6
        assert _rows(run.results) == _rows(alone.results)
    with sqlite3.connect(tmp_path / "pooled.sqlite") as con:
        runs = con.execute("SELECT experiment, n_units, n_computed, status FROM runs").fetchall()
    assert sorted(runs) == [("toy.costly", 6, 6, "finished"), ("toy.mc", 6, 6, "finished")]


def test_a_plan_given_twice_computes_its_units_once(tmp_path: Path) -> None:
    executor = CountingExecutor(workers=1)
    plan = prepare_run(get_experiment("toy.mc"))
    first, second = run_plans([(plan, "quick"), (plan, "quick")],
                              store=tmp_path / "s.sqlite", executor=executor)
    assert len(executor.calls[0]) == 6
    assert first.n_computed == 6 and second.n_computed == 0
    assert first.seconds > 0 and second.seconds == 0.0  # seconds: until its own last unit
    assert _rows(first.results) == _rows(second.results)


def test_check_command_pools_its_experiments(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    result = CliRunner().invoke(app, ["check", "toy.mc", "toy.costly", "toy.mc", "--quick",
                                      "--json", "--store", str(store)])
    assert result.exit_code == 1, result.output  # the toys state no claims
    assert json.loads(result.stdout) == []
    with sqlite3.connect(store) as con:
        runs = con.execute("SELECT experiment, n_computed FROM runs").fetchall()
    assert sorted(runs) == [("toy.costly", 6), ("toy.mc", 6)]  # a repeated name runs once


def test_demo_with_workers_writes_the_rows_of_one_process(tmp_path: Path) -> None:
    from rich.console import Console

    from iclab.demo import run_demo

    quiet = Console(file=io.StringIO())
    tables = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        run_demo(out=out, only="toy.mc", console=quiet, workers=workers)
        tables[workers] = (out / "tables" / "toy.mc_quick.csv").read_text().splitlines()
    # the same rows in the same (the sweep's) order, whichever order the units finished in
    assert tables[1] == tables[2] and len(tables[1]) == 13  # header + 12 rows

"""``make demo``: run the quick variant of every registered figure, write figures and a report."""

from __future__ import annotations

import time
import traceback
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from iclab.engine import DEFAULT_STORE_PATH, Store, make_executor, run_experiment
from iclab.errors import ICLabError
from iclab.experiments import all_experiments, get_experiment
from iclab.figures import write_experiment_figure
from iclab.safe_output import atomic_write
from iclab.validation import check_int


def run_demo(variant: str = "quick", out: Path = Path("results"), only: str | None = None,
             device: str = "cpu", console: Console | None = None, workers: int = 1) -> Path:
    """Run every ``in_demo`` experiment's ``variant``; returns the report's path.

    ``workers > 1`` runs each experiment's units on a pool of that many processes (the same
    rows as one process: every unit pins its torch threads and carries its seed).

    Prints "experiment k of N" before each one, with a per-unit heartbeat when the output is
    not a terminal. Writes ``out/iclab.sqlite`` (the store),
    ``out/figures/<name>_<variant>.{png,pdf}``,
    ``out/tables/<name>_<variant>.csv`` and ``out/results.csv`` (all rows, with an
    ``experiment`` column), then ``out/report.html``. Raises if any experiment failed
    (after running all the others).
    """
    console = console or Console()
    out = Path(out)
    check_int("workers", workers)
    executor = make_executor("process", workers=workers) if workers > 1 else None
    store = Store(out / DEFAULT_STORE_PATH.name)
    names = [n for n, cls in all_experiments().items()
             if cls.in_demo and (only is None or only in n)]
    summary = Table(title=f"iclab demo ({variant})")
    summary.add_column("experiment", no_wrap=True)
    for col in ("units", "computed", "seconds"):
        summary.add_column(col, justify="right", no_wrap=True)

    tables, failures = [], []
    demo_start = time.perf_counter()
    for k, name in enumerate(names, 1):
        exp = get_experiment(name)
        elapsed = time.perf_counter() - demo_start
        console.print(f"[bold]▶ experiment {k} of {len(names)}: {name}[/bold] — {exp.title} "
                      f"[dim]({elapsed / 60:.1f} min so far)[/dim]")
        start = time.perf_counter()
        try:
            res = run_experiment(exp, variant, store=store, executor=executor, device=device,
                                 progress=True)
            write_experiment_figure(exp, res.settings, variant, res.results, out)
        except Exception as exc:  # keep going: one broken figure must not hide the others
            failures.append(name)
            console.print(f"[red]✗ {name} failed: {exc}[/red]")
            traceback.print_exc()
            continue
        with atomic_write(out / "tables" / f"{name}_{variant}.csv", [store.path]) as tmp:
            res.results.to_csv(tmp, index=False)
        tables.append(res.results.assign(experiment=name))
        summary.add_row(name, str(res.n_units), str(res.n_computed),
                        f"{time.perf_counter() - start:.1f}")
    if tables:
        with atomic_write(out / "results.csv", [store.path]) as tmp:
            pd.concat(tables, ignore_index=True).to_csv(tmp, index=False)
    from iclab.report import write_report

    report = write_report(store, out)
    console.print(summary)
    console.print(f"figures: {out / 'figures'}  tables: {out / 'tables'}")
    console.print(f"report: {report}")
    if failures:
        raise ICLabError(f"{len(failures)} experiment(s) failed: {', '.join(failures)}")
    return report

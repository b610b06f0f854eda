"""``make demo``: run the quick variant of every registered figure, write figures and a report."""

from __future__ import annotations

import time
import traceback
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from iclab.claims import VERDICTS, ClaimResult
from iclab.engine import DEFAULT_STORE_PATH, Store, make_executor, run_experiment
from iclab.engine.check import claims_of_run
from iclab.errors import ICLabError
from iclab.experiments import all_experiments, get_experiment
from iclab.figures import write_experiment_figure
from iclab.safe_output import atomic_write
from iclab.validation import check_int


def claims_summary(verdicts: list[ClaimResult]) -> list[str]:
    """The lines the demo ends with: the verdict counts, then every claim that does not
    hold (its verdict, experiment and claim, statistic against threshold, and why when the
    data cannot decide or the settings differ from those the claim was stated for)."""
    counts = {k: sum(v.verdict == k for v in verdicts) for k in VERDICTS}
    lines = [f"claims: {len(verdicts)} checked: " + ", ".join(f"{n} {k}"
                                                               for k, n in counts.items())]
    for v in verdicts:
        if v.verdict == "holds":
            continue
        why = "; ".join(x for x in (getattr(v, "note", ""), getattr(v, "settings_differ", ""))
                        if x)
        stat = f"{v.statistic:.4g} vs {v.threshold:.4g}"
        lines.append(f"  {v.verdict}: {v.experiment} {v.claim} ({stat})"
                     + (f" — {why}" if why else ""))
    if len(lines) == 1 and verdicts:
        lines.append("  every claim holds")
    lines.append("  (iclab check NAME --quick prints one experiment's table; the report has "
                  "them all)")
    return lines


def run_demo(variant: str = "quick", out: Path = Path("results"), only: str | None = None,
             device: str = "cpu", console: Console | None = None, workers: int = 1) -> Path:
    """Run every ``in_demo`` experiment's ``variant``; returns the report's path.

    ``workers > 1`` runs each experiment's units on a pool of that many processes (the same
    rows as one process: every unit pins its torch threads and carries its seed).

    Prints "experiment k of N" before each one, with a per-unit heartbeat when the output is
    not a terminal. Writes ``out/iclab.sqlite`` (the store),
    ``out/figures/<name>_<variant>.{png,pdf}``,
    ``out/tables/<name>_<variant>.csv`` and ``out/results.csv`` (all rows, with an
    ``experiment`` column), then ``out/report.html``; ends with the claims summary
    (:func:`claims_summary`) and the report as a ``file://`` URL. Raises if any experiment failed
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

    tables, failures, verdicts = [], [], []
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
        verdicts.extend(claims_of_run(res))
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
    for line in claims_summary(verdicts):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"report: {report.resolve().as_uri()}", markup=False, highlight=False,
                  soft_wrap=True)
    if failures:
        raise ICLabError(f"{len(failures)} experiment(s) failed: {', '.join(failures)}")
    return report

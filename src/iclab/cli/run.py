"""Commands that compute: ``iclab run``, ``iclab check`` and ``iclab demo``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from iclab._cli_errors import dumps as _strict_json
from iclab._cli_errors import one_line_errors as _one_line_errors
from iclab.cli.common import (
    DEFAULT_STORE_PATH,
    VERDICT_STYLE,
    DeviceOpt,
    FullOpt,
    OutOpt,
    PlainOpt,
    QuickOpt,
    SetOpt,
    StoreOpt,
    VariantOpt,
    choose_variant,
    parse_overrides,
    print_claims,
    validate_run,
)
from iclab.cli.root import app, console


@app.command("run")
@_one_line_errors
def run_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name (see iclab list).")],
    quick: QuickOpt = False,
    full: FullOpt = False,
    variant_name: VariantOpt = None,
    set_: SetOpt = None,
    store: StoreOpt = DEFAULT_STORE_PATH,
    device: DeviceOpt = "cpu",
    workers: Annotated[int, typer.Option(help="Processes for --executor process/ray (at most "
                                         "the CPU cores and what memory allows, unless "
                                         "--allow-large).")] = 1,
    executor: Annotated[str, typer.Option(help="local, process or ray.")] = "",
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    gpu_fraction: Annotated[float | None, typer.Option(
        help="Ray: GPU share per unit with --device cuda (default 0.25).")] = None,
    out: OutOpt = Path("results"),
    plot: Annotated[bool, typer.Option(help="Write the figure after the run.")] = True,
    allow_large: Annotated[bool, typer.Option(
        "--allow-large", help="Run a plan above the size guards (units, memory).")] = False,
    plain: PlainOpt = False,
) -> None:
    """Run (or resume) an experiment; finished points are never recomputed.

    Example: ``iclab run lu2024.fig1 --quick --set trials=3 --workers 2``
    """
    from iclab.engine import make_executor, run_experiment
    from iclab.engine.check import claims_of_run
    from iclab.experiments import get_experiment
    from iclab.figures import write_experiment_figure

    exp = get_experiment(name)
    variant = choose_variant(quick, full, variant_name)
    overrides = parse_overrides(set_)
    plan = validate_run(exp, variant, overrides, device, allow_large, store,
                        out if plot else None)
    chosen = executor or ("process" if workers > 1 else "local")
    ex = make_executor(chosen, workers=workers, address=address, gpu_fraction=gpu_fraction,
                       allow_large=allow_large, unit_bytes=plan.unit_bytes)
    res = run_experiment(exp, variant, overrides, store=store, executor=ex, device=device,
                         progress=True, allow_large=allow_large)
    console.print(f"{exp.name} \\[{variant}]: {res.n_units} units, {res.n_computed} computed, "
                  f"{res.n_units - res.n_computed} reused from {store} "
                  f"({res.seconds:.1f} s); {len(res.results)} rows")
    if plot:
        paths = write_experiment_figure(exp, res.settings, variant, res.results, out)
        console.print("figure: " + ", ".join(map(str, paths)))
    verdicts = claims_of_run(res)
    if verdicts:
        print_claims(console, verdicts, f"claims of {exp.name} [{variant}]", plain)
    if overrides and not any(getattr(v, "settings_differ", "") for v in verdicts):
        console.print("[dim]settings differ from the variant: read the verdicts as a check of "
                      "these settings[/dim]")


@app.command("check")
@_one_line_errors
def check_cmd(
    names: Annotated[list[str] | None, typer.Argument(
        help="Experiments to check (default: every registered one).")] = None,
    quick: QuickOpt = False,
    full: FullOpt = False,
    variant_name: VariantOpt = None,
    set_: SetOpt = None,
    store: StoreOpt = DEFAULT_STORE_PATH,
    device: DeviceOpt = "cpu",
    workers: Annotated[int, typer.Option(help="Processes (a process pool when > 1).")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of verdicts.")]
    = False,
    controls: Annotated[bool, typer.Option(
        "--controls", help="Run the claims' negative controls instead (each must say fails).")]
    = False,
    replicate: Annotated[int, typer.Option(
        "--replicate", min=0, max=1000,
        help="Run each experiment at this many random experiment seeds (kept beside the "
             "store, so a rerun resumes) and count the seeds on which each claim holds.")]
    = 0,
    fresh_seeds: Annotated[bool, typer.Option(
        "--fresh-seeds", help="With --replicate: draw new seeds instead of the kept ones.")]
    = False,
    plain: PlainOpt = False,
) -> None:
    """Run (or resume) experiments and check the claims their figures are meant to show.

    With no names every registered experiment runs: on a 2-core CPU the quick variants take
    over 8 minutes, as they train transformers.

    Exit status: 0 when every claim holds, 1 when any fails or is inconclusive, 2 on bad
    input. A claim is stated for the settings of the figure that declares it; on other
    settings (``--set``, or a subclass that inherits the claims) each verdict is marked
    ``settings differ: rho 0.01 → 0.5`` and read as a check of those settings.

    Examples:
      iclab check lu2024.fig1 lu2024.fig4 --quick
      iclab check lu2024.fig4 --quick --json
      iclab check lu2024.fig1 --set trials=20 --plain
    """
    from iclab.engine import make_executor
    from iclab.engine.check import check_experiments, exit_code
    from iclab.experiments import all_experiments, get_experiment

    variant = choose_variant(quick, full, variant_name)
    chosen = list(dict.fromkeys(names)) if names else list(all_experiments())
    experiments = [get_experiment(n) for n in chosen]  # unknown names fail before any run
    overrides = parse_overrides(set_) or None
    plans = [validate_run(exp, variant, overrides, device, False, store, None)
             for exp in experiments]  # every plan, the store and the device, before any write
    ex = make_executor("process" if workers > 1 else "local", workers=workers,
                       unit_bytes=max(p.unit_bytes for p in plans))
    log = Console(stderr=True) if as_json else console
    if controls or replicate:
        from iclab.cli.check_modes import run_controls, run_replication

        progress = sys.stderr.isatty() and not as_json
        if controls:
            raise typer.Exit(run_controls(experiments, variant, store, ex, device, as_json,
                                          log, progress, overrides))
        raise typer.Exit(run_replication(experiments, variant, overrides, replicate,
                                         fresh_seeds, store, ex, device, as_json, log,
                                         progress))
    for k, exp in enumerate(experiments, 1):
        log.print(f"[bold]▶ {exp.name}[/bold] ({k} of {len(experiments)}) — {exp.title}")
    checked = check_experiments(experiments, variant, overrides, store=store, executor=ex,
                                device=device, progress=sys.stderr.isatty() and not as_json)
    verdicts = []
    for run, found in checked:
        log.print(f"  {run.experiment.name}: {run.n_units} units, {run.n_computed} computed "
                  f"(done after {run.seconds:.1f} s)")
        exp = run.experiment
        if exp.variant_line(variant):
            log.print(f"  {exp.variant_line(variant)}", markup=False, highlight=False)
        stated_for = sorted({v for c in exp.claims for v in c.variants})
        if not exp.claims:
            log.print(f"  {exp.name} states no claims: {exp.no_claims}")
        elif variant in exp.unclaimed_variants:
            log.print(f"  {exp.name} states no claims at {variant}: "
                      f"{exp.unclaimed_variants[variant]}")
        elif variant not in stated_for:
            log.print(f"  {exp.name} states no claims at {variant} yet; its claims are "
                      f"stated for {', '.join(stated_for)}")
        verdicts.extend(found)
    if as_json:
        typer.echo(_strict_json([v.to_dict() for v in verdicts], indent=1))
    elif not verdicts:
        console.print("no claims to check")
    else:
        print_claims(console, verdicts, f"claims [{variant}]", plain)
        counts = {k: sum(v.verdict == k for v in verdicts) for k in VERDICT_STYLE}
        console.print(", ".join(f"{n} {k}" for k, n in counts.items()))
    raise typer.Exit(exit_code(verdicts))


@app.command("demo")
@_one_line_errors
def demo_cmd(
    quick: Annotated[bool, typer.Option("--quick")] = True,
    full: Annotated[bool, typer.Option("--full")] = False,
    out: OutOpt = Path("results"),
    only: Annotated[str | None, typer.Option(help="Run only names containing this.")] = None,
    device: DeviceOpt = "cpu",
    workers: Annotated[int, typer.Option(
        help="Processes per experiment (a process pool when > 1).")] = 1,
) -> None:
    """Reproduce every registered figure (quick variants by default), then write the report.

    Example: ``iclab demo --quick --out results --workers 2``
    """
    from iclab.demo import run_demo
    from iclab.validation import check_writable_dir

    check_writable_dir("out", out)  # before any run writes its store there
    run_demo(variant="full" if full else "quick", out=out, only=only, device=device,
             console=console, workers=workers)

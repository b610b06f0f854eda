"""The ``iclab`` command line (typer + rich).

Examples::

    iclab list
    iclab show lu2024.fig1
    iclab run lu2024.fig1 --quick --set trials=3
    iclab plot lu2024.fig1 --quick
    iclab export lu2024.fig1 --format csv --out fig1.csv
    iclab theory e-icl --tau 2 --alpha 10 --kappa 0.5 --rho 0.01 --json
    iclab check lu2024.fig1 lu2024.fig4 --quick --json
    iclab demo --quick
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.table import Table

from iclab._cli_errors import OneLineErrorsGroup
from iclab._cli_errors import dumps as _strict_json
from iclab._cli_errors import one_line_errors as _one_line_errors
from iclab.errors import ICLabError, ParameterError

_LLM_HELP = "In-context noise sensitivity of local LLMs."


class _LazyGroup(OneLineErrorsGroup):
    """The top-level group; ``iclab llm`` is loaded (torch, transformers) only when used.

    ``iclab --help`` lists ``llm`` from a placeholder; ``iclab llm ...`` imports
    :mod:`iclab.llm.cli` and runs its real group.
    """

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return names if "llm" in names else [*names, "llm"]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name != "llm":
            return super().get_command(ctx, name)
        if self._listing:
            return click.Command("llm", help=_LLM_HELP, short_help=_LLM_HELP)
        try:
            from iclab.llm.cli import llm_app
        except ImportError:  # the llm extra is not installed
            return None
        command = typer.main.get_command(llm_app)
        command.help = command.help or _LLM_HELP
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    help="iclab: theory and experiments of in-context learning in stylised models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_LazyGroup,
)
theory_app = typer.Typer(help="Evaluate closed-form learning curves.", no_args_is_help=True)
app.add_typer(theory_app, name="theory")
console = Console()


StoreOpt = Annotated[Path, typer.Option("--store", help="SQLite result store.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for figures and tables.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a setting: key=value (JSON values; repeatable)."),
]
DEFAULT_STORE_PATH = Path("results") / "iclab.sqlite"


def parse_value(text: str) -> Any:
    """``--set`` value: JSON if it parses (numbers, lists, true/false), ``inf``, else a string."""
    if text.strip().lower() in {"inf", "+inf", "infinity"}:
        return math.inf
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["d=20", "alphas=[1,10]"]`` → ``{"d": 20, "alphas": [1, 10]}``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError("--set", item, "of the form key=value")
        out[key.strip()] = parse_value(value.strip())
    return out


VariantOpt = Annotated[str | None, typer.Option(
    "--variant", help="A named variant other than quick/full (see `iclab show NAME`).")]


def _variant(quick: bool, full: bool, variant: str | None = None) -> str:
    chosen = [v for v, on in (("quick", quick), ("full", full), (variant, variant is not None))
              if on]
    if len(chosen) > 1:
        raise ParameterError("variant", " ".join(map(str, chosen)),
                             "one of --quick, --full or --variant NAME")
    return chosen[0] if chosen else "quick"


# ---------------------------------------------------------------------------------------------
@app.command("list")
@_one_line_errors
def list_cmd() -> None:
    """List the registered experiments.  Example: ``iclab list``"""
    from iclab.experiments import all_experiments

    table = Table(title="iclab experiments")
    table.add_column("name", no_wrap=True, style="bold")  # names are typed back: never cut
    table.add_column("title", ratio=1)
    table.add_column("variants", no_wrap=True)
    table.add_column("demo", no_wrap=True)
    table.add_column("claims", no_wrap=True, justify="right")
    for name, cls in all_experiments().items():
        table.add_row(name, cls.title, ", ".join(cls.variants), "yes" if cls.in_demo else "no",
                      str(len(cls.claims)))
    console.print(table)


@app.command("show")
@_one_line_errors
def show_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name (see `iclab list`).")],
) -> None:
    """Show an experiment's settings, defaults and variants.  Example: ``iclab show lu2024.fig1``"""
    from iclab.experiments import get_experiment

    exp = get_experiment(name)
    console.print(f"[bold]{exp.name}[/bold] — {exp.title} ({exp.paper})")
    table = Table()
    for col in ("setting", "default", *exp.variants, "description"):
        table.add_column(col)
    for key, field in exp.Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        table.add_row(key, repr(default),
                      *(repr(v[key]) if key in v else "" for v in exp.variants.values()),
                      field.description or "")
    console.print(table)


@app.command("run")
@_one_line_errors
def run_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name (see `iclab list`).")],
    quick: Annotated[bool, typer.Option("--quick", help="Laptop-size variant (default).")] = False,
    full: Annotated[bool, typer.Option("--full", help="Paper-size variant.")] = False,
    variant_name: VariantOpt = None,
    set_: SetOpt = None,
    store: StoreOpt = DEFAULT_STORE_PATH,
    device: Annotated[str, typer.Option(help="cpu or cuda[:N].")] = "cpu",
    workers: Annotated[int, typer.Option(help="Processes for --executor process/ray.")] = 1,
    executor: Annotated[str, typer.Option(help="local, process or ray.")] = "",
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    gpu_fraction: Annotated[float | None, typer.Option(
        help="Ray: GPU share per unit with --device cuda (default 0.25).")] = None,
    out: OutOpt = Path("results"),
    plot: Annotated[bool, typer.Option(help="Write the figure after the run.")] = True,
    allow_large: Annotated[bool, typer.Option(
        "--allow-large", help="Run a plan above the size guards (units, memory).")] = False,
) -> None:
    """Run (or resume) an experiment; finished points are never recomputed.

    Example: ``iclab run lu2024.fig1 --quick --set trials=3 --workers 2``
    """
    from iclab.engine import make_executor, run_experiment
    from iclab.experiments import get_experiment

    exp = get_experiment(name)
    variant = _variant(quick, full, variant_name)
    overrides = parse_overrides(set_)
    _validate_run(exp, variant, overrides, device, allow_large, store, out if plot else None)
    chosen = executor or ("process" if workers > 1 else "local")
    ex = make_executor(chosen, workers=workers, address=address, gpu_fraction=gpu_fraction)
    res = run_experiment(exp, variant, overrides, store=store, executor=ex, device=device,
                         progress=True, allow_large=allow_large)
    console.print(f"{exp.name} \\[{variant}]: {res.n_units} units, {res.n_computed} computed, "
                  f"{res.n_units - res.n_computed} reused from {store} "
                  f"({res.seconds:.1f} s); {len(res.results)} rows")
    if plot:
        paths = _write_figure(exp, res.settings, variant, res.results, out)
        console.print("figure: " + ", ".join(map(str, paths)))
    from iclab.engine.check import claims_of_run

    verdicts = claims_of_run(res)
    if verdicts:
        console.print(_claims_table(verdicts, title=f"claims of {exp.name} [{variant}]"))
    if overrides:
        console.print("[dim]settings differ from the variant: read the verdicts as a check of "
                      "these settings[/dim]")


def _validate_run(exp: Any, variant: str, overrides: dict[str, Any] | None, device: str,
                  allow_large: bool, store: Path, out: Path | None) -> None:
    """Everything a run needs, checked before anything is written (settings, points, sizes,
    the store, the output folder)."""
    from iclab.engine import Store
    from iclab.engine.runner import prepare_run
    from iclab.validation import check_writable_dir

    prepare_run(exp, variant, overrides, device, allow_large)
    Store(store).check_writable()
    if out is not None:
        check_writable_dir("out", out)


def _check_paths(store: Any, out: Path, out_is_file: bool = False) -> None:
    """A readable store (if it exists) and a writable output, checked before writing."""
    from iclab.engine import Store
    from iclab.validation import check_writable_dir, check_writable_file

    (store if isinstance(store, Store) else Store(store)).check_readable()
    (check_writable_file if out_is_file else check_writable_dir)("out", out)


def _write_figure(exp: Any, settings: Any, variant: str, results: Any, out: Path) -> list[Path]:
    from iclab.figures import figure_stem, save_figure

    fig = exp.plot(settings, results, exp.theory(settings))
    return save_figure(fig, out / "figures", figure_stem(exp, settings, variant))


_VERDICT_STYLE = {"holds": "green", "fails": "red", "inconclusive": "yellow"}


def _claims_table(verdicts: list[Any], title: str = "claims") -> Table:
    table = Table(title=title)
    for col, kw in (("experiment", {"no_wrap": True}), ("claim", {"no_wrap": True}),
                    ("verdict", {"no_wrap": True}), ("statistic", {"no_wrap": True}),
                    ("threshold", {"no_wrap": True}), ("source", {}), ("statement", {"ratio": 1})):
        table.add_column(col, **kw)
    for v in verdicts:
        stat = "—" if not math.isfinite(v.statistic) else f"{v.statistic:.4g}"
        if math.isfinite(v.uncertainty) and v.uncertainty > 0:
            stat += f" ± {v.uncertainty:.2g}"
        thr = "—" if not math.isfinite(v.threshold) else f"{v.threshold:.4g}"
        style = _VERDICT_STYLE[v.verdict]
        table.add_row(v.experiment, v.claim, f"[{style}]{v.verdict}[/{style}]", stat, thr,
                      v.source, v.statement)
    return table


@app.command("check")
@_one_line_errors
def check_cmd(
    names: Annotated[list[str] | None, typer.Argument(
        help="Experiments to check (default: every registered one).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Laptop-size variant (default).")] = False,
    full: Annotated[bool, typer.Option("--full", help="Paper-size variant.")] = False,
    variant_name: VariantOpt = None,
    set_: SetOpt = None,
    store: StoreOpt = DEFAULT_STORE_PATH,
    device: Annotated[str, typer.Option(help="cpu or cuda[:N].")] = "cpu",
    workers: Annotated[int, typer.Option(help="Processes (a process pool when > 1).")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of verdicts.")]
    = False,
) -> None:
    """Run (or resume) experiments and check the claims their figures are meant to show.

    Exit status: 0 when every claim holds, 1 when any fails or is inconclusive, 2 on bad
    input. With ``--set`` the settings differ from the variant the claims were stated for
    (e.g. the LLM study's ``models``); the verdicts are then a check of those settings.
    Example: ``iclab check lu2024.fig1 lu2024.fig4 --quick --json``
    """
    from iclab.engine import make_executor
    from iclab.engine.check import check_experiment, exit_code
    from iclab.experiments import all_experiments, get_experiment

    variant = _variant(quick, full, variant_name)
    chosen = list(names) if names else list(all_experiments())
    experiments = [get_experiment(n) for n in chosen]  # unknown names fail before any run
    overrides = parse_overrides(set_) or None
    for exp in experiments:  # every plan, the store and the device, before any run writes
        _validate_run(exp, variant, overrides, device, False, store, None)
    ex = make_executor("process" if workers > 1 else "local", workers=workers)
    log = Console(stderr=True) if as_json else console
    verdicts = []
    for k, exp in enumerate(experiments, 1):
        log.print(f"[bold]▶ {exp.name}[/bold] ({k} of {len(experiments)}) — {exp.title}")
        run, found = check_experiment(exp, variant, overrides, store=store, executor=ex,
                                      device=device,
                                      progress=sys.stderr.isatty() and not as_json)
        log.print(f"  {run.n_units} units, {run.n_computed} computed ({run.seconds:.1f} s)")
        verdicts.extend(found)
    if as_json:
        typer.echo(_strict_json([v.to_dict() for v in verdicts], indent=1))
    else:
        console.print(_claims_table(verdicts, title=f"claims [{variant}]"))
        counts = {k: sum(v.verdict == k for v in verdicts) for k in _VERDICT_STYLE}
        console.print(", ".join(f"{n} {k}" for k, n in counts.items()))
    raise typer.Exit(exit_code(verdicts))


@app.command("plot")
@_one_line_errors
def plot_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    quick: Annotated[bool, typer.Option("--quick")] = False,
    full: Annotated[bool, typer.Option("--full")] = False,
    variant_name: VariantOpt = None,
    set_: SetOpt = None,
    hash_: Annotated[str | None, typer.Option(
        "--hash", help="Settings hash (a prefix is enough) of a stored sweep to draw.")] = None,
    store: StoreOpt = DEFAULT_STORE_PATH,
    out: OutOpt = Path("results"),
) -> None:
    """Draw an experiment's figure from the store (theory computed afresh).

    Finds what is stored: with one stored sweep of the variant it draws that one; with
    several it lists them and asks for ``--set`` or ``--hash``.
    Example: ``iclab plot lu2024.fig1 --quick`` or ``iclab plot lu2024.fig1 --hash 3fa2``
    """
    from iclab.engine import Store, load_results
    from iclab.experiments import get_experiment

    exp = get_experiment(name)
    variant = _variant(quick, full, variant_name)
    overrides = parse_overrides(set_)
    db = Store(store)
    wanted = exp.make_settings(variant, overrides)
    _check_paths(db, out)
    if hash_ is not None or not overrides:
        variant, wanted = _stored_settings(db, exp, variant, hash_, wanted)
    results = load_results(db, exp, wanted) if db.exists() else None
    if results is None or results.empty:
        raise ICLabError(f"nothing stored for {name} [{variant}] with these settings in "
                         f"{store}; run `iclab run {name} --{variant}` first")
    paths = _write_figure(exp, wanted, variant, results, out)
    console.print("figure: " + ", ".join(map(str, paths)))


def _stored_settings(db: Any, exp: Any, variant: str, hash_: str | None,
                     default: Any) -> tuple[str, Any]:
    """The one stored sweep ``iclab plot`` should draw (by ``--hash`` or the only one stored).

    Without ``--hash``: the variant's own settings if stored, else the only stored sweep of the
    variant; several → an error listing them. With ``--hash``: the sweep whose settings hash
    starts with it (any variant).
    """
    from iclab.engine.runner import settings_hash
    from iclab.figures import settings_diff

    rows = db.settings_of(exp.name) if db.exists() else None
    if rows is None or rows.empty:
        return variant, default
    stored = [r for r in rows.itertuples() if db.units(exp.name, r.settings_hash)]
    if hash_ is not None:
        found = [r for r in stored if r.settings_hash.startswith(hash_)]
        if len(found) != 1:
            known = ", ".join(r.settings_hash[:10] for r in stored) or "none"
            raise ParameterError("hash", hash_, f"a prefix of one stored settings hash ({known})")
        row = found[0]
        return str(row.variant), exp.Settings(**json.loads(row.settings_json))
    if any(r.settings_hash == settings_hash(exp, default) for r in stored):
        return variant, default
    mine = [r for r in stored if r.variant == variant]
    if len(mine) == 1:
        return variant, exp.Settings(**json.loads(mine[0].settings_json))
    if len(mine) > 1:
        lines = []
        for r in mine:
            diff = settings_diff(exp, exp.Settings(**json.loads(r.settings_json)), variant)
            sets = " ".join(f"--set {k}={json.dumps(v)}" for k, v in diff.items())
            lines.append(f"  --hash {r.settings_hash[:10]}   {sets}")
        raise ICLabError(f"{len(mine)} settings of {exp.name} [{variant}] are stored; choose "
                         "one with --set or --hash:\n" + "\n".join(lines))
    return variant, default


@app.command("export")
@_one_line_errors
def export_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="Output file.")] = None,
    store: StoreOpt = DEFAULT_STORE_PATH,
) -> None:
    """Export every stored row of an experiment as a tidy table.

    Columns: the point's parameters (papers' symbols), ``trial``, the metrics, then
    ``variant`` and ``settings_hash``.  Example: ``iclab export lu2024.fig1 --format parquet``
    """
    from iclab.engine.export import export_experiment
    from iclab.experiments import get_experiment
    from iclab.validation import check_choice

    get_experiment(name)
    check_choice("format", format, ["csv", "parquet"])
    target = out or Path("results") / f"{name}.{format}"
    _check_paths(store, target, out_is_file=True)
    n = export_experiment(store, name, format, target)
    console.print(f"wrote {n} rows to {target}")


@app.command("demo")
@_one_line_errors
def demo_cmd(
    quick: Annotated[bool, typer.Option("--quick")] = True,
    full: Annotated[bool, typer.Option("--full")] = False,
    out: OutOpt = Path("results"),
    only: Annotated[str | None, typer.Option(help="Run only names containing this.")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda[:N].")] = "cpu",
) -> None:
    """Reproduce every registered figure (quick variants by default), then write the report.

    Example: ``iclab demo --quick --out results``
    """
    from iclab.demo import run_demo
    from iclab.validation import check_writable_dir

    check_writable_dir("out", out)  # before any run writes its store there
    run_demo(variant="full" if full else "quick", out=out, only=only, device=device,
             console=console)


@app.command("report")
@_one_line_errors
def report_cmd(
    store: StoreOpt = DEFAULT_STORE_PATH,
    out: OutOpt = Path("results"),
) -> None:
    """Write a static HTML report of everything in the store.  Example: ``iclab report``"""
    from iclab.report import write_report

    _check_paths(store, out)
    path = write_report(store, out)
    console.print(f"report: {path}")


# ---------------------------------------------------------------------------------------------
def _theory_value(metric: str, tau: float, alpha: float, kappa: str, rho: float, lam: float,
                  as_json: bool) -> None:
    from iclab.theory import asymptotic

    kappa_value = parse_value(kappa)
    if not isinstance(kappa_value, int | float) or isinstance(kappa_value, bool):
        raise ParameterError("kappa", kappa, "a number > 0 or inf")
    fn = asymptotic.e_icl if metric == "e_icl" else asymptotic.e_idg
    value = float(fn(tau, alpha, float(kappa_value), rho, lam=lam))
    params = {"tau": tau, "alpha": alpha, "kappa": float(kappa_value), "rho": rho, "lam": lam}
    if as_json:
        typer.echo(_strict_json({**{k: (str(v) if math.isinf(v) else v) for k, v in params.items()},
                               metric: value}))
    else:
        console.print(f"{metric} = {value:.10g}")


TauOpt = Annotated[float, typer.Option(help="tau = n/d^2 (pretraining contexts / d^2).")]
AlphaOpt = Annotated[float, typer.Option(help="alpha = l/d (context length / d).")]
KappaOpt = Annotated[str, typer.Option(help="kappa = k/d (task diversity); 'inf' allowed.")]
RhoOpt = Annotated[float, typer.Option(help="rho: label-noise variance (>= 0).")]
LamOpt = Annotated[float, typer.Option(help="lambda: ridge strength (0 = ridgeless).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@theory_app.command("e-icl")
@_one_line_errors
def theory_e_icl(tau: TauOpt, alpha: AlphaOpt, kappa: KappaOpt, rho: RhoOpt, lam: LamOpt = 0.0,
                 as_json: JsonOpt = False) -> None:
    """Asymptotic ICL error of linear attention (Lu et al.).

    Example: ``iclab theory e-icl --tau 2 --alpha 10 --kappa 0.5 --rho 0.01 --json``
    """
    _theory_value("e_icl", tau, alpha, kappa, rho, lam, as_json)


@theory_app.command("e-idg")
@_one_line_errors
def theory_e_idg(tau: TauOpt, alpha: AlphaOpt, kappa: KappaOpt, rho: RhoOpt, lam: LamOpt = 0.0,
                 as_json: JsonOpt = False) -> None:
    """Asymptotic in-distribution (IDG) error of linear attention, ridgeless (Lu et al.).

    Example: ``iclab theory e-idg --tau 0.5 --alpha 1 --kappa 0.5 --rho 0.01``
    """
    _theory_value("e_idg", tau, alpha, kappa, rho, lam, as_json)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"iclab {version('iclab')}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the installed iclab version and exit.")] = False,
) -> None:
    """iclab: theory and experiments of in-context learning in stylised models."""


def main() -> None:
    """Entry point of ``iclab`` and ``python -m iclab``."""
    app(prog_name="iclab")


if __name__ == "__main__":  # pragma: no cover
    main()

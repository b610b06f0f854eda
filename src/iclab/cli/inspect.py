"""Commands that read: ``iclab list``, ``show``, ``plot``, ``export`` and ``report``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from iclab._cli_errors import one_line_errors as _one_line_errors
from iclab.cli.common import (
    DEFAULT_STORE_PATH,
    OutOpt,
    PlainOpt,
    SetOpt,
    StoreOpt,
    VariantOpt,
    check_paths,
    choose_variant,
    parse_overrides,
)
from iclab.cli.root import app, console
from iclab.cli.tables import Column, print_table
from iclab.errors import ICLabError, ParameterError


@app.command("list")
@_one_line_errors
def list_cmd(plain: PlainOpt = False) -> None:
    """List the registered experiments (with those registered by plug-ins).

    Example:
      iclab list
    """
    from iclab.experiments import all_experiments

    columns = (Column("name", 0, wrap=False), Column("title", 0), Column("variants", 1),
               Column("demo", 2, wrap=False), Column("claims", 2, wrap=False, justify="right"))
    rows = [[name, cls.title, ", ".join(cls.variants), "yes" if cls.in_demo else "no",
             str(len(cls.claims))] for name, cls in all_experiments().items()]
    print_table(console, "iclab experiments", columns, rows, plain,
                styles=[["bold", "", "", "", ""]] * len(rows))


@app.command("show")
@_one_line_errors
def show_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name (see iclab list).")],
    plain: PlainOpt = False,
) -> None:
    """Show an experiment's settings, defaults and variants.

    Example:
      iclab show lu2024.fig1
    """
    from iclab.experiments import get_experiment

    exp = get_experiment(name)
    console.print(f"{exp.name} — {exp.title} ({exp.paper})", markup=False, highlight=False)
    columns = (Column("setting", 0, wrap=False), Column("default", 1),
               *(Column(v, 2 if v in ("quick", "paper") else 3) for v in exp.variants),
               Column("description", 0))
    rows = []
    for key, field in exp.Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        rows.append([key, repr(default),
                     *(repr(v[key]) if key in v else "" for v in exp.variants.values()),
                     field.description or ""])
    print_table(console, f"settings of {exp.name}", columns, rows, plain)
    for variant in exp.variants:
        line = exp.variant_line(variant)
        if line:
            console.print(f"  {line}", markup=False, highlight=False)


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
    from iclab.figures import write_experiment_figure
    from iclab.stored_only import find_experiment

    db = Store(store, read_only=True)
    db.check_readable()
    exp = find_experiment(name, db)
    variant = choose_variant(quick, full, variant_name)
    overrides = parse_overrides(set_)
    if exp is None:
        check_paths(db, out)
        paths = plot_stored_only(db, name, variant_name if variant_name or quick or full
                                 else None, hash_, overrides, out)
        console.print("figure: " + ", ".join(map(str, paths)))
        return
    wanted = exp.make_settings(variant, overrides)
    check_paths(db, out)
    if hash_ is not None or not overrides:
        variant, wanted = stored_settings(db, exp, variant, hash_, wanted)
    results = load_results(db, exp, wanted) if db.exists() else None
    if results is None or results.empty:
        raise ICLabError(f"nothing stored for {name} [{variant}] with these settings in "
                         f"{store}; run `iclab run {name} --{variant}` first")
    paths = write_experiment_figure(exp, wanted, variant, results, out)
    console.print("figure: " + ", ".join(map(str, paths)))


def plot_stored_only(db: Any, name: str, variant: str | None, hash_: str | None,
                     overrides: dict[str, Any], out: Path) -> list[Path]:
    """Draw a stored sweep of an experiment whose code is not loaded (a plain figure of its
    rows, :func:`iclab.stored_only.generic_figure`); the sweep is picked by ``--hash``,
    ``--set`` and the variant, and must be the only one left."""
    from iclab.engine.export import SweepFilter, stored_sweeps
    from iclab.figures import save_figure
    from iclab.stored_only import generic_figure, stored_sweep_frame

    found = stored_sweeps(db, name, SweepFilter(variant, hash_, overrides))
    if len(found) != 1:
        known = ", ".join(f"{r.settings_hash[:10]} [{r.variant}]"
                          for r in stored_sweeps(db, name)) or "none"
        raise ParameterError("hash", hash_, f"a prefix of one stored settings hash of {name} "
                             f"({known}); its code is not loaded, so the sweep is chosen by "
                             "--hash")
    row = found[0]
    frame, keys = stored_sweep_frame(db, name, row.settings_hash)
    fig = generic_figure(frame, keys, f"{name} [{row.variant}] {row.settings_hash[:10]} "
                         "(stored rows; experiment code not loaded)")
    return save_figure(fig, out / "figures", f"{name}_{row.variant}_{row.settings_hash[:8]}")


def stored_settings(db: Any, exp: Any, variant: str, hash_: str | None,
                     default: Any) -> tuple[str, Any]:
    """The one stored sweep ``iclab plot`` should draw (by ``--hash`` or the only one stored).

    Without ``--hash``: the variant's own settings if stored, else the only stored sweep of the
    variant; several → an error listing them. With ``--hash``: the sweep whose settings hash
    starts with it (any variant).
    """
    from iclab.engine.runner import settings_hash
    from iclab.figure_names import settings_diff

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
    variant_name: Annotated[str | None, typer.Option(
        "--variant", help="Keep the sweeps run as this variant (quick, full, ...).")] = None,
    hash_: Annotated[str | None, typer.Option(
        "--hash", help="Keep the sweep whose settings hash starts with this.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Keep the sweeps whose setting key equals value: key=value "
        "(JSON values; repeatable).")] = None,
    theory: Annotated[bool, typer.Option(
        "--theory", help="Write the theory curves of the kept sweeps instead of the rows.")]
    = False,
    with_settings: Annotated[bool, typer.Option(
        "--settings/--no-settings", help="Add a settings.KEY column per setting.")] = True,
    store: StoreOpt = DEFAULT_STORE_PATH,
) -> None:
    """Export the stored rows of an experiment as a tidy table.

    Columns: the point's parameters (the papers' symbols), trial, the metrics, then variant,
    settings_hash and one settings.KEY column per setting.
    The rows of an experiment whose code is not loaded are exported too (in stored order).

    Examples:
      iclab export lu2024.fig4 --set d=40 --out fig4_d40.csv
      iclab export lu2024.fig1 --variant quick --theory --out fig1_theory.csv
    """
    from iclab.engine import Store
    from iclab.engine.export import SweepFilter, export_experiment
    from iclab.experiments import get_experiment
    from iclab.stored_only import find_experiment
    from iclab.validation import check_choice

    check_choice("format", format, ["csv", "parquet"])
    db = Store(store, read_only=True)
    db.check_readable()
    exp = find_experiment(name, db)
    if theory and exp is None:
        raise ParameterError("--theory", True, "used with an experiment whose code is loaded "
                             f"({name} is only in the store)")
    where = SweepFilter(variant_name, hash_, parse_overrides(set_))
    suffix = "_theory" if theory else ""
    target = out or Path("results") / f"{name}{suffix}.{format}"
    check_paths(db, target, out_is_file=True)
    n = export_experiment(db, name, format, target, get_experiment if exp else None, where,
                          with_settings, theory)
    console.print(f"wrote {n} {'theory ' if theory else ''}rows to {target}")


@app.command("report")
@_one_line_errors
def report_cmd(
    store: StoreOpt = DEFAULT_STORE_PATH,
    out: OutOpt = Path("results"),
) -> None:
    """Write a static HTML report of everything in the store.  Example: ``iclab report``"""
    from iclab.report import write_report

    check_paths(store, out)
    path = write_report(store, out)
    console.print(f"report: {path}")

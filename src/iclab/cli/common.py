"""What the ``iclab`` commands share: options, ``--set`` parsing, checks before writing, and
the claims table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from iclab.cli.tables import Column, print_table
from iclab.engine.defaults import DEFAULT_STORE_PATH
from iclab.errors import ParameterError

StoreOpt = Annotated[Path, typer.Option("--store", help="SQLite result store.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for figures and tables.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a setting: key=value (JSON values; repeatable)."),
]
QuickOpt = Annotated[bool, typer.Option("--quick", help="Laptop-size variant (default).")]
FullOpt = Annotated[bool, typer.Option("--full", help="Paper-size variant.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu or cuda[:N].")]
VariantOpt = Annotated[str | None, typer.Option(
    "--variant", help="A named variant other than quick/full (see iclab show NAME).")]

__all__ = ["DEFAULT_STORE_PATH", "DeviceOpt", "FullOpt", "OutOpt", "QuickOpt", "SetOpt",
           "PlainOpt", "StoreOpt", "VariantOpt", "check_paths", "choose_variant", "claims_notes",
           "claims_rows", "print_claims",
           "parse_overrides", "parse_value", "validate_run"]


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


def choose_variant(quick: bool, full: bool, variant: str | None = None) -> str:
    """The variant named by ``--quick``, ``--full`` or ``--variant NAME`` (quick by default);
    more than one is a ParameterError."""
    chosen = [v for v, on in (("quick", quick), ("full", full), (variant, variant is not None))
              if on]
    if len(chosen) > 1:
        raise ParameterError("variant", " ".join(map(str, chosen)),
                             "one of --quick, --full or --variant NAME")
    return chosen[0] if chosen else "quick"


def validate_run(exp: Any, variant: str, overrides: dict[str, Any] | None, device: str,
                 allow_large: bool, store: Path, out: Path | None) -> Any:
    """Everything a run needs, checked before anything is written (settings, points, sizes,
    the store, the output folder); returns the validated :class:`~iclab.engine.runner.Plan`."""
    from iclab.engine import Store
    from iclab.engine.runner import prepare_run
    from iclab.validation import check_writable_dir

    plan = prepare_run(exp, variant, overrides, device, allow_large)
    Store(store).check_writable()
    if out is not None:
        check_writable_dir("out", out)
    return plan


def check_paths(store: Any, out: Path, out_is_file: bool = False) -> None:
    """A readable store (if it exists) and a writable output that is not the store (nor any
    SQLite file), checked before writing."""
    from iclab.engine import Store
    from iclab.safe_output import check_not_store
    from iclab.validation import check_writable_dir, check_writable_file

    db = store if isinstance(store, Store) else Store(store, read_only=True)
    db.check_readable()
    if out_is_file:
        check_not_store("out", out, [db.path])
    (check_writable_file if out_is_file else check_writable_dir)("out", out)


VERDICT_STYLE = {"holds": "green", "fails": "red", "inconclusive": "yellow"}
PlainOpt = Annotated[bool, typer.Option(
    "--plain", help="Print each row as a block of field: value lines (no table, no colour).")]


def _statistic(v: Any) -> str:
    stat = "—" if not math.isfinite(v.statistic) else f"{v.statistic:.4g}"
    if math.isfinite(v.uncertainty) and v.uncertainty > 0:
        stat += f" ± {v.uncertainty:.2g}"
    from iclab.claim_scope import deciding_point

    point = deciding_point(v.detail)
    return f"{stat} ({point})" if point else stat


def _short_differ(differ: str, keep: int = 1) -> str:
    """``"differ: rho 0.01 → 0.5; +3 more"`` (the first changes only; JSON has them all)."""
    if not differ:
        return ""
    parts = differ.split("; ")
    more = f"; +{len(parts) - keep} more" if len(parts) > keep else ""
    return "differ: " + "; ".join(parts[:keep]) + more


def claims_rows(verdicts: list[Any]) -> list[list[str]]:
    """The cells of the claims table, one row per verdict (fields read with defaults, so
    results that carry more fields print the same)."""
    rows = []
    for v in verdicts:
        differ = getattr(v, "settings_differ", "")
        thr = "—" if not math.isfinite(v.threshold) else f"{v.threshold:.4g}"
        verdict = v.verdict + (" (other settings)" if differ else "")
        rev = getattr(v, "revision", 0)
        claim = v.claim + (f" (r{rev}{'*' if getattr(v, 'revised_after_run', False) else ''})"
                           if rev else "")
        rows.append([v.experiment, claim, verdict, _statistic(v), thr, _short_differ(differ),
                     v.source, v.statement])
    return rows


CLAIM_COLUMNS = (
    Column("experiment", 0, wrap=False), Column("claim", 0, wrap=False), Column("verdict", 0),
    Column("statistic", 1), Column("threshold", 2, wrap=False), Column("settings", 1),
    Column("source", 4), Column("statement", 3))


def print_claims(console: Any, verdicts: list[Any], title: str = "claims",
                 plain: bool = False) -> None:
    """Print the claims table fitted to the console (:func:`iclab.cli.tables.print_table`),
    then a line on claims stated for other settings and on claims the data cannot decide."""
    rows = claims_rows(verdicts)
    styles = [["", "", VERDICT_STYLE[v.verdict], "", "", "yellow", "", ""] for v in verdicts]
    columns = list(CLAIM_COLUMNS)
    names = {v.experiment for v in verdicts}
    if len(names) == 1 and not plain:  # one experiment: named in the title, not per row
        title = f"{title} of {names.pop()}" if " of " not in title else title
        columns, rows, styles = columns[1:], [r[1:] for r in rows], [s[1:] for s in styles]
    print_table(console, title, columns, rows, plain=plain, styles=None if plain else styles)
    for line in claims_notes(verdicts):
        console.print(line, markup=False, highlight=False)


def claims_notes(verdicts: list[Any]) -> list[str]:
    """One line each: how many claims were stated for other settings, how many the data
    cannot decide (and why)."""
    lines = []
    differ = [v for v in verdicts if getattr(v, "settings_differ", "")]
    if differ:
        lines.append(f"{len(differ)} claim(s) were stated for other settings (settings "
                     "column): read their verdicts as a check of these settings; "
                     "docs/claims.md says how to restate or drop inherited claims.")
    undecided = [v for v in verdicts if getattr(v, "note", "")]
    if undecided:
        lines.append(f"{len(undecided)} claim(s) inconclusive: the trials or seeds cannot "
                     "decide them (e.g. " + getattr(undecided[0], "note", "") + "; "
                     "raise them with --set trials=N).")
    return lines

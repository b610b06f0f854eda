"""What the ``iclab`` commands share: options, ``--set`` parsing, checks before writing, and
the claims table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

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
    "--variant", help="A named variant other than quick/full (see `iclab show NAME`).")]

__all__ = ["DEFAULT_STORE_PATH", "DeviceOpt", "FullOpt", "OutOpt", "QuickOpt", "SetOpt",
           "StoreOpt", "VariantOpt", "check_paths", "choose_variant", "claims_table",
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


def claims_table(verdicts: list[Any], title: str = "claims") -> Table:
    """A rich table of claim verdicts (one row per claim)."""
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
        style = VERDICT_STYLE[v.verdict]
        rev = getattr(v, "revision", 0)
        claim = v.claim + (f" (r{rev}{'*' if getattr(v, 'revised_after_run', False) else ''})"
                           if rev else "")
        table.add_row(v.experiment, claim, f"[{style}]{v.verdict}[/{style}]", stat, thr,
                      v.source, v.statement)
    return table

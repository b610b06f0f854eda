"""The report page: contents with each figure's verdicts, the compact claims table, the summary,
then one section per experiment; rendered from the Jinja templates in ``templates/``
(autoescaping on)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from markupsafe import Markup

from iclab.claims import VERDICTS
from iclab.engine.runner import code_version
from iclab.engine.store import Store
from iclab.errors import ICLabError
from iclab.report.format import diff_text, duration, when
from iclab.report.record import Sweep
from iclab.report.sweep import experiment_section
from iclab.report.templating import ENV, claim_rows
from iclab.report_guide import guide, paper_heading, paper_key
from iclab.safe_output import atomic_write, check_not_store

CSS = """
body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1.5em;color:#222;
line-height:1.45}
table.summary,.sweep table:not(.claims){display:block;max-width:100%;overflow-x:auto}
code{overflow-wrap:anywhere} nav.toc li .verdicts{margin-left:.5em}
h1{font-size:1.7em;margin-bottom:.2em} h3{font-size:1.05em;margin:1.2em 0 .3em}
h2{font-size:1.35em;border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2.4em}
table{border-collapse:collapse;font-size:.85em;margin:.4em 0}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f5f5f5} .meta{color:#666;font-size:.85em} code{background:#f5f5f5;padding:0 .2em}
figure{margin:.6em 0 1em}
figure img{max-width:100%;height:auto;border:1px solid #eee;display:block}
figcaption{font-size:.92em;color:#333;margin-top:.3em}
.sweep{border-left:3px solid #e6e6e6;padding-left:1em;margin:1em 0 2.2em}
.grid{display:flex;flex-wrap:wrap;gap:1.5em} .grid>div{flex:1 1 420px}
.error{color:#a40000} .ok{color:#176b00} .warn{color:#9a5b00}
.lookfor{background:#f4f8ff;border-left:4px solid #4a7bd0;padding:.4em .8em;margin:.5em 0}
.differs{background:#fff8e6;border-left:4px solid #d09a2a;padding:.3em .8em;margin:.4em 0}
.context{font-size:.9em;color:#333;max-width:70em}
nav.toc{background:#fafafa;border:1px solid #e4e4e4;padding:.6em 1.2em;margin:1em 0}
nav.toc ol{margin:.2em 0 .4em 1.2em;padding:0} nav.toc li{margin:.1em 0}
nav.toc>ol>li{margin-top:.4em}
table.claims{font-size:.88em;width:100%;table-layout:fixed}
table.claims col.c-figure{width:22%} table.claims col.c-claim{width:38%}
table.claims col.c-verdict{width:18%} table.claims col.c-stat{width:22%}
table.claims summary{cursor:pointer;font-family:ui-monospace,monospace}
table.claims p{margin:.3em 0} table.claims .differ{color:#9a5b00;font-size:.85em}
table.claims td.verdict{text-align:left} table.claims td{overflow-wrap:anywhere}
.holds,.fails,.inconclusive{font-weight:bold;border-radius:.8em;padding:.05em .6em}
span.holds{color:#fff;background:#2e7d32} span.fails{color:#fff;background:#c62828}
span.inconclusive{color:#222;background:#f9c74f}
.verdicts span{margin-right:.6em}
"""

def summary(sweeps: list[Sweep]) -> str:
    """The summary table: one row per stored sweep."""
    rows = []
    for s in sweeps:
        complete = s.planned is not None and s.stored >= s.planned
        rows.append({
            "anchor": s.anchor, "name": s.name, "variant": s.variant,
            "differs": diff_text(s.differs),
            "cls": "error" if s.problem else ("ok" if complete else "warn"),
            "stored": s.stored, "planned": "?" if s.planned is None else s.planned,
            "rows": s.rows, "compute": duration(s.compute_seconds),
            "wall": duration(s.wall_seconds), "status": s.last_status, "problem": s.problem,
            "dev": "—" if s.worst_rel_dev is None else f"{s.worst_rel_dev:.3g}",
            "versions": ", ".join(s.code_versions)})
    return ENV.get_template("summary.html.j2").render(rows=rows)


def _counts(verdicts: list[str]) -> list[tuple[str, int]]:
    return [(k, verdicts.count(k)) for k in VERDICTS if k in verdicts]


def contents(names: list[str], sweeps: list[Sweep]) -> list[dict[str, Any]]:
    """The table of contents, in paper order (Lu, Li, Shi, then studies), with each figure's
    verdict counts."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        mine = [s for s in sweeps if s.name == name]
        title = next((s.title for s in mine if s.title), "")
        groups.setdefault(paper_heading(name), []).append({
            "name": name, "anchor": re.sub(r"[^A-Za-z0-9_-]", "-", name),
            "figure": guide(name, title).paper_figure, "sweeps": len(mine),
            "badges": _counts([c.verdict for s in mine for c in s.claims])})
    return [{"heading": h, "items": items} for h, items in groups.items()]


def write_report(store: str | Path | Store, out: str | Path = "results") -> Path:
    """Write ``<out>/report.html`` for every experiment stored in ``store``; returns its path.

    Raises :class:`ICLabError` if the store does not exist (nothing is written then).
    """
    db = store if isinstance(store, Store) else Store(store, read_only=True)
    if not db.exists():
        raise ICLabError(f"no store at {db.path}; run an experiment first")
    out = Path(out)
    check_not_store("out", out / "report.html", [db.path])
    out.mkdir(parents=True, exist_ok=True)
    sections, sweeps = [], []
    names = sorted(db.experiments(), key=paper_key)
    for name in names:
        body, found = experiment_section(db, name, out)
        sections.append(body)
        sweeps.extend(found)
    page = ENV.get_template("page.html.j2").render(
        css=CSS, generated=when(time.time()), version=code_version(), store=str(db.path),
        n_experiments=len(sections), n_sweeps=len(sweeps),
        counts=_counts([c.verdict for s in sweeps for c in s.claims]),
        contents=contents(names, sweeps),
        claims=[row for s in sweeps for row in claim_rows(s)],
        summary=Markup(summary(sweeps)), sections=[Markup(x) for x in sections])
    path = out / "report.html"
    with atomic_write(path, [db.path]) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path

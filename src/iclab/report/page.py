"""The report page: opening claims table, contents, summary, then one section per experiment."""

from __future__ import annotations

import re
import time
from pathlib import Path

from iclab.engine.runner import code_version
from iclab.engine.store import Store
from iclab.errors import ICLabError
from iclab.report.format import diff_text, duration, esc, number, when
from iclab.report.record import Sweep
from iclab.report.sweep import experiment_section
from iclab.report_guide import guide, paper_heading, paper_key
from iclab.safe_output import atomic_write, check_not_store

CSS = """
body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1.5em;color:#222;
line-height:1.45}
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
table.claims{font-size:.88em;width:100%} table.claims td.statement{min-width:22em}
table.claims td.verdict{text-align:center;white-space:nowrap}
.holds,.fails,.inconclusive{font-weight:bold;border-radius:.8em;padding:.05em .6em}
span.holds{color:#fff;background:#2e7d32} span.fails{color:#fff;background:#c62828}
span.inconclusive{color:#222;background:#f9c74f}
.verdicts span{margin-right:.6em}
"""

def summary(sweeps: list[Sweep]) -> str:
    header = ("<tr><th>experiment</th><th>variant</th><th>units stored / planned</th>"
              "<th>rows</th><th>compute time</th><th>wall time</th><th>last run</th>"
              "<th>worst |rel. dev.| theory vs exp.</th><th>code version</th></tr>")
    rows = []
    for s in sweeps:
        complete = s.planned is not None and s.stored >= s.planned
        cls = "error" if s.problem else ("ok" if complete else "warn")
        dev = "—" if s.worst_rel_dev is None else f"{s.worst_rel_dev:.3g}"
        planned = "?" if s.planned is None else s.planned
        rows.append(
            f"<tr><td><a href='#{esc(s.anchor)}'>{esc(s.name)}</a></td><td>{esc(s.variant)}"
            f"{'<div class=meta>' + esc(diff_text(s.differs)) + '</div>' if s.differs else ''}"
            "</td>"
            f"<td class='{cls}'>{s.stored} / {planned}</td><td>{s.rows}</td>"
            f"<td>{duration(s.compute_seconds)}</td><td>{duration(s.wall_seconds)}</td>"
            f"<td>{esc(s.last_status)}{' — ' + esc(s.problem) if s.problem else ''}</td>"
            f"<td>{dev}</td><td>{esc(', '.join(s.code_versions))}</td></tr>")
    return f"<table class='summary'>{header}{''.join(rows)}</table>"


def claims_table(sweeps: list[Sweep]) -> str:
    """The report's opening table: one row per claim of every stored sweep, linked to it."""
    header = ("<tr><th>experiment</th><th>variant</th><th>claim</th><th>verdict</th>"
              "<th>statistic</th><th>threshold</th><th>source</th><th>statement</th></tr>")
    rows = []
    for s in sweeps:
        for c in s.claims:
            rows.append(
                f"<tr><td><a href='#{esc(s.anchor)}'>{esc(s.name)}</a></td>"
                f"<td>{esc(s.variant)}{esc(diff_text(s.differs, ' — '))}</td>"
                f"<td>{esc(c.claim)}</td>"
                f"<td class='verdict'><span class='{c.verdict}'>{esc(c.verdict)}</span></td>"
                f"<td>{number(c.statistic, c.uncertainty)}</td><td>{number(c.threshold)}</td>"
                f"<td>{esc(c.source)}</td><td class='statement'>{esc(c.statement)}"
                f"<div class='meta'>{esc(c.detail)}</div></td></tr>")
    if not rows:
        return "<p class='meta'>no claims checked: nothing stored declares one</p>"
    counts = {k: sum(c.verdict == k for s in sweeps for c in s.claims)
              for k in ("holds", "fails", "inconclusive")}
    summary = " ".join(f"<span class='{k}'>{n} {k}</span>" for k, n in counts.items())
    return f"<p class='verdicts'>{summary}</p><table class='claims'>{header}{''.join(rows)}</table>"


def contents(names: list[str], sweeps: list[Sweep]) -> str:
    """The table of contents, in paper order (Lu, Li, Shi, then studies)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(paper_heading(name), []).append(name)
    items = []
    for heading, members in groups.items():
        rows = []
        for name in members:
            anchor = re.sub(r"[^A-Za-z0-9_-]", "-", name)
            mine = [s for s in sweeps if s.name == name]
            title = next((s.title for s in mine if s.title), "")
            g = guide(name, title)
            verdicts = [c.verdict for s in mine for c in s.claims]
            badge = "".join(f" <span class='{v}'>{sum(x == v for x in verdicts)} {v}</span>"
                            for v in ("holds", "fails", "inconclusive") if v in verdicts)
            rows.append(f"<li><a href='#{esc(anchor)}'>{esc(name)}</a> — {esc(g.paper_figure)}"
                        f"{' · ' + str(len(mine)) + ' sweeps' if len(mine) > 1 else ''}"
                        f"<span class='verdicts'>{badge}</span></li>")
        items.append(f"<li><b>{esc(heading)}</b><ol>{''.join(rows)}</ol></li>")
    return ("<nav class='toc' id='contents'><b>Contents</b><ol><li><a href='#claims'>Claims"
            "</a></li><li><a href='#summary'>Summary</a></li>" + "".join(items) + "</ol></nav>")


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
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<link rel='icon' href='data:,'><title>iclab report</title>"
        f"<style>{CSS}</style></head><body><h1>iclab report</h1>"
        f"<p class='meta'>generated {when(time.time())} by {esc(code_version())} · store "
        f"<code>{esc(db.path)}</code> · {len(sections)} experiments, {len(sweeps)} sweeps</p>"
        "<h2 id='claims'>Claims</h2>"
        "<p class='context'>Each figure is meant to show a claim of its paper. A claim's test "
        "and threshold are fixed in code before any run; <span class='holds'>holds</span> and "
        "<span class='fails'>fails</span> are its verdicts on the stored rows, "
        "<span class='inconclusive'>inconclusive</span> when the data cannot decide.</p>"
        + claims_table(sweeps) + contents(names, sweeps)
        + "<h2 id='summary'>Summary</h2>" + summary(sweeps) + "\n".join(sections)
        + "</body></html>"
    )
    path = out / "report.html"
    with atomic_write(path, [db.path]) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path

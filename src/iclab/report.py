"""Static HTML report over everything in a store: figures, parameters, deviations, timings.

``iclab report`` (and the end of ``iclab demo``) writes ``<out>/report.html``:

* a summary table: one row per stored sweep (experiment × settings), with its variant, how
  many of its planned units are stored, compute and wall time, the last run's status, the
  worst theory-vs-experiment relative deviation, and the code version that produced it;
* one section per experiment, with one block per sweep: the figure, the run facts (time,
  executor, device, code version), the runs log, the parameters, and the per-curve
  deviation table from :meth:`Experiment.deviations`.

The page is self-contained apart from its figures: inline CSS, no scripts, no fonts or
other resources from the network, so it opens offline without console errors. Figures are
PNG files under ``<out>/figures`` referenced by relative path (the folder can be zipped and
shared as is): ``<name>_<variant>.png`` for the newest sweep of a variant (the file
``iclab run``/``iclab demo`` write, reused when newer than the sweep's last run and unit),
``<name>_<variant>_<hash8>.png`` for older sweeps of the same variant.
"""

from __future__ import annotations

import html
import json
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from iclab.claims import ClaimData, evaluate_claims
from iclab.engine.runner import code_version, load_results, plan_units
from iclab.engine.store import Store
from iclab.errors import ICLabError, UnknownExperimentError
from iclab.experiments import get_experiment
from iclab.figures import save_figure

CSS = """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h3{font-size:1.05em;margin:1.2em 0 .3em}
h2{font-size:1.3em;border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2.2em}
table{border-collapse:collapse;font-size:.85em;margin:.4em 0}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f5f5f5} img{max-width:100%;border:1px solid #eee}
.meta{color:#666;font-size:.85em} code{background:#f5f5f5;padding:0 .2em}
.sweep{border-left:3px solid #e6e6e6;padding-left:1em;margin:1em 0 2em}
.grid{display:flex;flex-wrap:wrap;gap:1.5em} .grid>div{flex:1 1 420px}
.error{color:#a40000} .ok{color:#176b00} .warn{color:#9a5b00}
.holds{color:#176b00;font-weight:bold} .fails{color:#a40000;font-weight:bold}
.inconclusive{color:#9a5b00;font-weight:bold}
"""
DEVIATION_COLUMNS = ["curve", "metric", "n_points", "max_abs_dev", "max_rel_dev"]


@dataclass
class Sweep:
    """One stored (experiment, settings) with what the report shows about it."""

    name: str
    settings_hash: str
    variant: str
    anchor: str
    title: str = ""
    planned: int | None = None
    stored: int = 0
    rows: int = 0
    compute_seconds: float = 0.0
    wall_seconds: float = 0.0
    last_status: str = ""
    code_versions: list[str] = field(default_factory=list)
    worst_rel_dev: float | None = None
    html: str = ""
    problem: str = ""
    claims: list[Any] = field(default_factory=list)


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _table(frame: pd.DataFrame | None, digits: int = 4) -> str:
    if frame is None or frame.empty:
        return "<p class='meta'>none</p>"
    return frame.to_html(index=False, border=0, escape=True, na_rep="",
                         float_format=lambda v: f"{v:.{digits}g}")


def _duration(seconds: float) -> str:
    """``0.012 s``, ``4.2 s``, ``1 h 02 min`` — readable at every scale."""
    if seconds < 1:
        return f"{seconds:.3f} s"
    if seconds < 600:
        return f"{seconds:.1f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _when(stamp: float | None) -> str:
    if stamp is None or pd.isna(stamp):
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(stamp)))


def _figure(exp: Any, settings: Any, results: pd.DataFrame, theory: Any, stem: str, out: Path,
            fresh_after: float) -> Path:
    """The sweep's PNG: reuse ``<stem>.png`` if written after ``fresh_after``, else draw it."""
    png = out / "figures" / f"{stem}.png"
    if not (png.exists() and png.stat().st_mtime >= fresh_after):
        save_figure(exp.plot(settings, results, theory), out / "figures", stem)
    return png


def _last_change(store: Store, settings_hash: str, runs: pd.DataFrame) -> float:
    """When the sweep last changed: its newest stored unit or run start/finish (epoch s)."""
    (newest_unit,) = store.conn.execute(
        "SELECT MAX(created) FROM units WHERE settings_hash=?", (settings_hash,)).fetchone()
    stamps = [newest_unit, runs.started.max(), runs.finished.max()]
    return max([float(v) for v in stamps if v is not None and pd.notna(v)] + [0.0])


def _deviation_block(exp: Any, settings: Any, results: pd.DataFrame, theory: Any,
                     sweep: Sweep) -> str:
    deviations = exp.deviations(settings, results, theory)
    if deviations is None:
        return "<p class='meta'>no theory-vs-experiment comparison for this experiment</p>"
    if "max_rel_dev" in deviations and deviations["max_rel_dev"].notna().any():
        sweep.worst_rel_dev = float(deviations["max_rel_dev"].abs().max())
    cols = [c for c in DEVIATION_COLUMNS if c in deviations] + \
        [c for c in deviations.columns if c not in DEVIATION_COLUMNS]
    return _table(deviations[cols], digits=3)


def _sweep_block(store: Store, sweep: Sweep, exp: Any, settings_json: str, runs: pd.DataFrame,
                 stem: str, out: Path) -> str:
    settings = exp.Settings(**json.loads(settings_json))
    sweep.planned = len(plan_units(exp, settings))
    results = load_results(store, exp, settings)
    sweep.rows = len(results)
    theory = exp.theory(settings)
    parts = [f"<div class='sweep' id='{sweep.anchor}'>",
             f"<h3>{_esc(sweep.variant)} <span class='meta'>settings "
             f"{_esc(sweep.settings_hash[:12])}</span></h3>"]
    figure_html, deviation_html = "<p class='meta'>no rows to plot</p>", ""
    sweep.claims = evaluate_claims(exp, ClaimData(settings, results, theory, sweep.variant))
    try:
        deviation_html = _deviation_block(exp, settings, results, theory, sweep)
        if not results.empty:
            png = _figure(exp, settings, results, theory, stem, out,
                          fresh_after=_last_change(store, sweep.settings_hash, runs))
            figure_html = (f"<img src='figures/{quote(png.name)}' alt='figure of "
                           f"{_esc(sweep.name)} ({_esc(sweep.variant)})'>")
    except Exception as exc:  # one broken figure must not hide the rest of the report
        sweep.problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
        figure_html += (f"<p class='error'>could not draw or compare: {_esc(sweep.problem)}"
                        f"</p><pre class='meta'>{_esc(traceback.format_exc(limit=3))}</pre>")
    last = runs.iloc[-1] if not runs.empty else None
    facts = {
        "units stored / planned": f"{sweep.stored} / {sweep.planned}",
        "rows": sweep.rows,
        "compute time (sum over units)": _duration(sweep.compute_seconds),
        "wall time (sum over runs)": f"{_duration(sweep.wall_seconds)} in {len(runs)} run(s)",
        "last run": "" if last is None else
        f"{last.status}, started {_when(last.started)}, executor {last.executor}, "
        f"device {last.device}",
        "code version": ", ".join(sweep.code_versions),
    }
    facts_frame = pd.DataFrame({"": list(facts), "value": [str(v) for v in facts.values()]})
    params = pd.DataFrame([(k, json.dumps(v)) for k, v in json.loads(settings_json).items()],
                          columns=["setting", "value"])
    run_log = runs[["started", "status", "n_computed", "n_units", "seconds", "executor",
                    "device", "code_version"]].assign(started=runs.started.map(_when))
    parts += [
        "<div class='grid'><div>", figure_html, "</div><div>", _table(facts_frame),
        "<h3>Parameters</h3>", _table(params), "</div></div>",
        "<h3>Theory vs experiment (per curve)</h3>", deviation_html,
        "<h3>Runs</h3>", _table(run_log, digits=3), "</div>",
    ]
    return "\n".join(parts)


def _experiment_section(store: Store, name: str, out: Path) -> tuple[str, list[Sweep]]:
    base = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    head = f"<h2 id='{base}'>{_esc(name)}</h2>"
    runs = store.runs(name)
    units = store.units(name)
    by_hash: dict[str, list[Any]] = {}
    for u in units:
        by_hash.setdefault(u.settings_hash, []).append(u)
    settings_rows = store.settings_of(name).set_index("settings_hash")
    # Newest sweep first: ordered by its last run (or its last stored unit).
    order = sorted(by_hash, key=lambda h: max(
        [*runs[runs.settings_hash == h].started.tolist(), 0.0]), reverse=True)
    try:
        exp = get_experiment(name)
    except UnknownExperimentError:
        exp = None
    sweeps: list[Sweep] = []
    blocks = [head]
    if exp is not None:
        blocks.append(f"<p>{_esc(exp.title)} — <i>{_esc(exp.paper)}</i></p>")
    seen_variants: set[str] = set()
    for h in order:
        variant = str(settings_rows.variant.get(h) or "custom") if h in settings_rows.index \
            else "unknown"
        sweep_runs = runs[runs.settings_hash == h]
        sweep = Sweep(name, h, variant, f"{base}-{h[:8]}", stored=len(by_hash[h]),
                      compute_seconds=sum(u.seconds for u in by_hash[h]),
                      wall_seconds=float(sweep_runs.seconds.fillna(0).sum()),
                      last_status=str(sweep_runs.status.iloc[-1]) if len(sweep_runs) else "",
                      code_versions=list(dict.fromkeys(sweep_runs.code_version.dropna())))
        stem = f"{name}_{variant}" if variant not in seen_variants else \
            f"{name}_{variant}_{h[:8]}"
        seen_variants.add(variant)
        if exp is None:
            sweep.problem = "not a registered experiment in this version"
        elif h not in settings_rows.index:
            sweep.problem = "settings not recorded in the store"
        if sweep.problem:
            blocks.append(f"<div class='sweep' id='{sweep.anchor}'><h3>{_esc(variant)}</h3>"
                          f"<p class='warn'>{_esc(sweep.problem)}; {sweep.stored} units "
                          "stored</p></div>")
        else:
            sweep.title = exp.title
            try:
                blocks.append(_sweep_block(store, sweep, exp, settings_rows.settings_json[h],
                                           sweep_runs, stem, out))
            except Exception as exc:  # e.g. stored settings no longer valid for this code
                sweep.problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
                blocks.append(f"<div class='sweep' id='{sweep.anchor}'><h3>{_esc(variant)}</h3>"
                              f"<p class='error'>{_esc(sweep.problem)}</p></div>")
        sweeps.append(sweep)
    return "\n".join(blocks), sweeps


def _summary(sweeps: list[Sweep]) -> str:
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
            f"<tr><td><a href='#{s.anchor}'>{_esc(s.name)}</a></td><td>{_esc(s.variant)}</td>"
            f"<td class='{cls}'>{s.stored} / {planned}</td><td>{s.rows}</td>"
            f"<td>{_duration(s.compute_seconds)}</td><td>{_duration(s.wall_seconds)}</td>"
            f"<td>{_esc(s.last_status)}{' — ' + _esc(s.problem) if s.problem else ''}</td>"
            f"<td>{dev}</td><td>{_esc(', '.join(s.code_versions))}</td></tr>")
    return f"<table class='summary'>{header}{''.join(rows)}</table>"


def _number(value: float, uncertainty: float | None = None) -> str:
    if value is None or not pd.notna(value):
        return "—"
    text = f"{value:.4g}"
    if uncertainty is not None and pd.notna(uncertainty) and uncertainty > 0:
        text += f" ± {uncertainty:.2g}"
    return text


def _claims_table(sweeps: list[Sweep]) -> str:
    """The report's opening table: one row per claim of every stored sweep, linked to it."""
    header = ("<tr><th>experiment</th><th>variant</th><th>claim</th><th>verdict</th>"
              "<th>statistic</th><th>threshold</th><th>source</th><th>statement</th></tr>")
    rows = []
    for s in sweeps:
        for c in s.claims:
            rows.append(
                f"<tr><td><a href='#{_esc(s.anchor)}'>{_esc(s.name)}</a></td>"
                f"<td>{_esc(s.variant)}</td><td>{_esc(c.claim)}</td>"
                f"<td class='{c.verdict}'>{_esc(c.verdict)}</td>"
                f"<td>{_number(c.statistic, c.uncertainty)}</td><td>{_number(c.threshold)}</td>"
                f"<td>{_esc(c.source)}</td><td>{_esc(c.statement)}"
                f"<div class='meta'>{_esc(c.detail)}</div></td></tr>")
    if not rows:
        return "<p class='meta'>no claims checked: nothing stored declares one</p>"
    counts = {k: sum(c.verdict == k for s in sweeps for c in s.claims)
              for k in ("holds", "fails", "inconclusive")}
    summary = " · ".join(f"<span class='{k}'>{n} {k}</span>" for k, n in counts.items())
    return f"<p>{summary}</p><table class='claims'>{header}{''.join(rows)}</table>"


def write_report(store: str | Path | Store, out: str | Path = "results") -> Path:
    """Write ``<out>/report.html`` for every experiment stored in ``store``; returns its path.

    Raises :class:`ICLabError` if the store does not exist (nothing is written then).
    """
    db = store if isinstance(store, Store) else Store(store)
    if not db.exists():
        raise ICLabError(f"no store at {db.path}; run an experiment first")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sections, sweeps = [], []
    for name in db.experiments():
        body, found = _experiment_section(db, name, out)
        sections.append(body)
        sweeps.extend(found)
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<link rel='icon' href='data:,'><title>iclab report</title>"
        f"<style>{CSS}</style></head><body><h1>iclab report</h1>"
        f"<p class='meta'>generated {_when(time.time())} by {_esc(code_version())} · store "
        f"<code>{_esc(db.path)}</code> · {len(sections)} experiments, {len(sweeps)} sweeps</p>"
        "<h2 id='claims'>Claims</h2>" + _claims_table(sweeps)
        + "<h2 id='summary'>Summary</h2>" + _summary(sweeps) + "\n".join(sections)
        + "</body></html>"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

"""Static HTML report over everything in a store: claims, figures, settings, deviations, timings.

``iclab report`` (and the end of ``iclab demo``) writes ``<out>/report.html``:

* the claims table first: every claim of every stored sweep with its verdict
  (:func:`iclab.claims.evaluate_claims`), linked to the sweep;
* a table of contents in paper order (Lu et al., Li et al., Shi et al., then the studies);
* a summary table: one row per stored sweep (experiment × settings), with its variant, the
  settings that differ from the variant, how many planned units are stored, compute and wall
  time, the last run's status, the worst theory-vs-experiment relative deviation, and the code
  version that produced it;
* one section per experiment: which paper figure it reproduces and what to look for, then one
  block per sweep: the full-width figure linked to its file, the settings that differ from
  the variant, the per-curve deviations with their context (the size expected at this d and,
  where several d are stored, how the deviation shrinks with d), the run facts, the parameters
  and the runs log.

The page is self-contained apart from its figures: inline CSS, no scripts, no fonts or
other resources from the network, so it opens offline without console errors. Figures are
PNG files under ``<out>/figures`` referenced by relative path (the folder can be zipped and
shared as is), named by :func:`iclab.figures.figure_stem` (the variant's own settings keep
``<name>_<variant>.png``; other settings add a suffix), the same files ``iclab run`` and
``iclab demo`` write, reused when newer than the sweep's last run and unit.
"""

from __future__ import annotations

import html
import json
import math
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
from iclab.figures import figure_stem, save_figure, settings_diff
from iclab.report_guide import guide, paper_heading, paper_key

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
    differs: dict[str, Any] = field(default_factory=dict)
    d_values: list[int] = field(default_factory=list)


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


def _png_size(png: Path) -> str:
    """``width='W' height='H' `` from a PNG's header (its natural size; the page scales a wide
    figure down to the column and never blows a small one up). Empty if unreadable."""
    try:
        head = png.read_bytes()[:24]
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    except OSError:
        return ""
    return f"width='{width}' height='{height}' " if head[12:16] == b"IHDR" else ""


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
    diff = settings_diff(exp, settings, sweep.variant)
    sweep.differs = diff
    differs = ("<p class='differs'>settings that differ from the variant: "
               + ", ".join(f"<code>{_esc(k)} = {_esc(json.dumps(v))}</code>"
                           for k, v in diff.items()) + "</p>") if diff else \
        "<p class='meta'>the variant's own settings</p>"
    parts = [f"<div class='sweep' id='{_esc(sweep.anchor)}'>",
             f"<h3>{_esc(sweep.variant)}{_esc(_diff_text(diff, ' — '))} <span class='meta'>"
             f"settings {_esc(sweep.settings_hash[:12])}</span></h3>", differs]
    figure_html, deviation_html = "<p class='meta'>no rows to plot</p>", ""
    sweep.claims = evaluate_claims(exp, ClaimData(settings, results, theory, sweep.variant))
    try:
        deviation_html = _deviation_block(exp, settings, results, theory, sweep)
        if not results.empty:
            png = _figure(exp, settings, results, theory, stem, out,
                          fresh_after=_last_change(store, sweep.settings_hash, runs))
            g = guide(sweep.name, exp.title)
            src = f"figures/{quote(png.name)}"
            figure_html = (f"<figure><a href='{src}' title='open the full-size figure'>"
                           f"<img src='{src}' {_png_size(png)}alt='{_esc(g.paper_figure)}: "
                           f"figure of {_esc(sweep.name)} ({_esc(sweep.variant)})'></a>"
                           f"<figcaption><b>{_esc(g.paper_figure)}</b> ({_esc(sweep.name)}, "
                           f"{_esc(sweep.variant)}). {_esc(g.look_for)} <span class='meta'>"
                           f"Click for the full-size file.</span></figcaption></figure>")
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
    g = guide(sweep.name, exp.title)
    context = g.deviation_context
    d_note = _finite_d_note(settings) if g.finite_d else ""
    context_html = (f"<p class='context'>{_esc(context)}{_esc(d_note)}</p>"
                    if (context or d_note) and sweep.worst_rel_dev is not None else "")
    parts += [
        figure_html,
        "<h3>Theory vs experiment (per curve)</h3>", context_html, deviation_html,
        "<div class='grid'><div><h3>Run facts</h3>", _table(facts_frame), "</div><div>",
        "<h3>Parameters</h3>", _table(params), "</div></div>",
        "<h3>Runs</h3>", _table(run_log, digits=3), "</div>",
    ]
    return "\n".join(parts)


def _diff_text(diff: dict[str, Any], lead: str = "") -> str:
    """``{"d": 24, "trials": 3}`` → ``" — d = 24, trials = 3"`` (empty when nothing differs)."""
    if not diff:
        return ""
    return lead + ", ".join(f"{k} = {json.dumps(v)}" for k, v in diff.items())


def _d_of(settings: Any) -> list[int]:
    """The dimension(s) d of a sweep: its ``d`` setting, or its ``ds`` list."""
    values = settings.model_dump()
    d = values.get("d")
    if isinstance(d, int) and not isinstance(d, bool) and d > 0:
        return [d]
    ds = values.get("ds")
    if isinstance(ds, list | tuple) and ds and all(isinstance(v, int) for v in ds):
        return sorted(int(v) for v in ds)
    return []


def _finite_d_note(settings: Any) -> str:
    """" At d = 24 the finite-d scale 1/√d is 0.20." (empty when the sweep has no d)."""
    ds = _d_of(settings)
    if not ds:
        return ""
    scale = ", ".join(f"{1 / math.sqrt(d):.2g} at d = {d}" for d in ds)
    return f" Finite-d scale 1/√d: {scale}."


def _d_scaling(sweeps: list[Sweep]) -> str:
    """How the worst deviation shrinks with d across the stored sweeps of one experiment.

    One row per d (the newest sweep with that single d), the worst relative deviation, and
    the exponent p of a least-squares fit ``dev ∝ d^(-p)`` over log d (p = 1/2 is the
    1/√d finite-size rate). Empty unless two or more d are stored.
    """
    by_d: dict[int, Sweep] = {}
    for sw in sweeps:  # newest first
        if len(sw.d_values) == 1 and sw.worst_rel_dev is not None and not sw.problem:
            by_d.setdefault(sw.d_values[0], sw)
    if len(by_d) < 2:
        return ""
    ds = sorted(by_d)
    devs = [by_d[d].worst_rel_dev for d in ds]
    rows = "".join(
        f"<tr><td>{d}</td><td><a href='#{_esc(by_d[d].anchor)}'>{_esc(by_d[d].variant)}"
        f"{_esc(_diff_text(by_d[d].differs, ' — '))}</a></td><td>{dev:.3g}</td>"
        f"<td>{1 / math.sqrt(d):.3g}</td></tr>" for d, dev in zip(ds, devs, strict=True))
    fit = ""
    if all(v > 0 for v in devs):
        x, y = [math.log(d) for d in ds], [math.log(v) for v in devs]
        mx, my = sum(x) / len(x), sum(y) / len(y)
        slope = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum(
            (a - mx) ** 2 for a in x)
        fit = (f"<p class='context'>Worst deviation ∝ d<sup>−p</sup> with p = {-slope:.2f} "
               f"over d = {ds[0]}…{ds[-1]} (p = 0.5 is the 1/√d finite-size rate): the "
               f"deviation {'shrinks' if slope < 0 else 'does not shrink'} as d grows.</p>")
    return ("<h3 id='" + _esc(sweeps[0].anchor.rsplit('-', 1)[0]) + "-d-scaling'>Deviation "
            "against d</h3><table class='dscaling'><tr><th>d</th><th>sweep</th>"
            "<th>worst |rel. dev.|</th><th>1/√d</th></tr>" + rows + "</table>" + fit)


def _experiment_section(store: Store, name: str, out: Path) -> tuple[str, list[Sweep]]:
    base = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    head = f"<h2 id='{_esc(base)}'>{_esc(name)}</h2>"
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
        g = guide(name, exp.title)
        blocks.append(f"<p><b>{_esc(g.paper_figure)}</b>: {_esc(exp.title)} — "
                      f"<i>{_esc(exp.paper)}</i></p>")
        if g.look_for and g.look_for != exp.title:
            blocks.append(f"<p class='lookfor'><b>What to look for.</b> {_esc(g.look_for)}</p>")
    seen_stems: set[str] = set()
    scaling_at = len(blocks)
    for h in order:
        variant = str(settings_rows.variant.get(h) or "custom") if h in settings_rows.index \
            else "unknown"
        sweep_runs = runs[runs.settings_hash == h]
        sweep = Sweep(name, h, variant, f"{base}-{h[:8]}", stored=len(by_hash[h]),
                      compute_seconds=sum(u.seconds for u in by_hash[h]),
                      wall_seconds=float(sweep_runs.seconds.fillna(0).sum()),
                      last_status=str(sweep_runs.status.iloc[-1]) if len(sweep_runs) else "",
                      code_versions=list(dict.fromkeys(sweep_runs.code_version.dropna())))
        stem = f"{name}_{variant}_{h[:8]}"
        if exp is not None and h in settings_rows.index:
            try:
                stored_settings = exp.Settings(**json.loads(settings_rows.settings_json[h]))
                stem = figure_stem(exp, stored_settings, variant)
                sweep.d_values = _d_of(stored_settings)
            except Exception:  # invalid for this code: reported by the block below
                pass
        if stem in seen_stems:  # e.g. the same settings under an older experiment version
            stem = f"{stem}_{h[:8]}"
        seen_stems.add(stem)
        if exp is None:
            sweep.problem = "not a registered experiment in this version"
        elif h not in settings_rows.index:
            sweep.problem = "settings not recorded in the store"
        if sweep.problem:
            blocks.append(f"<div class='sweep' id='{_esc(sweep.anchor)}'><h3>{_esc(variant)}</h3>"
                          f"<p class='warn'>{_esc(sweep.problem)}; {sweep.stored} units "
                          "stored</p></div>")
        else:
            sweep.title = exp.title
            try:
                blocks.append(_sweep_block(store, sweep, exp, settings_rows.settings_json[h],
                                           sweep_runs, stem, out))
            except Exception as exc:  # e.g. stored settings no longer valid for this code
                sweep.problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
                blocks.append(f"<div class='sweep' id='{_esc(sweep.anchor)}'>"
                              f"<h3>{_esc(variant)}</h3><p class='error'>"
                              f"{_esc(sweep.problem)}</p></div>")
        sweeps.append(sweep)
    blocks.insert(scaling_at, _d_scaling(sweeps))
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
            f"<tr><td><a href='#{_esc(s.anchor)}'>{_esc(s.name)}</a></td><td>{_esc(s.variant)}"
            f"{'<div class=meta>' + _esc(_diff_text(s.differs)) + '</div>' if s.differs else ''}"
            "</td>"
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
                f"<td>{_esc(s.variant)}{_esc(_diff_text(s.differs, ' — '))}</td>"
                f"<td>{_esc(c.claim)}</td>"
                f"<td class='verdict'><span class='{c.verdict}'>{_esc(c.verdict)}</span></td>"
                f"<td>{_number(c.statistic, c.uncertainty)}</td><td>{_number(c.threshold)}</td>"
                f"<td>{_esc(c.source)}</td><td class='statement'>{_esc(c.statement)}"
                f"<div class='meta'>{_esc(c.detail)}</div></td></tr>")
    if not rows:
        return "<p class='meta'>no claims checked: nothing stored declares one</p>"
    counts = {k: sum(c.verdict == k for s in sweeps for c in s.claims)
              for k in ("holds", "fails", "inconclusive")}
    summary = " ".join(f"<span class='{k}'>{n} {k}</span>" for k, n in counts.items())
    return f"<p class='verdicts'>{summary}</p><table class='claims'>{header}{''.join(rows)}</table>"


def _contents(names: list[str], sweeps: list[Sweep]) -> str:
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
            rows.append(f"<li><a href='#{_esc(anchor)}'>{_esc(name)}</a> — {_esc(g.paper_figure)}"
                        f"{' · ' + str(len(mine)) + ' sweeps' if len(mine) > 1 else ''}"
                        f"<span class='verdicts'>{badge}</span></li>")
        items.append(f"<li><b>{_esc(heading)}</b><ol>{''.join(rows)}</ol></li>")
    return ("<nav class='toc' id='contents'><b>Contents</b><ol><li><a href='#claims'>Claims"
            "</a></li><li><a href='#summary'>Summary</a></li>" + "".join(items) + "</ol></nav>")


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
    names = sorted(db.experiments(), key=paper_key)
    for name in names:
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
        "<h2 id='claims'>Claims</h2>"
        "<p class='context'>Each figure is meant to show a claim of its paper. A claim's test "
        "and threshold are fixed in code before any run; <span class='holds'>holds</span> and "
        "<span class='fails'>fails</span> are its verdicts on the stored rows, "
        "<span class='inconclusive'>inconclusive</span> when the data cannot decide.</p>"
        + _claims_table(sweeps) + _contents(names, sweeps)
        + "<h2 id='summary'>Summary</h2>" + _summary(sweeps) + "\n".join(sections)
        + "</body></html>"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

"""Static HTML report over everything in a store: figures, parameters, deviations, timings.

``iclab report`` writes ``<out>/report.html``; figures are PNG files under ``<out>/figures``
referenced by relative path, so the folder can be zipped and shared as is.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from iclab.engine.runner import code_version, load_results
from iclab.engine.store import Store
from iclab.errors import ICLabError, UnknownExperimentError
from iclab.experiments import get_experiment
from iclab.figures import save_figure

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}
h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#f5f5f5} img{max-width:100%;border:1px solid #eee}
.meta{color:#666;font-size:.85em} code{background:#f5f5f5;padding:0 .2em}
nav a{margin-right:1em}
"""


def _table(frame: pd.DataFrame) -> str:
    if frame is None or frame.empty:
        return "<p class='meta'>none</p>"
    return frame.to_html(index=False, border=0, float_format=lambda v: f"{v:.4g}",
                         classes="data", escape=True)


def _section(store: Store, name: str, out: Path) -> tuple[str, dict[str, Any]]:
    runs = store.runs(name)
    last = runs.iloc[-1] if not runs.empty else None
    anchor = html.escape(name.replace(".", "-"))
    head = f"<h2 id='{anchor}'>{html.escape(name)}</h2>"
    info: dict[str, Any] = {"name": name, "anchor": anchor}
    try:
        exp = get_experiment(name)
    except UnknownExperimentError:
        return head + "<p class='meta'>not a registered experiment in this version</p>", info
    settings_rows = store.settings_of(name)
    if last is not None:
        chosen = settings_rows[settings_rows.settings_hash == last.settings_hash]
    else:
        chosen = settings_rows.tail(1)
    if chosen.empty:
        return head + "<p class='meta'>no stored settings</p>", info
    srow = chosen.iloc[-1]
    variant = srow.variant or "custom"
    settings = exp.Settings(**json.loads(srow.settings_json))
    results = load_results(store, exp, settings)
    theory = exp.theory(settings)
    png = out / "figures" / f"{name}_{variant}.png"
    if not png.exists() and not results.empty:
        save_figure(exp.plot(settings, results, theory), out / "figures", png.stem)
    deviations = exp.deviations(settings, results, theory)
    unit_seconds = sum(u.seconds for u in store.units(name, srow.settings_hash))
    parts = [head, f"<p>{html.escape(exp.title)} — <i>{html.escape(exp.paper)}</i></p>"]
    if png.exists():
        parts.append(f"<img src='figures/{html.escape(png.name)}' alt='{html.escape(name)}'>")
    meta = {
        "variant": variant,
        "rows": len(results),
        "compute time (sum over units)": f"{unit_seconds:.1f} s",
        "last run": "" if last is None else
        f"{last.status}, {last.n_computed} of {last.n_units} units computed, "
        f"{(last.seconds or 0):.1f} s, executor {last.executor}, device {last.device}",
        "code version": "" if last is None else last.code_version,
        "settings hash": srow.settings_hash[:12],
    }
    parts.append(_table(pd.DataFrame([meta]).T.reset_index().set_axis(["", "value"], axis=1)))
    parts.append("<h3>Parameters</h3>")
    params = pd.DataFrame(
        [(k, json.dumps(v)) for k, v in settings.model_dump(mode="json").items()],
        columns=["setting", "value"],
    )
    parts.append(_table(params))
    parts.append("<h3>Theory vs experiment (per curve)</h3>")
    parts.append(_table(deviations) if deviations is not None else
                 "<p class='meta'>no theory overlay for this experiment</p>")
    info.update(variant=variant, seconds=unit_seconds)
    return "\n".join(parts), info


def write_report(store: str | Path | Store, out: str | Path = "results") -> Path:
    """Write ``<out>/report.html`` for every experiment stored in ``store``; returns its path."""
    db = store if isinstance(store, Store) else Store(store)
    if not db.exists():
        raise ICLabError(f"no store at {db.path}; run an experiment first")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sections, infos = [], []
    for name in db.experiments():
        body, info = _section(db, name, out)
        sections.append(body)
        infos.append(info)
    nav = " ".join(f"<a href='#{i['anchor']}'>{html.escape(i['name'])}</a>" for i in infos)
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>iclab report</title>"
        f"<style>{CSS}</style></head><body><h1>iclab report</h1>"
        f"<p class='meta'>{html.escape(code_version())} · generated "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')} · store <code>{html.escape(str(db.path))}</code>"
        f" · {len(infos)} experiments</p><nav>{nav}</nav>"
        + "\n".join(sections) + "</body></html>"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

"""One section of the report per stored experiment, one block per stored sweep in it."""

from __future__ import annotations

import json
import re
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from markupsafe import Markup

from iclab.claims import ClaimData, evaluate_claims
from iclab.engine.runner import load_results, plan_units
from iclab.engine.store import Store
from iclab.errors import UnknownExperimentError
from iclab.experiments import get_experiment
from iclab.figures import figure_stem, settings_diff, write_experiment_figure
from iclab.report.deviations import d_of, d_scaling, deviation_block, finite_d_note
from iclab.report.format import diff_text, duration, png_dims, table, when
from iclab.report.record import Sweep
from iclab.report.templating import ENV, sweep_claims_html
from iclab.report_guide import guide


def _figure(exp: Any, settings: Any, results: pd.DataFrame, theory: Any, stem: str, out: Path,
            fresh_after: float) -> Path:
    """The sweep's PNG: reuse ``<stem>.png`` if written after ``fresh_after``, else draw it."""
    png = out / "figures" / f"{stem}.png"
    if not (png.exists() and png.stat().st_mtime >= fresh_after):
        write_experiment_figure(exp, settings, None, results, out, theory=theory, stem=stem)
    return png


def _last_change(store: Store, settings_hash: str, runs: pd.DataFrame) -> float:
    """When the sweep last changed: its newest stored unit or run start/finish (epoch s)."""
    newest_unit = store.last_unit_time(settings_hash)
    stamps = [newest_unit, runs.started.max(), runs.finished.max()]
    return max([float(v) for v in stamps if v is not None and pd.notna(v)] + [0.0])


def _sweep_block(store: Store, sweep: Sweep, exp: Any, settings_json: str, runs: pd.DataFrame,
                 stem: str, out: Path) -> str:
    settings = exp.Settings(**json.loads(settings_json))
    sweep.planned = len(plan_units(exp, settings))
    results = load_results(store, exp, settings)
    sweep.rows = len(results)
    theory = exp.theory(settings)
    diff = settings_diff(exp, settings, sweep.variant)
    sweep.differs = diff
    figure, problem, trace, deviation_html = None, "", "", ""
    sweep.claims = evaluate_claims(exp, ClaimData(settings, results, theory, sweep.variant))
    try:
        deviation_html = deviation_block(exp, settings, results, theory, sweep)
        if not results.empty:
            png = _figure(exp, settings, results, theory, stem, out,
                          fresh_after=_last_change(store, sweep.settings_hash, runs))
            g = guide(sweep.name, exp.title)
            figure = figure_html(png, f"{g.paper_figure}: figure of {sweep.name} "
                                 f"({sweep.variant})", g.paper_figure,
                                 f"({sweep.name}, {sweep.variant}). {g.look_for}")
    except Exception as exc:  # one broken figure must not hide the rest of the report
        sweep.problem = problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
        trace = traceback.format_exc(limit=3)
    last = runs.iloc[-1] if not runs.empty else None
    facts = {
        "units stored / planned": f"{sweep.stored} / {sweep.planned}",
        "rows": sweep.rows,
        "compute time (sum over units)": duration(sweep.compute_seconds),
        "wall time (sum over runs)": f"{duration(sweep.wall_seconds)} in {len(runs)} run(s)",
        "last run": "" if last is None else
        f"{last.status}, started {when(last.started)}, executor {last.executor}, "
        f"device {last.device}",
        "code version": ", ".join(sweep.code_versions),
    }
    facts_frame = pd.DataFrame({"": list(facts), "value": [str(v) for v in facts.values()]})
    params = pd.DataFrame([(k, json.dumps(v)) for k, v in json.loads(settings_json).items()],
                          columns=["setting", "value"])
    run_log = runs[["started", "status", "n_computed", "n_units", "seconds", "executor",
                    "device", "code_version"]].assign(started=runs.started.map(when))
    g = guide(sweep.name, exp.title)
    context = g.deviation_context
    d_note = finite_d_note(settings) if g.finite_d else ""
    return ENV.get_template("sweep.html.j2").render(
        anchor=sweep.anchor, heading=sweep.variant + diff_text(diff, " — "),
        settings_hash=sweep.settings_hash, note="",
        variant_note=exp.variant_line(sweep.variant),
        diff=[(k, json.dumps(v)) for k, v in diff.items()], figure=figure, problem=problem,
        trace=trace, claims=Markup(sweep_claims_html(sweep)),
        deviations=Markup(deviation_html),
        context=f"{context}{d_note}" if (context or d_note) and sweep.worst_rel_dev is not None
        else "", facts=Markup(table(facts_frame)), params=Markup(table(params)),
        runs=Markup(table(run_log, digits=3)))


def figure_html(png: Path, alt: str, caption_title: str, caption: str) -> Markup:
    """A figure linked to its full-size file, at its natural size at most."""
    return Markup(ENV.get_template("figure.html.j2").render(
        src=f"figures/{quote(png.name)}", size=png_dims(png), alt=alt,
        caption_title=caption_title, caption=caption))


def _stored_only_block(store: Store, sweep: Sweep, settings_json: str, runs: pd.DataFrame,
                       stem: str, out: Path) -> str:
    """A sweep of an experiment whose code is not loaded: a plain figure of its stored rows,
    its parameters and runs (no theory, no claims: they live in the code)."""
    from iclab.figures import save_figure
    from iclab.stored_only import generic_figure, stored_sweep_frame

    frame, keys = stored_sweep_frame(store, sweep.name, sweep.settings_hash)
    sweep.rows = len(frame)
    figure = None
    if not frame.empty:
        fig = generic_figure(frame, keys, f"{sweep.name} [{sweep.variant}]")
        png = save_figure(fig, out / "figures", stem)[0]
        figure = figure_html(png, f"stored rows of {sweep.name}", "",
                             "Stored rows: each result against the first grid parameter.")
    params = pd.DataFrame([(k, json.dumps(v)) for k, v in json.loads(settings_json).items()],
                          columns=["setting", "value"])
    run_log = runs[["started", "status", "n_computed", "n_units", "seconds", "executor",
                    "device", "code_version"]].assign(started=runs.started.map(when))
    return ENV.get_template("sweep.html.j2").render(
        anchor=sweep.anchor, heading=sweep.variant, settings_hash=sweep.settings_hash,
        note="The experiment's code is not loaded (register it by entry point or "
        "ICLAB_EXPERIMENT_MODULES to see its own figure, theory and claims): a plain figure "
        "of the stored rows.", variant_note="", diff=None, figure=figure, problem="", trace="",
        claims="", deviations=None, context="", facts=None, params=Markup(table(params)),
        runs=Markup(table(run_log, digits=3)))


def experiment_section(store: Store, name: str, out: Path) -> tuple[str, list[Sweep]]:
    base = re.sub(r"[^A-Za-z0-9_-]", "-", name)
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
    section = ENV.get_template("section.html.j2").module
    g = guide(name, exp.title if exp is not None else "")
    blocks = [str(section.head(base, name, g.paper_figure, exp.title if exp else "",
                               exp.paper if exp else "", g.look_for))]
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
                sweep.d_values = d_of(stored_settings)
            except Exception:  # invalid for this code: reported by the block below
                pass
        if stem in seen_stems:  # e.g. the same settings under an older experiment version
            stem = f"{stem}_{h[:8]}"
        seen_stems.add(stem)
        if h not in settings_rows.index:
            sweep.problem = "settings not recorded in the store"
        if exp is None and not sweep.problem:
            blocks.append(_stored_only_block(store, sweep, settings_rows.settings_json[h],
                                             sweep_runs, stem, out))
            sweep.problem = ("not a registered experiment in this version (its code is not "
                             "loaded): a plain figure of the stored rows")
        elif sweep.problem:
            blocks.append(str(section.note(sweep.anchor, variant, "warn",
                                           f"{sweep.problem}; {sweep.stored} units stored")))
        else:
            sweep.title = exp.title
            try:
                blocks.append(_sweep_block(store, sweep, exp, settings_rows.settings_json[h],
                                           sweep_runs, stem, out))
            except Exception as exc:  # e.g. stored settings no longer valid for this code
                sweep.problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
                blocks.append(str(section.note(sweep.anchor, variant, "error",
                                               sweep.problem)))
        sweeps.append(sweep)
    blocks.insert(scaling_at, d_scaling(sweeps))
    return "\n".join(blocks), sweeps

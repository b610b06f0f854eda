"""Theory-vs-experiment deviations in the report: the per-curve table, its finite-d context
and how the worst deviation shrinks with d across stored sweeps.

Every :meth:`Experiment.deviations <iclab.contract.Experiment.deviations>` must return a frame
with exactly the columns :data:`iclab.contract.DEVIATION_COLUMNS` (as
:func:`iclab.evaluate.deviation.deviation_frame` builds it); :func:`check_deviation_columns`
enforces it with an error naming the experiment.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from iclab.contract import DEVIATION_COLUMNS
from iclab.errors import ICLabError
from iclab.report.format import diff_text, esc, table
from iclab.report.record import Sweep


class DeviationColumnsError(ICLabError):
    """An experiment's ``deviations`` did not return the columns the report expects."""


def check_deviation_columns(name: str, deviations: Any) -> pd.DataFrame:
    """``deviations`` if it is a DataFrame with exactly :data:`DEVIATION_COLUMNS`, in order.

    Raises :class:`DeviationColumnsError` naming the experiment ``name`` otherwise.
    """
    expected = list(DEVIATION_COLUMNS)
    if not isinstance(deviations, pd.DataFrame):
        raise DeviationColumnsError(
            f"{name}: Experiment.deviations must return a pandas DataFrame with the columns "
            f"{expected} (or None); got {type(deviations).__name__}")
    got = [str(c) for c in deviations.columns]
    if got != expected:
        raise DeviationColumnsError(
            f"{name}: Experiment.deviations must return exactly the columns {expected} "
            f"(build it with iclab.evaluate.deviation.deviation_frame); got {got}")
    return deviations


def deviation_block(exp: Any, settings: Any, results: pd.DataFrame, theory: Any,
                     sweep: Sweep) -> str:
    deviations = exp.deviations(settings, results, theory)
    if deviations is None:
        return "<p class='meta'>no theory-vs-experiment comparison for this experiment</p>"
    deviations = check_deviation_columns(exp.name, deviations)
    if deviations["max_rel_dev"].notna().any():
        sweep.worst_rel_dev = float(deviations["max_rel_dev"].abs().max())
    return table(deviations, digits=3)


def d_of(settings: Any) -> list[int]:
    """The dimension(s) d of a sweep: its ``d`` setting, or its ``ds`` list."""
    values = settings.model_dump()
    d = values.get("d")
    if isinstance(d, int) and not isinstance(d, bool) and d > 0:
        return [d]
    ds = values.get("ds")
    if isinstance(ds, list | tuple) and ds and all(isinstance(v, int) for v in ds):
        return sorted(int(v) for v in ds)
    return []


def finite_d_note(settings: Any) -> str:
    """" At d = 24 the finite-d scale 1/√d is 0.20." (empty when the sweep has no d)."""
    ds = d_of(settings)
    if not ds:
        return ""
    scale = ", ".join(f"{1 / math.sqrt(d):.2g} at d = {d}" for d in ds)
    return f" Finite-d scale 1/√d: {scale}."


def d_scaling(sweeps: list[Sweep]) -> str:
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
        f"<tr><td>{d}</td><td><a href='#{esc(by_d[d].anchor)}'>{esc(by_d[d].variant)}"
        f"{esc(diff_text(by_d[d].differs, ' — '))}</a></td><td>{dev:.3g}</td>"
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
    return ("<h3 id='" + esc(sweeps[0].anchor.rsplit('-', 1)[0]) + "-d-scaling'>Deviation "
            "against d</h3><table class='dscaling'><tr><th>d</th><th>sweep</th>"
            "<th>worst |rel. dev.|</th><th>1/√d</th></tr>" + rows + "</table>" + fit)

"""The report's Jinja environment (templates in ``templates/``, autoescaping on) and what its
templates show of a claim."""

from __future__ import annotations

import math
from typing import Any

import jinja2

from iclab.claim_scope import deciding_point
from iclab.report.format import diff_text, number
from iclab.report.record import Sweep
from iclab.report.symbols import paper_symbols

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("iclab.report", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)

#: ClaimResult fields shown under a claim's statement when present (added as results grow)
EXTRA_FIELDS = (("control", "control"), ("replication", "replication"),
                ("revision", "ledger revision"), ("revised_after_run", "revised after run"))


def _num(value: Any) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4g}"


def claim_rows(sweep: Sweep) -> list[dict[str, Any]]:
    """What the templates show of each claim of ``sweep`` (fields read with defaults, so
    claim results that carry more fields render too)."""
    rows = []
    for c in sweep.claims:
        extra = [(label, str(getattr(c, name))) for name, label in EXTRA_FIELDS
                 if getattr(c, name, None) not in (None, "", False)]
        rows.append({
            "anchor": sweep.anchor, "experiment": sweep.name,
            "variant": sweep.variant + diff_text(sweep.differs, " — "),
            "claim": c.claim, "statement": paper_symbols(c.statement),
            "source": c.source, "detail": paper_symbols(c.detail), "verdict": c.verdict,
            "statistic": number(c.statistic, c.uncertainty), "threshold": _num(c.threshold),
            "point": deciding_point(c.detail), "differ": getattr(c, "settings_differ", ""),
            "note": getattr(c, "note", ""), "extra": extra})
    return rows


def sweep_claims_html(sweep: Sweep) -> str:
    """The claims block of one sweep's section (its own compact claims table)."""
    return ENV.get_template("sweep_claims.html.j2").render(claims=claim_rows(sweep))

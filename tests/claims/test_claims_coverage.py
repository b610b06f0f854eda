"""docs/claims.md, "Coverage of the papers": the statements of the three papers against the
registered claims. Every registered claim is listed, every listed claim is registered or
retired (and marked so), and a statement without a claim says why."""

from __future__ import annotations

import re
from pathlib import Path

from claims_support import package_experiments

from iclab.claims_ledger import load_ledger

DOCS = Path(__file__).resolve().parents[2] / "docs" / "claims.md"
CLAIM_ID = re.compile(r"`([a-z0-9_]+\.[a-z0-9_]+:[a-z0-9_]+)`( \(retired\))?")


def coverage_rows() -> list[tuple[str, str, str]]:
    """``(statement, claims cell, status)`` of every row of the coverage tables."""
    text = DOCS.read_text()
    start = text.index("## Coverage of the papers")
    section = text[start:text.index("\n## ", start + 1)]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or cells[0] in ("statement", "---") or len(cells) != 3:
            continue
        rows.append((cells[0], cells[1], cells[2]))
    return rows


def test_coverage_tables_name_every_registered_claim() -> None:
    rows = coverage_rows()
    assert len(rows) >= 30, "the coverage tables were not found or lost rows"
    listed = {m.group(1) for _, cell, _ in rows for m in CLAIM_ID.finditer(cell)}
    registered = {f"{name}:{c.id}" for name, cls in package_experiments().items()
                  for c in cls.claims}
    assert registered - listed == set(), "registered claims missing from the coverage tables"
    retired = {k for k, rec in load_ledger()["claims"].items() if rec.get("retired")}
    assert listed - registered - retired == set(), "claims named that are neither registered " \
        "nor retired"


def test_retired_claims_are_marked_and_uncovered_statements_give_a_reason() -> None:
    retired = {k for k, rec in load_ledger()["claims"].items() if rec.get("retired")}
    for statement, cell, status in coverage_rows():
        ids = [(m.group(1), bool(m.group(2))) for m in CLAIM_ID.finditer(cell)]
        for key, marked in ids:
            assert marked == (key in retired), f"{key}: '(retired)' mark out of step"
        live = [key for key, marked in ids if not marked]
        if live:
            assert status.startswith("claimed"), statement
        else:
            assert status and not status.startswith("claimed") and len(status) > 20, statement

"""The claims ledger: no claim changes without an entry that says what, when and why."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest
from claims_support import package_experiments

from iclab.claims import ClaimData, evaluate_claims
from iclab.claims_ledger import (
    changed_claims,
    claim_fingerprint,
    claim_key,
    code_digest,
    entries_of,
    load_ledger,
)
from iclab.experiments import get_experiment

EXPERIMENTS = [get_experiment(n) for n in sorted(package_experiments())]
ENTRY_FIELDS = {"date", "commit", "claims", "change", "verdicts_before", "why",
                "revised_after_run"}


def test_every_claim_matches_its_ledger_fingerprint() -> None:
    """A claim whose statement, check, thresholds or settings changed needs a ledger entry:
    ``python -m iclab.experiments.ledger_tool status`` lists them, ``... record`` adds the entry."""
    changed = changed_claims(EXPERIMENTS)
    assert not changed, (
        "claims changed without a ledger entry (add one with `python -m "
        f"iclab.experiments.ledger_tool record ...`): {changed}")


def test_ledger_entries_are_complete_and_name_registered_claims() -> None:
    ledger = load_ledger()
    known = {claim_key(e.name, c.id) for e in EXPERIMENTS for c in e.claims}
    experiments = {e.name for e in EXPERIMENTS}
    retired = {k for k, r in ledger["claims"].items() if r.get("retired")}
    assert set(ledger["claims"]) - retired == known
    for entry in ledger["entries"]:
        assert set(entry) >= ENTRY_FIELDS, entry
        assert entry["change"].strip() and entry["why"].strip()
        for key in entry["claims"]:
            exp, _, cid = key.partition(":")
            assert (cid == "*" and exp in experiments) or key in known | retired, (
                f"ledger entry names an unknown claim {key!r}")
    for key, record in ledger["claims"].items():
        # revision 1 is the entry that introduced the claim; each later entry adds one
        n_entries = len(entries_of(key, ledger))
        assert n_entries >= 1, f"{key}: no entry introduces it"
        assert record["revision"] == n_entries, (key, record["revision"], n_entries)
    dates = [e["date"] for e in ledger["entries"]]
    assert dates == sorted(dates), "ledger entries must be in date order"


def test_a_claim_no_longer_stated_needs_an_entry() -> None:
    """Dropping a claim is a change too: until the ledger records its retirement, the ledger
    test lists it; once retired, it is not listed again."""
    fig1 = get_experiment("lu2024.fig1")
    ledger = load_ledger()
    ledger = {**ledger, "claims": dict(ledger["claims"])}
    ledger["claims"]["lu2024.fig1:dropped"] = {"revision": 1, "fingerprint": "sha256:0"}
    assert "lu2024.fig1:dropped" in changed_claims([fig1], ledger)
    ledger["claims"]["lu2024.fig1:dropped"] = {"revision": 2, "fingerprint": None,
                                               "retired": True}
    assert changed_claims([fig1], ledger) == {}


def test_editing_a_threshold_changes_the_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger test can fail: moving the finite-d constant C of the Lu claims (a module
    constant the checks read) changes the fingerprints of the claims that use it, and only
    those."""
    from iclab.experiments.lu2024 import claims as lc

    fig1 = get_experiment("lu2024.fig1")
    before = {c.id: claim_fingerprint(fig1, c) for c in fig1.claims}
    monkeypatch.setattr(lc, "FINITE_D_C", lc.FINITE_D_C * 1.2)
    after = {c.id: claim_fingerprint(fig1, c) for c in fig1.claims}
    assert before["finite_d_agreement"] != after["finite_d_agreement"]
    assert before["ridge_removes_peak"] == after["ridge_removes_peak"]
    assert "lu2024.fig1:finite_d_agreement" in changed_claims([fig1])
    assert "lu2024.fig1:ridge_removes_peak" not in changed_claims([fig1])


def test_editing_a_variant_setting_changes_the_fingerprint(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fig1 = get_experiment("lu2024.fig1")
    claim = fig1.claims[0]
    before = claim_fingerprint(fig1, claim)
    quick = dict(type(fig1).variants["quick"])
    quick["trials"] = int(fig1.make_settings("quick").trials) + 1
    monkeypatch.setitem(type(fig1).variants, "quick", quick)
    assert claim_fingerprint(fig1, claim) != before


def _module(tmp_path: Path, name: str, body: str):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def test_digest_ignores_comments_docstrings_and_layout_but_not_logic(tmp_path: Path) -> None:
    base = _module(tmp_path, "iclab_ledger_probe_a", '''
        LIMIT = 0.5
        def check(x):
            """Docstring."""
            return x > LIMIT  # a comment
    ''')
    same = _module(tmp_path, "iclab_ledger_probe_b", '''
        LIMIT = 0.5
        def check(x):
            """Another docstring, longer."""
            # reworded comment
            return   x > LIMIT
    ''')
    other_limit = _module(tmp_path, "iclab_ledger_probe_c", '''
        LIMIT = 0.6
        def check(x):
            return x > LIMIT
    ''')
    other_rule = _module(tmp_path, "iclab_ledger_probe_d", '''
        LIMIT = 0.5
        def check(x):
            return x >= LIMIT
    ''')

    def body(mod) -> str:  # the module name is part of the digest's first line
        return code_digest(mod.check).split("\n", 1)[1]

    assert body(base) == body(same)
    assert body(base) != body(other_rule)
    # a constant the check reads from its (iclab) module is part of the digest
    assert body(base) != body(other_limit)


def test_check_rows_carry_the_revision() -> None:
    fig1 = get_experiment("lu2024.fig1")
    ledger = load_ledger()
    data = ClaimData(fig1.make_settings("quick"), __import__("pandas").DataFrame(), None,
                     "quick")
    rows = evaluate_claims(fig1, data)
    assert rows
    for row in rows:
        record = ledger["claims"][claim_key(fig1.name, row.claim)]
        assert row.revision == record["revision"] >= 1
        assert set(row.to_dict()) >= {"revision", "revised_after_run"}

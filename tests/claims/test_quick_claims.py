"""``make test`` asserts the quick-variant claims of every experiment that fits the budget.

The experiments in ``QUICK_TOO_LONG`` are checked by the command listed in docs/claims.md;
those in ``QUICK_CLAIMS_OPEN`` have quick claims that do not hold yet (reported there).
"""

from __future__ import annotations

import pytest
from claims_support import QUICK_CLAIMS_OPEN, QUICK_TOO_LONG, package_experiments

from iclab.claims import evaluate_claims

NAMES = sorted(n for n in package_experiments()
               if n not in QUICK_TOO_LONG | QUICK_CLAIMS_OPEN)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_claims_hold(name: str, claim_runs) -> None:
    run, data = claim_runs.get(name, smoke=False)
    verdicts = evaluate_claims(run.experiment, data)
    assert verdicts, f"{name} has no quick claim"
    bad = [f"{v.claim}: {v.verdict} ({v.statistic:.4g} vs {v.threshold:.4g}; {v.detail})"
           for v in verdicts if v.verdict != "holds"]
    assert not bad, f"{name}: " + " | ".join(bad)

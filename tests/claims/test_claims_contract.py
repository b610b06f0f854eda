"""The claims contract: every experiment declares claims, and every check can fail.

In the scikit-learn ``check_estimator`` spirit: one parametrised test over all registered
experiments. For each claim the check must (a) run on real results without raising, and
(b) *not* say "holds" when fed its declared counterexample (a deliberately wrong result).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from claims_support import package_experiments, quick_claims, runs_smoke
from scipy import stats

from iclab.claims import (
    VERDICTS,
    Evidence,
    all_of,
    compare_interval,
    decide,
    fraction_at_least,
    fraction_of_gain_lost,
    mean_interval,
    slope,
    spearman,
)

NAMES = sorted(package_experiments())


# ---- the statistics helpers ---------------------------------------------------------------
def test_mean_interval_matches_scipy() -> None:
    x = np.array([1.0, 2.0, 4.0, 3.5, 2.5])
    mean, half, n = mean_interval(x)
    lo, hi = stats.t.interval(0.95, n - 1, loc=x.mean(), scale=stats.sem(x))
    assert n == 5 and mean == pytest.approx(x.mean())
    assert half == pytest.approx((hi - lo) / 2, rel=1e-12)


def test_decide_three_ways() -> None:
    assert decide(1.0, 0.1, 0.5, ">").verdict == "holds"
    assert decide(1.0, 0.6, 0.5, ">").verdict == "inconclusive"
    assert decide(0.2, 0.1, 0.5, ">").verdict == "fails"
    assert decide(0.2, 0.1, 0.5, "<").verdict == "holds"
    assert decide(0.8, 0.1, 0.5, "<").verdict == "fails"
    assert decide(math.nan, 0.1, 0.5, "<").verdict == "inconclusive"
    assert decide(1.0, math.nan, 0.5, ">").verdict == "inconclusive"


def test_interval_coverage_by_simulation() -> None:
    """The 95 % t-interval of a normal sample covers the true mean ~95 % of the time."""
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(2000):
        mean, half, _ = mean_interval(rng.normal(1.0, 2.0, size=5))
        covered += abs(mean - 1.0) <= half
    assert abs(covered / 2000 - 0.95) < 0.02


def test_fraction_decides_on_the_wilson_interval() -> None:
    """Counts are samples of a rate: the verdict follows the 95 % Wilson interval (checked
    against SciPy's), not the observed fraction."""
    for k, n in ((15, 15), (14, 15), (9, 10), (3, 20), (45, 45)):
        ci = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
        ev = fraction_at_least(k, n, 0.75, "x")
        assert ev.uncertainty == pytest.approx((ci.high - ci.low) / 2, rel=1e-9)
        expected = ("holds" if ci.low >= 0.75 else "fails" if ci.high < 0.75
                    else "inconclusive")
        assert ev.verdict == expected
    assert fraction_at_least(15, 15, 0.75, "x").verdict == "holds"
    assert fraction_at_least(9, 10, 0.9, "x").verdict == "inconclusive"  # 0.9 observed
    assert fraction_at_least(2, 15, 0.75, "x").verdict == "fails"


def test_t_interval_p_value_and_mde_match_scipy() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0.3, 1.0, size=12)
    ev = compare_interval(x, 0.0, ">")
    # p_fail: one-sided p of "mean > 0" being wrong = P(T >= t) for H1: mean < 0 ... i.e. the
    # p-value of the one-sided test of H0: mean >= 0 against mean < 0
    p = stats.ttest_1samp(x, 0.0, alternative="less").pvalue
    assert ev.p_fail == pytest.approx(p, rel=1e-8)
    se = stats.sem(x)
    assert ev.mde == pytest.approx(se * (stats.t.ppf(0.975, 11) + stats.t.ppf(0.8, 11)),
                                   rel=1e-8)


def test_holm_controls_false_fails_over_a_family() -> None:
    """With 60 comparisons whose true mean sits on the threshold's claimed side at the
    boundary, the chance that a family says "fails" stays at or below 2.5 % with Holm's rule;
    without it, almost every family would fail."""
    rng = np.random.default_rng(11)
    fam_fails = naive_fails = 0
    for _ in range(300):
        ev = [compare_interval(rng.normal(0.0, 1.0, size=8), 0.0, "<") for _ in range(60)]
        fam_fails += all_of(ev, "f").verdict == "fails"
        naive_fails += any(e.verdict == "fails" for e in ev)
    assert fam_fails / 300 <= 0.045
    assert naive_fails / 300 > 0.5


def test_fraction_and_combination() -> None:
    ok = compare_interval([1.0, 1.1, 0.9], 0.0, ">")
    assert ok.verdict == "holds"
    assert all_of([ok, Evidence("fails", 0, 0, 1)], "p").verdict == "fails"
    assert all_of([ok, Evidence("inconclusive", 0, 1, 0)], "p").verdict == "inconclusive"
    assert all_of([ok, ok], "p").verdict == "holds"
    assert all_of([], "p").verdict == "inconclusive"


def test_fraction_of_gain_lost_by_hand() -> None:
    import pandas as pd

    clean = pd.Series([0.9, 0.5, 0.52, 0.4, 0.7])
    noisy = pd.Series([0.7, 0.5, 0.50, 0.4, 0.7])
    lost = fraction_of_gain_lost(clean, noisy, 0.5)  # (0.9 - 0.7) / 0.4; at or below chance: NaN
    assert lost.iloc[0] == pytest.approx(0.5) and lost.iloc[2] == pytest.approx(1.0)
    assert lost.iloc[[1, 3]].isna().all() and lost.iloc[4] == pytest.approx(0.0)
    floored = fraction_of_gain_lost(clean, noisy, 0.5, min_gain=0.05)  # 0.02 above chance
    assert math.isnan(floored.iloc[2]) and floored.iloc[0] == pytest.approx(0.5)
    frame = fraction_of_gain_lost(clean.to_frame(), noisy.to_frame(), 0.25)
    assert frame.iloc[0, 0] == pytest.approx(0.2 / 0.65)


def test_rank_and_slope() -> None:
    assert spearman([1, 2, 3, 4], [8, 6, 4, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert slope([0, 1, 2], [1, 3, 5]) == pytest.approx(2.0)


# ---- every experiment ----------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_experiment_declares_claims(name: str) -> None:
    cls = package_experiments()[name]
    if not cls.claims:  # allowed only with the reason, e.g. a theory-only figure
        assert len(cls.no_claims.strip()) > 20, f"{name} declares no claim and no reason"
        return
    assert not cls.no_claims, f"{name} declares claims and a reason for having none"
    ids = [c.id for c in cls.claims]
    assert len(set(ids)) == len(ids), f"{name}: claim ids repeat"
    for claim in cls.claims:
        assert claim.statement.strip() and claim.source.strip(), claim.id
        assert set(claim.variants) <= set(cls.variants), (claim.id, claim.variants)
        assert callable(claim.check) and callable(claim.counterexample)
    quick = any("quick" in c.variants for c in cls.claims)
    assert quick != bool(cls.unclaimed_variants.get("quick", "").strip()), (
        f"{name}: a quick claim, or the reason for none in unclaimed_variants (not both)")
    for variant, why in cls.unclaimed_variants.items():
        assert variant in cls.variants and why.strip(), (name, variant)
        assert not any(variant in c.variants for c in cls.claims), (name, variant)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_check_can_fail(name: str, claim_runs) -> None:
    """On real results the check runs; on its counterexample it does not say "holds"."""
    if not package_experiments()[name].claims:
        pytest.skip(f"{name} states no claims")
    cls = package_experiments()[name]
    _, data = claim_runs.get(name, smoke=runs_smoke(name))
    # the quick claims; an experiment without any: its claims of larger variants (smoke data)
    for claim in quick_claims(cls) or cls.claims:
        found = claim.check(data)
        assert found.verdict in VERDICTS
        wrong = claim.check(claim.counterexample(data))
        assert wrong.verdict != "holds", (
            f"{name}:{claim.id} still holds on its counterexample ({wrong.detail})")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_deviation_table_has_the_contract_columns(name: str, claim_runs) -> None:
    """Every experiment's deviation table (shown in the report) has exactly the columns of
    :data:`iclab.contract.DEVIATION_COLUMNS`, or is ``None``."""
    from iclab.contract import DEVIATION_COLUMNS

    run, _ = claim_runs.get(name, smoke=runs_smoke(name))
    table = package_experiments()[name]().deviations(run.settings, run.results, run.theory)
    assert table is None or list(table.columns) == list(DEVIATION_COLUMNS), (
        name, None if table is None else list(table.columns))

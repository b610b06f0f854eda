"""The margins of ``iclab check --replicate``: a claim's distance beyond its threshold in
half-widths, and the hold rate estimated from their spread over seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtr

from iclab.claim_stats import decide
from iclab.claims import ClaimResult
from iclab.engine.replication import Replication, claimed_margin


def _result(estimate: float, half: float, threshold: float, direction: str,
            df: int | None = 9) -> ClaimResult:
    ev = decide(estimate, half, threshold, direction, "x", df=df)  # type: ignore[arg-type]
    return ClaimResult("toy.e", "c", "s", "ours", "quick", ev.verdict, ev.statistic,
                       ev.uncertainty, ev.threshold, ev.detail, p_fail=ev.p_fail)


@pytest.mark.parametrize("df", [9, None])
def test_margin_agrees_with_the_verdict_of_decide(df: int | None) -> None:
    """Over random comparisons in both directions: margin > 1 exactly when the check holds,
    ≤ −1 when it fails, in between when inconclusive (NaN there without a p-value)."""
    rng = np.random.default_rng(5)
    for _ in range(2000):
        est, thr = rng.normal(size=2)
        half = rng.uniform(0.05, 2.0)
        direction = ">" if rng.random() < 0.5 else "<"
        r = _result(est, half, thr, direction, df)
        m = claimed_margin(r)
        if r.verdict == "holds":
            assert m > 1
        elif r.verdict == "fails":
            assert m <= -1
        elif df is None:
            assert math.isnan(m)
        else:
            assert -1 <= m <= 1
            assert (m > 0) == ((est > thr) == (direction == ">"))


def test_exact_statistics_have_infinite_margins() -> None:
    assert claimed_margin(_result(2.0, 0.0, 1.0, ">")) == math.inf
    assert claimed_margin(_result(0.0, 0.0, 1.0, ">")) == -math.inf


@pytest.mark.parametrize("kind", ["normal", "lognormal"])
def test_estimated_hold_rate_matches_monte_carlo(kind: str) -> None:
    """The rate estimated from 200 pilot margins against the fraction of 4000 fresh draws
    beyond 1 (the chance of "holds" on a fresh seed): within 0.05 (the robust fit of the
    pilot has an s.e. of about 0.02 in the rate here, the fresh fraction about 0.006).
    Normal margins reach below 0 (the normal model); log-normal ones do not (the log model)."""
    rng = np.random.default_rng(11)
    for centre, sd in [(2.0, 1.0), (1.5, 1.0), (4.0, 1.6)]:
        def draw(n: int, centre: float = centre, sd: float = sd) -> np.ndarray:
            if kind == "normal":
                return rng.normal(centre, sd, n)
            return np.exp(rng.normal(np.log(centre), sd / centre, n))

        pilot = Replication("toy.e", "c", margins=list(draw(200)))
        if kind == "normal":
            assert (np.asarray(pilot.margins) <= 0).any()
            exact = float(ndtr((centre - 1) / sd))
        else:
            exact = float(ndtr(np.log(centre) / (sd / centre)))
        fresh = draw(4000)
        assert abs(pilot.estimated_hold_rate - float(np.mean(fresh > 1))) < 0.05
        assert abs(pilot.estimated_hold_rate - exact) < 0.05


def test_estimated_hold_rate_needs_five_margins() -> None:
    assert math.isnan(Replication("t", "c", margins=[2.0, 3.0, math.nan, 4.0, 5.0])
                      .estimated_hold_rate)
    five = Replication("t", "c", margins=[2.0, 3.0, 2.5, 4.0, 5.0])
    assert 0.9 < five.estimated_hold_rate < 1
    assert Replication("t", "c", margins=[math.inf] * 5).estimated_hold_rate == 1.0

    # a long right tail does not lower the estimate
    tail = Replication("t", "c", margins=[2.0, 3.0, 2.5, 4.0, 500.0])
    assert tail.estimated_hold_rate >= five.estimated_hold_rate
    assert five.to_dict()["median_margin"] == 3.0


def test_seeds_that_held_without_a_margin_count_as_held() -> None:
    """A quantile-interval check can hold with an infinite margin on some seeds and no finite
    margin (NaN) on others: the observed fraction comes from the verdicts."""
    margins = [math.inf] * 5 + [math.nan] * 5
    held = Replication("t", "c", verdicts=["holds"] * 10, margins=margins)
    assert held.estimated_hold_rate == 1.0
    one_short = Replication("t", "c", verdicts=["holds"] * 9 + ["inconclusive"],
                            margins=margins)
    assert one_short.estimated_hold_rate == 0.9

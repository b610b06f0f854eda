"""The trend checks of the Shi figures on synthetic results whose verdict is known: each must
say ``holds`` on a clear effect, ``fails`` on a null (the effect absent, as on the figures'
negative controls) and ``inconclusive`` when the interval straddles the stated minimum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iclab.claims import ClaimData
from iclab.experiments import get_experiment
from iclab.experiments.shi2024 import claims as sc

#: per-seed offsets (mean 0): scaled to give a tight or a wide interval over seeds
OFFSETS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])


def _data(name: str, results: pd.DataFrame) -> ClaimData:
    return ClaimData(get_experiment(name).make_settings("quick"), results, None, "quick")


# ---- rank-r LSA: dR/dσ² rises with r ---------------------------------------------------------
def _rank_results(slopes: dict[int, float], spread: float) -> pd.DataFrame:
    """Risk ``1 + slope_r (1 + spread·offset_seed) σ²`` per rank and seed."""
    rows = [{"r": r, "trial": t, "sigma2": s2, "risk": 1.0 + s * (1.0 + spread * off) * s2}
            for r, s in slopes.items() for t, off in enumerate(OFFSETS[[0, 2, 4]])
            for s2 in (0.0, 0.5, 1.0, 2.0)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("slopes", "spread", "verdict"), [
    ({1: 0.0764, 2: 0.1417, 4: 0.2219}, 0.01, "holds"),        # the quick optimum: +85 %, +57 %
    ({1: 0.0826, 2: 0.0826, 4: 0.0826}, 0.0, "fails"),          # the null: equal slopes
    ({1: 0.0826, 2: 0.0826, 4: 0.0827}, 0.003, "fails"),        # a null measured with noise
    ({1: 0.100, 2: 0.1052, 4: 0.1106}, 0.10, "inconclusive"),   # +5 %, seeds spread by ±10 %
])
def test_slope_rises_with_rank_needs_a_minimum_rise(slopes, spread, verdict) -> None:
    results = _rank_results(slopes, spread)
    if spread:   # the spread of the larger rank only, so the per-seed ratios differ
        results.loc[results.r == min(slopes), "risk"] = \
            1.0 + slopes[min(slopes)] * results.loc[results.r == min(slopes), "sigma2"]
    ev = sc.slope_rises_with_rank(_data("shi2024.fig_rank_noise", results))
    assert ev.verdict == verdict, ev.detail
    assert ev.threshold == sc.SLOPE_RISE_MIN


# ---- sparse parity: coverage grows with m ----------------------------------------------------
def _coverage_results(acc: dict[int, tuple[float, float]], spread: float) -> pd.DataFrame:
    """15 pairs (3 important); accuracy per m ``(important, other)`` plus ``spread·offset``."""
    rows = [{"m": m, "trial": t, "pair": k, "important": k < 3,
             "acc": (imp if k < 3 else other) + spread * off}
            for m, (imp, other) in acc.items() for t, off in enumerate(OFFSETS)
            for k in range(15)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("acc", "spread", "verdict"), [
    ({2: (0.72, 0.51), 6: (0.95, 0.61), 30: (1.0, 0.91)}, 0.01, "holds"),
    ({2: (0.72, 0.50), 6: (0.95, 0.50), 30: (0.95, 0.50)}, 0.0, "fails"),    # m = 6 = m = 30
    ({2: (0.72, 0.50), 6: (0.95, 0.50), 30: (0.96, 0.50)}, 0.002, "fails"),
    # 1 more pair on average (6 -> 30), the seeds spread by ±1.5 pairs
    ({2: (0.72, 0.50), 6: (0.95, 0.50), 30: (0.95, 0.5 + 1.0 / 24)}, 0.1, "inconclusive"),
])
def test_coverage_grows_needs_one_more_pair(acc, spread, verdict) -> None:
    results = _coverage_results(acc, 0.0)
    if spread:   # seed-dependent accuracy at the largest m only
        big = results.m == max(acc)
        results.loc[big, "acc"] += spread * OFFSETS[results.loc[big, "trial"]]
    ev = sc.coverage_grows(_data("shi2024.fig_parity_coverage", results))
    assert ev.verdict == verdict, ev.detail
    assert ev.threshold == sc.PAIRS_ADDED_MIN


def test_pairs_served_weights_pairs_equally() -> None:
    results = _coverage_results({2: (1.0, 0.5), 6: (1.0, 1.0)}, 0.0)
    served = sc.pairs_served(results)
    assert served[2].tolist() == [3.0] * 5 and served[6].tolist() == [15.0] * 5


# ---- sparse parity: the fraction of clean accuracy lost grows with m --------------------------
def _noise_results(clean: dict[int, float], lost: dict[int, float], spread: float
                   ) -> pd.DataFrame:
    """Important-task accuracy ``clean`` at p = 0 and ``clean − lost·(clean − ½)`` at p = 0.4
    (linear in between), ``lost`` shifted by ``spread·offset`` per seed at the largest m."""
    rows = []
    for m, a0 in clean.items():
        for t, off in enumerate(OFFSETS):
            frac = lost[m] + (spread * off if m == max(clean) else 0.0)
            rows += [{"m": m, "trial": t, "p": p, "acc_imp": a0 - frac * (a0 - 0.5) * p / 0.4}
                     for p in (0.0, 0.2, 0.4)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("clean", "lost", "spread", "verdict"), [
    ({2: 0.75, 6: 0.91, 30: 1.0}, {2: 0.2, 6: 0.4, 30: 0.6}, 0.01, "holds"),
    # the plain drop rises with m (0.05, 0.16, 0.20), its fraction of the margin does not
    ({2: 0.75, 6: 0.91, 30: 1.0}, {2: 0.4, 6: 0.4, 30: 0.4}, 0.0, "fails"),
    ({2: 0.75, 6: 0.92, 30: 1.0}, {2: 0.45, 6: 0.40, 30: 0.30}, 0.02, "fails"),
    ({2: 0.75, 6: 0.91, 30: 1.0}, {2: 0.2, 6: 0.4, 30: 0.425}, 0.1, "inconclusive"),
    # the smallest size is not compared: a fall from m = 2 to 6 leaves the verdict to 6 -> 30
    ({2: 0.75, 6: 0.91, 30: 1.0}, {2: 0.7, 6: 0.3, 30: 0.6}, 0.01, "holds"),
    ({2: 0.75, 6: 0.91, 30: 1.0}, {2: 0.1, 6: 0.5, 30: 0.4}, 0.01, "fails"),
])
def test_noise_loss_grows_relative_to_clean_margin(clean, lost, spread, verdict) -> None:
    ev = sc.noise_drop_grows(_data("shi2024.fig_parity_noise",
                                   _noise_results(clean, lost, spread)))
    assert ev.verdict == verdict, ev.detail
    assert ev.threshold == sc.NOISE_LOSS_RISE_MIN


def test_noise_loss_leaves_out_models_at_chance() -> None:
    results = _noise_results({2: 0.75, 6: 0.91, 30: 1.0}, {2: 0.2, 6: 0.4, 30: 0.6}, 0.01)
    results.loc[(results.m == 6) & (results.trial == 0), "acc_imp"] = 0.5
    ev = sc.noise_drop_grows(_data("shi2024.fig_parity_noise", results))
    assert ev.verdict == "holds"
    assert "over 4 seeds" in sc.rises_between_sizes(
        pd.DataFrame({2: [np.nan, 1, 1, 1, 1], 6: [2.0] * 5}), lambda lo, hi: "x")[0].detail

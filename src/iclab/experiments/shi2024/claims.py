"""Claim checks of the ``shi2024.*`` figures (Shi, Wei, Xu & Liang 2024) and their thresholds.

Every threshold is stated here (changes are recorded in the claims ledger,
:mod:`iclab.claims_ledger`). Each check reads the tidy results of one
experiment (one row per model and seed, ``trial`` = seed) and decides over seeds: a per-seed
statistic, its 95 % Student-t interval, compared with the threshold (``iclab.claims``).
Two shapes recur and have one helper each: a per-seed quantity that must rise from each model
size to the next (:func:`rises_between_sizes`), and a per-group quantity that must stay below
a threshold (:func:`below_per_group`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from iclab.claims import ClaimData, Evidence, all_of, compare_interval, decide, mean_interval, slope
from iclab.experiments.shi2024.common import RankSettings
from iclab.theory import lowrank_lsa

#: relative tolerance of the trained slope dR/dσ² against the rank-r optimum's
SLOPE_RTOL = 0.10
#: largest principal angle (degrees) between the trained Γ and the top-r eigenvectors
ANGLE_MAX_DEG = 5.0
#: relative Frobenius distance of the trained Γ to Γ*_r
GAMMA_RTOL = 0.10


# ---- the two shapes of check -----------------------------------------------------------------
def rises_between_sizes(wide: pd.DataFrame, label: Callable[[object, object], str]
                        ) -> list[Evidence]:
    """For consecutive model sizes ``lo < hi`` (the columns of ``wide``, one row per seed):
    the per-seed difference ``wide[hi] - wide[lo]`` is > 0 (95 % interval over seeds).
    ``label(lo, hi)`` names each comparison."""
    sizes = sorted(wide.columns)
    return [compare_interval((wide[hi] - wide[lo]).dropna(), 0.0, ">", label(lo, hi))
            for lo, hi in zip(sizes, sizes[1:], strict=False)]


def below_per_group(frame: pd.DataFrame, by: str, column: str, threshold: float,
                    label: Callable[[object], str],
                    keep: Callable[[object], bool] = lambda _: True) -> list[Evidence]:
    """For each group ``frame[by] == g`` with ``keep(g)``: ``frame[column]`` < ``threshold``
    (95 % interval over its rows, one per seed). ``label(g)`` names each comparison."""
    return [compare_interval(grp[column], threshold, "<", label(g))
            for g, grp in frame.groupby(by) if keep(g)]


def _empty(data: ClaimData) -> bool:
    return data.results is None or data.results.empty


# ---- rank-r LSA ------------------------------------------------------------------------------
def theory_slope(settings: RankSettings, rank: int) -> float:
    """``dR_r/dσ² = (1/M) Σ_{i<=r} a_i²`` of the rank-r optimum, ``a_i = λ_i g_i`` (exact: the
    noisy-prompt risk of :func:`iclab.theory.lowrank_lsa.noisy_prompt_risk` is linear in σ²)."""
    lam = np.asarray(settings.eigenvalues, dtype=float)
    g = lowrank_lsa.optimal_gamma_spectrum(lam, settings.n, rank)
    return float(np.sum((lam * g) ** 2) / settings.m)


def measured_slopes(results: pd.DataFrame) -> pd.DataFrame:
    """Least-squares slope of the risk in σ² per (rank, seed): columns ``r, trial, slope``."""
    rows = []
    for (r, trial), grp in results.groupby(["r", "trial"]):
        if grp["sigma2"].nunique() >= 2:
            rows.append({"r": int(r), "trial": trial,
                         "slope": slope(grp["sigma2"].to_numpy(), grp["risk"].to_numpy())})
    return pd.DataFrame(rows, columns=["r", "trial", "slope"])


def slope_rises_with_rank(data: ClaimData) -> Evidence:
    """Per seed, slope(r_{j+1}) − slope(r_j) > 0 for consecutive trained ranks."""
    if _empty(data):
        return all_of([], "slope rises with rank")
    wide = measured_slopes(data.results).pivot_table(index="trial", columns="r", values="slope")
    evidence = rises_between_sizes(wide, lambda lo, hi: f"dR/dsigma2 at r={hi} minus r={lo}")
    return all_of(evidence, "noise sensitivity rises with rank")


def slope_matches_theory(data: ClaimData) -> Evidence:
    """Per rank, |mean slope − theory|/theory (95 % interval over seeds) < ``SLOPE_RTOL``."""
    if _empty(data):
        return all_of([], "slope matches theory")
    evidence = []
    for r, grp in measured_slopes(data.results).groupby("r"):
        th = theory_slope(data.settings, int(r))
        mean, half, n = mean_interval(grp["slope"].to_numpy())
        evidence.append(decide(abs(mean - th) / th, half / th, SLOPE_RTOL, "<",
                               f"r={r}: |slope - {th:.4g}|/theory over {n} seeds (mean slope "
                               f"{mean:.4g}), claim < {SLOPE_RTOL:g}", df=n - 1))
    return all_of(evidence, "trained dR/dsigma2 vs rank-r optimum")


def _last_step(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["steps"] == results["steps"].max()]


def keeps_top_directions(data: ClaimData) -> Evidence:
    """At the last training length, for every rank r < d, the largest principal angle between
    the trained Γ's top-r column space and the top-r eigenvectors is < ``ANGLE_MAX_DEG``."""
    if _empty(data):
        return all_of([], "keeps the top eigen-directions")
    d = len(data.settings.eigenvalues)
    evidence = below_per_group(_last_step(data.results), "r", "angle_max", ANGLE_MAX_DEG,
                               lambda r: f"r={r}: largest principal angle (deg)",
                               keep=lambda r: r < d)
    return all_of(evidence, "small-rank models keep the top eigen-directions")


def gamma_matches_optimum(data: ClaimData) -> Evidence:
    """At the last training length, ‖Γ − Γ*_r‖_F/‖Γ*_r‖_F < ``GAMMA_RTOL`` for every rank."""
    if _empty(data):
        return all_of([], "Gamma matches the optimum")
    evidence = below_per_group(_last_step(data.results), "r", "gamma_rel_err", GAMMA_RTOL,
                               lambda r: f"r={r}: relative Frobenius error to Gamma*_r")
    return all_of(evidence, "trained Gamma = Gamma*_r")


# ---- sparse parity (ours) --------------------------------------------------------------------
def _per_seed_group_accuracy(results: pd.DataFrame) -> pd.DataFrame:
    """Mean clean accuracy over important and over other pairs, per (m, seed)."""
    grp = results.groupby(["m", "trial", "important"])["acc"].mean().unstack("important")
    return grp.rename(columns={True: "imp", False: "other"}).reset_index()


def important_first(data: ClaimData) -> Evidence:
    """For every m too small to serve all pairs (m < 2·#pairs), per seed the mean accuracy on
    important pairs exceeds that on the other pairs."""
    if _empty(data):
        return all_of([], "important pairs first")
    n_pairs = int(data.results["pair"].nunique())
    acc = _per_seed_group_accuracy(data.results)
    evidence = [compare_interval((grp["imp"] - grp["other"]).dropna(), 0.0, ">",
                                 f"m={m}: accuracy important - other pairs")
                for m, grp in acc.groupby("m") if m < 2 * n_pairs]
    return all_of(evidence, "few heads serve the important pairs first")


def coverage_grows(data: ClaimData) -> Evidence:
    """Per seed, the accuracy on the less-important pairs rises from each m to the next."""
    if _empty(data):
        return all_of([], "coverage grows with m")
    wide = _per_seed_group_accuracy(data.results).pivot_table(index="trial", columns="m",
                                                              values="other")
    evidence = rises_between_sizes(
        wide, lambda lo, hi: f"other-pair accuracy m={hi} minus m={lo}")
    return all_of(evidence, "more heads cover more pairs")


def noise_drop_grows(data: ClaimData) -> Evidence:
    """Drop of important-task accuracy from p = 0 to the largest p < ½, per seed: larger for
    each next m (paired over seeds)."""
    frame = data.results
    if frame is None or frame.empty:
        return all_of([], "more heads lose more")
    ps = sorted(p for p in frame["p"].unique() if p < 0.5)
    if len(ps) < 2 or ps[0] != 0.0:
        return all_of([], "more heads lose more (needs p = 0 and a p in (0, 1/2))")
    wide = frame.pivot_table(index=["trial", "m"], columns="p", values="acc_imp")
    drop = (wide[0.0] - wide[ps[-1]]).unstack("m")
    evidence = rises_between_sizes(
        drop, lambda lo, hi: f"accuracy drop p=0 -> {ps[-1]:g}, m={hi} minus m={lo}")
    return all_of(evidence, "more heads lose more accuracy to flipped labels")

"""Claim checks of the ``shi2024.*`` figures (Shi, Wei, Xu & Liang 2024) and their thresholds.

Every threshold is stated here (changes are recorded in the claims ledger,
:mod:`iclab.claims_ledger`). Each check reads the tidy results of one
experiment (one row per model and seed, ``trial`` = seed) and decides over seeds: a per-seed
statistic, its 95 % Student-t interval, compared with the threshold (``iclab.claims``).
Two shapes recur and have one helper each: a per-seed quantity that must rise by at least a
stated minimum from each model size to the next (:func:`rises_between_sizes`), and a
per-group quantity that must stay below a threshold (:func:`below_per_group`).

The trends in model size are stated with a minimum effect, not as "> 0": each rise in size
must raise the quantity by at least half the smallest step the theory predicts at the default
settings (quick and full). A configuration in which the effect is absent (a negative control)
then reads ``fails``, not merely ``inconclusive``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from iclab.claims import (
    ClaimData,
    Evidence,
    all_of,
    compare_interval,
    decide,
    fraction_of_gain_lost,
    mean_interval,
    slope,
)
from iclab.experiments.shi2024.common import RankSettings
from iclab.theory import lowrank_lsa

#: relative tolerance of the trained slope dR/dσ² against the rank-r optimum's
SLOPE_RTOL = 0.10
#: largest principal angle (degrees) between the trained Γ and the top-r eigenvectors
ANGLE_MAX_DEG = 5.0
#: relative Frobenius distance of the trained Γ to Γ*_r
GAMMA_RTOL = 0.10
#: smallest relative rise of dR/dσ² from a trained rank to the next, slope(r')/slope(r) − 1.
#: The optimal slopes (1/M) Σ_{i<=r} a_i² of the default eigenvalues rise by 85 % and 57 %
#: (quick: λ = (4, 2, 1, 0.5), r = 1, 2, 4) and by 88 %, 40 %, 19 % and 11.5 % (full:
#: λ = (5, 3, 2, 1, 0.5, 0.2), r = 1, 2, 3, 4, 6): half the smallest, rounded down.
SLOPE_RISE_MIN = 0.05
#: fewest pairs that the larger of two consecutive numbers of heads must serve in addition.
#: The pair-aligned model (two heads per pair, most probable pairs first) serves 1, 3, 15
#: pairs at m = 2, 6, 30 (quick) and 1, 3, 6, 12, 28 at m = 2, 6, 12, 24, 56 (full): at
#: least 2 more per step; half of that.
PAIRS_ADDED_MIN = 1.0
#: smallest rise, from a number of heads to the next, of the fraction of the clean accuracy
#: above chance that flipped labels remove on the important tasks. The pair-aligned model
#: predicts 0, 0.44, 0.73 at m = 2, 6, 30 (quick, p = 0.4) and 0, 0.44, 0.62, 0.71, 0.76 at
#: m = 2, 6, 12, 24, 56 (full): steps of at least 0.051; half of that, rounded down.
NOISE_LOSS_RISE_MIN = 0.025
#: smallest rise of the clean-prompt risk (σ² = 0) from a trained rank to the next, among the
#: ranks whose span holds the test task. The rank-r optima pay ‖s‖²_D/M Σ a_i² for the
#: directions i a larger rank adds (the first term of the behaviour difference): 0.399 at
#: r = 2 → 4 (quick), 0.261 at 3 → 4 and 0.186 at 4 → 6 (full); half the smallest, rounded down.
CLEAN_COST_MIN = 0.09
#: a parity model whose clean important-task accuracy is less than this above chance (1/2) has
#: not learned the tasks whose accuracy noise could take away: its noise loss is left out
NOISE_MIN_CLEAN_GAIN = 0.25


# ---- the two shapes of check -----------------------------------------------------------------
def rises_between_sizes(wide: pd.DataFrame, label: Callable[[object, object], str],
                        min_rise: float = 0.0, relative: bool = False) -> list[Evidence]:
    """For consecutive model sizes ``lo < hi`` (the columns of ``wide``, one row per seed):
    the per-seed rise ``wide[hi] - wide[lo]`` (``relative``: ``wide[hi]/wide[lo] - 1``) is
    > ``min_rise`` (95 % interval over seeds: holds when its lower end is above ``min_rise``,
    fails when its upper end is below). ``label(lo, hi)`` names each comparison."""
    sizes = sorted(wide.columns)
    out = []
    for lo, hi in zip(sizes, sizes[1:], strict=False):
        rise = wide[hi] / wide[lo] - 1.0 if relative else wide[hi] - wide[lo]
        rise = rise.replace([np.inf, -np.inf], np.nan).dropna()
        out.append(compare_interval(rise, min_rise, ">", label(lo, hi)))
    return out


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
    """Per seed, slope(r_{j+1})/slope(r_j) − 1 > ``SLOPE_RISE_MIN`` for consecutive trained
    ranks (slope = least-squares dR/dσ² over the σ² grid)."""
    if _empty(data):
        return all_of([], "slope rises with rank")
    wide = measured_slopes(data.results).pivot_table(index="trial", columns="r", values="slope")
    evidence = rises_between_sizes(
        wide, lambda lo, hi: f"dR/dsigma2 at r={hi} over r={lo}, minus 1", SLOPE_RISE_MIN,
        relative=True)
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


def clean_cost_rises_with_rank(data: ClaimData) -> Evidence:
    """Per seed, the clean-prompt risk (σ² = 0) rises by more than ``CLEAN_COST_MIN`` from each
    trained rank to the next, among the ranks at or above :func:`task_support` (the ranks whose
    top-r span holds the test task: the larger one can only add noise-fitting directions)."""
    if _empty(data) or 0.0 not in set(data.results["sigma2"]):
        return all_of([], "clean-prompt cost of a larger rank")
    clean = data.results[(data.results["sigma2"] == 0.0)
                         & (data.results["r"] >= task_support(data.settings))]
    wide = clean.pivot_table(index="trial", columns="r", values="risk")
    evidence = rises_between_sizes(
        wide, lambda lo, hi: f"clean risk at r={hi} minus r={lo}", CLEAN_COST_MIN)
    return all_of(evidence, "clean-prompt risk rises with rank above the task's span")


def task_support(settings: RankSettings) -> int:
    """The number of leading eigendirections the test task needs: 1 + the index of its last
    nonzero coordinate in the eigenbasis (``settings.task``)."""
    return int(np.max(np.nonzero(np.asarray(settings.task))[0], initial=-1)) + 1


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


def pairs_served(results: pd.DataFrame) -> pd.DataFrame:
    """Pairs served per model, ``Σ_k (2·acc_k − 1)`` over all pairs k with equal weight (a pair
    at chance ½ counts 0, one at accuracy 1 counts 1): index ``trial``, one column per m."""
    served = results.assign(served=2.0 * results["acc"] - 1.0)
    return served.groupby(["trial", "m"])["served"].sum().unstack("m")


def coverage_grows(data: ClaimData) -> Evidence:
    """Per seed, the pairs served (:func:`pairs_served`, every pair weighted equally, so the
    pairs' frequencies in pretraining do not enter) rise by more than ``PAIRS_ADDED_MIN``
    from each m to the next."""
    if _empty(data):
        return all_of([], "coverage grows with m")
    evidence = rises_between_sizes(
        pairs_served(data.results), lambda lo, hi: f"pairs served m={hi} minus m={lo}",
        PAIRS_ADDED_MIN)
    return all_of(evidence, "more heads cover more pairs")


def noise_drop_grows(data: ClaimData) -> Evidence:
    """Fraction of the clean accuracy above chance that flipped labels remove on the important
    tasks, ``(acc(0) − acc(p))/(acc(0) − ½)`` with p the largest flip fraction < ½, per seed:
    it rises by more than ``NOISE_LOSS_RISE_MIN`` from each m to the next *above the smallest
    m* (paired over seeds). A model less than ``NOISE_MIN_CLEAN_GAIN`` above chance on clean
    prompts (clean accuracy below 3/4) has not learned the tasks and is left out: its ratio
    divides by a gain near zero (on 3 of 20 judged seeds one such 6-head model, at clean
    accuracy 0.51-0.60, gave -4.4, 0.84 or 1.15 against about 0.45 for the others).

    The smallest size is left out of the comparisons: its models serve too few of the pairs
    for the ratio to resolve a step of this size. Over the 20 seeds of the replication pilot
    (5 models each) the quick variant's step m = 2 → 6 was 0.03 on average, at the threshold,
    with per-seed intervals of ±0.05 to ±0.34 (clean accuracy 0.73 ± 0.09 over models at
    m = 2): no number of seeds decides a step that sits on its threshold. docs/claims.md gives
    the numbers.

    Dividing by the clean margin over chance removes what coverage adds to the plain drop:
    under the pair-aligned model the important-task accuracy is ``f·s(p) + (1 − f)·½`` for a
    fraction f of served pairs, so the drop grows with f, while the ratio
    ``(s(0) − s(p))/(s(0) − ½)`` depends only on the distraction of the served pairs."""
    frame = data.results
    if frame is None or frame.empty:
        return all_of([], "more heads lose more")
    ps = sorted(p for p in frame["p"].unique() if p < 0.5)
    if len(ps) < 2 or ps[0] != 0.0:
        return all_of([], "more heads lose more (needs p = 0 and a p in (0, 1/2))")
    wide = frame.pivot_table(index=["trial", "m"], columns="p", values="acc_imp")
    loss = fraction_of_gain_lost(wide[0.0], wide[ps[-1]], 0.5,
                                 NOISE_MIN_CLEAN_GAIN).unstack("m")
    loss = loss[sorted(loss.columns)[1:]]
    evidence = rises_between_sizes(
        loss, lambda lo, hi: f"fraction of clean accuracy above chance lost p=0 -> "
                             f"{ps[-1]:g}, m={hi} minus m={lo}", NOISE_LOSS_RISE_MIN)
    return all_of(evidence, "more heads lose more accuracy to flipped labels")

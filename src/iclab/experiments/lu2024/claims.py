"""Claim checks of the ``lu2024.fig1``–``fig4`` experiments (Lu, Letey, Zavatone-Veth, Maiti &
Pehlevan 2024).

Every threshold below is stated here. Some were set or changed after pilot or earlier runs
(the tolerance's min(d, k, ℓ), the α > d exclusion, C = 5 from pilots at d = 24 and 32); the
claims ledger (:mod:`iclab.claims_ledger`) records each change with the verdicts before it.

**Finite-d agreement.** The asymptotic theory is the limit d → ∞ at fixed α = ℓ/d,
κ = k/d, τ = n/d²; a finite-d simulation deviates from it by corrections of order one over the
smallest of the three sizes d, k = κd and ℓ = αd (the pool of k tasks enters through the
spectrum of its k × d sample covariance, the context through its ℓ tokens). Near the
interpolation peak the correction is amplified: the finite-d peak sits at n = d(d+1), i.e.
τ = 1 + 1/d, and an error that diverges like 1/|1 − τ| moves by O(1/(d|1 − τ|)) relative.
The tolerance on the relative deviation of the trial mean from the theory is therefore

    tol = C (1 + 1/|1 − τ|) / min(d, k, ℓ),   C = 5,

(O(1/d) at fixed α, κ, τ). C was set from pilot runs at d = 24 and 32, where the largest
deviations need C ≈ 3 (Fig. 2C at κ = 0.75, Fig. 4 at κ = 1–1.2), and from a d-series at
α = 2, κ = 0.5, τ = 2 (d = 20 … 60), where C ≈ 1.3 suffices; the full variants at d = 100
test it on runs it was not set from. Two regions are left out of this check, and said so in the
claims: points within ``PEAK_WINDOW`` = 0.2 of τ = 1 (there the finite-d error is finite while
the theory diverges; the peak itself is a separate claim), and points with α > d, i.e.
contexts longer than d² tokens (the theory holds α fixed as d grows; for α ≳ d the
resolvent is probed at q = (1 + ρ)/α, below the 1/d scale on which the finite-d task
spectrum still fluctuates, and the corrections are no longer small: at d = 24, α = 1000,
κ = 1 the simulated e^ICL is 1.7× the asymptotic value).

Examples: Fig. 1 at d = 24, κ = 0.5 (k = 12), τ = 2: tol = 0.83; κ = ∞, τ = 2: 0.42;
Fig. 4 at d = 32, κ = 1, τ = 10: 0.17; at d = 100, κ = 1, τ = 2: 0.10.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from iclab.claims import (
    ClaimData,
    Evidence,
    all_of,
    compare_interval,
    decide,
    mean_interval,
)

#: constant C of the finite-d tolerance C (1 + 1/|1 − τ|) / min(d, k, ℓ)
FINITE_D_C = 5.0
#: points with |τ − 1| < PEAK_WINDOW are not compared with the (divergent) theory
PEAK_WINDOW = 0.2
#: λ at or above which a fit counts as "ridge" (below: "ridgeless") in Fig. 1C
RIDGE_MIN_LAM = 0.05
#: Fig. 4: the steepest descent of log g_task in log κ must lie within this factor of κ = 1
TRANSITION_FACTOR = 2.0
#: Fig. 4: theory g_task below this is too small to take a logarithm of at finite d
TRANSITION_MIN_G = 0.005

POINT_COLS = ("panel", "d", "alpha", "kappa", "tau", "rho", "lam")
TheoryAt = Callable[[pd.Series, str], float]


def finite_d_tolerance(d: float, tau: float, k: float = math.inf, ell: float = math.inf
                       ) -> float:
    """Relative tolerance ``C (1 + 1/|1 − τ|) / min(d, k, ℓ)`` (module docstring)."""
    size = min(d, k, ell)
    return FINITE_D_C * (1.0 + 1.0 / abs(1.0 - tau)) / size


def _la(results: pd.DataFrame) -> pd.DataFrame:
    if results is None or results.empty:
        return pd.DataFrame()
    if "method" in results:
        return results[results["method"] == "linear_attention"]
    return results


def theory_agreement(data: ClaimData, metrics: Sequence[str], theory_at: TheoryAt) -> Evidence:
    """Per grid point and metric, the relative deviation of the trial mean from the theory,
    with its 95 % t-interval, is below :func:`finite_d_tolerance` (``all_of`` over points).
    Points with |τ − 1| < ``PEAK_WINDOW`` or α > d are not compared (module docstring)."""
    frame = _la(data.results)
    if frame.empty:
        return all_of([], "theory agreement")
    cols = [c for c in POINT_COLS if c in frame.columns]
    evidence = []
    for key, grp in frame.groupby(cols, dropna=False):
        point = pd.Series(dict(zip(cols, key, strict=True)))
        if abs(point["tau"] - 1.0) < PEAK_WINDOW or point["alpha"] > point["d"]:
            continue
        k = float(grp["k"].iloc[0]) if "k" in grp and pd.notna(grp["k"].iloc[0]) else math.inf
        ell = float(grp["ell"].iloc[0]) if "ell" in grp else math.inf
        for metric in metrics:
            if metric not in grp:
                continue
            th = theory_at(point, metric)
            if not (math.isfinite(th) and th > 0):
                continue
            mean, half, n = mean_interval(grp[metric].to_numpy(dtype=float))
            tol = finite_d_tolerance(point["d"], point["tau"], k, ell)
            where = ", ".join(f"{c}={point[c]}" for c in cols if c != "d")
            evidence.append(decide(
                abs(mean - th) / th, half / th, tol, "<",
                f"{metric} at {where}: |sim - theory|/theory over {n} trials, claim < "
                f"{FINITE_D_C:g}(1+1/|1-tau|)/min(d,k,l) = {tol:.3g}", df=n - 1))
    return all_of(evidence, f"finite-d agreement (d={int(frame['d'].iloc[0])})")


# ---- Figure 1 -------------------------------------------------------------------------------
def _peak_ratios(curve: pd.DataFrame, metric: str) -> np.ndarray:
    """Per trial: max of ``metric`` over τ within ``PEAK_WINDOW`` of 1, divided by the larger
    of its values at the nearest τ on either side outside the window. Empty if the grid lacks
    a near-peak τ or a flank."""
    wide = curve.pivot_table(index="trial", columns="tau", values=metric)
    taus = np.asarray(wide.columns, dtype=float)
    near = taus[np.abs(taus - 1.0) < PEAK_WINDOW]
    left = taus[taus <= 1.0 - PEAK_WINDOW]
    right = taus[taus >= 1.0 + PEAK_WINDOW]
    if near.size == 0 or left.size == 0 or right.size == 0:
        return np.array([])
    peak = wide[list(near)].max(axis=1)
    flank = np.maximum(wide[left.max()], wide[right.min()])
    return (peak / flank).dropna().to_numpy()


def _fig1_curves(frame: pd.DataFrame, ridge: bool) -> list[tuple[str, pd.DataFrame]]:
    out = []
    ab = frame[frame["panel"] == "AB"]
    if not ridge:
        out += [(f"A: alpha={a:g}", grp) for a, grp in ab.groupby("alpha")]
    c = frame[frame["panel"] == "C"]
    for lam, grp in c.groupby("lam"):
        if (lam >= RIDGE_MIN_LAM) == ridge:
            out.append((f"C: lambda={lam:g}", grp))
    return out


def _fig1_peak(data: ClaimData, ridge: bool, what: str) -> Evidence:
    """Peak/flank ratio of e^ICL near τ = 1 on every curve of the ridgeless (``ridge=False``,
    claim > 1) or ridge (claim < 1) panels."""
    frame = _la(data.results)
    if frame.empty:
        return all_of([], what)
    evidence = [compare_interval(_peak_ratios(grp, "e_icl"), 1.0, "<" if ridge else ">",
                                 f"{name}: e_icl max near tau=1 / max at flanking taus")
                for name, grp in _fig1_curves(frame, ridge=ridge)]
    return all_of(evidence, what)


def fig1_ridgeless_peak(data: ClaimData) -> Evidence:
    """Ridgeless e^ICL has its maximum near τ = 1: peak/flank ratio > 1 on every curve."""
    return _fig1_peak(data, ridge=False, what="ridgeless peak at tau=1")


def fig1_ridge_removes_peak(data: ClaimData) -> Evidence:
    """With ridge (λ >= RIDGE_MIN_LAM) e^ICL near τ = 1 stays below its flanks: ratio < 1."""
    return _fig1_peak(data, ridge=True, what="ridge removes the peak")


# ---- Figure 2 -------------------------------------------------------------------------------
def _dip(values: np.ndarray) -> float:
    """``min(e_first, e_last) / min(e_interior)`` of a curve on an increasing α grid: > 1 iff
    the curve has an interior minimum below both ends."""
    return float(min(values[0], values[-1]) / values[1:-1].min())


def fig2_non_monotone(data: ClaimData, metric_of: Callable[[str], str],
                      theory_at: TheoryAt) -> Evidence:
    """On every curve whose theory dips on the simulated α grid by more than the finite-d
    resolution, the simulated error also dips: per trial ``min(e_first, e_last)/
    min(e_interior) > 1``.

    A theory dip counts when ``min(th_first, th_last)/min(th_interior) > 1 + 1/min(d, k, ℓ)``:
    a shallower interior minimum is within the O(1/min(d, k, ℓ)) finite-d distortion of the
    curve (see :func:`finite_d_tolerance`), so the finite-d mean need not show it (Fig. 2C at
    κ = 0.25, d = 24: theory dip 1.5 %, k = 6).
    """
    frame = _la(data.results)
    if frame.empty:
        return all_of([], "non-monotone in alpha")
    evidence = []
    for (panel, kappa), grp in frame.groupby(["panel", "kappa"]):
        metric = metric_of(panel)
        wide = grp.pivot_table(index="trial", columns="alpha", values=metric)
        if wide.shape[1] < 3:
            continue
        alphas = np.asarray(wide.columns, dtype=float)
        point = grp.iloc[0].copy()
        th = []
        for a in alphas:
            point["alpha"] = a
            th.append(theory_at(point, metric))
        th = np.asarray(th)
        k = float(grp["k"].iloc[0]) if "k" in grp and pd.notna(grp["k"].iloc[0]) else math.inf
        size = min(float(grp["d"].iloc[0]), k, float(grp["ell"].min()) if "ell" in grp
                   else math.inf)
        if not np.all(np.isfinite(th)) or _dip(th) <= 1.0 + 1.0 / size:
            continue  # no resolvable interior minimum in the theory: nothing claimed
        dips = [_dip(row) for row in wide.to_numpy(dtype=float) if np.all(np.isfinite(row))]
        evidence.append(compare_interval(
            dips, 1.0, ">", f"{panel}: kappa={kappa:g}, {metric}: min(ends)/min(interior) "
            f"(theory {_dip(th):.3f})"))
    return all_of(evidence, "non-monotone e(alpha) where the theory has an interior minimum")


# ---- Figure 4 -------------------------------------------------------------------------------
def _steepest_kappa(curve: pd.DataFrame, theory_g: dict[float, float]) -> float:
    """κ (geometric midpoint) of the steepest descent of log g_task in log κ for one trial."""
    curve = curve.sort_values("kappa")
    keep = [(k, g) for k, g in zip(curve["kappa"], curve["g_task"], strict=True)
            if theory_g.get(float(k), 0.0) >= TRANSITION_MIN_G and g > 0]
    if len(keep) < 3:
        return math.nan
    k, g = np.log(np.array(keep)).T
    slopes = np.diff(g) / np.diff(k)
    i = int(np.argmin(slopes))
    return float(math.exp(0.5 * (k[i] + k[i + 1])))


def fig4_transition(data: ClaimData, theory_g: Callable[[float, float], float]) -> Evidence:
    """Per α and trial, the steepest descent of log g_task(log κ) is within a factor
    ``TRANSITION_FACTOR`` of κ = 1: mean |ln κ_t| over trials < ln 2."""
    frame = _la(data.results)
    if frame.empty:
        return all_of([], "transition at kappa=1")
    evidence = []
    for alpha, grp in frame.groupby("alpha"):
        th = {float(k): theory_g(alpha, float(k)) for k in grp["kappa"].unique()}
        kt = [_steepest_kappa(trial, th) for _, trial in grp.groupby("trial")]
        evidence.append(compare_interval(
            np.abs(np.log(kt)), math.log(TRANSITION_FACTOR), "<",
            f"alpha={alpha:g}: |ln kappa_t|, kappa_t = steepest descent of log g_task "
            f"(trial kappa_t: {', '.join(f'{x:.2g}' for x in kt)})"))
    return all_of(evidence, "memorisation -> ICL transition at kappa ~ 1")


def fig4_dmmse_above(data: ClaimData) -> Evidence:
    """For κ < 1, dMMSE's g_task exceeds linear attention's on the same pool (paired per
    trial): mean difference > 0 at every (α, κ < 1)."""
    frame = data.results
    if frame is None or frame.empty or "method" not in frame:
        return all_of([], "dMMSE above LA")
    sub = frame[frame["kappa"] < 1.0]
    evidence = []
    for (alpha, kappa), grp in sub.groupby(["alpha", "kappa"]):
        wide = grp.pivot_table(index="trial", columns="method", values="g_task")
        if not {"dmmse", "linear_attention"} <= set(wide.columns):
            continue
        diff = (wide["dmmse"] - wide["linear_attention"]).dropna()
        evidence.append(compare_interval(
            diff, 0.0, ">", f"alpha={alpha:g}, kappa={kappa:g}: g_task(dMMSE) - g_task(LA)"))
    return all_of(evidence, "dMMSE memorises more than LA for kappa < 1")

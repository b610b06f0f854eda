"""Claim checks of the trained-transformer figures ``lu2024.fig5`` and ``lu2024.fig6``
(Lu, Letey, Zavatone-Veth, Maiti & Pehlevan 2024). Every threshold is stated here; the
experiments' settings were re-tuned several times after runs, and the claims ledger
(:mod:`iclab.claims_ledger`) records each change with the verdicts before it.

**Peak rule** (Fig. 5; our choice, the paper does not fix it): ``tau_peak`` is the τ on the
grid with the largest mean (over seeds) test error; ``n_peak = tau_peak · d²``; ``c`` is the
least-squares slope through the origin of ``n_peak`` against ``d²``. Seeds are resampled
with replacement at every τ independently (members at different τ are independent models)
for the bootstrap intervals. See ``docs/transformers.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from iclab.claims import (
    Claim,
    ClaimData,
    Control,
    Counterexample,
    Evidence,
    Verdict,
    all_of,
    decide,
    spearman,
    transform_column,
)
from iclab.experiments.lu2024.transformer_common import from_quantiles, welch


def peak_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per (architecture, d): ``tau_peak`` (argmax of mean test error over τ), ``n_peak``."""
    mean = results.groupby(["arch", "d", "tau"], as_index=False)["e_icl"].mean()
    rows = []
    for (arch, d), grp in mean.groupby(["arch", "d"]):
        tau = float(grp.loc[grp.e_icl.idxmax(), "tau"])
        rows.append({"arch": arch, "d": int(d), "tau_peak": tau, "n_peak": tau * d * d})
    return pd.DataFrame(rows)


def fit_peak_constant(peaks: pd.DataFrame) -> float:
    """Least-squares ``c`` in ``n_peak = c d²`` (through the origin)."""
    d2 = peaks.d.to_numpy(float) ** 2
    return float((peaks.n_peak.to_numpy(float) * d2).sum() / (d2 * d2).sum())


def _seed_matrix(results: pd.DataFrame, arch: str, d: int) -> tuple[np.ndarray, np.ndarray]:
    """``(taus [T], errors [T, S])`` of one (architecture, d) panel (NaN where missing)."""
    sub = results[(results.arch == arch) & (results.d == d)]
    table = sub.pivot_table(index="tau", columns="trial", values="e_icl")
    return table.index.to_numpy(float), table.to_numpy(float)


def bootstrap_peaks(results: pd.DataFrame, arch: str, d: int, draws: int = 400,
                    seed: int = 0) -> np.ndarray:
    """``[draws]`` values of ``tau_peak`` with the seeds resampled with replacement (at every τ
    independently: members at different τ are independent models)."""
    taus, err = _seed_matrix(results, arch, d)
    rng = np.random.default_rng(seed)
    S = err.shape[1]
    idx = rng.integers(0, S, size=(draws, err.shape[0], S))
    means = np.nanmean(np.take_along_axis(err[None], idx, axis=2), axis=2)
    return taus[np.nanargmax(means, axis=1)]


def peak_constants(results: pd.DataFrame, draws: int = 400) -> pd.DataFrame:
    """Per architecture: ``c`` (least squares over d) and its 95 % bootstrap interval."""
    rows = []
    for arch, sub in results.groupby("arch"):
        ds = sorted(int(d) for d in sub.d.unique())
        peaks = peak_table(sub)
        boot = np.stack([bootstrap_peaks(sub, arch, d, draws, seed=i)
                         for i, d in enumerate(ds)], axis=1)          # [draws, D]
        d2 = np.asarray(ds, float) ** 2
        cs = (boot * d2**2).sum(1) / (d2**2).sum()
        rows.append({"arch": arch, "c": fit_peak_constant(peaks),
                     "c_lo": float(np.quantile(cs, 0.025)),
                     "c_hi": float(np.quantile(cs, 0.975)), "n_d": len(ds)})
    return pd.DataFrame(rows)


def _check_peak_significant(data: ClaimData) -> Evidence:
    """Per panel: log test error at ``tau_peak`` minus at each end of the grid, Welch 95 %."""
    res = data.results
    evidence = []
    for (arch, d), sub in res.groupby(["arch", "d"]):
        taus, err = _seed_matrix(sub, arch, d)
        k = int(np.nanargmax(np.nanmean(err, axis=1)))
        for end in (0, len(taus) - 1):
            what = f"{arch} d={d}: log e(tau_peak={taus[k]:g}) - log e(tau={taus[end]:g})"
            if k == end:
                evidence.append(Evidence("fails", 0.0, 0.0, 0.0, what + ": peak at the end"))
                continue
            diff, half = welch(np.log(err[k][np.isfinite(err[k])]),
                                np.log(err[end][np.isfinite(err[end])]))
            evidence.append(decide(diff, half, 0.0, ">", what + ", Welch 95 % interval > 0"))
    return all_of(evidence, "peak above both ends")


def _peak_spread(tau_peaks: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """``max_d |c_d / c - 1|`` per row of ``tau_peaks [draws, D]`` (``c_d = n_peak / d²`` is
    ``tau_peak``; ``c`` the least-squares fit of ``n_peak = c d²``)."""
    c = (tau_peaks * d2**2).sum(1, keepdims=True) / (d2**2).sum()
    return np.abs(tau_peaks / c - 1).max(1)


def _check_peak_constant(data: ClaimData) -> Evidence:
    """Per architecture: max over d of ``|c_d / c - 1|`` < 0.3 (bootstrap 95 % interval)."""
    res = data.results
    evidence = []
    for arch, sub in res.groupby("arch"):
        ds = sorted(int(d) for d in sub.d.unique())
        if len(ds) < 2:
            continue
        d2 = np.asarray(ds, float) ** 2
        observed = np.array([[float(peak_table(sub).set_index("d").tau_peak[d]) for d in ds]])
        boot = np.stack([bootstrap_peaks(sub, arch, d, seed=i) for i, d in enumerate(ds)], 1)

        est = float(_peak_spread(observed, d2)[0])
        lo, hi = np.quantile(_peak_spread(boot, d2), [0.025, 0.975])
        what = (f"{arch}: max_d |c_d/c - 1| over d={ds} (tau_peak={observed[0].tolist()}), "
                f"seed-bootstrap 95 % interval, claim < 0.3")
        verdict: Verdict = "holds" if hi < 0.3 else "fails" if lo >= 0.3 else "inconclusive"
        evidence.append(Evidence(verdict, est, float(hi - lo) / 2, 0.3, what))
    return all_of(evidence, "n_peak = c d^2")


def _check_linear_peak_range(data: ClaimData) -> Evidence:
    """Linear attention: tau_peak in [0.75, 1.5] at every d (seed-bootstrap 95 % interval)."""
    res = data.results[data.results.arch == "linear"]
    evidence = []
    for d in sorted(res.d.unique()):
        boot = bootstrap_peaks(res, "linear", int(d))
        est = float(peak_table(res[res.d == d]).tau_peak.iloc[0])
        lo, hi = np.quantile(boot, [0.025, 0.975])
        evidence.append(from_quantiles(est, float(lo), float(hi), 0.75, 1.5,
                                        f"linear d={d}: tau_peak={est:g}, bootstrap 95 % "
                                        f"interval [{lo:g}, {hi:g}], claim in [0.75, 1.5]"))
    return all_of(evidence, "linear-attention peak")


def fig5_claims() -> tuple[Claim, ...]:
    return (
        Claim(
            id="peak_above_both_ends",
            statement=("For each architecture and d, the seed-mean test error is largest at an "
                       "interior tau_peak and significantly above its values at both ends of "
                       "the tau grid (double descent)."),
            source="Lu et al. 2024, Fig. 5",
            check=_check_peak_significant,
            # the errors made to fall with tau: the maximum moves to the left end
            counterexample=transform_column(
                "e_icl", lambda f: f.groupby(["arch", "d", "trial"]).e_icl.transform("max")
                / f.tau),
            variants=("quick", "medium", "full"),
            controls=(Control(
                {"max_iter": 10},
                "L-BFGS stopped after 10 of its 500 iterations: an early-stopped model is "
                "regularised and does not interpolate, so its error has no peak at tau = 1"),)),
        Claim(
            id="n_peak_scales_as_d2",
            statement=("n_peak / d^2 is the same across d within +-30 % for each architecture "
                       "(n_peak = c d^2)."),
            source="Lu et al. 2024, Fig. 5D",
            check=_check_peak_constant,
            # tau tripled at the largest d: the peak no longer scales as d^2
            counterexample=transform_column(
                "tau", lambda f: f.tau * np.where(f.d == f.d.max(), 3.0, 1.0)),
            variants=("quick", "medium", "full"),
            controls=(Control(
                {"max_iter": 10},
                "L-BFGS stopped after 10 of its 500 iterations: no interpolation peak, so no "
                "n_peak to scale as d^2 (no setting moves a real peak off n ~ d^2, the d^2 "
                "parameters of linear attention)"),)),
        Claim(
            id="linear_peak_near_tau_1",
            statement="For linear attention the peak lies at tau in [0.75, 1.5] at every d.",
            source="Lu et al. 2024, Fig. 5A",
            check=_check_linear_peak_range,
            counterexample=transform_column("tau", lambda f: f.tau * 2.0),
            variants=("quick", "medium", "full"),
            controls=(Control(
                {"max_iter": 10},
                "L-BFGS stopped after 10 of its 500 iterations: no interpolation peak, so the "
                "largest error is not near tau = 1"),)),
    )




def _gtask_means(results: pd.DataFrame, method: str) -> pd.DataFrame:
    """Per kappa: mean, standard error and count of g_task over seeds for ``method``."""
    sub = results[results.method == method]
    out = sub.groupby("kappa").g_task.agg(["mean", "std", "count"]).reset_index()
    out["se"] = out["std"] / np.sqrt(out["count"])
    return out


def _check_gtask_falls(data: ClaimData) -> Evidence:
    """Spearman(kappa, seed-mean g_task) <= -0.8; interval by resampling seeds."""
    sub = data.results[data.results.method == "transformer"]
    table = sub.pivot_table(index="kappa", columns="trial", values="g_task")
    kap, g = table.index.to_numpy(float), table.to_numpy(float)
    est = spearman(kap, np.nanmean(g, axis=1))
    rng = np.random.default_rng(0)
    idx = rng.integers(0, g.shape[1], size=(400, *g.shape))
    boot = [spearman(kap, np.nanmean(np.take_along_axis(g, i, axis=1), axis=1)) for i in idx]
    lo, hi = np.nanquantile(boot, [0.025, 0.975])
    verdict: Verdict = "holds" if hi <= -0.8 else "fails" if lo > -0.8 else "inconclusive"
    return Evidence(verdict, est, float(hi - lo) / 2, -0.8,
                    f"Spearman of seed-mean g_task vs kappa over {kap.size} kappas, "
                    f"seed-bootstrap 95 % interval [{lo:.3g}, {hi:.3g}], claim <= -0.8")


def _check_memorises_like_dmmse(data: ClaimData) -> Evidence:
    """kappa <= 0.5: transformer g_task >= dMMSE g_task - 2 standard errors of the gap."""
    tr = _gtask_means(data.results, "transformer").set_index("kappa")
    dm = _gtask_means(data.results, "dmmse").set_index("kappa")
    evidence = []
    for kappa in tr.index[tr.index <= 0.5]:
        gap = float(tr.loc[kappa, "mean"] - dm.loc[kappa, "mean"])
        se = float(math.hypot(tr.loc[kappa, "se"], dm.loc[kappa, "se"]))
        verdict: Verdict = "holds" if gap >= -2 * se else "fails"
        evidence.append(Evidence(verdict, gap, 2 * se, 0.0,
                                 f"kappa={kappa:g}: g_task(transformer) - g_task(dMMSE) = "
                                 f"{gap:.3g}, claim >= -2 SE = {-2 * se:.3g}"))
    return all_of(evidence, "memorisation at kappa <= 0.5")


def _check_generalises(data: ClaimData) -> Evidence:
    """kappa >= 8: transformer g_task < 0.1 x dMMSE g_task (Welch 95 % interval < 0)."""
    res = data.results
    evidence = []
    for kappa in sorted(k for k in res.kappa.unique() if k >= 8):
        at = res[res.kappa == kappa]
        tr = at[at.method == "transformer"].g_task.to_numpy(float)
        dm = at[at.method == "dmmse"].g_task.to_numpy(float)
        diff, half = welch(tr, 0.1 * dm)
        evidence.append(decide(diff, half, 0.0, "<",
                               f"kappa={kappa:g}: g_task(transformer) - 0.1 g_task(dMMSE), "
                               "Welch 95 % interval < 0"))
    return all_of(evidence, "task generalisation at kappa >= 8")


def _transformer_g_task(value: Callable[[pd.DataFrame], Any]) -> Counterexample:
    """Counterexample: the transformer rows' g_task replaced by ``value(results)`` (dMMSE
    rows untouched)."""
    return transform_column("g_task", lambda f: np.where(f.method == "transformer", value(f),
                                                          f.g_task))


def fig6_claims() -> tuple[Claim, ...]:
    return (
        Claim(id="gtask_falls_with_kappa",
              statement=("The transformer's g_task = e_ICL - e_IDG falls with task diversity "
                         "kappa (Spearman <= -0.8 over seed means)."),
              source="Lu et al. 2024, Fig. 6",
              check=_check_gtask_falls,
              counterexample=_transformer_g_task(lambda f: f.kappa),
              variants=("quick", "medium", "full"),
              controls=(Control(
                  {"steps": 50},
                  "stopped after 50 of the 6000 steps, before the model learns in context "
                  "(measured: g_task already falls with kappa there, a finding in "
                  "docs/claims.md)"),)),
        Claim(id="memorises_at_low_kappa",
              statement=("At kappa <= 0.5 the transformer memorises the task pool: its g_task "
                         "is within two standard errors of dMMSE's or above it."),
              source="Lu et al. 2024, Fig. 6",
              check=_check_memorises_like_dmmse,
              counterexample=_transformer_g_task(lambda f: 0.0),
              variants=("quick", "medium", "full"),
              controls=(Control(
                  {"steps": 50},
                  "stopped after 50 of the 6000 steps: the model has not memorised the "
                  "pool, so its g_task at kappa <= 0.5 is far below dMMSE's"),)),
        Claim(id="generalises_at_high_kappa",
              statement=("At kappa >= 8 the transformer learns in context: its g_task is below "
                         "0.1 x dMMSE's."),
              source="Lu et al. 2024, Fig. 6",
              check=_check_generalises,
              # the transformer given the largest g_task measured at its kappa
              counterexample=_transformer_g_task(
                  lambda f: f.groupby("kappa").g_task.transform("max")),
              variants=("quick", "medium", "full"),
              controls=(Control(
                  {"tau": 1.0},
                  "pretrained on n = d^2 contexts, the interpolation threshold, where the "
                  "linear theory's g_task at kappa = 8 is 0.36 (tau = 1.05) against 0.01 at "
                  "the variant's tau = 40 (measured: inconclusive, a finding in "
                  "docs/claims.md)"),)),
    )



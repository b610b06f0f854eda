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
    """Per panel: ``tau_peak`` is chosen on the even-numbered seeds (argmax of their mean test
    error) and tested on the odd-numbered ones: log test error at ``tau_peak`` minus at each
    end of the grid, Welch 95 % interval > 0. Choosing and testing on disjoint seeds keeps the
    choice of the largest of several noisy means from inflating the difference."""
    res = data.results
    evidence = []
    for (arch, d), sub in res.groupby(["arch", "d"]):
        taus, err = _seed_matrix(sub, arch, d)
        choose, test = err[:, 0::2], err[:, 1::2]
        k = int(np.nanargmax(np.nanmean(choose, axis=1)))
        for end in (0, len(taus) - 1):
            what = (f"{arch} d={d}: log e(tau_peak={taus[k]:g}) - log e(tau={taus[end]:g}) "
                    f"on {test.shape[1]} seeds (tau_peak chosen on {choose.shape[1]} others)")
            if k == end:
                evidence.append(Evidence("fails", 0.0, 0.0, 0.0, what + ": peak at the end"))
                continue
            at_peak, at_end = test[k][np.isfinite(test[k])], test[end][np.isfinite(test[end])]
            if min(at_peak.size, at_end.size) < 2:
                evidence.append(Evidence("inconclusive", math.nan, math.nan, 0.0,
                                         what + ": fewer than 2 test seeds"))
                continue
            diff, half = welch(np.log(at_peak), np.log(at_end))
            evidence.append(decide(diff, half, 0.0, ">", what + ", Welch 95 % interval > 0"))
    return all_of(evidence, "peak above both ends")


#: the exponent p of ``n_peak ∝ d^p``: "holds" needs its interval inside this open range (it
#: must contain 2 and exclude the alternatives d¹, a peak at as many contexts as tokens, and
#: d³); "fails" when the interval excludes 2
EXPONENT_RANGE = (1.0, 3.0)
#: the fewest values of d from which the exponent is estimated (two always fit a line)
EXPONENT_MIN_DS = 3


def peak_exponents(tau_peaks: np.ndarray, ds: np.ndarray) -> np.ndarray:
    """Least-squares exponent ``p`` of ``n_peak = c d^p`` per row of ``tau_peaks [draws, D]``:
    ``log n_peak = log c + p log d`` with ``n_peak = tau_peak d²``, so ``p = 2 + slope`` of
    ``log tau_peak`` on ``log d``. Returns ``[draws]``."""
    x = np.log(np.asarray(ds, float))
    x = x - x.mean()
    y = np.log(tau_peaks)
    return 2.0 + (y - y.mean(axis=1, keepdims=True)) @ x / (x @ x)


def _check_peak_exponent(data: ClaimData) -> Evidence:
    """Per architecture, over ``EXPONENT_MIN_DS`` or more values of d: the peak is interior at
    every d (else fails), and the seed-bootstrap 95 % interval of the exponent ``p`` of
    ``n_peak ∝ d^p`` (:func:`peak_exponents`) lies in ``EXPONENT_RANGE`` and contains 2
    (holds), excludes 2 (fails), or neither (inconclusive)."""
    res = data.results
    evidence = []
    for arch, sub in res.groupby("arch"):
        ds = sorted(int(d) for d in sub.d.unique())
        if len(ds) < EXPONENT_MIN_DS:
            evidence.append(Evidence("inconclusive", math.nan, math.nan, 2.0,
                                     f"{arch}: {len(ds)} values of d; the exponent needs "
                                     f"{EXPONENT_MIN_DS}"))
            continue
        peaks = peak_table(sub).set_index("d")
        ends = [d for d in ds if peaks.tau_peak[d] in (sub.tau.min(), sub.tau.max())]
        if ends:
            evidence.append(Evidence("fails", math.nan, 0.0, 2.0,
                                     f"{arch}: the largest error at an end of the tau grid at "
                                     f"d={ends}: no interior peak"))
            continue
        observed = np.array([[peaks.tau_peak[d] for d in ds]])
        boot = np.stack([bootstrap_peaks(sub, arch, d, seed=i) for i, d in enumerate(ds)], 1)
        est = float(peak_exponents(observed, np.array(ds))[0])
        lo, hi = (float(q) for q in np.quantile(peak_exponents(boot, np.array(ds)),
                                                 [0.025, 0.975]))
        low, high = EXPONENT_RANGE
        verdict: Verdict = ("fails" if lo > 2 or hi < 2 else
                            "holds" if lo > low and hi < high else "inconclusive")
        evidence.append(Evidence(
            verdict, est, (hi - lo) / 2, 2.0,
            f"{arch}: exponent p of n_peak ~ d^p over d={ds} (tau_peak="
            f"{observed[0].tolist()}): {est:.2f}, seed-bootstrap 95 % interval [{lo:.2f}, "
            f"{hi:.2f}]; claim: contains 2, inside ({low:g}, {high:g})"))
    return all_of(evidence, "n_peak ~ d^2")


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
            statement=("For each architecture and d, the test error peaks at an interior "
                       "tau_peak (chosen on half of the seeds) and is significantly above its "
                       "values at both ends of the tau grid on the other half (double "
                       "descent)."),
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
            statement=("The interpolation peak moves as n_peak ~ d^2: over at least three "
                       "values of d, for each architecture, the peak is interior at every d "
                       "and the exponent p of n_peak ~ d^p has a seed-bootstrap 95 % interval "
                       "that contains 2 and lies inside (1, 3)."),
            source="Lu et al. 2024, Fig. 5D",
            check=_check_peak_exponent,
            # tau proportional to d: the peak scales as d^3
            counterexample=transform_column("tau", lambda f: f.tau * f.d / f.d.min()),
            # the quick variant has two values of d: too few to tell d^2 from d^3
            variants=("medium", "full"),
            controls=(Control(
                {"max_iter": 10},
                "L-BFGS stopped after 10 of its 500 iterations: no interpolation peak, so no "
                "n_peak to scale as d^2 (no setting moves a real peak off n ~ d^2, the d^2 "
                "parameters of linear attention)", variants=("medium",)),)),
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




#: memorisation: at kappa <= 0.5 the transformer's g_task is at least this fraction of
#: dMMSE's (dMMSE is the Bayes-optimal predictor for the finite pool, so a model that has
#: memorised the pool matches it; our choice of margin)
MEMORISE_FRACTION = 0.8


def _check_memorises_like_dmmse(data: ClaimData) -> Evidence:
    """kappa <= 0.5: ``g_task(transformer) - MEMORISE_FRACTION · g_task(dMMSE) > 0`` (Welch 95 %
    interval over seeds): holds when the interval is above 0, fails when below. Fewer seeds
    widen the interval and make "holds" harder, not easier."""
    res = data.results
    evidence = []
    for kappa in sorted(k for k in res.kappa.unique() if k <= 0.5):
        at = res[res.kappa == kappa]
        tr = at[at.method == "transformer"].g_task.to_numpy(float)
        dm = at[at.method == "dmmse"].g_task.to_numpy(float)
        diff, half = welch(tr, MEMORISE_FRACTION * dm)
        evidence.append(decide(diff, half, 0.0, ">",
                               f"kappa={kappa:g}: g_task(transformer) - {MEMORISE_FRACTION:g} "
                               f"g_task(dMMSE) (means {tr.mean():.3g}, {dm.mean():.3g}), "
                               "Welch 95 % interval > 0"))
    return all_of(evidence, "memorisation at kappa <= 0.5")


def _check_generalises(data: ClaimData) -> Evidence:
    """kappa >= 8, two conditions per kappa (Welch 95 % intervals over seeds): the transformer
    has no memorisation gap, ``g_task(transformer) - 0.1 g_task(dMMSE) < 0``, and it learns in
    context, ``e_ICL(transformer) - e_ICL(dMMSE) < 0`` (a model that has learnt nothing has a
    small g_task too, with e_ICL at the null error)."""
    res = data.results
    evidence = []
    for kappa in sorted(k for k in res.kappa.unique() if k >= 8):
        at = res[res.kappa == kappa]
        tr, dm = at[at.method == "transformer"], at[at.method == "dmmse"]
        diff, half = welch(tr.g_task.to_numpy(float), 0.1 * dm.g_task.to_numpy(float))
        evidence.append(decide(diff, half, 0.0, "<",
                               f"kappa={kappa:g}: g_task(transformer) - 0.1 g_task(dMMSE), "
                               "Welch 95 % interval < 0"))
        diff, half = welch(tr.e_icl.to_numpy(float), dm.e_icl.to_numpy(float))
        evidence.append(decide(diff, half, 0.0, "<",
                               f"kappa={kappa:g}: e_ICL(transformer) - e_ICL(dMMSE) (means "
                               f"{tr.e_icl.mean():.3g}, {dm.e_icl.mean():.3g}), Welch 95 % "
                               "interval < 0"))
    return all_of(evidence, "in-context learning at kappa >= 8")


def _transformer_g_task(value: Callable[[pd.DataFrame], Any]) -> Counterexample:
    """Counterexample: the transformer rows' g_task replaced by ``value(results)`` (dMMSE
    rows untouched)."""
    return transform_column("g_task", lambda f: np.where(f.method == "transformer", value(f),
                                                          f.g_task))


#: why the quick Fig. 6 variant states no claim (docs/claims.md, replication)
FIG6_QUICK_UNCLAIMED = (
    "4 seeds cannot decide either side of the transition: on 10 fresh random seeds "
    "memorises_at_low_kappa and generalises_at_high_kappa each held on 1 (inconclusive on 9; "
    "margins 0.0-1.2 half-widths); both are stated for the medium variant (16 seeds) and full")


def fig6_claims() -> tuple[Claim, ...]:
    """The memorisation-to-ICL transition of Fig. 6 as two claims, one on each side of it.
    (A third, "g_task falls with kappa", was retired: an early-stopped model and dMMSE show it
    too, so it does not test the transition; see the claims ledger.) Both are stated for the
    medium variant (16 seeds) and the full one: at the quick variant's 4 seeds each held on 1 of
    10 fresh seeds (:data:`FIG6_QUICK_UNCLAIMED`)."""
    return (
        Claim(id="memorises_at_low_kappa",
              statement=("At kappa <= 0.5 the transformer memorises the task pool: its g_task "
                         "is above 0.8 x dMMSE's (Welch 95 % interval over seeds)."),
              source="Lu et al. 2024, Fig. 6",
              check=_check_memorises_like_dmmse,
              counterexample=_transformer_g_task(lambda f: 0.0),
              variants=("medium", "full"),
              controls=(Control(
                  {"steps": 50},
                  "stopped after 50 of the 6000 steps: the model has not memorised the "
                  "pool, so its g_task at kappa <= 0.5 is far below dMMSE's",
                  variants=("medium",)),)),
        Claim(id="generalises_at_high_kappa",
              statement=("At kappa >= 8 the transformer learns in context: its g_task is below "
                         "0.1 x dMMSE's and its e_ICL below dMMSE's."),
              source="Lu et al. 2024, Fig. 6",
              check=_check_generalises,
              # the transformer given the largest g_task measured at its kappa
              counterexample=_transformer_g_task(
                  lambda f: f.groupby("kappa").g_task.transform("max")),
              variants=("medium", "full"),
              controls=(
                  Control({"tau": 1.0},
                          "pretrained on n = d^2 contexts, the interpolation threshold, where "
                          "the linear theory's g_task at kappa = 8 is 0.36 (tau = 1.05) "
                          "against 0.01 at the variant's tau = 40", variants=("medium",)),
                  Control({"steps": 50},
                          "stopped after 50 of the 6000 steps, before the model learns in "
                          "context: its e_ICL is near the null error",
                          variants=("medium",)))),
    )



"""Checks and counterexamples of the Li, Rawat & Oymak (2024) claims (see :mod:`iclab.claims`).

Every check reads the tidy rows of one ``li2024.*`` sweep (one row per trained model:
``method``, ``n``, ``seed``, ``risk``, ``risk_pgd_mc`` …) and returns
:class:`~iclab.claims.Evidence`. Thresholds are arguments fixed where the claims are declared.
Risks of a trained model and of its reference predictor are measured on the same test prompts
(paired), so the test-set noise largely cancels in their ratio.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from iclab.claims import (
    ClaimData,
    Control,
    Evidence,
    all_of,
    compare_interval,
    decide,
    fraction_at_least,
    mean_interval,
)

Check = Callable[[ClaimData], Evidence]


def _label(key: Any, by: Sequence[str]) -> str:
    key = key if isinstance(key, tuple) else (key,)
    return ", ".join(f"{k}={v}" for k, v in zip(by, key, strict=True))


def within_interval(values: Sequence[float] | np.ndarray, tol: float, what: str) -> Evidence:
    """Evidence that the mean of ``values`` lies in ``(-tol, tol)`` (two-sided, 95 % t-interval).

    Holds when ``|mean| + half < tol``, fails when ``|mean| - half >= tol``.
    """
    mean, half, n = mean_interval(values)
    ev = decide(abs(mean), half, tol, "<",
                f"{what}: |mean| over {n} seeds, 95 % t-interval, claim < {tol:g}", df=n - 1)
    return Evidence(ev.verdict, mean, ev.uncertainty, tol, ev.detail, ev.p_fail, ev.mde)


#: the rate (over initialisations and seeds) at which trained models must reach their optimum
#: (within 1 %): decided on the 95 % Wilson interval of the count pooled over a claim's groups,
#: so the quick runs' 24–90 models decide it (a group of 4–15 models could not decide a rate
#: near 1 alone: 15 of 15 give a Wilson lower bound of 0.80, 4 of 4 of 0.51)
REACH_RATE = 0.75


def near_reference(by: Sequence[str], tol: float, frac: float, ref: str = "risk_pgd_mc",
                   where: Callable[[pd.DataFrame], Any] | None = None) -> Check:
    """The rate at which models reach ``risk / ref - 1 <= tol`` is at least ``frac``.

    Per method (the last key of ``by``, or all models when ``by`` has one key) the count of
    models within ``tol`` is pooled over the other groups and decided on its 95 % Wilson
    interval (:func:`iclab.claims.fraction_at_least`); the per-group counts can fail the
    claim too: a group whose rate is demonstrably below ``frac`` after Holm's correction over
    the groups fails it (:func:`iclab.claims.all_of`). Holds when every pooled rate holds and
    no group fails.
    """
    split = list(by[-1:]) if len(by) > 1 else []

    def check(data: ClaimData) -> Evidence:
        res = data.results if where is None else data.results[where(data.results)]
        pooled, per_group = [], []
        for key, g in res.groupby(list(by), sort=True):
            excess = g["risk"] / g[ref] - 1
            per_group.append(fraction_at_least(
                int((excess <= tol).sum()), len(g), frac,
                f"{_label(key, by)}: models with risk <= (1 + {tol:g}) x {ref} "
                f"(max excess {excess.max():.4f})"))
        for key, g in (res.groupby(split, sort=True) if split else [((), res)]):
            excess = g["risk"] / g[ref] - 1
            label = _label(key, split) if split else "all models"
            pooled.append(fraction_at_least(int((excess <= tol).sum()), len(g), frac,
                                            f"{label}, pooled"))
        groups = all_of(per_group, f"every group of {', '.join(by)}")
        if groups.verdict == "fails":
            return groups
        rate = all_of(pooled, "pooled rate")
        if rate.verdict == "holds" and groups.verdict != "holds":
            # the groups alone cannot show a high rate (too few models each); they only
            # guard against one group being demonstrably worse
            return Evidence("holds", rate.statistic, rate.uncertainty, rate.threshold,
                            rate.detail + f"; no group demonstrably below ({len(per_group)} "
                            "groups, Holm)", rate.p_fail, rate.mde)
        return rate

    return check


def paired_difference(frame: pd.DataFrame, column: str, pair: str, a: Any, b: Any,
                      on: Sequence[str]) -> pd.Series:
    """``frame[column]`` at ``pair == b`` minus at ``pair == a``, matched on the keys ``on``."""
    left = frame[frame[pair] == a].set_index(list(on))[column]
    right = frame[frame[pair] == b].set_index(list(on))[column]
    return (right - left).dropna()


def _method_differences(data: ClaimData, panel: str, a: str, b: str, tol: float,
                        ref: str = "risk_pgd_mc") -> list[Evidence]:
    """Per ``panel``: the mean over (n, seed) of ``(risk_b - risk_a) / ref`` within ``±tol``
    (:func:`within_interval`)."""
    ev = []
    for key, g in data.results.groupby(panel, sort=True):
        rel = g.assign(rel=g["risk"] / g[ref])
        diff = paired_difference(rel, "rel", "method", a, b, ["n", "seed"])
        ev.append(within_interval(diff.to_numpy(), tol,
                                  f"{panel}={key}: ({b} - {a}) risk / {ref}"))
    return ev


def equal_methods(panel: str, a: str, b: str, tol: float) -> Check:
    """Per ``panel``: the mean of ``(risk_b - risk_a) / risk_pgd_mc`` over (n, seed) is within
    ``±tol`` (methods ``a`` and ``b`` reach the same risk)."""

    def check(data: ClaimData) -> Evidence:
        return all_of(_method_differences(data, panel, a, b, tol), f"every {panel}")

    return check


def equal_at_reference(panel: str, a: str, b: str, tol: float,
                       ref: str = "risk_pgd_mc") -> Check:
    """Methods ``a`` and ``b`` reach the same risk, the reference's: per ``panel``,

    * for each method, the mean over (n, seed) of the excess ``risk / ref - 1`` is below
      ``tol`` (one-sided, 95 % t-interval), and
    * the mean of ``(risk_b - risk_a) / ref`` lies within ``±tol`` (:func:`equal_methods`).

    Equal minima (``min L_a = min L_b = L_ref``) show in trained risks only where both models
    are at the minimum; two models stopped early can have equal risks, or unequal ones, at
    any distance from it, so the first part makes such models fail. One family over the
    panels (:func:`iclab.claims.all_of`).
    """

    def check(data: ClaimData) -> Evidence:
        ev = []
        for (key, method), g in data.results.groupby([panel, "method"], sort=True):
            if method in (a, b):
                ev.append(compare_interval((g["risk"] / g[ref] - 1).to_numpy(), tol, "<",
                                           f"{panel}={key}, {method}: risk / {ref} - 1"))
        ev += _method_differences(data, panel, a, b, tol, ref)
        return all_of(ev, f"every {panel}: {a} and {b} at {ref}, and equal")

    return check


def monotone_in(level: str, column: str, order: Sequence[Any], by: Sequence[str] = (),
                direction: str = "increasing", margin: float = 0.0,
                frame: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> Check:
    """``column`` rises (or falls) along ``order`` of ``level``.

    For each consecutive pair of levels (and each group of ``by``), the seed-matched step
    ``column(next) - column(previous)`` (sign flipped for ``"decreasing"``) has its 95 % interval
    above ``margin``. ``frame`` may derive ``column`` from the results first.
    """
    sign = 1.0 if direction == "increasing" else -1.0

    def check(data: ClaimData) -> Evidence:
        res = data.results if frame is None else frame(data.results)
        groups = res.groupby(list(by), sort=True) if by else [((), res)]
        ev = []
        for key, g in groups:
            for lo, hi in zip(order[:-1], order[1:], strict=False):
                diff = sign * paired_difference(g, column, level, lo, hi, ["seed"])
                where = f"{_label(key, by)}: " if by else ""
                ev.append(compare_interval(diff.to_numpy(), margin, ">",
                                           f"{where}{'' if sign > 0 else '-'}[{column}({level}="
                                           f"{hi}) - {column}({level}={lo})]"))
        return all_of(ev, f"{column} {direction} along {level}")

    return check


# ---- negative controls -----------------------------------------------------------------------
#: training steps of the early-stopped negative controls
EARLY_STOP_STEPS = 50


def early_stopped(steps: int, why: str = "the models are still far from the optimum"
                  ) -> Control:
    """Negative control: the same sweep stopped after :data:`EARLY_STOP_STEPS` of its
    ``steps`` training steps, where the trained models have not reached the optimum the
    claim compares them with."""
    return Control({"steps": EARLY_STOP_STEPS},
                   f"stopped after {EARLY_STOP_STEPS} of the {steps} training steps: {why}")

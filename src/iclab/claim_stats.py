"""The statistics of claim checks: intervals, verdicts, families and counts.

A check returns :class:`Evidence`: a verdict (``holds`` / ``fails`` / ``inconclusive``), the
statistic, its uncertainty over seeds or trials, the threshold it was compared with, and, where
the check has a sampling model, the p-value of "the claim holds here" and the minimum
detectable effect. The helpers below turn a sample over seeds or trials into an interval
(Student t, or Wilson for counts) and compare the interval, not one draw, with the threshold:

* the whole interval on the claimed side of the threshold → ``holds``;
* the whole interval on the other side → ``fails``;
* the interval straddles the threshold → ``inconclusive`` (more seeds or trials would decide).

A family of comparisons (:func:`all_of`) holds when all hold and fails only under Holm's
step-down rule. :mod:`iclab.claims` re-exports every name here.

>>> import numpy as np
>>> compare_interval(np.array([0.9, 1.0, 1.1, 0.95]), 0.5, ">").verdict
'holds'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Literal, TypeVar

import numpy as np
import pandas as pd

Verdict = Literal["holds", "fails", "inconclusive"]
SeriesOrFrame = TypeVar("SeriesOrFrame", pd.Series, pd.DataFrame)
VERDICTS: tuple[Verdict, ...] = ("holds", "fails", "inconclusive")
Direction = Literal[">", "<"]
LEVEL = 0.95  # two-sided confidence level of every interval below (one-sided 97.5 %)


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What a check found.

    Attributes:
        verdict: ``holds``, ``fails`` or ``inconclusive``.
        statistic: the estimate the verdict is about (e.g. a seed-mean slope).
        uncertainty: half-width of its 95 % interval over seeds or trials (0 when exact,
            NaN when it cannot be estimated).
        threshold: the value the statistic is compared with (stated in code; the claims
            ledger records every change).
        detail: one line: what the statistic is, over how many seeds/trials, and the rule.
        p_fail: one-sided p-value of "the claim holds here" (small: evidence that it fails);
            :func:`all_of` controls it over a family with Holm's step-down rule. NaN when the
            check has no sampling model (then its own verdict is used).
        mde: minimum detectable effect: how far beyond the threshold the true value must
            lie for the check to say ``holds`` with 80 % power at this number of seeds or
            trials (NaN when unknown).
    """

    verdict: Verdict
    statistic: float
    uncertainty: float
    threshold: float
    detail: str = ""
    p_fail: float = math.nan
    mde: float = math.nan

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r} is invalid: must be one of {VERDICTS}")


def mean_interval(values: Sequence[float] | np.ndarray, level: float = LEVEL
                  ) -> tuple[float, float, int]:
    """``(mean, half-width, n)`` of the Student-t interval of the mean of finite ``values``.

    The half-width is ``t_{(1+level)/2, n-1} · s / sqrt(n)``; NaN when n < 2. (The t
    quantile comes from ``scipy.special.stdtrit``, which spares importing ``scipy.stats``.)
    """
    from scipy.special import stdtrit

    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, n
    half = float(stdtrit(n - 1, 0.5 + level / 2) * x.std(ddof=1) / math.sqrt(n))
    return mean, half, n


def decide(estimate: float, half_width: float, threshold: float, direction: Direction,
           detail: str = "", df: int | None = None) -> Evidence:
    """Verdict of "``estimate`` is ``direction`` ``threshold``" given an interval half-width.

    ``holds`` if ``[estimate ± half_width]`` lies wholly on the claimed side, ``fails`` if it
    lies wholly on the other side (or on the threshold), ``inconclusive`` otherwise (and
    whenever the estimate or its half-width is NaN).

    With ``df`` (the degrees of freedom of a Student-t interval, n − 1) the evidence also
    carries ``p_fail``, the one-sided p-value of "the claim holds" (t = distance to the
    threshold on the wrong side over the standard error ``half_width / t_{0.975, df}``), and
    ``mde = half_width (1 + t_{0.80, df} / t_{0.975, df})``, the true distance beyond the
    threshold at which the interval clears it with 80 % power.
    """
    if direction not in (">", "<"):
        raise ValueError(f"direction={direction!r} is invalid: must be '>' or '<'")
    if not (math.isfinite(estimate) and math.isfinite(half_width)):
        return Evidence("inconclusive", estimate, half_width, threshold,
                        detail + " (too few finite values for an interval)")
    lo, hi = estimate - half_width, estimate + half_width
    if direction == ">":
        verdict: Verdict = "holds" if lo > threshold else "fails" if hi <= threshold else \
            "inconclusive"
    else:
        verdict = "holds" if hi < threshold else "fails" if lo >= threshold else "inconclusive"
    p_fail = mde = math.nan
    if df is not None and df >= 1:
        from scipy.special import stdtr, stdtrit

        t975 = float(stdtrit(df, 0.5 + LEVEL / 2))
        mde = half_width * (1.0 + float(stdtrit(df, 0.80)) / t975)
        se = half_width / t975
        wrong_side = (threshold - estimate) if direction == ">" else (estimate - threshold)
        p_fail = (float(stdtr(df, -wrong_side / se)) if se > 0
                  else (0.0 if wrong_side >= 0 else 1.0))
    return Evidence(verdict, estimate, half_width, threshold, detail, p_fail, mde)


def compare_interval(values: Sequence[float] | np.ndarray, threshold: float,
                     direction: Direction, what: str = "mean", level: float = LEVEL) -> Evidence:
    """Evidence that the mean of ``values`` (one per seed or trial) is ``direction threshold``."""
    mean, half, n = mean_interval(values, level)
    return decide(mean, half, threshold, direction,
                  f"{what} over {n} seeds/trials, {level:.0%} t-interval, claim {direction} "
                  f"{threshold:g}", df=n - 1 if level == LEVEL else None)


#: one-sided level of a "fails" verdict: the 95 % two-sided intervals leave 2.5 % on each side
ALPHA_ONE_SIDED = (1.0 - LEVEL) / 2


def holm_rejections(p_values: Sequence[float], alpha: float = ALPHA_ONE_SIDED) -> list[bool]:
    """Holm's step-down rule: which hypotheses are rejected at family-wise level ``alpha``.

    Sort the m p-values; reject the j-th smallest (j = 1 … m) while every p_(i) with i <= j
    is at most alpha / (m − i + 1); stop at the first that is not.

    >>> holm_rejections([0.001, 0.02, 0.3], alpha=0.025)
    [True, False, False]
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [False] * m
    for rank, i in enumerate(order):
        if not p_values[i] <= alpha / (m - rank):
            break
        out[i] = True
    return out


def all_of(evidence: Sequence[Evidence], what: str) -> Evidence:
    """Combine the comparisons of one claim's family (panels, grid points, groups).

    * ``holds`` when every comparison holds: an intersection–union test, whose chance of a
      false "holds" is at most that of one comparison (2.5 %), so no correction is needed;
    * ``fails`` when Holm's step-down rule (:func:`holm_rejections`) over the comparisons'
      ``p_fail`` rejects "holds" for at least one of them at family-wise level 2.5 %, so
      that among many comparisons one unlucky draw cannot fail the claim (a comparison
      without a p-value counts as rejected when its own verdict is ``fails``);
    * ``inconclusive`` otherwise.

    The reported statistic and uncertainty are those of the deciding comparison (the first
    rejected, else the first not holding, else the one closest to its threshold); ``detail``
    names it.
    """
    if not evidence:
        return Evidence("inconclusive", math.nan, math.nan, math.nan, what + ": no data")
    m = len(evidence)
    p = [e.p_fail if math.isfinite(e.p_fail) else (0.0 if e.verdict == "fails" else 1.0)
         for e in evidence]
    rejected = holm_rejections(p)
    worst_p = min(p)
    if any(rejected):
        e = evidence[rejected.index(True)]
        n_rej = sum(rejected)
        return Evidence("fails", e.statistic, e.uncertainty, e.threshold,
                        f"{what}: {n_rej} of {m} fail (Holm, family of {m}); first: {e.detail}",
                        worst_p, e.mde)
    bad = [e for e in evidence if e.verdict != "holds"]
    if bad:
        e = bad[0]
        n_fail = sum(x.verdict == "fails" for x in evidence)
        note = f", {n_fail} fail alone but not after Holm's correction" if n_fail else ""
        return Evidence("inconclusive", e.statistic, e.uncertainty, e.threshold,
                        f"{what}: {len(bad)} of {m} do not hold{note}; first: {e.detail}",
                        worst_p, e.mde)

    def margin(e: Evidence) -> float:
        return abs(e.statistic - e.threshold) - (e.uncertainty if math.isfinite(e.uncertainty)
                                                   else 0.0)

    e = min(evidence, key=margin)
    mdes = [x.mde for x in evidence if math.isfinite(x.mde)]
    return Evidence("holds", e.statistic, e.uncertainty, e.threshold,
                    f"{what}: all {m} hold; closest: {e.detail}", worst_p,
                    max(mdes) if mdes else math.nan)


def wilson_interval(successes: int, total: int, level: float = LEVEL) -> tuple[float, float]:
    """The Wilson score interval ``(low, high)`` of a binomial proportion."""
    from scipy.special import ndtri

    z = float(ndtri(0.5 + level / 2))
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return centre - half, centre + half


def fraction_at_least(successes: int, total: int, threshold: float, what: str) -> Evidence:
    """Evidence that the rate behind a count (e.g. of initialisations that reach an optimum)
    is at least ``threshold``, decided on the 95 % Wilson interval.

    The claim generalises over the seeds (a new initialisation reaches the optimum with
    probability ≥ threshold), so the count is a sample: ``holds`` when the whole Wilson
    interval is at or above the threshold, ``fails`` when it is wholly below, otherwise
    ``inconclusive``. With 15 models and threshold 0.7, 14 or 15 successes hold and 9 or
    fewer fail. ``p_fail`` is the one-sided score-test p-value of "rate ≥ threshold".
    """
    from scipy.special import ndtr

    if total <= 0:
        return Evidence("inconclusive", math.nan, math.nan, threshold, what + ": no data")
    p = successes / total
    lo, hi = wilson_interval(successes, total)
    verdict: Verdict = "holds" if lo >= threshold else "fails" if hi < threshold else \
        "inconclusive"
    se0 = math.sqrt(threshold * (1 - threshold) / total) if 0 < threshold < 1 else math.nan
    p_fail = float(ndtr((p - threshold) / se0)) if se0 and math.isfinite(se0) else math.nan
    return Evidence(verdict, p, (hi - lo) / 2, threshold,
                    f"{what}: {successes} of {total}, 95 % Wilson interval [{lo:.3f}, {hi:.3f}] "
                    f"(claim rate >= {threshold:g})", p_fail)


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation of two equal-length sequences (NaN if undefined)."""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def slope(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Least-squares slope of ``y`` on ``x`` (``cov(x, y) / var(x)``)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    xc = x - x.mean()
    return float((xc * (y - y.mean())).sum() / (xc * xc).sum())


def fraction_of_gain_lost(clean: SeriesOrFrame, noisy: SeriesOrFrame, chance: float,
                          min_gain: float = 0.0) -> SeriesOrFrame:
    """The fraction of a model's clean accuracy above chance that noise removes,
    ``(acc_clean - acc_noisy) / (acc_clean - chance)``, elementwise (Series or frames aligned
    on their labels).

    Normalising by the clean gain keeps a more accurate model from losing more merely because
    it has more to lose. NaN where the gain is not above zero or is below ``min_gain``: a model
    at chance does no in-context learning to lose.
    """
    gain = clean - chance
    return (clean - noisy) / gain.where((gain > 0) & (gain >= min_gain))

"""Claims: the sentences a figure is meant to show, made checkable.

A :class:`Claim` is one sentence from a paper (or marked ``"ours"`` where the construction is
the toolkit's own), the variants in which it is expected to hold, a *check* over an
experiment's results and theory, and a *counterexample*: a deliberate corruption of the
results under which the check must not say "holds" (the conformance tests use it to show
that every check can fail).

A check returns :class:`Evidence`: a verdict (``holds`` / ``fails`` / ``inconclusive``), the
statistic, its uncertainty over seeds or trials, and the threshold it was compared with. The
threshold is fixed in code before any run. Checks are statistical: the helpers below turn a
sample over seeds or trials into an interval (Student t) and compare the interval, not one
draw, with the threshold:

* the whole interval on the claimed side of the threshold → ``holds``;
* the whole interval on the other side → ``fails``;
* the interval straddles the threshold → ``inconclusive`` (more seeds or trials would decide).

>>> import numpy as np
>>> compare_interval(np.array([0.9, 1.0, 1.1, 0.95]), 0.5, ">").verdict
'holds'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

Verdict = Literal["holds", "fails", "inconclusive"]
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
        threshold: the value the statistic is compared with (fixed before the run).
        detail: one line: what the statistic is, over how many seeds/trials, and the rule.
    """

    verdict: Verdict
    statistic: float
    uncertainty: float
    threshold: float
    detail: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r} is invalid: must be one of {VERDICTS}")


@dataclasses.dataclass(frozen=True)
class ClaimData:
    """What a check reads: the settings, the tidy results, the theory curves and the variant."""

    settings: Any
    results: pd.DataFrame
    theory: pd.DataFrame | None
    variant: str

    def replace(self, **changes: Any) -> ClaimData:
        """A copy with some fields replaced (used by counterexamples)."""
        return dataclasses.replace(self, **changes)


Check = Callable[[ClaimData], Evidence]
Counterexample = Callable[[ClaimData], ClaimData]


@dataclasses.dataclass(frozen=True)
class Claim:
    """One checkable claim of an experiment.

    Attributes:
        id: short identifier, unique within the experiment (e.g. ``"peak_at_tau_1"``).
        statement: one sentence stating the claim, in the paper's terms.
        source: where it comes from (paper, figure or theorem), or ``"ours"``.
        check: ``ClaimData -> Evidence``.
        counterexample: ``ClaimData -> ClaimData``, a corruption of the results (or theory)
            under which ``check`` must not say ``holds``.
        variants: the variants in which the claim is expected to hold.
        settings: the settings the claim was stated for (``{"rho": 0.01}``); empty: those of
            the variant of the class that declares it (:mod:`iclab.claim_scope`).
    """

    id: str
    statement: str
    source: str
    check: Check
    counterexample: Counterexample
    variants: tuple[str, ...] = ("quick", "full")
    settings: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False,
                                                 compare=False)


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """A claim's verdict for one stored sweep (one row of ``iclab check``)."""

    experiment: str
    claim: str
    statement: str
    source: str
    variant: str
    verdict: Verdict
    statistic: float
    uncertainty: float
    threshold: float
    detail: str
    #: the stated settings this sweep changes (``"rho 0.01 → 0.5"``); empty when none
    settings_differ: str = ""
    #: why an inconclusive verdict could not be decided (empty otherwise)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite numbers become ``None``."""
        out = dataclasses.asdict(self)
        for key in ("statistic", "uncertainty", "threshold"):
            value = out[key]
            out[key] = None if value is None or not math.isfinite(value) else float(value)
        return out


def evaluate_claims(experiment: Any, data: ClaimData) -> list[ClaimResult]:
    """Run every claim of ``experiment`` declared for ``data.variant``.

    A check that raises is reported as ``inconclusive`` with the error in ``detail`` (a
    broken check must never read as a claim that holds). Each result also says which of the
    settings the claim was stated for this sweep changes (``settings_differ``, see
    :mod:`iclab.claim_scope`) and, when inconclusive, why (``note``).
    """
    from iclab.claim_scope import settings_difference, stated_settings, undecided_note

    out: list[ClaimResult] = []
    for claim in experiment.claims:
        if data.variant not in claim.variants:
            continue
        try:
            ev = claim.check(data)
        except Exception as exc:  # noqa: BLE001 - reported, never hidden
            ev = Evidence("inconclusive", math.nan, math.nan, math.nan,
                          f"check raised {type(exc).__name__}: {exc}".splitlines()[0])
        differ = settings_difference(stated_settings(experiment, claim, data.variant),
                                     data.settings)
        out.append(ClaimResult(experiment.name, claim.id, claim.statement, claim.source,
                               data.variant, ev.verdict, float(ev.statistic),
                               float(ev.uncertainty), float(ev.threshold), ev.detail, differ,
                               undecided_note(ev.verdict, float(ev.uncertainty), ev.detail)))
    return out


# ---- statistics ------------------------------------------------------------------------------
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
           detail: str = "") -> Evidence:
    """Verdict of "``estimate`` is ``direction`` ``threshold``" given an interval half-width.

    ``holds`` if ``[estimate ± half_width]`` lies wholly on the claimed side, ``fails`` if it
    lies wholly on the other side (or on the threshold), ``inconclusive`` otherwise (and
    whenever the estimate or its half-width is NaN).
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
    return Evidence(verdict, estimate, half_width, threshold, detail)


def compare_interval(values: Sequence[float] | np.ndarray, threshold: float,
                     direction: Direction, what: str = "mean", level: float = LEVEL) -> Evidence:
    """Evidence that the mean of ``values`` (one per seed or trial) is ``direction threshold``."""
    mean, half, n = mean_interval(values, level)
    return decide(mean, half, threshold, direction,
                  f"{what} over {n} seeds/trials, {level:.0%} t-interval, claim {direction} "
                  f"{threshold:g}")


def all_of(evidence: Sequence[Evidence], what: str) -> Evidence:
    """Combine per-panel evidence: holds if all hold, fails if any fails, else inconclusive.

    The reported statistic and uncertainty are those of the worst panel (the first failing,
    else the first inconclusive, else the one whose interval comes closest to its threshold).
    """
    if not evidence:
        return Evidence("inconclusive", math.nan, math.nan, math.nan, what + ": no data")
    for verdict in ("fails", "inconclusive"):
        bad = [e for e in evidence if e.verdict == verdict]
        if bad:
            e = bad[0]
            return Evidence(verdict, e.statistic, e.uncertainty, e.threshold,
                            f"{what}: {len(bad)} of {len(evidence)} {verdict}; first: {e.detail}")

    def margin(e: Evidence) -> float:
        return abs(e.statistic - e.threshold) - (e.uncertainty if math.isfinite(e.uncertainty)
                                                   else 0.0)

    e = min(evidence, key=margin)
    return Evidence("holds", e.statistic, e.uncertainty, e.threshold,
                    f"{what}: all {len(evidence)} hold; closest: {e.detail}")


def fraction_at_least(successes: int, total: int, threshold: float, what: str) -> Evidence:
    """Evidence that a counted fraction is ``>= threshold`` (exact count, not an estimate).

    The claim is about the seeds actually trained, so the verdict compares the observed
    fraction itself; the uncertainty reported is the half-width of the 95 % Wilson interval,
    for the reader.
    """
    if total <= 0:
        return Evidence("inconclusive", math.nan, math.nan, threshold, what + ": no data")
    p = successes / total
    z = 1.959963984540054
    denom = 1 + z * z / total
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    verdict: Verdict = "holds" if p >= threshold else "fails"
    return Evidence(verdict, p, half, threshold,
                    f"{what}: {successes} of {total} (claim >= {threshold:g})")


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


# ---- counterexamples -------------------------------------------------------------------------
def scale_column(column: str, factor: float, where: Callable[[pd.DataFrame], Any] | None = None
                 ) -> Counterexample:
    """Counterexample: multiply results[column] by ``factor`` (on rows ``where`` selects)."""

    def apply(data: ClaimData) -> ClaimData:
        frame = data.results.copy()
        mask = slice(None) if where is None else where(frame)
        frame.loc[mask, column] = frame.loc[mask, column] * factor
        return data.replace(results=frame)

    return apply


def reverse_column(column: str, within: Sequence[str] = ()) -> Counterexample:
    """Counterexample: reverse the order of results[column] within groups (breaks trends)."""

    def apply(data: ClaimData) -> ClaimData:
        frame = data.results.copy()
        if within:
            for _, idx in frame.groupby(list(within), sort=False).groups.items():
                frame.loc[idx, column] = frame.loc[idx, column].to_numpy()[::-1]
        else:
            frame[column] = frame[column].to_numpy()[::-1]
        return data.replace(results=frame)

    return apply


def transform_column(column: str, fn: Callable[[pd.DataFrame], Any]) -> Counterexample:
    """Counterexample: results[column] = fn(results)."""

    def apply(data: ClaimData) -> ClaimData:
        frame = data.results.copy()
        frame[column] = fn(frame)
        return data.replace(results=frame)

    return apply

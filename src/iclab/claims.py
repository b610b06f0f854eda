"""Claims: the sentences a figure is meant to show, made checkable.

A :class:`Claim` is one sentence from a paper (or marked ``"ours"`` where the construction is
the toolkit's own), the variants in which it is expected to hold, a *check* over an
experiment's results and theory, and a *counterexample*: a deliberate corruption of the
results under which the check must not say "holds" (the conformance tests use it to show
that every check can fail).

A check returns :class:`Evidence`: a verdict (``holds`` / ``fails`` / ``inconclusive``), the
statistic, its uncertainty over seeds or trials, and the threshold it was compared with. The
threshold is stated in code; every change to a claim after its introduction (statement,
threshold, check or the settings it is stated for) is recorded, with the verdicts before it
and whether a run had been seen, in the claims ledger (:mod:`iclab.claims_ledger`). Checks are
statistical: the helpers below turn a
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
class Control:
    """A negative control: a real configuration in which the claimed effect is absent.

    The experiment is run through the same code with ``overrides`` applied on top of the
    variant's settings (e.g. a strong ridge λ = 1 for the τ = 1 interpolation peak, one model
    size for a trend in size); on those results the claim's check must say ``fails``.
    Unlike a counterexample (a corruption of results), a control shows that the check can tell
    a real absence of the effect from its presence.

    Attributes:
        overrides: settings applied on top of the variant (JSON-serialisable values).
        why: one sentence: what the theory (or construction) says happens there.
        variants: the variants for which the control is stated (default: quick only).
    """

    overrides: dict[str, Any]
    why: str
    variants: tuple[str, ...] = ("quick",)


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
        controls: negative controls (:class:`Control`): real configurations on which the
            check must say ``fails`` (``iclab check --controls``).
        no_control: when ``controls`` is empty, why no realistic control exists (shown by
            ``iclab check --controls`` and the report).
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
    controls: tuple[Control, ...] = ()
    no_control: str = ""

    @property
    def from_paper(self) -> bool:
        """Whether the claim is a paper's (not marked ``"ours"``)."""
        return not self.source.strip().lower().startswith("ours")


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
    #: the claim's revision in the claims ledger (:mod:`iclab.claims_ledger`); 0 = unknown
    revision: int = 0
    #: whether the claim (statement, threshold, check or settings) was changed after a run
    revised_after_run: bool = False
    #: ``"claim"``, or ``"control"`` for the verdict on a negative control (expected: fails)
    role: str = "claim"
    #: for a control: its settings overrides and why the effect is absent there
    control: str = ""
    #: minimum detectable effect of the deciding comparison at these seeds (NaN: unknown)
    mde: float = math.nan
    #: the stated settings this sweep changes (``"rho 0.01 → 0.5"``); empty when none
    settings_differ: str = ""
    #: why an inconclusive verdict could not be decided (empty otherwise)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite numbers become ``None``."""
        out = dataclasses.asdict(self)
        for key in ("statistic", "uncertainty", "threshold", "mde"):
            value = out[key]
            out[key] = None if value is None or not math.isfinite(value) else float(value)
        return out


def run_check(claim: Claim, data: ClaimData) -> Evidence:
    """``claim.check(data)``; a check that raises is ``inconclusive`` with the error in
    ``detail`` (a broken check must never read as a claim that holds)."""
    try:
        return claim.check(data)
    except Exception as exc:  # noqa: BLE001 - reported, never hidden
        return Evidence("inconclusive", math.nan, math.nan, math.nan,
                        f"check raised {type(exc).__name__}: {exc}".splitlines()[0])


def claim_result(experiment: Any, claim: Claim, data: ClaimData, ev: Evidence,
                 **extra: Any) -> ClaimResult:
    """One row of ``iclab check`` for ``claim``'s evidence: its ledger revision, which of the
    settings the claim was stated for this sweep changes (``settings_differ``, see
    :mod:`iclab.claim_scope`) and, when inconclusive, why (``note``)."""
    from iclab.claim_scope import settings_difference, stated_settings, undecided_note
    from iclab.claims_ledger import ledger_status

    revision, revised = ledger_status(experiment.name, claim.id)
    differ = settings_difference(stated_settings(experiment, claim, data.variant),
                                 data.settings)
    return ClaimResult(experiment.name, claim.id, claim.statement, claim.source,
                       data.variant, ev.verdict, float(ev.statistic), float(ev.uncertainty),
                       float(ev.threshold), ev.detail, revision=revision,
                       revised_after_run=revised, mde=float(ev.mde), settings_differ=differ,
                       note=undecided_note(ev.verdict, float(ev.uncertainty), ev.detail),
                       **extra)


def evaluate_claims(experiment: Any, data: ClaimData) -> list[ClaimResult]:
    """Run every claim of ``experiment`` declared for ``data.variant`` (see :func:`run_check`
    and :func:`claim_result`)."""
    return [claim_result(experiment, claim, data, run_check(claim, data))
            for claim in experiment.claims if data.variant in claim.variants]


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

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
statistical: the helpers of :mod:`iclab.claim_stats` (re-exported here) turn a sample over
seeds or trials into an interval (Student t, Wilson for counts) and compare the interval, not
one draw, with the threshold, and control families of comparisons with Holm's rule.

>>> import numpy as np
>>> compare_interval(np.array([0.9, 1.0, 1.1, 0.95]), 0.5, ">").verdict
'holds'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from iclab.claim_stats import (
    ALPHA_ONE_SIDED,
    LEVEL,
    VERDICTS,
    Direction,
    Evidence,
    Verdict,
    all_of,
    compare_interval,
    decide,
    fraction_at_least,
    fraction_of_gain_lost,
    holm_rejections,
    mean_interval,
    slope,
    spearman,
    wilson_interval,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "ALPHA_ONE_SIDED", "LEVEL", "VERDICTS", "Check", "Claim", "ClaimData", "ClaimResult",
    "Control", "Counterexample", "Direction", "Evidence", "Verdict", "all_of", "claim_result",
    "compare_interval", "decide", "evaluate_claims", "fraction_at_least",
    "fraction_of_gain_lost", "holm_rejections",
    "mean_interval", "reverse_column", "run_check", "scale_column", "slope", "spearman",
    "transform_column", "wilson_interval",
]


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
    #: one-sided p-value of "the claim holds" of the deciding comparison (NaN: no model)
    p_fail: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite numbers become ``None``."""
        out = dataclasses.asdict(self)
        for key in ("statistic", "uncertainty", "threshold", "mde", "p_fail"):
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
                       p_fail=float(ev.p_fail), **extra)


def evaluate_claims(experiment: Any, data: ClaimData) -> list[ClaimResult]:
    """Run every claim of ``experiment`` declared for ``data.variant`` (see :func:`run_check`
    and :func:`claim_result`)."""
    return [claim_result(experiment, claim, data, run_check(claim, data))
            for claim in experiment.claims if data.variant in claim.variants]


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

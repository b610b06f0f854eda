"""Replication over fresh seeds: the engine behind ``iclab check --replicate K``.

Each experiment runs at K experiment seeds drawn at random (kept beside the store, so a rerun
resumes), and each claim's verdicts are collected per seed (:class:`Replication`). Besides the
count of seeds on which a claim holds, a replication reports the claim's *margin* on every seed
(:func:`claimed_margin`): how far its statistic lies beyond the threshold on the claimed side,
in half-widths of its 95 % interval, so that ``margin > 1`` is "holds" and ``margin < −1`` is
"fails". The spread of the margins over seeds is the power reasoning of a claim: the chance
that it holds on a fresh seed, :attr:`Replication.estimated_hold_rate`, is read from a normal
model of the margins fitted robustly (median, and 1.4826 × the median absolute deviation as
the standard deviation),

    P(holds) ≈ Φ((median(margin) − 1) / (1.4826 · MAD(margin))),

or, when every margin is positive, of their logarithms (P(holds) ≈ Φ(median(log m) /
(1.4826 · MAD(log m)))): a claim's statistic often varies over seeds by a factor rather than by
a fixed amount, which gives the margins a long right tail that would widen a normal fit
without making the claim any more likely to fail. A claim stated to hold on 19 of 20 fresh
seeds needs P(holds) ≥ 0.95. The estimate is never above the fraction of seeds on which the
claim held: a claim lost to a discrete event (one of fifteen models stalling) shows in the
count, not in the spread of the margins.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from iclab.claims import ClaimResult
from iclab.engine.check import claims_of_run
from iclab.engine.runner import ExperimentLike, prepare_run, run_plans
from iclab.engine.store import DEFAULT_STORE_PATH, Store
from iclab.engine.units import Executor
from iclab.safe_output import atomic_write

#: fewest finite margins from which :attr:`Replication.estimated_hold_rate` is estimated
MIN_MARGINS_FOR_RATE = 5
#: the median absolute deviation of a normal sample times this estimates its standard deviation
MAD_TO_SD = 1.4826


def claimed_margin(result: ClaimResult) -> float:
    """Distance of ``result``'s statistic beyond its threshold on the claimed side, in
    half-widths of its 95 % interval: ``> 1`` holds, ``< −1`` fails, between is inconclusive.

    The claimed side is read from the one-sided p-value of "the claim holds" (``p_fail > 0.5``:
    the estimate lies on the claimed side); a check without one (NaN) signs the margin by its
    verdict, and an inconclusive verdict without one has no margin (NaN). An exact statistic
    (zero half-width) has an infinite margin of its verdict's sign. The margin is kept in its
    verdict's range (an inconclusive one within ±1), which only an asymmetric interval, such
    as the Wilson interval of a count, measured by its half-width, could leave.
    """
    distance = abs(result.statistic - result.threshold)
    if math.isfinite(result.p_fail):
        sign = 1.0 if result.p_fail > 0.5 else -1.0
    elif result.verdict in ("holds", "fails"):
        sign = 1.0 if result.verdict == "holds" else -1.0
    else:
        return math.nan
    if not (math.isfinite(distance) and math.isfinite(result.uncertainty)):
        return math.nan
    margin = sign * math.inf if result.uncertainty == 0 else sign * distance / result.uncertainty
    # an asymmetric interval (the Wilson interval of a count) can leave an inconclusive
    # statistic more than one half-width from its threshold: keep the margin in the range of
    # its verdict
    low, high = {"holds": (1.0, math.inf), "fails": (-math.inf, -1.0)}.get(
        result.verdict, (-1.0, 1.0))
    return min(max(margin, low), high)


@dataclass
class Replication:
    """A claim's verdicts and margins over the experiment seeds of ``iclab check --replicate``."""

    experiment: str
    claim: str
    seeds: list[int] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    #: :func:`claimed_margin` per seed (NaN where it has none)
    margins: list[float] = field(default_factory=list)

    @property
    def n_holds(self) -> int:
        return sum(v == "holds" for v in self.verdicts)

    @property
    def median_margin(self) -> float:
        """Median of the finite margins (NaN when none); infinite margins count as such."""
        m = np.asarray(self.margins, dtype=float)
        m = m[~np.isnan(m)]
        return float(np.median(m)) if m.size else math.nan

    @property
    def estimated_hold_rate(self) -> float:
        """The chance of "holds" on a fresh seed: under a robust normal model of the margins
        over seeds (of their logarithms when all are positive; module docstring), and never
        above the fraction of seeds on which the claim held (the model describes the spread of
        a claim's statistic; a claim lost to a discrete event, such as one of fifteen models
        stalling, shows in the count). NaN with fewer than :data:`MIN_MARGINS_FOR_RATE`
        margins that are not NaN; the fraction alone when the spread is 0 or not finite."""
        from scipy.special import ndtr

        every = np.asarray(self.margins, dtype=float)
        if self.verdicts:  # a seed that held without a finite margin (NaN) still held
            observed = self.n_holds / len(self.verdicts)
        else:
            observed = float(np.mean(np.nan_to_num(every, nan=0.0) > 1)) if every.size \
                else math.nan
        m = every[~np.isnan(every)]
        if m.size < MIN_MARGINS_FOR_RATE:
            return math.nan
        if np.isinf(m).any():
            return observed
        x, bar = (np.log(m), 0.0) if (m > 0).all() else (m, 1.0)
        centre = float(np.median(x))
        spread = MAD_TO_SD * float(np.median(np.abs(x - centre)))
        if spread == 0:
            return observed
        return min(float(ndtr((centre - bar) / spread)), observed)

    @property
    def hold_rate_text(self) -> str:
        """:attr:`estimated_hold_rate` as a percentage ("—" when not estimated)."""
        rate = self.estimated_hold_rate
        return "—" if not math.isfinite(rate) else "> 99 %" if rate >= 0.995 \
            else f"{100 * rate:.0f} %"

    def to_dict(self) -> dict[str, Any]:
        def finite(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {"experiment": self.experiment, "claim": self.claim, "holds": self.n_holds,
                "n": len(self.verdicts), "seeds": self.seeds, "verdicts": self.verdicts,
                "margins": [finite(x) for x in self.margins],
                "median_margin": finite(self.median_margin),
                "estimated_hold_rate": finite(self.estimated_hold_rate)}


def replication_seeds(path: Path, names: list[str], variant: str, k: int,
                      fresh: bool = False) -> list[int]:
    """The ``k`` experiment seeds of a replication of ``names`` at ``variant``.

    Seeds are drawn at random (:mod:`secrets`, 31 bits) the first time and kept in the JSON
    file ``path`` (beside the store), so a rerun resumes the same sweeps from the store;
    asking for more seeds than were kept draws only the missing ones. ``fresh=True`` draws
    ``k`` new seeds (and keeps them instead).
    """
    key = f"{variant}:{','.join(sorted(names))}"
    kept: dict[str, list[int]] = json.loads(path.read_text()) if path.exists() else {}
    seeds = [] if fresh else list(kept.get(key, []))
    while len(seeds) < k:
        s = secrets.randbelow(2**31 - 1) + 1
        if s not in seeds:
            seeds.append(s)
    if kept.get(key) != seeds:
        kept[key] = seeds
        with atomic_write(path, name="replication seeds") as tmp:
            tmp.write_text(json.dumps(kept, indent=1) + "\n")
    return seeds[:k]


def replicate_claims(
    experiments: list[ExperimentLike],
    seeds: list[int],
    variant: str = "quick",
    overrides: dict[str, Any] | None = None,
    store: str | Path | Store = DEFAULT_STORE_PATH,
    executor: Executor | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> list[Replication]:
    """Run every experiment at every experiment seed in ``seeds`` (one shared pool of units)
    and collect each claim's verdict and margin per seed."""
    plans = []
    for e in experiments:
        for s in seeds:
            plans.append((prepare_run(e, variant, {**(overrides or {}), "seed": s}, device),
                          variant))
    runs = run_plans(plans, store=store, executor=executor, progress=progress)
    table: dict[tuple[str, str], Replication] = {}
    for (plan, _), run in zip(plans, runs, strict=True):
        for result in claims_of_run(run):
            rep = table.setdefault((result.experiment, result.claim),
                                   Replication(result.experiment, result.claim))
            rep.seeds.append(int(plan.settings.seed))
            rep.verdicts.append(result.verdict)
            rep.margins.append(claimed_margin(result))
    return list(table.values())

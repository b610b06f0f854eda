r"""Goal-oriented stopping of the batched PCG solve (:mod:`iclab.fit.ridge_pcg`).

A solve stops when its relative residual is below the tolerance *and* the quantities computed
from the solution (the *goal*, e.g. e^ICL and e^IDG of a fitted Γ) can still change by less
than ``goal_tol`` relative. The change still to come is estimated at each float64 checkpoint k
as :math:`r_k\,S_k\max(1, s_k/s_{k-1})`: the relative residual times the largest sensitivity
of the goal to the residual seen so far, :math:`S_k = \max_{j\le k} s_j` with
:math:`s_j = \Delta_j/(r_{j-1}-r_j)`, times the growth of the sensitivity over the last
interval (:data:`FIRST_GROWTH` while only one interval is known). The ridge_pcg module doc
("Goal-oriented stopping") gives the measurements behind the rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

#: relative change a goal may still make once a solve stops
GOAL_TOL = 1e-9
#: growth of the goal's sensitivity assumed while only one interval between checkpoints is
#: known (up to 17 measured over one interval)
FIRST_GROWTH = 100.0
#: quantities computed from the solution, ``gamma [B, d, d+1] -> [B, m]``
Goal = Callable[[torch.Tensor], torch.Tensor]


class GoalTracker:
    r"""Goal-oriented stopping (module doc): remembers the goal, the relative residual and
    the goal's sensitivities at the last float64 checkpoint and lowers the residual target
    of problems whose goal has not settled."""

    def __init__(self, goal: Goal, goal_tol: float) -> None:
        self.goal, self.goal_tol = goal, goal_tol
        self.values: torch.Tensor | None = None
        self.res: torch.Tensor | None = None
        self.last_remaining: torch.Tensor | None = None
        self.sens: torch.Tensor | None = None      # s_k of the last interval (NaN: none yet)
        self.sens_max: torch.Tensor | None = None  # S_k, the largest s_k so far

    def remaining(self, values: torch.Tensor, res: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""``(remaining, s, S)`` ``[B]``: the estimated relative change still to come,
        :math:`r_k\,S_k\max(1, s_k/s_{k-1})` (module doc; :data:`FIRST_GROWTH` for the growth
        after the first interval; ``inf`` before two checkpoints or without progress), the
        sensitivity :math:`s_k=\Delta_k/(r_{k-1}-r_k)` of the last interval and the largest
        so far, :math:`S_k` (NaN where unknown)."""
        nan = torch.full_like(res, math.nan)
        if self.values is None or self.res is None or self.sens is None \
                or self.sens_max is None:
            return torch.full_like(res, math.inf), nan, nan
        scale = values.abs().clamp_min(torch.finfo(values.dtype).tiny)
        change = ((values - self.values).abs() / scale).amax(-1)
        drop = self.res - res
        sens = torch.where(drop > 0, change / drop.clamp_min(1e-300), math.nan)
        sens_max = torch.fmax(sens, self.sens_max)
        growth = torch.where(self.sens > 0, sens / self.sens, 1.0).nan_to_num(1.0)
        growth = torch.where(self.sens.isnan(), FIRST_GROWTH, growth)
        remaining = (sens_max * growth.clamp_min(1.0) * res).nan_to_num(math.inf)
        return torch.where(drop > 0, remaining, math.inf), sens, sens_max

    def update(self, gamma: torch.Tensor, res: torch.Tensor, target: torch.Tensor,
               switched: bool = False) -> torch.Tensor:
        """The new residual targets ``[B]`` after a checkpoint at ``gamma``, ``res``. A
        problem the last sweep left alone (residual unchanged) keeps its earlier record.
        ``switched``: the sweep stalled in float32 and the solve goes on in float64, so a
        residual that did not halve is no float64 floor."""
        values = self.goal(gamma).to(dtype=res.dtype, device=res.device).reshape(
            res.shape[0], -1)
        remaining, sens, sens_max = self.remaining(values, res)
        if self.values is None or self.res is None or self.last_remaining is None \
                or self.sens is None or self.sens_max is None:  # the first checkpoint
            moved = progressing = torch.ones_like(res, dtype=torch.bool)
        else:
            moved = res != self.res
            progressing = (res < 0.5 * self.res) | switched
            remaining = torch.where(moved, remaining, self.last_remaining)
            values = torch.where(moved.unsqueeze(-1), values, self.values)
            res = torch.where(moved, res, self.res)
            sens = torch.where(moved, sens, self.sens)
            sens_max = torch.where(moved, sens_max, self.sens_max)
        unsettled = moved & (res <= target) & (remaining > self.goal_tol) & progressing
        # a first checkpoint that already meets the target: one more, 100x lower, to compare
        # the next target from the estimate without the assumed first growth: the check of
        # the growth needs one more checkpoint, not one FIRST_GROWTH times lower
        first = self.sens is None or bool(self.sens.isnan().all())
        plain = remaining / FIRST_GROWTH if first else remaining
        factor = torch.where(torch.isfinite(plain), self.goal_tol / (2.0 * plain),
                             0.01).clamp(max=0.1)
        self.values, self.res, self.last_remaining = values, res, remaining
        self.sens, self.sens_max = sens, sens_max
        return torch.where(unsettled, res * factor, target)

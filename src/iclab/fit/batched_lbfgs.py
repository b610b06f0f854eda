r"""L-BFGS run on every member of an ensemble on its own, in one batched program.

The members of an :class:`~iclab.models.transformer.EnsembleTransformer` have disjoint
parameters and their own training sets, so each minimises its own loss :math:`L_m(\theta_m)`.
:func:`iclab.fit.transformer_lbfgs.train_lbfgs` runs one L-BFGS on :math:`\sum_m L_m`: one
step length and one set of curvature pairs for all members, so the ill-conditioned members
(near the interpolation threshold) hold the others back and the shared memory of ``h`` pairs
must describe all ``M`` blocks of the Hessian at once. Here every member has its own

- curvature memory :math:`(s_i, y_i)_{i\le h}`, ``[M, h, P]`` (``P`` parameters per member),
  and its own initial inverse-Hessian scale :math:`\gamma = s^\top y / y^\top y` of its
  newest pair; a pair is kept only when :math:`s^\top y > \epsilon\,\|y\|^2` (curvature
  condition; otherwise the member's memory is left as it was);
- search direction :math:`p = -H g` (the two-loop recursion, batched over members);
- step length, by backtracking from 1 (the first step from :math:`\min(1, 1/\|g\|_1)`)
  until the Armijo condition :math:`L_m(\theta + t p) \le L_m(\theta) + c_1 t\, g^\top p`
  holds, halving :math:`t` per failed trial;
- stopping: member ``m`` stops when its training MSE is ``<= loss_tol`` or its gradient norm
  ``<= grad_tol`` (converged), when its line search fails :data:`MAX_HALVINGS` halvings
  (stalled, not converged), or after ``max_iter`` iterations.

Every evaluation computes the losses and gradients of the members still searching in one
forward/backward pass of the ensemble (a halving evaluates only the members whose trial was
rejected), and members that have stopped leave the batched computation. A member's
``steps`` in the report is the number of L-BFGS steps it took. Because nothing is shared
between members, the result for a member is the same (up to floating-point rounding) whether
it trains alone or in an ensemble.

On the quick Fig. 5 problems (``benchmarks/lbfgs_members.py``: τ from 0.25 to 2.5, same data
and initialisations) this meets the interpolation/stationarity criterion for 15 of 32
linear-attention members at d = 12 in 500 iterations, against 6 of 32 for the summed-loss
run, and for 8 of 16 two-block members at d = 8 in 300 iterations against 2 of 16, in about
the same time (docs/transformers.md).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from iclab.fit.transformer_lbfgs import full_batch_losses
from iclab.fit.transformer_training import FitReport, FixedDataset
from iclab.models.transformer import EnsembleTransformer
from iclab.validation import check_int, check_positive

#: Armijo constant c_1
ARMIJO = 1e-4
#: halvings of the step before a member's line search is declared failed
MAX_HALVINGS = 30


class _FlatMembers:
    """The ensemble's parameters as one ``[M, P]`` matrix (member rows), read and written in
    place; :meth:`evaluate` gives every member's training loss ``[M]`` and gradient ``[M, P]``."""

    def __init__(self, model: EnsembleTransformer, data: FixedDataset) -> None:
        self.model, self.data = model, data
        self.params = list(model.parameters())
        self.M = model.members

    def part(self, rows: list[int]) -> _FlatMembers:
        """The same for the rows ``rows`` only (copies of their parameters and sets; the
        parameters are overwritten by every :meth:`evaluate`)."""
        return _FlatMembers(self.model.select(rows), self.data.subset(rows))

    def get(self) -> torch.Tensor:
        """``[M, P]`` copy of the parameters."""
        return torch.cat([p.detach().reshape(self.M, -1) for p in self.params], dim=1)

    @torch.no_grad()
    def set(self, flat: torch.Tensor) -> None:
        """Write ``flat [M, P]`` into the parameters."""
        start = 0
        for p in self.params:
            size = p[0].numel()
            p.copy_(flat[:, start:start + size].view_as(p))
            start += size

    def evaluate(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(losses [M], gradients [M, P])`` at ``flat``; non-finite losses become ``inf``."""
        self.set(flat)
        losses = full_batch_losses(self.model, self.data)
        grads = torch.autograd.grad(losses.sum(), self.params)
        g = torch.cat([gr.reshape(self.M, -1) for gr in grads], dim=1)
        losses = losses.detach()
        bad = ~torch.isfinite(losses) | ~torch.isfinite(g).all(dim=1)
        return torch.where(bad, math.inf, losses), torch.where(bad[:, None], 0.0, g)


def _two_loop(g: torch.Tensor, s: torch.Tensor, y: torch.Tensor, rho: torch.Tensor,
              order: list[int], gamma: torch.Tensor) -> torch.Tensor:
    r""":math:`H g` per member by the two-loop recursion: ``g [M, P]``, pairs ``s, y [M, h, P]``
    with ``rho [M, h]`` (:math:`1/s^\top y`, 0 for an empty slot), ``order`` the slots from
    oldest to newest, ``gamma [M]`` the initial scale."""
    q = g.clone()
    alpha = torch.zeros_like(rho)
    for i in reversed(order):
        alpha[:, i] = rho[:, i] * (s[:, i] * q).sum(1)
        q -= alpha[:, i, None] * y[:, i]
    r = gamma[:, None] * q
    for i in order:
        beta = rho[:, i] * (y[:, i] * r).sum(1)
        r += (alpha[:, i] - beta)[:, None] * s[:, i]
    return r


@dataclasses.dataclass
class _Memory:
    r"""Per-member L-BFGS state (rows = members still training): curvature pairs ``s, y
    [M, h, P]``, ``rho [M, h]`` (:math:`1/s^\top y`, 0 for an empty slot), initial scale
    ``gamma [M]``, ``fresh [M]`` (no pair kept yet) and the slots in use, oldest first."""

    s: torch.Tensor
    y: torch.Tensor
    rho: torch.Tensor
    gamma: torch.Tensor
    fresh: torch.Tensor
    order: list[int]

    @classmethod
    def empty(cls, x: torch.Tensor, history: int) -> _Memory:
        M, P = x.shape
        s = x.new_zeros(M, history, P)
        return cls(s, torch.zeros_like(s), x.new_zeros(M, history), x.new_ones(M),
                   torch.ones(M, dtype=torch.bool, device=x.device), [])

    def direction(self, g: torch.Tensor) -> torch.Tensor:
        """:math:`-Hg` per member."""
        return -_two_loop(g, self.s, self.y, self.rho, self.order, self.gamma)

    def push(self, slot: int, ds: torch.Tensor, dy: torch.Tensor, moved: torch.Tensor) -> None:
        """Store the pair ``(ds, dy)`` in ``slot`` for the members that ``moved`` and meet the
        curvature condition; the others get an empty slot there."""
        sy, yy = (ds * dy).sum(1), (dy * dy).sum(1)
        keep = moved & (sy > 1e-10 * yy)
        if slot in self.order:
            self.order.remove(slot)
        self.order.append(slot)
        self.s[:, slot] = torch.where(keep[:, None], ds, 0.0)
        self.y[:, slot] = torch.where(keep[:, None], dy, 0.0)
        self.rho[:, slot] = torch.where(keep, 1.0 / torch.where(keep, sy, 1.0), 0.0)
        self.gamma = torch.where(keep, sy / yy.clamp_min(1e-300), self.gamma)
        self.fresh &= ~keep

    def rows(self, keep: torch.Tensor) -> _Memory:
        """The state of the members ``keep`` (a boolean ``[M]``)."""
        return _Memory(self.s[keep], self.y[keep], self.rho[keep], self.gamma[keep],
                       self.fresh[keep], self.order)


def _line_search(members: _FlatMembers, x: torch.Tensor, f: torch.Tensor, g: torch.Tensor,
                 direction: torch.Tensor, t: torch.Tensor, active: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backtracking Armijo search from steps ``t [M]`` along ``direction [M, P]`` for the
    ``active`` rows (module doc); the other rows keep their point. The first trial evaluates
    every row (one batched pass); each halving evaluates only the rows still searching.
    Returns the new ``(x, f, g)`` (unchanged for a row whose search failed) and
    ``accepted [M]`` (True for the inactive rows)."""
    slope = (g * direction).sum(1)
    accepted = ~active
    x_new, f_new, g_new = x.clone(), f.clone(), g.clone()
    searching = torch.arange(len(f), device=f.device)
    part = members
    t = t.clone()
    for _ in range(MAX_HALVINGS):
        trial = x[searching] + t[searching, None] * direction[searching]
        ft, gt = part.evaluate(trial)
        ok = ~accepted[searching] & (ft <= f[searching] + ARMIJO * t[searching] * slope[searching])
        rows = searching[ok]
        x_new[rows], f_new[rows], g_new[rows] = trial[ok], ft[ok], gt[ok]
        accepted[rows] = True
        searching = searching[~accepted[searching]]
        if len(searching) == 0:
            break
        t[searching] *= 0.5
        part = members.part(searching.tolist())
    return x_new, f_new, g_new, accepted


def train_lbfgs_independent(model: EnsembleTransformer, data: FixedDataset,
                            max_iter: int = 1000, loss_tol: float = 1e-4,
                            grad_tol: float = 1e-4, history_size: int = 20) -> FitReport:
    """L-BFGS on each member's own training MSE, all members in one batched program (module
    doc). Each member stops when it has converged or stalled, or after ``max_iter``
    iterations; stopped members leave the batched computation (the ensemble is compacted
    whenever a quarter of its rows have stopped). ``data``: one fixed set per member;
    ``history_size``: curvature pairs kept per member.

    Returns a :class:`FitReport`: final losses, gradient norms, ``converged`` (criterion met),
    ``steps`` (iterations each member took)."""
    check_int("max_iter", max_iter)
    check_int("history_size", history_size)
    check_positive("loss_tol", loss_tol)
    check_positive("grad_tol", grad_tol)
    M = model.members
    everyone = _FlatMembers(model, data)
    final_x = everyone.get()
    final_f = final_x.new_full((M,), math.inf)
    final_g = final_x.new_zeros(M)
    steps = torch.zeros(M, dtype=torch.long)
    rows = torch.arange(M)  # original index of each row still training
    members = everyone
    x = final_x.clone()
    f, g = members.evaluate(x)
    memory = _Memory.empty(x, history_size)
    stalled = torch.zeros(M, dtype=torch.bool, device=x.device)
    for it in range(max_iter + 1):
        done = (f <= loss_tol) | (g.norm(dim=1) <= grad_tol) | ~torch.isfinite(f) | stalled
        if it == max_iter:
            done[:] = True
        if bool(done.any()):
            idx = rows[done.cpu()]
            final_x[idx], final_f[idx], final_g[idx] = x[done], f[done], g[done].norm(dim=1)
        if bool(done.all()):
            break
        if 4 * int(done.sum()) >= len(rows):  # compact: drop the stopped rows
            keep = ~done
            rows = rows[keep.cpu()]
            members = members.part(keep.nonzero().flatten().tolist())
            x, f, g, memory, stalled = x[keep], f[keep], g[keep], memory.rows(keep), stalled[keep]
            done = done[keep]
        direction = memory.direction(g)
        uphill = (g * direction).sum(1) >= 0  # lost descent: restart that member from -g
        direction = torch.where(uphill[:, None], -g, direction)
        first_step = torch.clamp(1.0 / g.abs().sum(1).clamp_min(1e-30), max=1.0)
        t = torch.where(memory.fresh | uphill, first_step, torch.ones_like(f))
        x_new, f_new, g_new, accepted = _line_search(members, x, f, g, direction, t, ~done)
        moved = accepted & ~done
        memory.push(it % history_size, x_new - x, g_new - g, moved)
        steps[rows[moved.cpu()]] += 1
        stalled |= ~accepted & ~done  # its line search failed: it stops where it is
        x, f, g = x_new, f_new, g_new
    everyone.set(final_x)
    converged = (final_f <= loss_tol) | (final_g <= grad_tol)
    return FitReport(final_f.cpu(), final_g.cpu(), converged.cpu(), steps,
                     torch.full((M,), math.nan))

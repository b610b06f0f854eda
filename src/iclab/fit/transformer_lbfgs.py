r"""Full-batch L-BFGS for an :class:`~iclab.models.transformer.EnsembleTransformer`.

Each member minimises its own training MSE on its own fixed dataset,

.. math::
    L_m(\theta_m) = \frac1{P_m}\sum_{\mu\le P_m}\big(\hat y_m(Z^\mu) - y^\mu\big)^2 ,

by L-BFGS with a strong-Wolfe line search on :math:`\sum_m L_m` (the members' parameters are
disjoint, so the summed objective has the same minimisers; the line search and curvature
pairs are shared). :func:`iclab.fit.batched_lbfgs.train_lbfgs_independent` runs a separate
L-BFGS for every member instead (own curvature pairs and step lengths), batched; it is what
the experiments use for the interpolation/stationarity criterion.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from iclab.fit.transformer_training import (
    Batch,
    BestKeeper,
    FitReport,
    FixedDataset,
    member_grad_norms,
)
from iclab.models.transformer import EnsembleTransformer
from iclab.validation import check_int, check_positive


def full_batch_losses(model: EnsembleTransformer, data: FixedDataset) -> torch.Tensor:
    """``[M]`` training MSE of each member on its own (padded) dataset, with gradients."""
    pred = model(data.tokens)
    valid = (torch.arange(data.tokens.shape[1], device=pred.device).unsqueeze(0)
             < data.sizes.unsqueeze(1))
    return (((pred - data.targets) ** 2) * valid).sum(dim=1) / data.sizes


def _lbfgs(model: EnsembleTransformer, data: FixedDataset, check_every: int,
           history_size: int) -> tuple[torch.optim.LBFGS, Callable[[], torch.Tensor]]:
    """Full-batch L-BFGS (strong-Wolfe line search, no built-in stopping) on the sum of the
    members' training losses, and its closure; one ``opt.step(closure)`` runs
    ``check_every`` iterations."""
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=check_every,
                            history_size=history_size, tolerance_grad=0.0,
                            tolerance_change=0.0, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=False)
        loss = full_batch_losses(model, data).sum()
        loss.backward()
        return loss

    return opt, closure


def _losses_and_grads(model: EnsembleTransformer,
                      data: FixedDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """``([M] training MSEs, [M] gradient norms)`` at the present parameters."""
    losses = full_batch_losses(model, data)
    model.zero_grad(set_to_none=False)
    losses.sum().backward()
    return losses.detach(), member_grad_norms(model)


def train_lbfgs(model: EnsembleTransformer, data: FixedDataset, max_iter: int = 1000,
                loss_tol: float = 1e-4, grad_tol: float = 1e-4, check_every: int = 25,
                history_size: int = 50, validation: Batch | None = None,
                patience: int = 4, min_delta: float = 1e-3) -> FitReport:
    r"""Full-batch L-BFGS on the sum of the members' training MSEs (see the module).

    **Criterion**, checked every ``check_every`` iterations: member ``m`` has converged when it
    interpolates (``L_m <= loss_tol``) or sits at a stationary point
    (``‖∇_{θ_m} L_m‖ <= grad_tol``). Training stops when every member has converged, after
    ``max_iter`` iterations, or when L-BFGS itself stalls; non-converged members are flagged
    in the returned :class:`FitReport` (``converged=False``).

    **With** ``validation`` (tokens ``[M, B, L, d+1]`` or ``[B, L, d+1]``, targets ``[M, B]`` or
    ``[B]``) the criterion is early stopping instead (:class:`BestKeeper`): member ``m`` has
    converged (reached its plateau) after ``patience`` checks without a relative improvement
    of its validation MSE by more than ``min_delta``, and at the end every member gets its
    best parameters back.
    """
    check_int("max_iter", max_iter)
    check_int("check_every", check_every)
    if validation is not None:
        return _lbfgs_early_stopping(model, data, max_iter, check_every, history_size,
                                     BestKeeper(model, validation, patience, min_delta))
    check_positive("loss_tol", loss_tol)
    check_positive("grad_tol", grad_tol)
    opt, closure = _lbfgs(model, data, check_every, history_size)

    done, previous = 0, math.inf
    while True:
        losses, grads = _losses_and_grads(model, data)
        ok = (losses <= loss_tol) | (grads <= grad_tol)
        total = float(losses.sum())
        stalled = not math.isfinite(total) or total >= previous * (1 - 1e-7)
        if bool(ok.all()) or done >= max_iter or stalled:
            break
        previous = total
        opt.step(closure)
        done += check_every
    M = model.members
    return FitReport(losses.cpu(), grads.cpu(), ok.cpu(), torch.full((M,), done),
                     torch.full((M,), math.nan))


def _lbfgs_early_stopping(model: EnsembleTransformer, data: FixedDataset, max_iter: int,
                          check_every: int, history_size: int,
                          keeper: BestKeeper) -> FitReport:
    """:func:`train_lbfgs` with the early-stopping criterion (see there)."""
    opt, closure = _lbfgs(model, data, check_every, history_size)
    done = 0
    while not keeper.check(done) and done < max_iter:
        opt.step(closure)
        done += check_every
    keeper.restore()
    losses, grads = _losses_and_grads(model, data)
    model.zero_grad(set_to_none=True)
    return FitReport(losses.cpu(), grads.cpu(), keeper.plateaued.cpu(),
                     keeper.best_step.cpu(), keeper.best.cpu())

r"""Test errors of a fitted Γ-model from torch tensors: exact (through
:mod:`iclab.theory.finite_d`) and Monte Carlo on token-level prompts.

* :func:`tensor_pool_moments` — the IDG test moments of a pool held as a torch tensor: the
  averages :math:`\mathbb E ww^\top`, :math:`\mathbb E(r+\rho)w`, :math:`\mathbb E r`,
  :math:`\mathbb E(r+\rho)^2` over its rows (float64, on the pool's device), assembled by
  :func:`iclab.theory.finite_d.assemble_moments`.
* :func:`exact_gamma_error` — :math:`e(\Gamma)` of :func:`iclab.theory.finite_d.exact_error`
  for a torch ``gamma``.
* :func:`monte_carlo_error` — the sample mean of :math:`(y_{\ell+1}-\hat y)^2` over token-level
  prompts (:func:`iclab.tasks.regression.sample_prompts`), scored by
  :func:`iclab.evaluate.risk.squared_errors` on
  :class:`~iclab.models.reduced.ReducedLinearAttention`: an estimate of the same quantity
  that uses none of the moment formulas.
"""

from __future__ import annotations

import numpy as np
import torch

from iclab.evaluate.risk import squared_errors
from iclab.models.reduced import ReducedLinearAttention
from iclab.tasks.regression import sample_prompts
from iclab.theory.finite_d import TestMoments, assemble_moments, exact_error
from iclab.validation import check_int, check_nonnegative


def tensor_pool_moments(pool: torch.Tensor, context_len: int, rho: float) -> TestMoments:
    """IDG test moments: exact averages over the rows of ``pool [k, d]`` (uniform)."""
    check_int("context_len", context_len)
    check_nonnegative("rho", rho)
    k, d = pool.shape
    w = pool.detach().to(torch.float64)
    r = (w**2).sum(-1) / d
    ww = w.T @ w / k
    rw = ((r + rho).unsqueeze(-1) * w).mean(0)
    return assemble_moments(ww.cpu().numpy(), rw.cpu().numpy(), float(r.mean()),
                            float(((r + rho) ** 2).mean()), context_len, rho)


def exact_gamma_error(gamma: torch.Tensor, moments: TestMoments) -> np.ndarray:
    r""":math:`e(\Gamma)` for ``gamma [..., d, d+1]`` (any device); returns ``[...]``."""
    return exact_error(gamma.detach().to(torch.float64).cpu().numpy(), moments)


def monte_carlo_error(
    gamma: torch.Tensor, tasks: torch.Tensor, context_len: int, rho: float,
    generator: torch.Generator, batch: int = 4096,
) -> tuple[float, float]:
    r"""Monte Carlo estimate of the test error from token-level prompts.

    Args:
        gamma: ``[d, d+1]``.
        tasks: ``[N, d]`` test tasks, one prompt each (e.g. from
            :meth:`iclab.tasks.regression.InContextRegression.test_tasks`).
        context_len, rho: data model.
        generator: randomness for the prompts.
        batch: prompts drawn per chunk.

    Returns:
        ``(mean, standard error)`` of :math:`(y_{\ell+1}-\hat y)^2` over the ``N`` prompts.
    """
    check_int("batch", batch)
    model = ReducedLinearAttention(gamma)
    sq = []
    for start in range(0, tasks.shape[0], batch):
        prompts = sample_prompts(tasks[start:start + batch], context_len, rho, generator)
        sq.append(squared_errors(model, prompts)[0])
    err = torch.cat(sq)
    return float(err.mean()), float(err.std() / err.numel() ** 0.5)

r"""Bayesian in-context baselines for linear regression (docs/theory.md, "Baselines"): Bayes ridge
and dMMSE.

Both use only the prompt's own context (no pretraining), batched over prompts. The functional
forms return ``[B]``; :class:`BayesRidge` and :class:`DMMSE` are the same estimators as
:class:`~iclab.models.base.Predictor` objects (``[1, B]``), to be scored by
:func:`iclab.evaluate.risk.mc_risk`.

* **Bayes ridge** (Gaussian prior :math:`w\sim\mathcal N(0, \sigma_w^2 I)`, noise
  :math:`\rho`): posterior mean :math:`\hat w = (X^\top X + \tfrac\rho{\sigma_w^2} I)^{-1}
  X^\top y`, :math:`\hat y = x_q^\top\hat w`. With the default :math:`\sigma_w^2 = 1` this is
  the toolkit's Bayes-optimal ICL baseline for fresh tasks (derived; the toolkit's choice,
  not a curve of Lu et al. 2024),
  whose asymptotic error is :func:`iclab.theory.asymptotic.e_bayes_ridge`.
* **dMMSE** (uniform prior on the :math:`k` pretraining tasks; Raventós et al. 2023; authors'
  ``theory_runs/dmmse.py``): :math:`\hat w = \sum_j w_j\,\mathrm{softmax}_j\big(-\|y -
  X w_j\|^2/(2\rho)\big)`. The squared residuals are computed either directly
  (:math:`O(\ell d k)`) or via :math:`\|y\|^2 - 2w_j^\top X^\top y + w_j^\top X^\top X w_j`
  (:math:`O(\ell d^2 + k d^2)`), whichever is cheaper; the softmax is the max-shifted one
  (``torch.softmax``), so large :math:`\|y-Xw\|^2/\rho` cannot overflow.
"""

from __future__ import annotations

import dataclasses

import torch

from iclab.errors import ParameterError
from iclab.tasks.prompt_statistics import PromptStatistics
from iclab.tasks.prompts import Prompts
from iclab.validation import check_positive


def bayes_ridge_weights(prompts: Prompts, rho: float, prior_var: float = 1.0) -> torch.Tensor:
    r"""Posterior mean :math:`(X^\top X + \frac{\rho}{\sigma_w^2}I)^{-1}X^\top y`, ``[B, d]``."""
    check_positive("rho", rho)
    check_positive("prior_var", prior_var)
    stats = PromptStatistics.from_prompts(prompts)
    gram = stats.gram
    gram.diagonal(dim1=1, dim2=2).add_(rho / prior_var)
    chol = torch.linalg.cholesky(gram)
    return torch.cholesky_solve(stats.xty.unsqueeze(-1), chol).squeeze(-1)


def bayes_ridge_predict(prompts: Prompts, rho: float, prior_var: float = 1.0) -> torch.Tensor:
    """Bayes-ridge prediction at the query, ``[B]``."""
    return (prompts.x_q * bayes_ridge_weights(prompts, rho, prior_var)).sum(-1)


def dmmse_squared_residuals(prompts: Prompts, pool: torch.Tensor,
                            chunk_elems: int = 2**22) -> torch.Tensor:
    r"""$\|y - Xw_j\|^2$ for every prompt and pool task, ``[B, k]``.

    Direct residuals when $\ell k \le d(\ell + k)$; otherwise the quadratic form of the
    prompts' statistics (:func:`statistics_squared_residuals`)."""
    x, y = prompts.X, prompts.y
    pool = pool.to(x)
    ell, d, k = prompts.n, prompts.d, pool.shape[0]
    if ell * k <= d * (ell + k):  # direct residuals are cheaper
        return ((y.unsqueeze(-1) - x @ pool.T) ** 2).sum(1)
    return statistics_squared_residuals(PromptStatistics.from_prompts(prompts), pool,
                                        chunk_elems)


def statistics_squared_residuals(stats: PromptStatistics, pool: torch.Tensor,
                                 chunk_elems: int = 2**22) -> torch.Tensor:
    r"""$\|y - Xw_j\|^2 = y^\top y - 2w_j^\top X^\top y + w_j^\top X^\top X w_j$ from the
    prompts' statistics, ``[B, k]``. The $k$-dependent part is one GEMM
    $\mathrm{vec}(X^\top X)\,[\mathrm{vec}(w_jw_j^\top)]_j^\top$ over chunks of tasks (at
    most ``chunk_elems`` entries of $w_jw_j^\top$ at a time)."""
    d = stats.gram.shape[-1]
    pool = pool.to(stats.gram)
    gram = stats.gram.reshape(-1, d * d)  # [B, d*d]
    step = max(1, chunk_elems // (d * d))
    quad = torch.cat([
        gram @ (pool[j:j + step, :, None] * pool[j:j + step, None, :]).reshape(-1, d * d).T
        for j in range(0, pool.shape[0], step)], dim=-1)  # [B, k]
    return stats.yty.unsqueeze(-1) - 2.0 * stats.xty @ pool.T + quad


def _posterior_mean(squared_residuals: torch.Tensor, pool: torch.Tensor,
                    rho: float) -> torch.Tensor:
    check_positive("rho", rho)
    logits = -squared_residuals / (2.0 * rho)
    return torch.softmax(logits, dim=-1) @ pool.to(logits)


def dmmse_weights(prompts: Prompts, pool: torch.Tensor, rho: float) -> torch.Tensor:
    """Posterior mean under the uniform prior on ``pool [k, d]``: ``[B, d]``."""
    return _posterior_mean(dmmse_squared_residuals(prompts, pool), pool, rho)


def dmmse_predict(prompts: Prompts, pool: torch.Tensor, rho: float) -> torch.Tensor:
    """dMMSE prediction at the query, ``[B]``."""
    return (prompts.x_q * dmmse_weights(prompts, pool, rho)).sum(-1)


def dmmse_predict_statistics(stats: PromptStatistics, pool: torch.Tensor,
                             rho: float) -> torch.Tensor:
    """dMMSE prediction at the query from the prompts' statistics, ``[B]`` (equal to
    :func:`dmmse_predict` on the prompts they summarise)."""
    weights = _posterior_mean(statistics_squared_residuals(stats, pool), pool, rho)
    return (stats.x_q * weights).sum(-1)


@dataclasses.dataclass(frozen=True)
class BayesRidge:
    r"""Bayes ridge as a :class:`~iclab.models.base.Predictor` (one member): prior
    :math:`w\sim\mathcal N(0, \sigma_w^2 I)` with ``prior_var`` :math:`=\sigma_w^2`, noise
    variance ``rho``; :meth:`predict` gives :func:`bayes_ridge_predict` as ``[1, B]``."""

    rho: float
    prior_var: float = 1.0

    def __post_init__(self) -> None:
        check_positive("rho", self.rho)
        check_positive("prior_var", self.prior_var)

    @property
    def members(self) -> int:
        """One model."""
        return 1

    def predict(self, prompts: Prompts) -> torch.Tensor:
        """Posterior-mean predictions ``[1, B]``."""
        return bayes_ridge_predict(prompts, self.rho, self.prior_var).unsqueeze(0)


@dataclasses.dataclass(frozen=True)
class DMMSE:
    r"""dMMSE as a :class:`~iclab.models.base.Predictor` (one member): uniform prior on the
    rows of ``pool [k, d]``, noise variance ``rho``; :meth:`predict` gives
    :func:`dmmse_predict` as ``[1, B]``."""

    pool: torch.Tensor
    rho: float

    def __post_init__(self) -> None:
        check_positive("rho", self.rho)
        if self.pool.dim() != 2 or self.pool.shape[0] < 1:
            raise ParameterError("pool", tuple(self.pool.shape), "a [k, d] tensor with k >= 1")

    @property
    def members(self) -> int:
        """One model."""
        return 1

    def predict(self, prompts: Prompts) -> torch.Tensor:
        """Posterior-mean predictions ``[1, B]``."""
        return dmmse_predict(prompts, self.pool, self.rho).unsqueeze(0)

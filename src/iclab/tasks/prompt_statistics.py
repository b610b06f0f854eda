r"""Sufficient statistics of in-context regression prompts, and an exact sampler for them.

For a prompt with context :math:`X\in\mathbb R^{\ell\times d}`, labels :math:`y` and query
:math:`(x_q, y_q)`, every estimator that is a function of the Gaussian likelihood (Bayes
ridge, dMMSE) needs only :math:`(X^\top X,\ X^\top y,\ y^\top y)`, not the :math:`\ell` tokens.

**Sampler** (:func:`sample_prompt_statistics`; derived here). Under the data model of
:mod:`iclab.tasks.regression` write :math:`X = G/\sqrt d` and :math:`\epsilon = \sqrt\rho\,\xi`
with :math:`Z = [G,\ \xi]\in\mathbb R^{\ell\times(d+1)}` standard Gaussian. Then
:math:`W = Z^\top Z` is Wishart with identity scale and :math:`\ell` degrees of freedom, and

.. math::
    X^\top X = W_{GG}/d,\qquad X^\top y = W_{GG}w/d + \sqrt{\rho/d}\,W_{G\xi},\qquad
    y^\top y = w^\top W_{GG}w/d + 2\sqrt{\rho/d}\,w^\top W_{G\xi} + \rho W_{\xi\xi}.

:math:`W` is drawn by the Bartlett decomposition :math:`W = AA^\top`, :math:`A` lower
triangular with :math:`A_{ii}^2\sim\chi^2_{\ell-i+1}` (:math:`i = 1..d+1`) and
:math:`A_{ij}\sim\mathcal N(0,1)` below the diagonal, all independent; this needs
:math:`\ell\ge d+1`. A prompt then costs :math:`O(d^2)` random numbers and :math:`O(d^3)`
flop whatever :math:`\ell`, instead of :math:`\ell(d+1)` numbers and :math:`O(\ell d^2)` flop.
"""

from __future__ import annotations

import dataclasses

import torch

from iclab.errors import ParameterError
from iclab.seeding import standard_normal
from iclab.tasks.prompts import Prompts
from iclab.validation import check_int, check_nonnegative


@dataclasses.dataclass(frozen=True)
class PromptStatistics:
    """Sufficient statistics of a batch of regression prompts: ``gram`` :math:`X^\\top X`
    ``[B, d, d]``, ``xty`` :math:`X^\\top y` ``[B, d]``, ``yty`` :math:`y^\\top y` ``[B]``,
    and the query ``x_q [B, d]``, ``y_q [B]``."""

    gram: torch.Tensor
    xty: torch.Tensor
    yty: torch.Tensor
    x_q: torch.Tensor
    y_q: torch.Tensor

    @classmethod
    def from_prompts(cls, prompts: Prompts) -> PromptStatistics:
        """The statistics of token-level prompts."""
        x, y = prompts.X, prompts.y
        return cls(gram=x.transpose(1, 2) @ x,
                   xty=(x.transpose(1, 2) @ y.unsqueeze(-1)).squeeze(-1),
                   yty=(y * y).sum(1), x_q=prompts.x_q, y_q=prompts.y_q)


def bartlett_wishart(batch: int, dim: int, dof: int, generator: torch.Generator,
                     device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    r"""``batch`` draws of :math:`W\sim\mathrm{Wishart}(I_{dim}, dof)` by the Bartlett
    decomposition (module doc), ``[batch, dim, dim]``; needs ``dof >= dim``."""
    check_int("dim", dim)
    if dof < dim:
        raise ParameterError("dof", dof, f"an integer >= dim = {dim} (Bartlett decomposition)")
    half_dof = (dof - torch.arange(dim, device=device, dtype=dtype)) / 2.0
    chi2 = 2.0 * torch._standard_gamma(half_dof.expand(batch, dim).contiguous(),
                                       generator=generator)
    rows, cols = torch.tril_indices(dim, dim, offset=-1, device=device)
    a = torch.zeros((batch, dim, dim), device=device, dtype=dtype)
    a[:, rows, cols] = standard_normal((batch, rows.numel()), generator, device, dtype)
    a.diagonal(dim1=1, dim2=2).copy_(chi2.sqrt())
    return a @ a.transpose(1, 2)


def sample_prompt_statistics(tasks: torch.Tensor, context_len: int, rho: float,
                             generator: torch.Generator) -> PromptStatistics:
    r"""Exact draw of the statistics of one prompt per row of ``tasks [B, d]`` (same law as
    ``PromptStatistics.from_prompts(sample_prompts(tasks, context_len, rho, generator))``;
    module doc). Needs ``context_len >= d + 1``."""
    check_int("context_len", context_len)
    check_nonnegative("rho", rho)
    batch, d = tasks.shape
    if context_len < d + 1:
        raise ParameterError("context_len", context_len,
                             f"an integer >= d + 1 = {d + 1} for the Wishart sampler")
    dev, dtype = tasks.device, tasks.dtype
    w = bartlett_wishart(batch, d + 1, context_len, generator, dev, dtype)
    w_gg, w_gxi, w_xixi = w[:, :d, :d], w[:, :d, d], w[:, d, d]
    gram = w_gg / d
    gram_w = (gram @ tasks.unsqueeze(-1)).squeeze(-1)
    noise_x = (rho / d) ** 0.5 * w_gxi
    xty = gram_w + noise_x
    yty = (tasks * gram_w).sum(-1) + 2.0 * (tasks * noise_x).sum(-1) + rho * w_xixi
    x_q = standard_normal((batch, d), generator, dev, dtype) / d**0.5
    y_q = (x_q * tasks).sum(-1) + rho**0.5 * standard_normal((batch,), generator, dev, dtype)
    return PromptStatistics(gram=gram, xty=xty, yty=yty, x_q=x_q, y_q=y_q)

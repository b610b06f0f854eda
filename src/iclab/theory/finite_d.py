r"""Exact finite-(d, ℓ) test error of the reduced Γ-model, plus a Monte Carlo cross-check.

For any :math:`\Gamma\in\mathbb R^{d\times(d+1)}` and a test-task distribution, with the
data model of Lu et al. 2024 (docs/theory.md, "Data model") and :math:`r = \|w\|^2/d`,
:math:`\alpha=\ell/d`:

.. math::
    e(\Gamma) = \rho + \mathbb E r - \tfrac2d\,\mathrm{tr}(\Gamma A)
    + \tfrac1d\,\mathrm{tr}(\Gamma^\top\Gamma M_2),

.. math::
    A = \mathbb E\begin{pmatrix} ww^\top \\ (r+\rho)w^\top\end{pmatrix},\qquad
    M_2 = \mathbb E\,hh^\top = \mathbb E\begin{pmatrix}
    \frac{r+\rho}\alpha I + (1+\frac1\ell)ww^\top & (1+\frac2\ell)(r+\rho)w\\
    (1+\frac2\ell)(r+\rho)w^\top & (1+\frac2\ell)(r+\rho)^2\end{pmatrix}.

Derivation: :math:`x_{\ell+1}` is independent of :math:`h` with covariance :math:`I/d`, so
:math:`e = \rho + \frac1d\mathbb E\|w-\Gamma h\|^2`; the conditional moments
:math:`\mathbb E[h|w] = (w, r+\rho)` and :math:`\mathbb E[hh^\top|w]` follow from the
representation of :mod:`iclab.models.reduced` (:math:`t=\sigma^2\chi^2_\ell`,
:math:`\mathbb E\chi^4 = \ell(\ell+2)`). When every test task has :math:`r=1` this is
exactly the form of docs/theory.md, "Exact finite-d error" (authors'
``gen_err_analytical_NEW``:
:math:`M_2=(1+\rho)B`); the version here is also exact for tasks of varying norm
(Gaussian tasks, raw pools), whose fourth moments enter through :math:`\mathbb E r^2`.

Test distributions: ICL (fresh task, :func:`isotropic_moments`) and IDG (uniform over the
pool, :func:`pool_moments`). :func:`monte_carlo_error` estimates the same quantity from
token-level prompts, independently of these formulas.
"""

from __future__ import annotations

import dataclasses

import torch

from iclab.models.reduced import ReducedLinearAttention
from iclab.tasks.regression import TASK_NORMS, sample_prompts
from iclab.validation import check_choice, check_int, check_nonnegative


@dataclasses.dataclass(frozen=True)
class TestMoments:
    r"""Moments of the test-task distribution that :func:`exact_error` needs.

    Attributes: ``rho`` noise variance, ``mean_r`` :math:`\mathbb E\|w\|^2/d`,
    ``a`` :math:`A` ``[d+1, d]``, ``m2`` :math:`M_2` ``[d+1, d+1]`` (module doc).
    """

    rho: float
    mean_r: float
    a: torch.Tensor
    m2: torch.Tensor


def _assemble(ww: torch.Tensor, rw: torch.Tensor, mean_r: float, mean_r2: float, ell: int,
              rho: float) -> TestMoments:
    """``ww = E ww^T``, ``rw = E (r+rho) w``, ``mean_r2 = E (r+rho)^2``."""
    d = ww.shape[0]
    eye = torch.eye(d, dtype=ww.dtype, device=ww.device)
    m2 = torch.empty(d + 1, d + 1, dtype=ww.dtype, device=ww.device)
    m2[:d, :d] = (mean_r + rho) * d / ell * eye + (1 + 1 / ell) * ww
    m2[:d, d] = (1 + 2 / ell) * rw
    m2[d, :d] = m2[:d, d]
    m2[d, d] = (1 + 2 / ell) * mean_r2
    a = torch.cat([ww, rw.unsqueeze(0)], dim=0)
    return TestMoments(rho=rho, mean_r=mean_r, a=a, m2=m2)


def isotropic_moments(
    d: int, context_len: int, rho: float, task_norm: str = "sphere",
    device: torch.device | str = "cpu",
) -> TestMoments:
    r"""ICL test moments for a fresh task: :math:`\mathbb E ww^\top=I`, :math:`\mathbb E w=0`;
    :math:`\mathrm{Var}\,r = 0` on the sphere (``"sphere"``) and :math:`2/d` for
    :math:`\mathcal N(0,I_d)` (``"gaussian"``)."""
    check_int("d", d)
    check_int("context_len", context_len)
    check_nonnegative("rho", rho)
    check_choice("task_norm", task_norm, TASK_NORMS)
    var_r = 0.0 if task_norm == "sphere" else 2.0 / d
    ww = torch.eye(d, dtype=torch.float64, device=device)
    rw = torch.zeros(d, dtype=torch.float64, device=device)
    return _assemble(ww, rw, 1.0, (1.0 + rho) ** 2 + var_r, context_len, rho)


def pool_moments(pool: torch.Tensor, context_len: int, rho: float) -> TestMoments:
    """IDG test moments: exact averages over the rows of ``pool [k, d]`` (uniform)."""
    check_int("context_len", context_len)
    check_nonnegative("rho", rho)
    k, d = pool.shape
    w = pool.to(torch.float64)
    r = (w**2).sum(-1) / d
    ww = w.T @ w / k
    rw = ((r + rho).unsqueeze(-1) * w).mean(0)
    return _assemble(ww, rw, float(r.mean()), float(((r + rho) ** 2).mean()), context_len, rho)


def exact_error(gamma: torch.Tensor, moments: TestMoments) -> torch.Tensor:
    r""":math:`e(\Gamma)` of the module doc for ``gamma [..., d, d+1]``; returns ``[...]``."""
    d = gamma.shape[-2]
    g = gamma.to(moments.m2)
    lin = torch.einsum("...ia,ai->...", g, moments.a)
    quad = torch.einsum("...ia,ab,...ib->...", g, moments.m2, g)
    return moments.rho + moments.mean_r - 2.0 / d * lin + quad / d


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
        batch: prompts per chunk.

    Returns:
        ``(mean, standard error)`` of :math:`(y_{\ell+1}-\hat y)^2` over the ``N`` prompts.
    """
    model = ReducedLinearAttention(gamma)
    sq = []
    for start in range(0, tasks.shape[0], batch):
        prompts = sample_prompts(tasks[start:start + batch], context_len, rho, generator)
        sq.append((prompts.y_q - model.predict(prompts)) ** 2)
    err = torch.cat(sq)
    return float(err.mean()), float(err.std() / err.numel() ** 0.5)

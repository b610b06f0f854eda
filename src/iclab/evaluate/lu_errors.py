r"""Errors of a fitted Lu et al. 2024 trial: exact :math:`e^{ICL}`, :math:`e^{IDG}` of the
Γ-model, and the dMMSE baseline's by Monte Carlo (docs/lu2024.md, docs/theory.md).

* :func:`exact_errors` — :math:`e^{ICL}` (a fresh task of the pool's normalisation) and
  :math:`e^{IDG}` (uniform over the pool; equal to ICL at :math:`\kappa=\infty`) by the exact
  finite-(d, ℓ) formula :func:`iclab.theory.finite_d.exact_error`, and
  :math:`g_{task} = e^{ICL}-e^{IDG}`.
* :func:`dmmse_row` — the dMMSE predictor (:class:`~iclab.baselines.bayes.DMMSE`) on the
  trial's pool, scored on ``n_prompts`` ICL and as many IDG test prompts:
  :math:`\hat e = \frac1N\sum_b (\hat y_b - y_{q,b})^2` per kind. dMMSE depends on a prompt
  only through :math:`(X^\top X, X^\top y, y^\top y)`, so when :math:`\ell\ge d+1` these are
  drawn exactly by the Wishart sampler
  (:func:`iclab.tasks.prompt_statistics.sample_prompt_statistics`, :math:`O(d^2)` numbers
  per prompt); shorter contexts use token-level prompts
  (:func:`iclab.evaluate.risk.squared_errors`).

A trial is anything with ``task`` (:class:`~iclab.tasks.regression.InContextRegression`),
``pool`` (``[k, d]`` or ``None``) and ``gamma`` (``[d, d+1]``), e.g.
:class:`iclab.fit.gamma_trials.Trial`.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from iclab.baselines.bayes import DMMSE, dmmse_predict_statistics
from iclab.evaluate.finite_d_mc import exact_gamma_error, tensor_pool_moments
from iclab.evaluate.risk import squared_errors
from iclab.models.base import Predictor
from iclab.tasks.prompt_statistics import sample_prompt_statistics
from iclab.tasks.regression import InContextRegression, sample_prompts
from iclab.theory.finite_d import TestMoments, isotropic_moments
from iclab.validation import check_int

#: entries per dMMSE prompt batch (B x l x d)
_PROMPT_CHUNK = 4_000_000


class FittedTrial(Protocol):
    """What the error functions read from a fitted trial."""

    @property
    def task(self) -> InContextRegression: ...

    @property
    def pool(self) -> torch.Tensor | None: ...

    @property
    def gamma(self) -> torch.Tensor: ...


def error_moments(task: InContextRegression, pool: torch.Tensor | None
                  ) -> tuple[TestMoments, TestMoments]:
    """The test moments of :math:`e^{ICL}` (a fresh task of the pool's normalisation) and of
    :math:`e^{IDG}` (uniform over ``pool``; the same as ICL without a pool, κ = ∞)."""
    icl = isotropic_moments(task.d, task.context_len, task.rho, task.task_norm)
    if pool is None:
        return icl, icl
    return icl, tensor_pool_moments(pool, task.context_len, task.rho)


def exact_errors(trial: FittedTrial) -> dict[str, float]:
    """``{"e_icl", "e_idg", "g_task"}`` of the trial's Γ by the exact formula (module doc)."""
    icl, idg = error_moments(trial.task, trial.pool)
    e_icl = float(exact_gamma_error(trial.gamma, icl))
    e_idg = e_icl if idg is icl else float(exact_gamma_error(trial.gamma, idg))
    return {"e_icl": e_icl, "e_idg": e_idg, "g_task": e_icl - e_idg}


def dmmse_squared_errors(pool: torch.Tensor, tasks: torch.Tensor, ell: int, rho: float,
                         generator: torch.Generator) -> torch.Tensor:
    """Squared query error of dMMSE on ``pool`` for one prompt per row of ``tasks [N, d]``,
    ``[N]``: from exactly sampled prompt statistics when ``ell >= d + 1`` (module doc),
    else from token-level prompts (:func:`prompt_squared_errors`)."""
    d = tasks.shape[1]
    if ell < d + 1:
        return prompt_squared_errors(DMMSE(pool, rho), tasks, ell, rho, generator)
    batch = max(1, _PROMPT_CHUNK // ((d + 1) ** 2))
    out = []
    for s in range(0, tasks.shape[0], batch):
        stats = sample_prompt_statistics(tasks[s:s + batch], ell, rho, generator)
        out.append((dmmse_predict_statistics(stats, pool, rho) - stats.y_q) ** 2)
    return torch.cat(out)


def prompt_squared_errors(predictor: Predictor, tasks: torch.Tensor, ell: int, rho: float,
                          generator: torch.Generator) -> torch.Tensor:
    """Squared query error of ``predictor`` on one token-level prompt per row of ``tasks
    [N, d]`` (drawn in chunks of about ``_PROMPT_CHUNK`` entries): ``[N]``."""
    d = tasks.shape[1]
    batch = max(1, _PROMPT_CHUNK // ((ell + 1) * d))
    out = []
    for s in range(0, tasks.shape[0], batch):
        prompts = sample_prompts(tasks[s:s + batch], ell, rho, generator)
        out.append(squared_errors(predictor, prompts)[0])
    return torch.cat(out)


def dmmse_row(trial: FittedTrial, n_prompts: int, generator: torch.Generator
              ) -> dict[str, Any]:
    """The dMMSE result row of a trial: ``method``, ``e_icl``, ``e_idg``, ``g_task``, ``k``,
    ``ell``, ``n_prompts`` (Monte Carlo, one batch for both kinds; module doc)."""
    check_int("n_prompts", n_prompts)
    t, pool = trial.task, trial.pool
    if pool is None:
        raise ValueError("dMMSE needs a finite pool (kappa < inf)")
    tasks = torch.cat([t.test_tasks("icl", n_prompts, pool, generator),
                       t.test_tasks("idg", n_prompts, pool, generator)])
    sq = dmmse_squared_errors(pool, tasks, t.context_len, t.rho, generator)
    e_icl, e_idg = float(sq[:n_prompts].mean()), float(sq[n_prompts:].mean())
    return {"method": "dmmse", "e_icl": e_icl, "e_idg": e_idg, "g_task": e_icl - e_idg,
            "k": t.k, "ell": t.context_len, "n_prompts": n_prompts}

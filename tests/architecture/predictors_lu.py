"""The Lu et al. 2024 predictors (the reduced Γ-model with a random Γ, the Bayes-ridge and
dMMSE baselines) with test prompts of matching dimension, and small instances of the
in-context regression task: the architecture tests check them against the Predictor and Task
protocols."""

from __future__ import annotations

from collections.abc import Callable

import torch

from iclab.baselines.bayes import DMMSE, BayesRidge
from iclab.models.base import Predictor
from iclab.models.reduced import ReducedLinearAttention
from iclab.tasks.base import Task
from iclab.tasks.prompts import Prompts
from iclab.tasks.regression import InContextRegression, draw_tasks

D, ELL, RHO = 5, 12, 0.1


def _prompts(seed: int, dtype: torch.dtype = torch.float64) -> Prompts:
    """36 ICL prompts of the data model (d = 5, l = 12, rho = 0.1)."""
    g = torch.Generator().manual_seed(seed)
    p = InContextRegression(d=D, context_len=ELL, rho=RHO).sample(36, g)
    return Prompts(*(None if t is None else t.to(dtype)
                     for t in (p.X, p.y, p.x_q, p.y_q, p.w)))


def _reduced() -> tuple[Predictor, Prompts]:
    g = torch.Generator().manual_seed(0)
    gamma = 0.5 * torch.eye(D, D + 1, dtype=torch.float64)
    gamma += 0.2 * torch.randn(D, D + 1, generator=g, dtype=torch.float64)
    return ReducedLinearAttention(gamma), _prompts(1)


def _reduced_float32() -> tuple[Predictor, Prompts]:
    model, _ = _reduced()
    return model, _prompts(2, torch.float32)


def _bayes_ridge() -> tuple[Predictor, Prompts]:
    return BayesRidge(RHO, prior_var=1.0), _prompts(3)


def _dmmse() -> tuple[Predictor, Prompts]:
    pool = draw_tasks(4, D, "sphere", torch.Generator().manual_seed(4))
    return DMMSE(pool, RHO), _prompts(5)


PREDICTORS: dict[str, Callable[[], tuple[Predictor, Prompts]]] = {
    "lu.reduced_linear_attention": _reduced,
    "lu.reduced_linear_attention_float32": _reduced_float32,
    "baselines.bayes_ridge": _bayes_ridge,
    "baselines.dmmse": _dmmse,
}

TASKS: dict[str, Callable[[], Task]] = {
    "lu.regression_fresh_tasks": lambda: InContextRegression(d=D, context_len=ELL, rho=RHO),
    "lu.regression_gaussian_pool": lambda: InContextRegression(
        d=4, context_len=6, rho=0.2, k=3, task_norm="gaussian", balanced=False),
}

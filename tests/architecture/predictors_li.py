"""Small instances of the Li et al. (2024) predictors and tasks, for the conformance tests.

``PREDICTORS[name]()`` returns ``(predictor, prompts)`` with prompts the predictor can read;
``TASKS[name]()`` returns a task. Everything is tiny (d = 3, n = 5) and seeded.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from iclab.models.base import Predictor
from iclab.models.h3 import H3Predictor, init_h3
from iclab.models.linear_attention import (
    LinearAttentionPredictor,
    PGDPredictor,
    embed_preconditioner,
    init_linear_attention,
    init_lora,
)
from iclab.tasks.base import Task
from iclab.tasks.correlated import AlignmentTask, RAGTask
from iclab.tasks.drift import DriftTask
from iclab.tasks.gaussian_design import GaussianDesignTask
from iclab.tasks.prompts import Prompts

D, N, M, B = 3, 5, 2, 8


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _prompts(seed: int = 0) -> Prompts:
    return GaussianDesignTask(D, sigma2=0.1, n=N).sample(B, _gen(seed))


def _linear_attention() -> tuple[Predictor, Prompts]:
    return LinearAttentionPredictor(init_linear_attention(M, D, _gen(1))), _prompts()


def _linear_attention_short_contexts() -> tuple[Predictor, Prompts]:
    params = init_linear_attention(M, D, _gen(2), rank=2)
    return LinearAttentionPredictor(params, context=(2, N)), _prompts()


def _lora() -> tuple[Predictor, Prompts]:
    base = embed_preconditioner(torch.eye(D).expand(M, D, D).contiguous())
    return LinearAttentionPredictor({**base, **init_lora(base, 1, _gen(3))}), _prompts()


def _h3() -> tuple[Predictor, Prompts]:
    return H3Predictor(init_h3(M, D, N, _gen(4)), context=(3, N)), _prompts()


def _pgd() -> tuple[Predictor, Prompts]:
    W = torch.randn(M, D, D, generator=_gen(5))
    return PGDPredictor(W, omega=torch.linspace(0.5, 1.5, N), context=(N, 4)), _prompts()


PREDICTORS: dict[str, Callable[[], tuple[Predictor, Prompts]]] = {
    "li.linear_attention": _linear_attention,
    "li.linear_attention_short_contexts": _linear_attention_short_contexts,
    "li.lora": _lora,
    "li.h3": _h3,
    "li.weighted_pgd": _pgd,
}

TASKS: dict[str, Callable[[], Task]] = {
    "li.gaussian_design": lambda: GaussianDesignTask(D, Sigma_beta=[3.0, 1.0, 0.5],
                                                     sigma2=0.1, n=N),
    "li.rag": lambda: RAGTask(D, 0.5, sigma2=0.1, n=N),
    "li.alignment": lambda: AlignmentTask(D, 0.5, sigma2=0.1, n=N),
    "li.drift": lambda: DriftTask(D, 0.9, sigma2=0.1, n=N),
}

"""Tiny transformer ensembles (initialised, untrained) of each Lu et al. preset, with prompts
they can read: the architecture tests check that each satisfies the Predictor protocol."""

from __future__ import annotations

from collections.abc import Callable

from iclab.models.base import Predictor
from iclab.models.transformer import (
    EnsembleTransformer,
    TransformerConfig,
    lu_linear_attention,
    lu_softmax_block,
    lu_two_softmax_mlp,
)
from iclab.seeding import torch_generator
from iclab.tasks.base import Task
from iclab.tasks.prompts import Prompts
from iclab.tasks.regression import InContextRegression


def _tiny(preset: Callable[[int], TransformerConfig]) -> Callable[[], tuple[Predictor, Prompts]]:
    def make() -> tuple[Predictor, Prompts]:
        d = 3
        model = EnsembleTransformer(preset(d), members=2, generator=torch_generator(0, "cpu"))
        task = InContextRegression(d=d, context_len=4, rho=0.01)
        prompts = task.sample(5, torch_generator(1, "cpu"))
        return model, Prompts(*(None if t is None else t.float()
                                for t in (prompts.X, prompts.y, prompts.x_q, prompts.y_q,
                                          prompts.w)))

    return make


PREDICTORS: dict[str, Callable[[], tuple[Predictor, Prompts]]] = {
    "transformer.lu_linear_attention": _tiny(lu_linear_attention),
    "transformer.lu_softmax_block": _tiny(lu_softmax_block),
    "transformer.lu_two_softmax_mlp": _tiny(lu_two_softmax_mlp),
}

TASKS: dict[str, Callable[[], Task]] = {}

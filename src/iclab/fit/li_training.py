"""Training ensembles of linear attention / H3 / LoRA models on regression tasks (Li et al. 2024).

One call trains ``M`` independent models (different seeds, optionally different learning rates
and context lengths) of one architecture on one task as a single tensor program
(:mod:`iclab.fit.ensemble`); each model draws its own batch of ``B`` fresh prompts per step
(one ``[M * B]`` draw on the device, split by :func:`iclab.tasks.tokens.per_member_tokens`)
and minimises the mean squared query error

.. math::
    \\mathcal L_m = \\frac1B \\sum_{b<B} \\big(\\hat y_m(Z_{m,b}) - y_{q,m,b}\\big)^2 .

:func:`trained_predictor` turns the trained parameters into a
:class:`~iclab.models.base.Predictor` for evaluation (:mod:`iclab.evaluate.paired_risk`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal, Protocol

import torch

from iclab.devices import torch_threads
from iclab.fit.ensemble import EnsembleTrainResult, cosine_schedule, train_ensemble
from iclab.models.h3 import H3Predictor, h3_predict, init_h3
from iclab.models.linear_attention import (
    LinearAttentionPredictor,
    init_linear_attention,
    init_lora,
    linear_attention_predict,
)
from iclab.tasks.base import Task
from iclab.tasks.prompts import Prompts
from iclab.tasks.tokens import context_keep_mask, per_member_tokens
from iclab.validation import check_choice, check_int

Kind = Literal["linear_attention", "h3", "lora"]
KINDS = ("linear_attention", "h3", "lora")


class ContextLengthTask(Task, Protocol):
    """A :class:`~iclab.tasks.base.Task` whose context length and dtype are keywords of
    :meth:`sample` (``n=None``: the task's own default), as in
    :class:`~iclab.tasks.gaussian_design.GaussianDesignTask`."""

    def sample(self, batch: int, generator: torch.Generator, n: int | None = None,
               dtype: torch.dtype = torch.float32) -> Prompts:
        """``batch`` prompts with ``n`` context examples, drawn with ``generator``."""
        ...


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by the ensemble (``lr`` may differ per model).

    ``cpu_threads``: intra-op threads while training on CPU (``None``: leave as is). The
    tensors are tiny (``[M, B, n, d]`` with ``d ~ 5``): measured on a loaded 2-core machine,
    one thread cost ~5 ms CPU per step where two cost ~100 ms (OpenMP spin-waiting), so the
    default is one thread; parallelism comes from the ensemble axis and the engine's executors.
    """

    steps: int = 3000
    batch: int = 256
    lr: float = 1e-2
    warmup: int = 100
    grad_clip: float | None = 10.0
    weight_decay: float = 0.0
    floor: float = 0.0  # the cosine schedule decays the lr to floor * lr
    init: str = "torch"  # "torch": PyTorch's nn.Linear default; "label": label-reading value
    curriculum: float = 0.0  # fraction of the steps trained on the longest context first
    optimizer: str = "adam"  # "adam" or "sgd" (heavy-ball momentum 0.9)
    sgd_steps: int = 0  # with optimizer="adam": first train this many steps with SGD
    dtype: torch.dtype = torch.float32
    cpu_threads: int | None = 1


def forward(kind: str, params: dict[str, torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
    """``yhat [M, B]`` of architecture ``kind`` from tokens ``[M, B, n+1, d+1]`` (``lora`` is
    linear attention with adapters)."""
    check_choice("kind", kind, KINDS)
    return h3_predict(params, tokens) if kind == "h3" else linear_attention_predict(params, tokens)


def trained_predictor(kind: str, params: dict[str, torch.Tensor],
                      ns: Sequence[int] | None = None
                      ) -> LinearAttentionPredictor | H3Predictor:
    """The :class:`~iclab.models.base.Predictor` of trained ``params`` of ``kind``; ``ns``: the
    per-model context lengths they were trained with (``None``: every model reads all
    examples)."""
    check_choice("kind", kind, KINDS)
    context = None if ns is None else tuple(int(n) for n in ns)
    if kind == "h3":
        return H3Predictor(params, context)
    return LinearAttentionPredictor(params, context)


def train_icl_ensemble(kind: str, task: ContextLengthTask, n: int | Sequence[int], M: int,
                       generator: torch.Generator,
                       config: TrainConfig = TrainConfig(), rank: int | None = None,
                       frozen: dict[str, torch.Tensor] | None = None,
                       lr: float | torch.Tensor | None = None) -> EnsembleTrainResult:
    """Train ``M`` models of ``kind`` on ``task`` with ``n`` context examples.

    ``n`` may be a
    length-``M`` sequence of per-model context lengths
    (:func:`~iclab.tasks.tokens.context_keep_mask`).

    ``rank``: inner dimension of ``W_q, W_k`` (linear attention) or the LoRA rank (``lora``).
    ``frozen``: the pretrained ``{"wq", "wk", "wv"}`` ``[M, ...]`` for ``kind = "lora"``.
    Returns the ensemble result; for ``lora`` its ``params`` include the frozen weights.
    """
    check_choice("kind", kind, KINDS)
    M = check_int("M", M)
    ns = [check_int("n", v) for v in (n if isinstance(n, Sequence) else [n] * M)]
    if len(ns) != M:
        raise ValueError(f"n must be an int or a sequence of {M} context lengths")
    n_max = max(ns)
    dt = config.dtype
    keep = context_keep_mask(ns, dt, generator.device)
    n_long = int(config.curriculum * config.steps)  # steps on the full n_max-example prompts
    if kind == "h3":
        params = init_h3(M, task.d, n_max, generator, dtype=dt, init=config.init)
    elif kind == "lora":
        if frozen is None or rank is None:
            raise ValueError("kind='lora' needs frozen base parameters and a rank")
        params = init_lora(frozen, rank, generator)
    else:
        params = init_linear_attention(M, task.d, generator, rank=rank, dtype=dt,
                                       init=config.init)
    base = {} if frozen is None else {k: v.to(dt) for k, v in frozen.items()}

    def sample(step: int) -> torch.Tensor:
        p = task.sample(M * config.batch, generator, n=n_max, dtype=dt)
        mask = keep if step >= n_long else torch.ones_like(keep)
        return torch.cat([per_member_tokens(p, M) * mask, p.y_q.view(
            M, config.batch, 1, 1).expand(M, config.batch, 1, task.d + 1)], dim=2)

    def loss(live: dict[str, torch.Tensor], batch: torch.Tensor) -> torch.Tensor:
        tokens, y_q = batch[:, :, :-1], batch[:, :, -1, 0]
        yhat = forward(kind, {**base, **live}, tokens)
        return (yhat - y_q).pow(2).mean(-1)

    phases = [(config.optimizer, config.steps)]
    if config.optimizer == "adam" and 0 < config.sgd_steps < config.steps:
        phases = [("sgd", config.sgd_steps), ("adam", config.steps - config.sgd_steps)]
    with torch_threads(config.cpu_threads, torch.device(generator.device)):
        for optimizer, steps in phases:
            result = train_ensemble(params, loss, sample, steps=steps,
                                    lr=config.lr if lr is None else lr,
                                    grad_clip=config.grad_clip,
                                    weight_decay=config.weight_decay, optimizer=optimizer,
                                    lr_schedule=cosine_schedule(steps, min(config.warmup, steps),
                                                                config.floor),
                                    record_every=max(1, steps // 20))
            params = result.params
    result.params.update(base)
    return result

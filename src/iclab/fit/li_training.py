"""Training ensembles of linear attention / H3 / LoRA models on regression tasks (Li et al. 2024).

One call trains ``M`` independent models (different seeds, optionally different learning rates
and context lengths) of one architecture on one task as a single tensor program
(:mod:`iclab.fit.ensemble`); each model draws its own batch of ``B`` fresh prompts per step
(one ``[M * B]`` draw on the device, split by :func:`iclab.tasks.tokens.per_member_tokens`)
and minimises the mean squared query error

.. math::
    \\mathcal L_m = \\frac1B \\sum_{b<B} \\big(\\hat y_m(Z_{m,b}) - y_{q,m,b}\\big)^2 .

**Restarts** (``TrainConfig.restarts = K > 1``). A model can stall in a spurious minimum or
a saddle of its training loss (rank-r attention at ``r = 2`` ending in the rank-1 solution;
linear attention at small ``n`` on a non-isotropic task in a rank-one solution; see
docs/li2024.md). Each model then starts from ``K`` independent initialisations, trained
together for the first ``screen_frac`` of the steps; the candidate with the lowest *training*
loss, measured on ``screen_prompts`` fresh prompts of the training distribution per
candidate (drawn from the training generator), goes on alone for the remaining steps (the
same learning-rate schedule, the optimiser's state restarted). Nothing of the test prompts
enters the choice. The cost is about ``1 + (K-1) * screen_frac`` times one model's.

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
    restarts: int = 1  # candidates per model, screened on the training loss (module doc)
    screen_frac: float = 0.5  # fraction of the steps the candidates train before screening
    screen_prompts: int = 16384  # fresh training prompts per candidate for the screening loss


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
    restarts = check_int("restarts", config.restarts, minimum=1)
    if restarts > 1 and config.optimizer == "adam" and 0 < config.sgd_steps < config.steps:
        raise ValueError("restarts > 1 needs a single optimiser phase (sgd_steps = 0)")
    n_max = max(ns)
    dt = config.dtype
    n_long = int(config.curriculum * config.steps)  # steps on the full n_max-example prompts
    K = restarts
    if kind == "h3":
        params = init_h3(K * M, task.d, n_max, generator, dtype=dt, init=config.init)
    elif kind == "lora":
        if frozen is None or rank is None:
            raise ValueError("kind='lora' needs frozen base parameters and a rank")
        params = init_lora(_repeat(frozen, K), rank, generator)
    else:
        params = init_linear_attention(K * M, task.d, generator, rank=rank, dtype=dt,
                                       init=config.init)
    base = {} if frozen is None else {k: v.to(dt) for k, v in frozen.items()}

    def run(live_params: dict[str, torch.Tensor], members: list[int],
            fixed: dict[str, torch.Tensor], optimizer: str, steps: int, offset: int,
            schedule_steps: int, warmup: int, rates: float | torch.Tensor
            ) -> EnsembleTrainResult:
        """Train ``live_params`` (members with context lengths ``members``) for ``steps``
        steps from step ``offset`` of a schedule of ``schedule_steps`` steps."""
        m = len(members)
        keep = context_keep_mask(members, dt, generator.device, n_max)

        def sample(step: int) -> torch.Tensor:
            p = task.sample(m * config.batch, generator, n=n_max, dtype=dt)
            mask = keep if step + offset >= n_long else torch.ones_like(keep)
            return torch.cat([per_member_tokens(p, m) * mask, p.y_q.view(
                m, config.batch, 1, 1).expand(m, config.batch, 1, task.d + 1)], dim=2)

        def loss(live: dict[str, torch.Tensor], batch: torch.Tensor) -> torch.Tensor:
            tokens, y_q = batch[:, :, :-1], batch[:, :, -1, 0]
            yhat = forward(kind, {**fixed, **live}, tokens)
            return (yhat - y_q).pow(2).mean(-1)

        schedule = cosine_schedule(schedule_steps, min(warmup, schedule_steps), config.floor)
        return train_ensemble(live_params, loss, sample, steps=steps, lr=rates,
                              grad_clip=config.grad_clip, weight_decay=config.weight_decay,
                              optimizer=optimizer,
                              lr_schedule=lambda step: schedule(step + offset),
                              record_every=max(1, steps // 20))

    rate = config.lr if lr is None else lr
    with torch_threads(config.cpu_threads, torch.device(generator.device)):
        if K > 1:
            first = min(config.steps - 1, max(1, int(config.screen_frac * config.steps)))
            rates = rate.repeat(K) if isinstance(rate, torch.Tensor) and rate.ndim else rate
            fixed = _repeat(base, K)
            cands = run(params, ns * K, fixed, config.optimizer, first, 0, config.steps,
                        config.warmup, rates).params
            best = _screening_loss(kind, task, cands, fixed, ns * K, n_max, generator,
                                   config.screen_prompts, dt).view(K, M).argmin(0)
            rows = best * M + torch.arange(M, device=best.device)
            params = {k: v[rows] for k, v in cands.items()}
            result = run(params, ns, base, config.optimizer, config.steps - first, first,
                         config.steps, config.warmup, rate)
        else:
            phases = [(config.optimizer, config.steps)]
            if config.optimizer == "adam" and 0 < config.sgd_steps < config.steps:
                phases = [("sgd", config.sgd_steps), ("adam", config.steps - config.sgd_steps)]
            for optimizer, steps in phases:
                result = run(params, ns, base, optimizer, steps, 0, steps, config.warmup,
                             rate)
                params = result.params
    result.params.update(base)
    return result


def _repeat(params: dict[str, torch.Tensor], times: int) -> dict[str, torch.Tensor]:
    """Every ``[M, ...]`` tensor repeated ``times`` along the ensemble axis (candidate ``k`` of
    model ``m`` at ``k * M + m``)."""
    return {k: v.repeat(times, *([1] * (v.ndim - 1))) for k, v in params.items()}


@torch.no_grad()
def _screening_loss(kind: str, task: ContextLengthTask, params: dict[str, torch.Tensor],
                    fixed: dict[str, torch.Tensor], members: list[int], n_max: int,
                    generator: torch.Generator, prompts: int, dtype: torch.dtype,
                    chunk: int = 512) -> torch.Tensor:
    """Each member's mean squared query error ``[M]`` on ``prompts`` fresh training prompts
    (its own context length; drawn with the training ``generator``), in chunks."""
    m = len(members)
    keep = context_keep_mask(members, dtype, generator.device, n_max)
    total = torch.zeros(m, dtype=dtype, device=generator.device)
    done = 0
    while done < prompts:
        b = min(chunk, prompts - done)
        p = task.sample(m * b, generator, n=n_max, dtype=dtype)
        tokens = per_member_tokens(p, m) * keep
        yhat = forward(kind, {**fixed, **params}, tokens)
        total += (yhat - p.y_q.view(m, b)).pow(2).sum(-1)
        done += b
    return total / prompts

"""Training and evaluation glue for the Li et al. (2024) experiments (ensemble axis ``M``).

One call trains ``M`` independent models (different seeds, optionally different learning rates)
of one architecture on one task as a single tensor program (:mod:`iclab.fit.ensemble`); each
model draws its own batch of ``B`` fresh prompts per step (one ``[M * B]`` draw on the device).
Risks are Monte Carlo estimates on a shared test set of fresh prompts, so models and the PGD
reference are compared on the same prompts (paired comparison).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import torch

from iclab.devices import torch_threads
from iclab.fit.ensemble import EnsembleTrainResult, cosine_schedule, train_ensemble
from iclab.models.h3 import h3_effective, h3_predict, init_h3
from iclab.models.linear_attention import (
    effective_preconditioner,
    init_linear_attention,
    init_lora,
    linear_attention_predict,
)
from iclab.tasks.prompts import Prompts
from iclab.validation import check_choice, check_int

Kind = Literal["linear_attention", "h3", "lora"]
KINDS = ("linear_attention", "h3", "lora")


class Task(Protocol):
    d: int

    def sample(self, batch: int, n: int, generator: torch.Generator,
               dtype: torch.dtype = ...) -> Prompts: ...


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by the ensemble (``lr`` may differ per model)."""

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
    cpu_threads: int | None = 1  # intra-op threads while training on CPU (None: leave as is)


def cpu_threads(count: int | None, device: torch.device) -> contextlib.AbstractContextManager[None]:
    """Temporarily set torch's intra-op CPU threads (restored on exit).

    The tensors here are tiny ([M, B, n, d] with d ~ 5): measured on the 2-core dev machine under
    load, one thread costs ~5 ms CPU per step where two cost ~100 ms (OpenMP spin-waiting), so
    training defaults to one thread on CPU; parallelism comes from the ensemble axis and from
    the engine's executors.
    """
    return torch_threads(count, device)


def ensemble_tokens(prompts: Prompts, M: int) -> torch.Tensor:
    """Tokens ``[M, B, n+1, d+1]`` from prompts with batch ``M * B`` (model ``m`` gets slice m)."""
    tok = prompts.tokens()
    return tok.view(M, tok.shape[0] // M, *tok.shape[1:])


def context_keep_mask(ns: Sequence[int], dtype: torch.dtype = torch.float32,
                      device: torch.device | str = "cpu", n_max: int | None = None) -> torch.Tensor:
    """``[M, 1, n_max+1, 1]`` 0/1 mask keeping each model's last ``n_m`` examples and the query.

    Models with different context lengths share one ensemble: the first ``n_max - n_m`` context
    tokens are zeroed. A zero token contributes nothing to linear attention (its value is 0) nor
    to H3 (its ``k * v`` is 0), so model ``m`` sees exactly an ``n_m``-example prompt (for i.i.d.
    examples; for the stationary drift the kept examples are the ``n_m`` closest to the query).
    """
    n_max = max(ns) if n_max is None else n_max
    pos = torch.arange(n_max + 1, device=device)
    start = n_max - torch.as_tensor(list(ns), device=device)
    keep = pos[None, :] >= start[:, None]
    return keep.to(dtype)[:, None, :, None]


def predict(kind: str, params: dict[str, torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
    """``yhat [M, B]`` of architecture ``kind`` (``lora`` is linear attention + adapters)."""
    check_choice("kind", kind, KINDS)
    return h3_predict(params, tokens) if kind == "h3" else linear_attention_predict(params, tokens)


def train_icl_ensemble(kind: str, task: Task, n: int | Sequence[int], M: int,
                       generator: torch.Generator,
                       config: TrainConfig = TrainConfig(), rank: int | None = None,
                       frozen: dict[str, torch.Tensor] | None = None,
                       lr: float | torch.Tensor | None = None) -> EnsembleTrainResult:
    """Train ``M`` models of ``kind`` on ``task`` with ``n`` context examples.

    ``n`` may be a length-``M`` sequence of per-model context lengths (:func:`context_keep_mask`).

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
        p = task.sample(M * config.batch, n_max, generator, dtype=dt)
        mask = keep if step >= n_long else torch.ones_like(keep)
        return torch.cat([ensemble_tokens(p, M) * mask, p.y_q.view(M, config.batch, 1, 1).expand(
            M, config.batch, 1, task.d + 1)], dim=2)

    def loss(live: dict[str, torch.Tensor], batch: torch.Tensor) -> torch.Tensor:
        tokens, y_q = batch[:, :, :-1], batch[:, :, -1, 0]
        yhat = predict(kind, {**base, **live}, tokens)
        return (yhat - y_q).pow(2).mean(-1)

    phases = [(config.optimizer, config.steps)]
    if config.optimizer == "adam" and 0 < config.sgd_steps < config.steps:
        phases = [("sgd", config.sgd_steps), ("adam", config.steps - config.sgd_steps)]
    with cpu_threads(config.cpu_threads, torch.device(generator.device)):
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


@torch.no_grad()
def ensemble_risk(kind: str, params: dict[str, torch.Tensor], test: Prompts,
                  ns: Sequence[int] | None = None, chunk: int = 4096) -> torch.Tensor:
    """Monte Carlo risk ``mean (yhat - y_q)^2`` of each model on the shared ``test`` set, [M].

    ``ns``: per-model context lengths (the test prompts have ``max(ns)`` examples).
    """
    M = next(iter(params.values())).shape[0]
    tok = test.tokens()
    keep = None if ns is None else context_keep_mask(ns, tok.dtype, tok.device, tok.shape[1] - 1)
    total = torch.zeros(M, dtype=tok.dtype, device=tok.device)
    for s in range(0, tok.shape[0], chunk):
        t = tok[s:s + chunk]
        t = t.unsqueeze(0).expand(M, *t.shape)
        yhat = predict(kind, params, t if keep is None else t * keep)
        total += (yhat - test.y_q[s:s + chunk]).pow(2).sum(-1)
    return total / tok.shape[0]


@torch.no_grad()
def pgd_risk_mc(W: torch.Tensor, test: Prompts, omega: torch.Tensor | None = None,
                ns: Sequence[int] | None = None) -> torch.Tensor:
    """Monte Carlo risk of (W)PGD ``yhat = x^T W X^T (omega * y)``; ``W [K, d, d]`` -> ``[K]``.

    ``ns`` (length ``K``): predictor ``k`` uses only the last ``ns[k]`` examples.
    """
    y = test.y if omega is None else test.y * omega.to(test.y.dtype)
    if ns is not None:
        n_max = test.X.shape[1]
        keep = context_keep_mask(ns, y.dtype, y.device, n_max)[:, 0, :n_max, 0]  # [K, n]
        v = torch.einsum("bnd,bn,kn->kbd", test.X, y, keep)
        yhat = torch.einsum("bd,kde,kbe->kb", test.x_q, W.to(test.X.dtype), v)
        return (yhat - test.y_q).pow(2).mean(-1)
    v = torch.einsum("bnd,bn->bd", test.X, y)
    yhat = torch.einsum("bd,kde,be->kb", test.x_q, W.to(test.X.dtype), v)
    return (yhat - test.y_q).pow(2).mean(-1)


def effective(kind: str, params: dict[str, torch.Tensor]) -> dict[str, Any]:
    """``{"W": [M, d, d]}`` and, for H3, ``"omega": [M, n]``."""
    if kind == "h3":
        W, omega = h3_effective(params)
        return {"W": W, "omega": omega}
    return {"W": effective_preconditioner(params)}


def cosine(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of matrices (Frobenius) ``[M]``; ``B`` broadcasts."""
    B = B.to(A.dtype).expand_as(A)
    num = (A * B).sum((-1, -2))
    return num / (A.norm(dim=(-1, -2)) * B.norm(dim=(-1, -2))).clamp_min(1e-30)

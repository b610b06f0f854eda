"""Training an :class:`~iclab.models.transformer.EnsembleTransformer` on in-context regression.

Design (what keeps an accelerator busy):

- data live on the model's device: a fixed finite pretraining set per member
  (:class:`FixedDataset`, ``P_m = τ_m d²`` contexts, as in Lu et al. 2024) or prompts sampled
  online on the device;
- minibatches are drawn on the device with a ``torch.Generator`` (with replacement, ``B`` per
  member; the authors draw ``0.1·P`` without replacement — a documented difference);
- no host synchronisation inside the loop: per-member losses are written into a
  preallocated device tensor and read once at the end;
- AdamW over the stacked parameters (``fused=True`` on CUDA). Adam is element-wise and the
  loss is the sum of the members' losses, so every member trains exactly as if alone;
- optional ``torch.compile`` of the model (``mode="reduce-overhead"`` on CUDA, which also
  captures CUDA graphs); off by default on CPU, where compilation costs more than it saves.

This module holds the AdamW trainers (:func:`train`, :func:`train_early_stopping`) and what
every trainer shares (:class:`FixedDataset`, :class:`FitReport`, :class:`BestKeeper`);
full-batch L-BFGS is in :mod:`iclab.fit.transformer_lbfgs`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable

import torch

from iclab.devices import cpu_single_thread
from iclab.models.transformer import EnsembleTransformer
from iclab.tasks.prompts import Prompts
from iclab.tasks.tokens import TokenFormat, prompt_tokens
from iclab.validation import (
    check_choice,
    check_in_range,
    check_int,
    check_nonnegative,
    check_positive,
)

Batch = tuple[torch.Tensor, torch.Tensor]  # tokens [M, B, L, d+1], targets [M, B]


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Optimisation hyper-parameters (shared by the ensemble).

    ``lr`` 1e-4 and ``weight_decay`` 1e-4 are the authors' AdamW settings; quick variants use a
    larger ``lr`` to converge in few steps.
    """

    steps: int = 2000
    batch: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    log_every: int = 50
    compile: bool = False
    schedule: str = "constant"
    warmup: float = 0.0

    def __post_init__(self) -> None:
        check_int("steps", self.steps)
        check_int("batch", self.batch)
        check_positive("lr", self.lr)
        check_nonnegative("weight_decay", self.weight_decay)
        check_int("log_every", self.log_every)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_in_range("warmup", self.warmup, 0.0, 1.0)

    def lr_factor(self, step: int) -> float:
        """Multiplier of ``lr`` at ``step``: 1 (``constant``), or a linear warm-up over the
        first ``warmup · steps`` steps followed by a cosine decay to 0 (``cosine``)."""
        if self.schedule == "constant":
            return 1.0
        n_warm = int(self.warmup * self.steps)
        if step < n_warm:
            return (step + 1) / n_warm
        frac = (step - n_warm) / max(1, self.steps - n_warm)
        return 0.5 * (1.0 + math.cos(math.pi * frac))


SCHEDULES: tuple[str, ...] = ("constant", "cosine")


class FixedDataset:
    """A finite pretraining set per member, padded to a common size.

    Args:
        prompts: one :class:`Prompts` batch per member (member ``m`` has ``P_m`` prompts).
        token_format: how prompts become tokens (see :func:`prompt_tokens`).

    Attributes:
        tokens: ``[M, P_max, L, d+1]``; targets: ``[M, P_max]``; sizes: ``[M]`` (int64).
    """

    def __init__(self, prompts: list[Prompts], token_format: TokenFormat = "joint") -> None:
        sizes = [p.batch for p in prompts]
        p_max = max(sizes)
        toks = [prompt_tokens(p, token_format) for p in prompts]
        L, width = toks[0].shape[1:]
        dev, dtype = toks[0].device, toks[0].dtype
        self.tokens = torch.zeros(len(prompts), p_max, L, width, device=dev, dtype=dtype)
        self.targets = torch.zeros(len(prompts), p_max, device=dev, dtype=dtype)
        for m, (tok, p) in enumerate(zip(toks, prompts, strict=True)):
            self.tokens[m, : p.batch] = tok
            self.targets[m, : p.batch] = p.y_q
        self.sizes = torch.tensor(sizes, device=dev)

    def subset(self, members: list[int]) -> FixedDataset:
        """The sets of the given members (in that order), trimmed to their own largest size."""
        part = FixedDataset.__new__(FixedDataset)
        rows = torch.tensor(members, device=self.tokens.device)
        part.sizes = self.sizes.index_select(0, rows)
        p_max = int(part.sizes.max())
        part.tokens = self.tokens.index_select(0, rows)[:, :p_max]
        part.targets = self.targets.index_select(0, rows)[:, :p_max]
        return part

    def minibatch(self, batch: int, generator: torch.Generator) -> Batch:
        """``batch`` contexts per member, uniformly from its own ``P_m`` (with replacement)."""
        M = self.tokens.shape[0]
        u = torch.rand(M, batch, generator=generator, device=self.tokens.device)
        idx = (u * self.sizes.unsqueeze(1)).long()
        rows = torch.arange(M, device=idx.device).unsqueeze(1)
        return self.tokens[rows, idx], self.targets[rows, idx]

    def full_loss(self, model: EnsembleTransformer, chunk: int = 4096) -> torch.Tensor:
        """Mean squared training error of each member on its own dataset, ``[M]``."""
        M, p_max = self.targets.shape
        total = torch.zeros(M, device=self.targets.device, dtype=self.targets.dtype)
        with torch.no_grad():
            for start in range(0, p_max, chunk):
                sl = slice(start, start + chunk)
                pred = model(self.tokens[:, sl])
                valid = (torch.arange(start, start + pred.shape[1], device=pred.device)
                         .unsqueeze(0) < self.sizes.unsqueeze(1))
                total += ((pred - self.targets[:, sl]) ** 2 * valid).sum(dim=1)
        return total / self.sizes


def single_thread_if_tiny(device: torch.device, width: int,
                          tiny: int = 64) -> contextlib.AbstractContextManager[None]:
    """One intra-op thread for CPU training of models of ``width <= tiny``
    (:func:`iclab.devices.cpu_single_thread`)."""
    return cpu_single_thread(device, when=width <= tiny)


# ---- what every trainer reports ---------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FitReport:
    """Per-member outcome of a training run with a stopping criterion (all ``[M]``, on CPU).

    Attributes:
        train_loss: final full-batch training MSE.
        grad_norm: final norm of the member's gradient of its own training MSE.
        converged: whether the member met the criterion (see the trainer's docstring).
        steps: optimiser iterations (or AdamW steps) the member trained for.
        val_error: best validation MSE (early stopping only; NaN otherwise).
    """

    train_loss: torch.Tensor
    grad_norm: torch.Tensor
    converged: torch.Tensor
    steps: torch.Tensor
    val_error: torch.Tensor


def member_grad_norms(model: EnsembleTransformer) -> torch.Tensor:
    """``[M]`` norms of each member's gradient (parameters carry a leading member axis)."""
    first = next(model.parameters())
    total = torch.zeros(model.members, device=first.device, dtype=first.dtype)
    for p in model.parameters():
        if p.grad is not None:
            total += p.grad.detach().reshape(model.members, -1).pow(2).sum(dim=1)
    return total.sqrt()


def member_validation(validation: Batch, members: int) -> Batch:
    """Validation tokens ``[M, B, L, d+1]`` and targets ``[M, B]`` from a batch shared by the
    members (``[B, L, d+1]``, ``[B]``) or one per member."""
    tokens, targets = validation
    if tokens.dim() == 3:
        tokens = tokens.unsqueeze(0).expand(members, *tokens.shape)
    if targets.dim() == 1:
        targets = targets.unsqueeze(0)
    return tokens, targets


class BestKeeper:
    """Early stopping of every member on its own validation error.

    At each :meth:`check` member ``m`` *improves* when its validation MSE ``e_m`` falls below
    ``(1 - min_delta)`` times its best so far; its parameters are then copied aside. It has
    reached its **plateau** after ``patience`` consecutive checks without improvement.
    :meth:`restore` gives every member the parameters of its best check.
    """

    def __init__(self, model: EnsembleTransformer, validation: Batch, patience: int,
                 min_delta: float) -> None:
        check_int("patience", patience)
        check_in_range("min_delta", min_delta, 0.0, 1.0)
        self.model, self.patience, self.min_delta = model, patience, min_delta
        M = model.members
        self.tokens, self.targets = member_validation(validation, M)
        device = self.targets.device
        self.best = torch.full((M,), math.inf, device=device)
        self.best_step = torch.zeros(M, dtype=torch.long, device=device)
        self.stale = torch.zeros(M, dtype=torch.long, device=device)
        self.params = [p.detach().clone() for p in model.parameters()]

    @torch.no_grad()
    def check(self, step: int) -> bool:
        """Measure every member's validation MSE at ``step``; True once all have plateaued."""
        M = self.model.members
        err = ((self.model(self.tokens) - self.targets) ** 2).mean(dim=1)
        err = torch.where(torch.isfinite(err), err, torch.full_like(err, math.inf))
        better = err < self.best * (1 - self.min_delta)
        self.best = torch.where(better, err, self.best)
        self.best_step = torch.where(better, step, self.best_step)
        self.stale = torch.where(better, 0, self.stale + 1)
        for keep, p in zip(self.params, self.model.parameters(), strict=True):
            keep.copy_(torch.where(better.view(M, *([1] * (p.dim() - 1))), p.detach(), keep))
        return bool(self.plateaued.all())

    @property
    def plateaued(self) -> torch.Tensor:
        """``[M]`` whether each member has gone ``patience`` checks without improving."""
        return self.stale >= self.patience

    @torch.no_grad()
    def restore(self) -> None:
        """Give every member the parameters of its best check."""
        for keep, p in zip(self.params, self.model.parameters(), strict=True):
            p.copy_(keep)


# ---- AdamW ------------------------------------------------------------------------------------
def _adamw(model: EnsembleTransformer, settings: TrainSettings) -> torch.optim.AdamW:
    device = next(model.parameters()).device
    return torch.optim.AdamW(model.parameters(), lr=settings.lr,
                             weight_decay=settings.weight_decay,
                             fused=True if device.type == "cuda" else None)


def _adamw_step(forward: Callable[[torch.Tensor], torch.Tensor], opt: torch.optim.Optimizer,
                settings: TrainSettings, step: int, batch: Batch) -> torch.Tensor:
    r"""One AdamW step at ``settings.lr · lr_factor(step)`` on the summed minibatch MSEs
    :math:`\sum_m \frac1B\sum_b(\hat y_{m,b} - y_{m,b})^2`; returns the ``[M]`` losses."""
    for group in opt.param_groups:
        group["lr"] = settings.lr * settings.lr_factor(step)
    tokens, targets = batch
    per_member = ((forward(tokens) - targets) ** 2).mean(dim=1)
    opt.zero_grad(set_to_none=True)
    per_member.sum().backward()
    opt.step()
    return per_member.detach()


def train(model: EnsembleTransformer, next_batch: Callable[[int], Batch],
          settings: TrainSettings) -> torch.Tensor:
    """Train every member with AdamW on minibatches from ``next_batch(step)``.

    Returns the loss history ``[steps // log_every, M]`` (minibatch MSE per member), on the
    model's device; the loop itself never synchronises with the host.
    """
    device = next(model.parameters()).device
    opt = _adamw(model, settings)
    forward: Callable[[torch.Tensor], torch.Tensor] = model
    if settings.compile:
        forward = torch.compile(model, mode="reduce-overhead" if device.type == "cuda"
                                else "default")
    n_logs = settings.steps // settings.log_every
    history = torch.zeros(n_logs, model.members, device=device)
    for step in range(settings.steps):
        per_member = _adamw_step(forward, opt, settings, step, next_batch(step))
        if step % settings.log_every == 0 and step // settings.log_every < n_logs:
            history[step // settings.log_every] = per_member
    return history


def train_early_stopping(model: EnsembleTransformer, next_batch: Callable[[int], Batch],
                         settings: TrainSettings, validation: Batch, eval_every: int = 100,
                         patience: int = 10, min_delta: float = 1e-3) -> FitReport:
    r"""AdamW (with ``settings``' schedule) until every member's validation error stops improving.

    Every ``eval_every`` steps each member's MSE on the held-out ``validation`` batch
    (tokens ``[B, L, d+1]`` and targets ``[B]`` shared by the members, or ``[M, B, L, d+1]``
    and ``[M, B]``, one per member) is measured (:class:`BestKeeper`). Member ``m`` has
    **converged** (reached its plateau) once it has not improved for ``patience`` consecutive
    evaluations; training stops when every member has, or after ``settings.steps`` steps. At
    the end each member's best parameters are restored; members still improving at
    ``settings.steps`` are flagged ``converged=False``.

    Members keep training after they converge (the ensemble is one tensor program), but
    their restored parameters are those of their best evaluation.
    """
    check_int("eval_every", eval_every)
    keeper = BestKeeper(model, validation, patience, min_delta)
    opt = _adamw(model, settings)
    step = 0
    for step in range(settings.steps + 1):
        at_check = step % eval_every == 0 or step == settings.steps
        if at_check and (keeper.check(step) or step == settings.steps):
            break
        _adamw_step(model, opt, settings, step, next_batch(step))
    keeper.restore()
    tokens, targets = next_batch(step + 1)
    model.zero_grad(set_to_none=True)
    loss = ((model(tokens) - targets) ** 2).mean(dim=1)
    loss.sum().backward()
    grads = member_grad_norms(model)
    model.zero_grad(set_to_none=True)
    return FitReport(loss.detach().cpu(), grads.cpu(), keeper.plateaued.cpu(),
                     keeper.best_step.cpu(), keeper.best.cpu())

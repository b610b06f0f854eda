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
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable

import torch

from iclab.devices import cpu_single_thread
from iclab.models.transformer import EnsembleTransformer, prompt_tokens
from iclab.tasks.prompts import Prompts
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

    def __init__(self, prompts: list[Prompts], token_format: str = "joint") -> None:
        sizes = [p.batch for p in prompts]
        p_max = max(sizes)
        toks = [prompt_tokens(p, token_format) for p in prompts]  # type: ignore[arg-type]
        L, width = toks[0].shape[1:]
        dev, dtype = toks[0].device, toks[0].dtype
        self.tokens = torch.zeros(len(prompts), p_max, L, width, device=dev, dtype=dtype)
        self.targets = torch.zeros(len(prompts), p_max, device=dev, dtype=dtype)
        for m, (tok, p) in enumerate(zip(toks, prompts, strict=True)):
            self.tokens[m, : p.batch] = tok
            self.targets[m, : p.batch] = p.y_q
        self.sizes = torch.tensor(sizes, device=dev)

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


def train(model: EnsembleTransformer, next_batch: Callable[[int], Batch],
          settings: TrainSettings) -> torch.Tensor:
    """Train every member with AdamW on minibatches from ``next_batch(step)``.

    Returns the loss history ``[steps // log_every, M]`` (minibatch MSE per member), on the
    model's device; the loop itself never synchronises with the host.
    """
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr,
                            weight_decay=settings.weight_decay,
                            fused=True if device.type == "cuda" else None)
    forward: Callable[[torch.Tensor], torch.Tensor] = model
    if settings.compile:
        forward = torch.compile(model, mode="reduce-overhead" if device.type == "cuda"
                                else "default")
    n_logs = settings.steps // settings.log_every
    history = torch.zeros(n_logs, model.members, device=device)
    for step in range(settings.steps):
        if settings.schedule != "constant":
            for group in opt.param_groups:
                group["lr"] = settings.lr * settings.lr_factor(step)
        tokens, targets = next_batch(step)
        per_member = ((forward(tokens) - targets) ** 2).mean(dim=1)
        opt.zero_grad(set_to_none=True)
        per_member.sum().backward()
        opt.step()
        if step % settings.log_every == 0 and step // settings.log_every < n_logs:
            history[step // settings.log_every] = per_member.detach()
    return history


def evaluate_mse(model: EnsembleTransformer, prompts: Prompts,
               target: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error of each member's query prediction, ``[M]``.

    ``target`` defaults to the (noisy) query labels ``prompts.y_q``, matching Lu et al.'s
    :math:`e = \\mathbb E(y_{\\ell+1}-\\hat y)^2` (which includes the label noise).
    """
    with torch.no_grad():
        pred = model.predict(prompts)
    y = prompts.y_q if target is None else target
    return ((pred - y.unsqueeze(0)) ** 2).mean(dim=1)


# ---- training to a stated criterion ------------------------------------------------------------
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


def _lbfgs(model: EnsembleTransformer, data: FixedDataset, check_every: int,
           history_size: int) -> tuple[torch.optim.LBFGS, Callable[[], torch.Tensor]]:
    """Full-batch L-BFGS (strong-Wolfe line search, no built-in stopping) on the sum of the
    members' training losses, and its closure; one ``opt.step(closure)`` runs
    ``check_every`` iterations."""
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=check_every,
                            history_size=history_size, tolerance_grad=0.0,
                            tolerance_change=0.0, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=False)
        loss = _full_batch_losses(model, data).sum()
        loss.backward()
        return loss

    return opt, closure


def _full_batch_losses(model: EnsembleTransformer, data: FixedDataset) -> torch.Tensor:
    """``[M]`` training MSE of each member on its own (padded) dataset, with gradients."""
    pred = model(data.tokens)
    valid = (torch.arange(data.tokens.shape[1], device=pred.device).unsqueeze(0)
             < data.sizes.unsqueeze(1))
    return (((pred - data.targets) ** 2) * valid).sum(dim=1) / data.sizes


def train_lbfgs(model: EnsembleTransformer, data: FixedDataset, max_iter: int = 1000,
                loss_tol: float = 1e-4, grad_tol: float = 1e-4, check_every: int = 25,
                history_size: int = 50, validation: Batch | None = None,
                patience: int = 4, min_delta: float = 1e-3) -> FitReport:
    r"""Full-batch L-BFGS (strong-Wolfe line search) on the sum of the members' training MSEs.

    Each member minimises :math:`L_m(\theta_m)=\frac1{P_m}\sum_{\mu\le P_m}(\hat y_m(Z^\mu)-
    y^\mu)^2` over its own dataset; the members' parameters are disjoint, so the summed
    objective has the same minimisers, but the line search and the curvature pairs are
    shared (the members' trajectories are coupled, unlike AdamW's).

    **Criterion**, checked every ``check_every`` iterations: member ``m`` has converged when it
    interpolates (``L_m <= loss_tol``) or sits at a stationary point
    (``‖∇_{θ_m} L_m‖ <= grad_tol``). Training stops when every member has converged, after
    ``max_iter`` iterations, or when L-BFGS itself stalls; non-converged members are flagged
    in the returned :class:`FitReport` (``converged=False``).

    **With** ``validation`` (tokens ``[M, B, L, d+1]`` or ``[B, L, d+1]``, targets ``[M, B]`` or
    ``[B]``) the criterion is early stopping instead: at every check each member's validation
    MSE is measured and its best parameters kept (an improvement is a relative fall by more
    than ``min_delta``); member ``m`` has converged (reached its plateau) after ``patience``
    checks without improvement, and at the end every member gets its best parameters back.
    """
    check_int("max_iter", max_iter)
    if validation is not None:
        return _lbfgs_early_stopping(model, data, max_iter, check_every, history_size,
                                     validation, patience, min_delta)
    check_int("check_every", check_every)
    check_positive("loss_tol", loss_tol)
    check_positive("grad_tol", grad_tol)
    opt, closure = _lbfgs(model, data, check_every, history_size)

    done, previous = 0, math.inf
    while True:
        losses = _full_batch_losses(model, data)
        opt.zero_grad(set_to_none=False)
        losses.sum().backward()
        grads = member_grad_norms(model)
        losses = losses.detach()
        ok = (losses <= loss_tol) | (grads <= grad_tol)
        total = float(losses.sum())
        stalled = not math.isfinite(total) or total >= previous * (1 - 1e-7)
        if bool(ok.all()) or done >= max_iter or stalled:
            break
        previous = total
        opt.step(closure)
        done += check_every
    M = model.members
    return FitReport(losses.cpu(), grads.cpu(), ok.cpu(), torch.full((M,), done),
                     torch.full((M,), math.nan))


def train_early_stopping(model: EnsembleTransformer, next_batch: Callable[[int], Batch],
                         settings: TrainSettings, validation: Batch, eval_every: int = 100,
                         patience: int = 10, min_delta: float = 1e-3) -> FitReport:
    r"""AdamW (with ``settings``' schedule) until every member's validation error stops improving.

    Every ``eval_every`` steps each member's MSE on the held-out ``validation`` batch
    (tokens ``[B, L, d+1]`` and targets ``[B]`` shared by the members, or ``[M, B, L, d+1]``
    and ``[M, B]``, one per member) is measured. A member
    *improves* when its error falls below ``(1 - min_delta)`` times its best so far; its best
    parameters are kept. Member ``m`` has **converged** (reached its plateau) once it has not
    improved for ``patience`` consecutive evaluations; training stops when every member has,
    or after ``settings.steps`` steps. At the end each member's best parameters are restored;
    members still improving at ``settings.steps`` are flagged ``converged=False``.

    Members keep training after they converge (the ensemble is one tensor program), but
    their restored parameters are those of their best evaluation.
    """
    check_int("eval_every", eval_every)
    check_int("patience", patience)
    check_in_range("min_delta", min_delta, 0.0, 1.0)
    device = next(model.parameters()).device
    M = model.members
    val_tokens, val_targets = validation
    if val_tokens.dim() == 3:
        val_tokens = val_tokens.unsqueeze(0).expand(M, *val_tokens.shape)
    if val_targets.dim() == 1:
        val_targets = val_targets.unsqueeze(0)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr,
                            weight_decay=settings.weight_decay,
                            fused=True if device.type == "cuda" else None)
    best = torch.full((M,), math.inf, device=device)
    best_step = torch.zeros(M, dtype=torch.long, device=device)
    stale = torch.zeros(M, dtype=torch.long, device=device)
    best_params = [p.detach().clone() for p in model.parameters()]
    step = 0
    for step in range(settings.steps + 1):
        if step % eval_every == 0 or step == settings.steps:
            with torch.no_grad():
                err = ((model(val_tokens) - val_targets) ** 2).mean(dim=1)
                better = err < best * (1 - min_delta)
                best = torch.where(better, err, best)
                best_step = torch.where(better, step, best_step)
                stale = torch.where(better, 0, stale + 1)
                for keep, p in zip(best_params, model.parameters(), strict=True):
                    mask = better.view(M, *([1] * (p.dim() - 1)))
                    keep.copy_(torch.where(mask, p.detach(), keep))
            if bool((stale >= patience).all()) or step == settings.steps:
                break
        for group in opt.param_groups:
            group["lr"] = settings.lr * settings.lr_factor(step)
        tokens, targets = next_batch(step)
        per_member = ((model(tokens) - targets) ** 2).mean(dim=1)
        opt.zero_grad(set_to_none=True)
        per_member.sum().backward()
        opt.step()
    with torch.no_grad():
        for keep, p in zip(best_params, model.parameters(), strict=True):
            p.copy_(keep)
    tokens, targets = next_batch(step + 1)
    model.zero_grad(set_to_none=True)
    loss = ((model(tokens) - targets) ** 2).mean(dim=1)
    loss.sum().backward()
    grads = member_grad_norms(model)
    model.zero_grad(set_to_none=True)
    return FitReport(loss.detach().cpu(), grads.cpu(), (stale >= patience).cpu(),
                     best_step.cpu(), best.cpu())


def _lbfgs_early_stopping(model: EnsembleTransformer, data: FixedDataset, max_iter: int,
                          check_every: int, history_size: int, validation: Batch,
                          patience: int, min_delta: float) -> FitReport:
    """:func:`train_lbfgs` with the early-stopping criterion (see there)."""
    check_int("patience", patience)
    check_in_range("min_delta", min_delta, 0.0, 1.0)
    M = model.members
    val_tokens, val_targets = validation
    if val_tokens.dim() == 3:
        val_tokens = val_tokens.unsqueeze(0).expand(M, *val_tokens.shape)
    if val_targets.dim() == 1:
        val_targets = val_targets.unsqueeze(0)
    opt, closure = _lbfgs(model, data, check_every, history_size)

    device = val_targets.device
    best = torch.full((M,), math.inf, device=device)
    best_step = torch.zeros(M, dtype=torch.long, device=device)
    stale = torch.zeros(M, dtype=torch.long, device=device)
    best_params = [p.detach().clone() for p in model.parameters()]
    done = 0
    while True:
        with torch.no_grad():
            err = ((model(val_tokens) - val_targets) ** 2).mean(dim=1)
            err = torch.where(torch.isfinite(err), err, torch.full_like(err, math.inf))
            better = err < best * (1 - min_delta)
            best = torch.where(better, err, best)
            best_step = torch.where(better, done, best_step)
            stale = torch.where(better, 0, stale + 1)
            for keep, p in zip(best_params, model.parameters(), strict=True):
                keep.copy_(torch.where(better.view(M, *([1] * (p.dim() - 1))), p.detach(),
                                       keep))
        if bool((stale >= patience).all()) or done >= max_iter:
            break
        opt.step(closure)
        done += check_every
    with torch.no_grad():
        for keep, p in zip(best_params, model.parameters(), strict=True):
            p.copy_(keep)
    losses = _full_batch_losses(model, data)
    model.zero_grad(set_to_none=False)
    losses.sum().backward()
    grads = member_grad_norms(model)
    model.zero_grad(set_to_none=True)
    return FitReport(losses.detach().cpu(), grads.cpu(), (stale >= patience).cpu(),
                     best_step.cpu(), best.cpu())


def train_lbfgs_per_member(model: EnsembleTransformer, data: FixedDataset,
                           **kwargs: object) -> FitReport:
    """:func:`train_lbfgs` run on each member alone (its own line search and curvature pairs),
    the members' results written back into the ensemble. Slower per member than the coupled
    run, but a member sitting on a plateau is not held back by a shared step length."""
    reports = []
    for m in range(model.members):
        solo = EnsembleTransformer(model.cfg, 1).to(next(model.parameters()).device)
        with torch.no_grad():
            for name, p in solo.named_parameters():
                p.copy_(model.member_parameters(m)[name].unsqueeze(0))
        part = FixedDataset.__new__(FixedDataset)
        part.tokens, part.targets = data.tokens[m : m + 1], data.targets[m : m + 1]
        part.sizes = data.sizes[m : m + 1]
        extra = dict(kwargs)
        validation = extra.pop("validation", None)
        if validation is not None:
            tokens, targets = validation  # type: ignore[misc]
            tokens = tokens[m : m + 1] if tokens.dim() == 4 else tokens
            targets = targets[m : m + 1] if targets.dim() == 2 else targets
            extra["validation"] = (tokens, targets)
        reports.append(train_lbfgs(solo, part, **extra))  # type: ignore[arg-type]
        with torch.no_grad():
            for name, p in model.named_parameters():
                p[m].copy_(dict(solo.named_parameters())[name][0])
    return FitReport(*(torch.cat([getattr(r, f.name) for r in reports])
                       for f in dataclasses.fields(FitReport)))

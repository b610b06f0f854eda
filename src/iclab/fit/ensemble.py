"""Train M independent models as ONE tensor program (the ensemble axis).

Every parameter is a tensor with a leading ensemble axis ``[M, ...]``; model ``m`` owns the
slice ``[m]``. The user supplies

* ``loss_fn(params, batch) -> Tensor[M]`` — the per-model losses (model ``m``'s loss may only
  depend on ``params[k][m]`` and its own slice of the batch), and
* ``sample_fn(step) -> batch`` — draws the step's batch on the device from a
  ``torch.Generator`` the closure owns (e.g. a :class:`~iclab.tasks.prompts.Prompts` with
  batch ``M * B`` reshaped by the loss to ``[M, B, ...]``).

The trainer backpropagates ``loss.sum()``. Because model ``m``'s loss touches only its own
slice, ``d(sum)/d params[k][m] = d loss_m / d params[k][m]``: the gradients stay independent.

The optimiser is a small Adam/AdamW written here (not ``torch.optim``) so that each model may
have its own learning rate, weight decay and gradient-clip threshold given as ``[M]`` tensors;
Adam is (up to ``eps``) invariant to the scale of the loss, so the usual "scale the loss"
trick cannot give per-model learning rates. The update is the textbook one (Kingma & Ba 2015;
decoupled weight decay as in Loshchilov & Hutter 2019)::

    m_t = b1 m_{t-1} + (1 - b1) g            v_t = b2 v_{t-1} + (1 - b2) g^2
    p  <- p - lr * wd * p                                  (AdamW, decoupled)
    p  <- p - lr * (m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t)) + eps)

With a scalar learning rate it coincides with ``torch.optim.AdamW`` (tested). The step loop has
no host synchronisation: losses are recorded into a preallocated device tensor and read once
at the end. ``compile=True`` wraps ``loss_fn`` in ``torch.compile`` (off by default).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch

from iclab.validation import check_choice, check_int, check_nonnegative, check_positive

Params = dict[str, torch.Tensor]
LossFn = Callable[[Params, Any], torch.Tensor]
SampleFn = Callable[[int], Any]


@dataclasses.dataclass
class EnsembleTrainResult:
    """Outcome of :func:`train_ensemble`.

    Attributes:
        params: trained parameters, each ``[M, ...]`` (detached).
        loss_history: recorded per-model training losses ``[R, M]`` (``R = steps // record_every``
            rows, or ``0`` rows when recording is off).
        record_steps: the step index (1-based) of each recorded row, length ``R``.
    """

    params: Params
    loss_history: torch.Tensor
    record_steps: list[int]

    @property
    def final_loss(self) -> torch.Tensor:
        """The last recorded per-model loss ``[M]`` (NaN tensor when nothing was recorded)."""
        if self.loss_history.shape[0] == 0:
            m = next(iter(self.params.values())).shape[0]
            return torch.full((m,), float("nan"))
        return self.loss_history[-1]


def ensemble_size(params: Params) -> int:
    """The common leading dimension ``M`` of every parameter; error if they disagree."""
    sizes = {int(p.shape[0]) for p in params.values()}
    if len(sizes) != 1:
        raise ValueError(f"parameters disagree on the ensemble size: {sorted(sizes)}")
    return sizes.pop()


def _per_model(value: float | torch.Tensor, m: int, like: torch.Tensor, name: str) -> torch.Tensor:
    """A hyper-parameter as an ``[M]`` tensor on ``like``'s device/dtype."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        t = t.expand(m)
    if t.shape != (m,):
        raise ValueError(f"{name} must be a scalar or of shape [{m}], got {tuple(t.shape)}")
    check_nonnegative(name, t.detach().cpu().numpy())
    return t.clone()


def _bcast(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``[M]`` -> ``[M, 1, ..., 1]`` to broadcast against parameter ``p``."""
    return t.view(-1, *([1] * (p.ndim - 1)))


class EnsembleAdam:
    """Adam/AdamW over stacked parameters with per-model ``lr``, ``weight_decay`` ``[M]``.

    Args:
        params: leaf tensors ``[M, ...]`` with ``requires_grad=True``.
        lr: learning rate, scalar or ``[M]``.
        betas: Adam's ``(b1, b2)``.
        eps: Adam's epsilon.
        weight_decay: decoupled weight decay, scalar or ``[M]`` (0 gives plain Adam).
    """

    def __init__(self, params: list[torch.Tensor], lr: float | torch.Tensor,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float | torch.Tensor = 0.0) -> None:
        self.params = params
        m = int(params[0].shape[0])
        self.lr = _per_model(lr, m, params[0], "lr")
        self.wd = _per_model(weight_decay, m, params[0], "weight_decay")
        self.b1, self.b2 = (float(b) for b in betas)
        self.eps = float(check_positive("eps", eps))
        self.t = 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, lr_scale: float = 1.0) -> None:
        """One update; ``lr_scale`` multiplies every model's learning rate (schedules)."""
        self.t += 1
        bc1 = 1.0 - self.b1**self.t
        bc2_sqrt = (1.0 - self.b2**self.t) ** 0.5
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            g = p.grad
            lr = _bcast(self.lr, p) * lr_scale
            m.mul_(self.b1).add_(g, alpha=1.0 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1.0 - self.b2)
            p.mul_(1.0 - lr * _bcast(self.wd, p))
            denom = (v.sqrt() / bc2_sqrt).add_(self.eps)
            p.sub_((lr / bc1) * m / denom)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


class EnsembleSGD:
    """SGD with (heavy-ball) momentum over stacked parameters, per-model ``lr`` ``[M]``::

        b <- mu b + g,   p <- p - lr * b

    Unlike Adam the step is proportional to the gradient, so a parameter that aggregates the
    gradient of many entries (e.g. a scalar gain multiplying a matrix) moves faster than each
    entry of that matrix.
    """

    def __init__(self, params: list[torch.Tensor], lr: float | torch.Tensor,
                 momentum: float = 0.9) -> None:
        self.params = params
        m = int(params[0].shape[0])
        self.lr = _per_model(lr, m, params[0], "lr")
        self.mu = float(check_nonnegative("momentum", momentum))
        self.buf = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, lr_scale: float = 1.0) -> None:
        """One update; ``lr_scale`` multiplies every model's learning rate (schedules)."""
        for p, b in zip(self.params, self.buf, strict=True):
            if p.grad is None:
                continue
            b.mul_(self.mu).add_(p.grad)
            p.sub_(_bcast(self.lr, p) * lr_scale * b)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


OPTIMIZERS = ("adam", "sgd")


def clip_grad_norm_per_model(params: list[torch.Tensor], max_norm: torch.Tensor) -> torch.Tensor:
    """Rescale each model's gradient so its global L2 norm is at most ``max_norm[m]``.

    Returns the per-model norms before clipping ``[M]``; no host synchronisation.
    """
    sq = sum(p.grad.pow(2).flatten(1).sum(1) for p in params if p.grad is not None)
    norms = torch.as_tensor(sq).sqrt()
    scale = (max_norm / (norms + 1e-12)).clamp(max=1.0)
    for p in params:
        if p.grad is not None:
            p.grad.mul_(_bcast(scale, p))
    return norms


def train_ensemble(
    params: Params,
    loss_fn: LossFn,
    sample_fn: SampleFn,
    *,
    steps: int,
    lr: float | torch.Tensor = 1e-2,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float | torch.Tensor = 0.0,
    grad_clip: float | torch.Tensor | None = None,
    lr_schedule: Callable[[int], float] | None = None,
    record_every: int = 0,
    compile: bool = False,
    optimizer: str = "adam",
    momentum: float = 0.9,
) -> EnsembleTrainResult:
    """Train the ensemble ``params`` (each ``[M, ...]``) for ``steps`` Adam(W) steps.

    Args:
        params: initial parameters, ``name -> [M, ...]``; they are cloned, not modified.
        loss_fn: ``(params, batch) -> [M]`` per-model losses.
        sample_fn: ``step -> batch``; draws from its own ``torch.Generator`` on the device.
        steps: number of optimisation steps (>= 1).
        lr, weight_decay: scalars or ``[M]`` tensors (per-model hyper-parameters).
        betas, eps: Adam's constants (shared).
        grad_clip: optional per-model gradient-norm clip, scalar or ``[M]``.
        lr_schedule: optional ``step -> multiplier`` (a Python float: no device sync).
        record_every: record the per-model loss every this many steps (0: never).
        compile: wrap ``loss_fn`` with ``torch.compile``.
        optimizer: ``"adam"`` (Adam/AdamW, :class:`EnsembleAdam`) or ``"sgd"``
            (:class:`EnsembleSGD`, heavy-ball ``momentum``; ``weight_decay`` must be 0).
        momentum: SGD's momentum (ignored by Adam).

    Returns:
        :class:`EnsembleTrainResult` with the trained parameters and the loss history.
    """
    steps = check_int("steps", steps, minimum=1)
    record_every = check_int("record_every", record_every, minimum=0)
    m = ensemble_size(params)
    names = list(params)
    leaves = [params[k].detach().clone().requires_grad_(True) for k in names]
    live = dict(zip(names, leaves, strict=True))
    check_choice("optimizer", optimizer, OPTIMIZERS)
    if optimizer == "sgd":
        if float(torch.as_tensor(weight_decay).abs().max()) != 0.0:
            raise ValueError("weight_decay must be 0 with optimizer='sgd'")
        opt: EnsembleAdam | EnsembleSGD = EnsembleSGD(leaves, lr=lr, momentum=momentum)
    else:
        opt = EnsembleAdam(leaves, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    clip = None if grad_clip is None else _per_model(grad_clip, m, leaves[0], "grad_clip")
    fn = torch.compile(loss_fn) if compile else loss_fn
    n_rec = steps // record_every if record_every else 0
    history = torch.empty(n_rec, m, dtype=leaves[0].dtype, device=leaves[0].device)
    record_steps: list[int] = []
    for step in range(1, steps + 1):
        batch = sample_fn(step - 1)
        losses = fn(live, batch)
        if losses.shape != (m,):
            raise ValueError(f"loss_fn must return shape [{m}], got {tuple(losses.shape)}")
        opt.zero_grad()
        losses.sum().backward()
        if clip is not None:
            clip_grad_norm_per_model(leaves, clip)
        opt.step(1.0 if lr_schedule is None else float(lr_schedule(step - 1)))
        if record_every and step % record_every == 0:
            history[len(record_steps)] = losses.detach()
            record_steps.append(step)
    trained = {k: p.detach() for k, p in live.items()}
    return EnsembleTrainResult(params=trained, loss_history=history.cpu(),
                               record_steps=record_steps)


def cosine_schedule(steps: int, warmup: int = 0, floor: float = 0.0) -> Callable[[int], float]:
    """``step -> multiplier``: linear warm-up over ``warmup`` steps, then cosine to ``floor``."""
    steps = check_int("steps", steps, minimum=1)
    warmup = check_int("warmup", warmup, minimum=0)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        frac = (step - warmup) / max(1, steps - warmup)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0)))

    return schedule

"""Training an :class:`~iclab.models.transformer.EnsembleTransformer` on in-context regression.

Design (what keeps an accelerator busy):

- data live on the model's device: a fixed finite pretraining set per member
  (:class:`FixedDataset`, ``P_m = τ_m d²`` contexts, as in Lu et al. §5) or prompts sampled
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
from collections.abc import Callable

import torch

from iclab.devices import cpu_single_thread
from iclab.models.transformer import EnsembleTransformer, prompt_tokens
from iclab.tasks.prompts import Prompts
from iclab.validation import check_int, check_nonnegative, check_positive

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

    def __post_init__(self) -> None:
        check_int("steps", self.steps)
        check_int("batch", self.batch)
        check_positive("lr", self.lr)
        check_nonnegative("weight_decay", self.weight_decay)
        check_int("log_every", self.log_every)


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

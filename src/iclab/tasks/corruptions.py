"""Test-time corruptions of a :class:`~iclab.tasks.prompts.Prompts` batch (composable).

Each transform returns a new ``Prompts`` and touches only the **context** (``X``, ``y``); the
query ``x_q`` and its label ``y_q`` (the evaluation target) are left clean unless a transform
says otherwise. Randomness comes only from the ``generator`` argument, which must live on the
prompts' device; the same generator state reproduces the same corruption.

>>> noisy = add_label_noise(flip_labels(prompts, 0.2, gen), 0.1, gen)   # doctest: +SKIP
"""

from __future__ import annotations

import math

import torch

from iclab.tasks.prompts import Prompts
from iclab.validation import check_choice, check_in_range, check_nonnegative


def flip_mask(
    batch: int, n: int, p: float, generator: torch.Generator, mode: str = "exact"
) -> torch.Tensor:
    """Boolean ``[batch, n]`` mask of the context positions to flip.

    ``mode="exact"``: exactly ``round(p n)`` positions per prompt, a uniformly random subset
    (ranks of i.i.d. uniforms); ``mode="bernoulli"``: each position independently with
    probability ``p``.
    """
    check_in_range("p", p, 0.0, 1.0)
    check_choice("mode", mode, ("exact", "bernoulli"))
    u = torch.rand(batch, n, generator=generator, device=generator.device)
    if mode == "bernoulli":
        return u < p
    k = int(math.floor(p * n + 0.5))
    ranks = u.argsort(dim=1).argsort(dim=1)
    return ranks < k


def flip_labels(
    prompts: Prompts, p: float, generator: torch.Generator, mode: str = "exact"
) -> Prompts:
    """Negate a fraction ``p`` of the context labels ``y`` (for ±1 labels: a label flip).

    Args:
        prompts: batch with context labels ``y [B, n]``.
        p: fraction in ``[0, 1]``.
        generator: torch generator on the prompts' device.
        mode: ``"exact"`` (exactly ``round(p n)`` labels per prompt; the toolkit's choice,
            see docs/shi2024.md) or ``"bernoulli"`` (each label independently with
            probability ``p``).
    """
    mask = flip_mask(prompts.batch, prompts.n, p, generator, mode).to(prompts.y.device)
    return prompts.replace(y=torch.where(mask, -prompts.y, prompts.y))


def add_label_noise(prompts: Prompts, sigma2: float, generator: torch.Generator) -> Prompts:
    """Context labels ``y_i + ε_i``, ``ε_i ~ N(0, σ²)`` i.i.d.; ``sigma2`` is the variance."""
    check_nonnegative("sigma2", sigma2)
    y = prompts.y
    eps = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
    return prompts.replace(y=y + math.sqrt(sigma2) * eps)


def add_input_noise(
    prompts: Prompts, std: float, generator: torch.Generator, query: bool = False
) -> Prompts:
    """Context inputs ``x_i + ξ_i``, ``ξ_i ~ N(0, std² I)``; labels are kept (made from clean x).

    ``query=True`` also perturbs ``x_q`` (the target ``y_q`` stays the clean label).
    """
    check_nonnegative("std", std)
    x = prompts.X
    noisy_x = x + std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    out = prompts.replace(X=noisy_x)
    if query:
        xq = prompts.x_q
        out = out.replace(x_q=xq + std * torch.randn(xq.shape, generator=generator,
                                                     device=xq.device, dtype=xq.dtype))
    return out

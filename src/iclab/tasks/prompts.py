"""The batch of prompts every task produces and every predictor consumes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch


@dataclasses.dataclass(frozen=True)
class Prompts:
    """A batch of in-context regression/classification prompts.

    Attributes:
        X: context inputs, shape ``[B, n, d]``.
        y: context labels, shape ``[B, n]``.
        x_q: query input, shape ``[B, d]``.
        y_q: query label, shape ``[B]``.
        w: the task vector of each prompt when it exists, shape ``[B, d]`` (else ``None``).
    """

    X: torch.Tensor
    y: torch.Tensor
    x_q: torch.Tensor
    y_q: torch.Tensor
    w: torch.Tensor | None = None

    @property
    def batch(self) -> int:
        return int(self.X.shape[0])

    @property
    def n(self) -> int:
        """Context length (number of labelled examples)."""
        return int(self.X.shape[1])

    @property
    def d(self) -> int:
        return int(self.X.shape[2])

    def replace(self, **changes: torch.Tensor | None) -> Prompts:
        """A copy with some fields replaced (prompts are immutable)."""
        return dataclasses.replace(self, **changes)

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Prompts:
        """``fn`` applied to every tensor field (``w`` stays ``None`` when absent)."""
        return Prompts(*(None if t is None else fn(t)
                         for t in (getattr(self, f.name) for f in dataclasses.fields(self))))

    def to(self, device: torch.device | str) -> Prompts:
        return self.map(lambda t: t.to(device))

    def tokens(self) -> torch.Tensor:
        """One token per example, ``[x; y]`` with ``y = 0`` at the query: ``[B, n+1, d+1]``."""
        ctx = torch.cat([self.X, self.y.unsqueeze(-1)], dim=-1)
        query = torch.cat([self.x_q, torch.zeros_like(self.y_q).unsqueeze(-1)], dim=-1)
        return torch.cat([ctx, query.unsqueeze(1)], dim=1)

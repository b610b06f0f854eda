"""The one protocol every task implements: a :class:`Task` samples batches of prompts.

A task fixes the input dimension ``d`` and the law of a prompt (inputs, task vector, labels,
context length ``n``); :meth:`Task.sample` draws ``batch`` independent prompts from it using
only the given generator, so the same generator state gives the same prompts.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from iclab.tasks.prompts import Prompts


@runtime_checkable
class Task(Protocol):
    """Samples prompts: ``sample(batch, generator) -> Prompts`` with ``X [B, n, d]``."""

    @property
    def d(self) -> int:
        """Input dimension of every prompt."""
        ...

    def sample(self, batch: int, generator: torch.Generator) -> Prompts:
        """``batch`` independent prompts drawn with ``generator`` (on its device)."""
        ...

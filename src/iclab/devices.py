"""Resolve a user-given device name to a ``torch.device``, with a clear error if absent."""

from __future__ import annotations

import torch

from iclab.errors import ParameterError


def resolve_device(name: str | torch.device | None) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` → ``torch.device``; ``None`` means CPU.

    Raises :class:`ParameterError` when CUDA is asked for but not available.
    """
    if name is None:
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ParameterError("device", str(name), "cpu or cuda[:N]") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError("device", str(name), "cpu (no CUDA device is available here)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ParameterError(
                "device", str(name), f"cuda:0..cuda:{torch.cuda.device_count() - 1}"
            )
    elif dev.type != "cpu":
        raise ParameterError("device", str(name), "cpu or cuda[:N]")
    return dev

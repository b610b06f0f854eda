"""Deterministic seeds derived from content, so results do not depend on execution order.

Every experiment point gets ``derive_seed(experiment_seed, experiment_name, point, trial)``;
the same inputs give the same 63-bit seed in any process, executor or machine.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import torch


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the basis of every content hash."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default)


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, float | int | str | bool) or obj is None:
        return obj
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    raise TypeError(f"cannot hash object of type {type(obj).__name__}")


def content_hash(*parts: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``parts``."""
    return hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()


def derive_seed(*parts: Any) -> int:
    """A 63-bit integer seed from the content hash of ``parts``."""
    return int(content_hash(*parts)[:16], 16) & ((1 << 63) - 1)


def torch_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def numpy_rng(seed: int) -> np.random.Generator:
    """A NumPy ``Generator`` (PCG64) seeded with ``seed``."""
    return np.random.default_rng(int(seed))


def standard_normal(shape: tuple[int, ...], generator: torch.Generator, device: torch.device,
                    dtype: torch.dtype) -> torch.Tensor:
    """Standard normals of ``shape``; float64 on the CPU is drawn in float32 and promoted.

    Torch's CPU float64 normal sampler is about 3x slower than its vectorised float32 one,
    and sampling dominated the fast pretraining sampler. Promoted float32 normals have a
    relative rounding of 6e-8, far below any Monte Carlo error here; the law is otherwise
    the standard normal (tested through the samplers in ``tests/lu2024/test_lu_sampler.py``).
    """
    if dtype == torch.float64 and torch.device(device).type == "cpu":
        return torch.randn(shape, generator=generator, device=device,
                           dtype=torch.float32).to(dtype)
    return torch.randn(shape, generator=generator, device=device, dtype=dtype)

"""Linear regression with general feature and task covariances (Li et al. 2024;
docs/li2024.md §1.1).

``beta ~ N(0, Sigma_beta)`` fresh per prompt, ``x_i ~ N(0, Sigma_x)`` for the ``n`` context
examples and the query, ``y_i = x_i^T beta + xi_i`` with ``xi_i ~ N(0, sigma2)`` (query label too).

Prior scaling (our choice; the paper does not fix it, see docs/li2024.md): the default
``Sigma_beta = I`` (so the null risk at ``n = 0`` is ``d + sigma2``); pass
``Sigma_beta = I/d`` for the other convention.
Everything is drawn on the generator's device with the given ``torch.Generator``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from numpy.typing import ArrayLike

from iclab.tasks.prompts import Prompts
from iclab.validation import check_int, check_nonnegative

#: Context length of a task's prompts when neither the task nor the call names one.
DEFAULT_N = 20


def _chol(name: str, S: ArrayLike | None, d: int) -> np.ndarray:
    """A factor ``L`` with ``L L^T = S`` (``S`` a ``[d]`` diagonal or ``[d, d]`` PSD matrix)."""
    if S is None:
        return np.eye(d)
    A = np.asarray(S, dtype=float)
    if A.ndim == 1:
        check_nonnegative(name, A)
        A = np.diag(A)
    if A.shape != (d, d):
        raise ValueError(f"{name} must have shape [{d}] or [{d}, {d}], got {A.shape}")
    vals, vecs = np.linalg.eigh(0.5 * (A + A.T))
    if vals.min() < -1e-10 * max(1.0, abs(vals).max()):
        raise ValueError(f"{name} must be positive semi-definite")
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


def _normal(shape: tuple[int, ...], generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, device=generator.device, dtype=dtype)


@dataclasses.dataclass(frozen=True)
class GaussianDesignTask:
    """General-covariance Gaussian regression prompts (Li et al. 2024; docs/li2024.md §1.1).

    Args:
        d: feature dimension.
        Sigma_x: feature covariance ``[d]`` (diagonal) or ``[d, d]``; ``None`` = identity.
        Sigma_beta: task covariance ``[d]`` or ``[d, d]``; ``None`` = identity.
        sigma2: label-noise variance (>= 0).
        n: context length of :meth:`sample` when the call does not name one.
    """

    d: int
    Sigma_x: ArrayLike | None = None
    Sigma_beta: ArrayLike | None = None
    sigma2: float = 0.0
    n: int = DEFAULT_N
    _Lx: np.ndarray = dataclasses.field(init=False, repr=False, compare=False)
    _Lb: np.ndarray = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_int("d", self.d)
        check_nonnegative("sigma2", self.sigma2)
        check_int("n", self.n, minimum=0)
        object.__setattr__(self, "_Lx", _chol("Sigma_x", self.Sigma_x, self.d))
        object.__setattr__(self, "_Lb", _chol("Sigma_beta", self.Sigma_beta, self.d))

    def sample(self, batch: int, generator: torch.Generator, n: int | None = None,
               dtype: torch.dtype = torch.float32) -> Prompts:
        """``batch`` prompts with ``n`` context examples: ``X [B, n, d]``, ``w = beta [B, d]``.

        ``n`` context examples (default: the task's ``n``), drawn with ``generator``.
        """
        batch = check_int("batch", batch)
        n = self.n if n is None else check_int("n", n, minimum=0)
        dev = generator.device
        Lx = torch.as_tensor(self._Lx, dtype=dtype, device=dev)
        Lb = torch.as_tensor(self._Lb, dtype=dtype, device=dev)
        beta = _normal((batch, self.d), generator, dtype) @ Lb.T
        feats = _normal((batch, n + 1, self.d), generator, dtype) @ Lx.T
        noise = _normal((batch, n + 1), generator, dtype) * self.sigma2**0.5
        labels = torch.einsum("bnd,bd->bn", feats, beta) + noise
        return Prompts(X=feats[:, :n], y=labels[:, :n], x_q=feats[:, n], y_q=labels[:, n], w=beta)

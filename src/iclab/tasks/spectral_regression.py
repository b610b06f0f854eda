"""In-context linear regression with a non-isotropic input covariance ``Λ = V D V^T``.

The data model of the regression setting of Shi, Wei, Xu & Liang 2024 as the toolkit
reconstructs it (see docs/shi2024.md, "The mathematics"): ``x_1..x_n, x_q ~ N(0, Λ)`` i.i.d.;
the eigenvectors with large ``λ_i`` are the *important* directions, the small ones the
*less-important* directions. Task ``w ~ N(0, I_d)`` (the toolkit's choice: the paper does not
fix the prior; see docs/shi2024.md, "Modelling choices") or a fixed test task; labels
``y_i = w^T x_i + ε_i`` with optional ``ε_i ~ N(0, σ_tr²)`` (default 0, our choice);
the query label ``y_q = w^T x_q`` is always clean (the risk's target).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from iclab.tasks.prompts import Prompts
from iclab.validation import check_int, check_nonnegative, check_positive


def random_orthogonal(d: int, generator: torch.Generator) -> torch.Tensor:
    """A Haar-random orthogonal ``[d, d]`` matrix (QR of a Gaussian, signs fixed), float64."""
    d = check_int("d", d)
    g = torch.randn(d, d, generator=generator, dtype=torch.float64,
                    device=generator.device)
    q, r = torch.linalg.qr(g)
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)


@dataclasses.dataclass(frozen=True)
class SpectralRegressionTask:
    """Gaussian linear-regression prompts with covariance ``Λ = V diag(λ) V^T``.

    Attributes:
        eigenvalues: ``λ`` ``[d]``, non-increasing, > 0.
        basis: ``V`` ``[d, d]`` (columns = eigenvectors); ``None`` means the identity.
        n: context length.
        label_noise2: variance ``σ_tr²`` of the context-label noise.
    """

    eigenvalues: tuple[float, ...]
    n: int
    basis: np.ndarray | None = None
    label_noise2: float = 0.0

    def __post_init__(self) -> None:
        lam = np.asarray(self.eigenvalues, dtype=float)
        check_positive("eigenvalues", lam)
        check_int("n", self.n)
        check_nonnegative("label_noise2", self.label_noise2)
        if self.basis is not None and np.shape(self.basis) != (lam.size, lam.size):
            raise ValueError(f"basis must have shape [{lam.size}, {lam.size}]")

    @property
    def d(self) -> int:
        return len(self.eigenvalues)

    def sqrt_covariance(self, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
        """``Λ^{1/2} = V diag(√λ) V^T`` ``[d, d]`` (so that ``x = Λ^{1/2} z``)."""
        v = np.eye(self.d) if self.basis is None else np.asarray(self.basis, dtype=float)
        root = (v * np.sqrt(np.asarray(self.eigenvalues, dtype=float))) @ v.T
        return torch.as_tensor(root, dtype=dtype, device=device)

    def sample(
        self, batch: int, generator: torch.Generator, device: torch.device | str | None = None,
        w: torch.Tensor | None = None, dtype: torch.dtype = torch.float32,
    ) -> Prompts:
        """Draw ``batch`` prompts on ``device`` (default: the generator's device).

        Args:
            w: a fixed task ``[d]`` or per-prompt tasks ``[batch, d]``; ``None`` draws
                ``w ~ N(0, I_d)`` per prompt.
        Returns:
            :class:`Prompts` with ``X [B, n, d]``, ``y [B, n]``, ``x_q [B, d]``, ``y_q [B]``,
            ``w [B, d]``.
        """
        batch = check_int("batch", batch)
        dev = generator.device if device is None else torch.device(device)
        root = self.sqrt_covariance(dev, dtype)
        z = torch.randn(batch, self.n + 1, self.d, generator=generator, device=dev, dtype=dtype)
        x = (z.reshape(-1, self.d) @ root).reshape(z.shape)
        if w is None:
            w = torch.randn(batch, self.d, generator=generator, device=dev, dtype=dtype)
        else:
            w = torch.as_tensor(w, dtype=dtype, device=dev).expand(batch, self.d)
        y = torch.einsum("bnd,bd->bn", x, w)
        y_ctx = y[:, : self.n]
        if self.label_noise2 > 0:
            noise = torch.randn(batch, self.n, generator=generator, device=dev, dtype=dtype)
            y_ctx = y_ctx + noise * float(np.sqrt(self.label_noise2))
        return Prompts(X=x[:, : self.n], y=y_ctx, x_q=x[:, self.n], y_q=y[:, self.n],
                       w=w.contiguous())

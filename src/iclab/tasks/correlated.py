"""Correlated designs of Li et al. (2024): RAG and task–feature alignment (spec §1.2).

* :class:`RAGTask` — retrieved examples correlated with the query (spec §1.2; the
  parameterisation is [?], our choice as in the spec): ``x ~ N(0, I)``,
  ``x_i = alpha x + sqrt(1 - alpha^2) g_i``, ``beta ~ N(0, I)``, noise ``sigma2``.
* :class:`AlignmentTask` — OUR PROVISIONAL task–feature alignment model (the paper's model is
  not confirmed, spec §3e [?]): ``beta ~ N(0, I)``, ``u = beta/|beta|``, and every feature
  (context and query) is ``x_i ~ N(0, I + (kappa - 1) u u^T)`` with ``kappa = alpha^2 d + 1``,
  i.e. ``x_i = g_i + (sqrt(kappa) - 1)(u^T g_i) u``. Theory: :mod:`iclab.theory.rag`.
"""

from __future__ import annotations

import dataclasses

import torch

from iclab.tasks.gaussian_design import DEFAULT_N, _normal
from iclab.tasks.prompts import Prompts
from iclab.validation import check_in_range, check_int, check_nonnegative


@dataclasses.dataclass(frozen=True)
class RAGTask:
    """RAG-style prompts: context inputs correlated with the query through ``alpha``.

    ``n``: the context length of :meth:`sample` when the call does not name one.
    """

    d: int
    alpha: float
    sigma2: float = 0.0
    n: int = DEFAULT_N

    def __post_init__(self) -> None:
        check_int("d", self.d)
        check_in_range("alpha", self.alpha, 0.0, 1.0)
        check_nonnegative("sigma2", self.sigma2)
        check_int("n", self.n, minimum=0)

    def sample(self, batch: int, generator: torch.Generator, n: int | None = None,
               dtype: torch.dtype = torch.float32) -> Prompts:
        """``X [B, n, d]`` with ``corr(x_i, x_q) = alpha``; ``w = beta [B, d]``.

        ``n`` context examples (default: the task's ``n``), drawn with ``generator``.
        """
        batch = check_int("batch", batch)
        n = self.n if n is None else check_int("n", n, minimum=0)
        beta = _normal((batch, self.d), generator, dtype)
        x_q = _normal((batch, self.d), generator, dtype)
        g = _normal((batch, n, self.d), generator, dtype)
        X = self.alpha * x_q.unsqueeze(1) + (1.0 - self.alpha**2) ** 0.5 * g
        noise = _normal((batch, n + 1), generator, dtype) * self.sigma2**0.5
        y = torch.einsum("bnd,bd->bn", X, beta) + noise[:, :n]
        y_q = (x_q * beta).sum(-1) + noise[:, n]
        return Prompts(X=X, y=y, x_q=x_q, y_q=y_q, w=beta)


@dataclasses.dataclass(frozen=True)
class AlignmentTask:
    """Provisional task–feature alignment: extra feature variance ``kappa - 1`` along ``beta``.

    ``n``: the context length of :meth:`sample` when the call does not name one.
    """

    d: int
    alpha: float
    sigma2: float = 0.0
    n: int = DEFAULT_N

    def __post_init__(self) -> None:
        check_int("d", self.d)
        check_in_range("alpha", self.alpha, 0.0, 1.0)
        check_nonnegative("sigma2", self.sigma2)
        check_int("n", self.n, minimum=0)

    @property
    def kappa(self) -> float:
        """``kappa = alpha^2 d + 1``: the feature variance along the task direction."""
        return self.alpha**2 * self.d + 1.0

    def sample(self, batch: int, generator: torch.Generator, n: int | None = None,
               dtype: torch.dtype = torch.float32) -> Prompts:
        """Features ``N(0, I + (kappa-1) u u^T)`` given ``beta``; ``w = beta [B, d]``.

        ``n`` context examples (default: the task's ``n``), drawn with ``generator``.
        """
        batch = check_int("batch", batch)
        n = self.n if n is None else check_int("n", n, minimum=0)
        beta = _normal((batch, self.d), generator, dtype)
        u = beta / torch.linalg.vector_norm(beta, dim=-1, keepdim=True)
        g = _normal((batch, n + 1, self.d), generator, dtype)
        proj = torch.einsum("bnd,bd->bn", g, u)
        feats = g + (self.kappa**0.5 - 1.0) * proj.unsqueeze(-1) * u.unsqueeze(1)
        noise = _normal((batch, n + 1), generator, dtype) * self.sigma2**0.5
        labels = torch.einsum("bnd,bd->bn", feats, beta) + noise
        return Prompts(X=feats[:, :n], y=labels[:, :n], x_q=feats[:, n], y_q=labels[:, n], w=beta)

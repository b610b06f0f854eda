"""The m-head ReLU attention model for in-context sparse parity, as an ensemble over m × seeds.

Model (Shi, Wei, Xu & Liang 2024; on the pair features of docs/shi2024.md, "Sparse parity")::

    g(X, y, x_q) = Σ_{i=1}^m a_i ReLU( (y^T Φ(X) / N) W^{(i)} φ(x_q) ),     ℓ = max(0, 1 - y_q g)

with ``Φ(X)`` the pair features of the context (``[N, D]``) and ``φ(x_q)`` those of the query.
**Head parameterisation** (the toolkit's choice: the paper does not fix norm constraints; see
docs/shi2024.md, "Modelling choices"):

* ``head="rank1"`` (default): ``W^{(i)} = u_i v_i^T``, so a head computes
  ``a_i ReLU((ĉ·u_i)(v_i·φ_q))``. A head then serves essentially one pair and a pair needs two
  heads (one per sign), so the number of heads ``m`` bounds the number of pairs a model covers.
* ``head="full"``: ``W^{(i)} ∈ R^{D×D}`` unconstrained, as written on the poster. Then two heads
  already realise every bilinear map (``a ReLU(t) - a ReLU(-t) = a t``), so ``m >= 2`` adds
  no coverage and the model size cannot act through ``m`` (derived; documented in docs).

Ensemble layout as in :mod:`iclab.models.lsa`: ``M = len(heads) * seeds`` models, head-count
major; models of one seed share its prompts; a fixed mask switches off heads beyond ``m``.
:class:`TrainedParityHeads` binds an ensemble to its parameters as a
:class:`~iclab.models.base.Predictor`. Training lives in :mod:`iclab.fit.parity_training`,
accuracy on (flipped-label) test prompts in :mod:`iclab.evaluate.noisy_prompts`.
"""

from __future__ import annotations

import dataclasses

import torch

from iclab.tasks.parity import pair_features, pair_list
from iclab.tasks.prompts import Prompts
from iclab.validation import check_choice, check_int, check_positive

Params = dict[str, torch.Tensor]


def parity_statistics(prompts: Prompts) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ĉ, φ_q)``: ``ĉ = y^T Φ(X)/N`` ``[..., D]`` and the query features ``[..., D]``.

    ``ĉ`` is read off the upper triangle of ``X^T diag(y) X / N`` ``[..., d, d]`` (one batched
    matmul instead of materialising ``Φ(X)``); equal to ``pair_features`` (tested).
    """
    x = prompts.X
    d = x.shape[-1]
    pairs = pair_list(d, x.device)
    flat = pairs[:, 0] * d + pairs[:, 1]
    moment = (x * prompts.y.unsqueeze(-1)).transpose(-1, -2) @ x / x.shape[-2]
    c = moment.flatten(-2)[..., flat]
    return c, pair_features(prompts.x_q)


@dataclasses.dataclass(frozen=True)
class ParityHeadsEnsemble:
    """``M = len(heads) * seeds`` models ``g``; the models of size ``m`` use ``m`` heads.

    Parameters: ``a`` ``[M, m_max]``; ``u``, ``v`` ``[M, m_max, D]`` (rank-one heads) or
    ``w`` ``[M, m_max, D, D]`` (full heads).
    """

    n_features: int
    heads: tuple[int, ...]
    seeds: int = 1
    head: str = "rank1"

    def __post_init__(self) -> None:
        check_int("n_features", self.n_features)
        check_int("seeds", self.seeds)
        check_choice("head", self.head, ("rank1", "full"))
        if not self.heads:
            raise ValueError("heads must be non-empty")
        for m in self.heads:
            check_int("heads", m)

    @property
    def size(self) -> int:
        return len(self.heads) * self.seeds

    @property
    def m_max(self) -> int:
        return max(self.heads)

    @property
    def member_heads(self) -> list[int]:
        return [m for m in self.heads for _ in range(self.seeds)]

    @property
    def member_seeds(self) -> list[int]:
        return [s for _ in self.heads for s in range(self.seeds)]

    def head_mask(self, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
        """``[M, m_max]``: 1 for the heads a model has."""
        cols = torch.arange(self.m_max, device=device)
        sizes = torch.tensor(self.member_heads, device=device)
        return (cols.unsqueeze(0) < sizes.unsqueeze(1)).to(dtype)

    def init_params(self, generator: torch.Generator, scale: float = 1.0,
                    dtype: torch.dtype = torch.float32) -> Params:
        """Gaussian ``u, v`` (or ``w``), std ``scale/√D``; ``a = ±1/√m_max`` (random sign)."""
        check_positive("scale", scale)
        dev, m, h, k = generator.device, self.size, self.m_max, self.n_features
        sign = torch.randint(0, 2, (m, h), generator=generator, device=dev).to(dtype) * 2 - 1
        params = {"a": sign / h**0.5}
        std = scale / k**0.5
        if self.head == "rank1":
            params["u"] = torch.randn(m, h, k, generator=generator, device=dev, dtype=dtype) * std
            params["v"] = torch.randn(m, h, k, generator=generator, device=dev, dtype=dtype) * std
        else:
            params["w"] = torch.randn(m, h, k, k, generator=generator, device=dev,
                                      dtype=dtype) * std
        return params

    def forward_statistics(self, params: Params, c: torch.Tensor,
                           phi_q: torch.Tensor) -> torch.Tensor:
        """``g`` ``[M, B]`` from per-seed ``c, φ_q`` ``[S, B, D]`` (model i reads seed i % S)."""
        n_m, n_s, h = len(self.heads), self.seeds, self.m_max
        if c.ndim == 2:
            c, phi_q = c.unsqueeze(0), phi_q.unsqueeze(0)
        if c.shape[0] != n_s:
            c = c.expand(n_s, *c.shape[1:])
            phi_q = phi_q.expand(n_s, *phi_q.shape[1:])
        if self.head == "rank1":
            u = params["u"].view(n_m, n_s, h, -1)
            v = params["v"].view(n_m, n_s, h, -1)
            pre = torch.einsum("sbk,rshk->rsbh", c, u) * torch.einsum("sbk,rshk->rsbh", phi_q, v)
        else:
            w = params["w"].view(n_m, n_s, h, self.n_features, self.n_features)
            pre = torch.einsum("sbj,rshjk,sbk->rsbh", c, w, phi_q)
        a = (params["a"] * self.head_mask(c.device, c.dtype)).view(n_m, n_s, h)
        return torch.einsum("rsh,rsbh->rsb", a, torch.relu(pre)).reshape(self.size, -1)

    def forward(self, params: Params, prompts: Prompts) -> torch.Tensor:
        """``g`` ``[M, B]`` for prompts ``[S, B, ...]`` (``S = 1``: shared by all models)."""
        c, phi_q = parity_statistics(prompts)
        return self.forward_statistics(params, c, phi_q)

    def margins(self, values: torch.Tensor, y_q: torch.Tensor) -> torch.Tensor:
        """``values [M, B]`` times the labels ``y_q [S or 1, B]`` -> margins ``y_q g`` ``[M, B]``
        (model ``i`` reads seed ``i % S``'s labels)."""
        y = y_q.reshape(-1, y_q.shape[-1]).expand(self.seeds, -1)
        return (values.view(len(self.heads), self.seeds, -1) * y).reshape(self.size, -1)


@dataclasses.dataclass(frozen=True)
class TrainedParityHeads:
    """A parity-heads ensemble with its parameters: a :class:`~iclab.models.base.Predictor`.

    ``predict(prompts)`` gives ``g`` ``[M, B]`` for prompts ``[B, ...]`` seen by every model;
    the predicted label is ``sign(g)``.
    """

    ensemble: ParityHeadsEnsemble
    params: Params

    @property
    def members(self) -> int:
        """``M = len(heads) * seeds``."""
        return self.ensemble.size

    def predict(self, prompts: Prompts) -> torch.Tensor:
        """``g`` ``[M, B]`` for prompts ``[B, ...]`` (every model sees the same prompts)."""
        return self.ensemble.forward(self.params, prompts)

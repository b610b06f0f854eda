"""One-layer single-head linear self-attention (LSA) with a rank-constrained key–query matrix.

Model (Shi, Wei, Xu & Liang 2024; Zhang–Frei–Bartlett parameterisation; docs/shi2024.md,
"Linear regression: model size is the rank")::

    f_LSA(E) = E + W^{PV} E (E^T W^{KQ} E) / ρ,      ŷ = [f_LSA(E)]_{d+1, N+1}

with the embedding ``E = [[x_1 … x_N x_q], [y_1 … y_N 0]]`` ``[(d+1), (N+1)]`` (the query column
is included in ``E E^T``), full ``(d+1)×(d+1)`` weights, and **model size = rank**:
``W^{KQ} = A B^T`` with ``A, B ∈ R^{(d+1)×r}`` (the toolkit's choice, see docs/shi2024.md,
"Modelling choices": the rank constraint is on ``W^{KQ}`` only, ``W^{PV}`` is full). ``ρ``
defaults to the prompt's context length (``ρ = N`` in pretraining, ``ρ = M`` at test: our
choice).

Ensemble axis: ``M`` models (ranks × seeds) are stacked on a leading axis; ranks of different
size share ``A, B [M, d+1, r_max]`` and a fixed column mask ``[M, r_max]`` zeroes the columns
beyond each model's rank. :class:`TrainedLSA` binds an ensemble to its parameters as a
:class:`~iclab.models.base.Predictor`. Training lives in :mod:`iclab.fit.lsa_training`,
evaluation on noisy test prompts in :mod:`iclab.evaluate.noisy_prompts`.
"""

from __future__ import annotations

import dataclasses

import torch

from iclab.tasks.prompts import Prompts
from iclab.validation import check_int, check_positive

Params = dict[str, torch.Tensor]


def lsa_forward(tokens: torch.Tensor, w_pv: torch.Tensor, w_kq: torch.Tensor,
                rho: float) -> torch.Tensor:
    """The full LSA map ``f_LSA(E)``, returned in token layout (transposed).

    Args:
        tokens: ``Z = E^T`` ``[..., N+1, d+1]`` (rows are tokens, last row the query).
        w_pv, w_kq: ``[..., d+1, d+1]`` (broadcast against ``tokens``' batch dims).
        rho: normaliser ``ρ``.
    Returns:
        ``f_LSA(E)^T`` ``[..., N+1, d+1]``, computed literally as
        ``(E + W^{PV} E (E^T W^{KQ} E) / ρ)^T``; entry ``[..., -1, -1]`` is ``ŷ``.
    """
    e = tokens.transpose(-1, -2)
    out = e + w_pv @ e @ (e.transpose(-1, -2) @ w_kq @ e) / rho
    return out.transpose(-1, -2)


def lsa_predict(tokens: torch.Tensor, pv_last_row: torch.Tensor, w_kq: torch.Tensor,
                rho: float) -> torch.Tensor:
    """``ŷ = e_{d+1}^T W^{PV} E E^T W^{KQ} E e_{N+1} / ρ`` in ``O(N d)`` per prompt.

    Args:
        tokens: ``[M, B, N+1, d+1]``.  pv_last_row: last row of ``W^{PV}``, ``[M, d+1]``.
        w_kq: ``[M, d+1, d+1]``.  rho: normaliser.
    Returns:
        ``ŷ`` ``[M, B]`` (equals ``lsa_forward(...)[..., -1, -1]``).
    """
    query = tokens[..., -1, :]                                   # [M, B, d+1]
    k = torch.einsum("mij,mbj->mbi", w_kq, query)                # W^{KQ} z_q
    scores = torch.einsum("mbti,mbi->mbt", tokens, k)            # E^T W^{KQ} z_q
    mixed = torch.einsum("mbti,mbt->mbi", tokens, scores)        # E E^T W^{KQ} z_q
    return torch.einsum("mi,mbi->mb", pv_last_row, mixed) / rho


def token_statistics(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(E E^T, z_q)`` from tokens ``Z = E^T`` ``[..., N+1, d+1]``: the Gram matrix
    ``Z^T Z`` ``[..., d+1, d+1]`` and the query token ``[..., d+1]``.

    The LSA prediction depends on a prompt only through these (query column included).
    Tokens are ``[x_i; y_i]`` and ``[x_q; 0]`` (:meth:`iclab.tasks.prompts.Prompts.tokens`;
    per seed: :func:`iclab.tasks.tokens.per_member_tokens`).
    """
    return tokens.transpose(-1, -2) @ tokens, tokens[..., -1, :]


@dataclasses.dataclass(frozen=True)
class LowRankLSAEnsemble:
    """``M = len(ranks) * seeds`` LSA models; ``rank(W^{KQ}) <= r`` for the models of rank ``r``.

    Layout: rank-major, model ``i`` has rank ``ranks[i // seeds]`` and seed ``i % seeds``. The
    models of one seed share that seed's training prompts (a paired design across ranks); the
    seeds see independent prompts. Parameters (a dict, each with the leading ensemble axis):
    ``pv`` ``[M, d+1, d+1]`` (``W^{PV}``), ``a``, ``b`` ``[M, d+1, r_max]`` (``W^{KQ} = A B^T``).
    """

    d: int
    ranks: tuple[int, ...]
    seeds: int = 1

    def __post_init__(self) -> None:
        check_int("d", self.d)
        check_int("seeds", self.seeds)
        if not self.ranks:
            raise ValueError("ranks must be non-empty")
        for r in self.ranks:
            check_int("rank", r, minimum=1, maximum=self.d + 1)

    @property
    def size(self) -> int:
        return len(self.ranks) * self.seeds

    @property
    def r_max(self) -> int:
        return max(self.ranks)

    @property
    def member_ranks(self) -> list[int]:
        """Rank of each of the ``M`` models."""
        return [r for r in self.ranks for _ in range(self.seeds)]

    @property
    def member_seeds(self) -> list[int]:
        """Seed index of each of the ``M`` models."""
        return [s for _ in self.ranks for s in range(self.seeds)]

    def rank_mask(self, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
        """``[M, r_max]``: 1 for the columns of ``A`` a model may use, else 0."""
        cols = torch.arange(self.r_max, device=device)
        ranks = torch.tensor(self.member_ranks, device=device)
        return (cols.unsqueeze(0) < ranks.unsqueeze(1)).to(dtype)

    def init_params(self, generator: torch.Generator, scale: float = 0.3,
                    dtype: torch.dtype = torch.float32) -> Params:
        """Small random ``A, B`` on the input rows (label row 0) and ``W^{PV} = e_{d+1} e_{d+1}^T``.

        Starting with the blocks ``w_21`` of both matrices at zero puts the model on the
        symmetric manifold of the ZFB optimum (the ``x -> -x`` symmetry keeps the population
        gradient there); training is free to leave it (:meth:`off_block_norm` measures it).
        """
        check_positive("scale", scale)
        dev = generator.device
        m, d1, r = self.size, self.d + 1, self.r_max
        a = torch.randn(m, d1, r, generator=generator, device=dev, dtype=dtype) * scale
        b = torch.randn(m, d1, r, generator=generator, device=dev, dtype=dtype) * scale
        a[:, -1] = 0.0
        b[:, -1] = 0.0
        pv = torch.zeros(m, d1, d1, device=dev, dtype=dtype)
        pv[:, -1, -1] = 1.0
        return {"pv": pv, "a": a, "b": b}

    def w_kq(self, params: Params) -> torch.Tensor:
        """``W^{KQ} = (A ⊙ mask) B^T`` ``[M, d+1, d+1]``."""
        mask = self.rank_mask(params["a"].device, params["a"].dtype)
        return (params["a"] * mask.unsqueeze(1)) @ params["b"].transpose(-1, -2)

    def predict_from_statistics(self, params: Params, gram: torch.Tensor, query: torch.Tensor,
                                rho: float) -> torch.Tensor:
        """``ŷ`` ``[M, B]`` from per-seed ``gram [S, B, d+1, d+1]`` and ``query [S, B, d+1]``.

        ``ŷ_i = u_i^T (E E^T) W^{KQ}_i z_q / ρ`` with ``u_i`` the last row of ``W^{PV}_i``; model
        ``i`` reads seed ``i % S``'s prompts.
        """
        n_r, n_s = len(self.ranks), self.seeds
        w = self.w_kq(params).view(n_r, n_s, self.d + 1, self.d + 1)
        u = params["pv"][:, -1].view(n_r, n_s, self.d + 1)
        k = torch.einsum("rsij,sbj->rsbi", w, query)
        t = torch.einsum("sbij,rsbj->rsbi", gram, k)
        return torch.einsum("rsi,rsbi->rsb", u, t).reshape(self.size, -1) / rho

    def predict(self, params: Params, tokens: torch.Tensor,
                rho: float | None = None) -> torch.Tensor:
        """``ŷ`` ``[M, B]`` for tokens ``[S, B, N+1, d+1]`` (one block per seed; ``S = 1``
        means every model sees the same prompts). ``ρ`` defaults to the context length N."""
        rho = float(tokens.shape[-2] - 1) if rho is None else rho
        gram, query = token_statistics(tokens)
        if gram.shape[0] != self.seeds:
            gram = gram.expand(self.seeds, *gram.shape[1:])
            query = query.expand(self.seeds, *query.shape[1:])
        return self.predict_from_statistics(params, gram, query, rho)

    def gamma(self, params: Params) -> torch.Tensor:
        """Effective ``Γ = w^{PV}_{22} (W^{KQ}_{11})^T`` ``[M, d, d]`` (docs/shi2024.md)."""
        w = self.w_kq(params)
        return params["pv"][:, -1, -1].view(-1, 1, 1) * w[:, : self.d, : self.d].transpose(-1, -2)

    def off_block_norm(self, params: Params) -> torch.Tensor:
        """``‖w^{PV}_{21}‖ + ‖w^{KQ}_{21}‖`` ``[M]``: zero at the ZFB-form optimum."""
        w = self.w_kq(params)
        return params["pv"][:, -1, : self.d].norm(dim=-1) + w[:, -1, : self.d].norm(dim=-1)


@dataclasses.dataclass(frozen=True)
class TrainedLSA:
    """An LSA ensemble with its parameters: a :class:`~iclab.models.base.Predictor`.

    ``predict(prompts)`` gives ``ŷ`` ``[M, B]`` for prompts ``[B, ...]`` seen by every model,
    with ``ρ`` = the prompts' context length.
    """

    ensemble: LowRankLSAEnsemble
    params: Params

    @property
    def members(self) -> int:
        """``M = len(ranks) * seeds``."""
        return self.ensemble.size

    def predict(self, prompts: Prompts) -> torch.Tensor:
        """``ŷ`` ``[M, B]`` for prompts ``[B, ...]`` (every model sees the same prompts)."""
        return self.ensemble.predict(self.params, prompts.tokens().unsqueeze(0))

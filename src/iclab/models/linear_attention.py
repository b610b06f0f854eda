"""One-layer linear attention in Li et al.'s parameterisation, with an ensemble axis ``M``.

Spec ``pgd_h3_lowrank_lora.md`` §2.1 ([V] via the authors' follow-up paper)::

    att(Z) = (Z W_q W_k^T Z^T M) Z W_v,   M = diag(I_n, 0),   yhat = att(Z)_{n+1, d+1}

so, with ``z_i = [x_i; y_i]`` and the query token ``z_q = [x; 0]``::

    yhat = sum_{i<=n} (z_q^T W_q W_k^T z_i) (z_i^T W_v e_{d+1})

Only the query row is computed (the other rows never reach the loss). Shapes: tokens
``[M, B, n+1, d+1]``; ``W_q, W_k [M, d+1, r]`` (``r = d+1``: full; ``r < d+1``: the low-rank form
of §2.1); ``W_v [M, d+1, d+1]``. Effective preconditioner: :func:`effective_preconditioner`
(``yhat ~ x^T W X^T y``).

Predictors (:class:`iclab.models.base.Predictor`): :class:`LinearAttentionPredictor` holds trained
parameters (LoRA adapters included); :class:`PGDPredictor` is the (weighted) one-step PGD
predictor ``yhat = x^T W X^T (omega * y)`` that linear attention realises
(:func:`embed_preconditioner`) and H3 realises with non-uniform ``omega``. Members of one
ensemble may read different context lengths (:func:`iclab.tasks.tokens.context_keep_mask`).

LoRA (spec §3g, open point 7 — our choice): a rank-``r`` adapter on ``W_q`` only,
``W_q = W_q0 + A B`` with ``A [M, d+1, r]``, ``B [M, r, d+1]`` (``B = 0`` at init), while
``W_q0, W_k0, W_v0`` stay frozen; the product ``W_q W_k^T`` then changes by rank <= r, which is
exactly the setting of the §3g formula.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from iclab.errors import ParameterError
from iclab.tasks.prompts import Prompts
from iclab.tasks.tokens import context_keep_mask, shared_member_tokens
from iclab.validation import check_choice, check_int, check_positive

#: Initialisations: PyTorch's ``nn.Linear`` default, or ours with a label-reading value.
INITS = ("torch", "label")

Params = dict[str, torch.Tensor]


def init_linear_attention(M: int, d: int, generator: torch.Generator, rank: int | None = None,
                          scale: float = 0.3, value_label: float = 1.0,
                          dtype: torch.dtype = torch.float32, init: str = "label") -> Params:
    """Random ``{"wq", "wk", "wv"}`` for ``M`` models.

    ``init = "torch"``: PyTorch's default initialisation of a bias-free ``nn.Linear(d + 1, .)``
    (``kaiming_uniform_(a=sqrt(5))``), i.e. every entry ``U(-1/sqrt(d+1), 1/sqrt(d+1))``;
    ``scale`` and ``value_label`` are ignored.

    ``init = "label"``: entries ``N(0, scale^2 / (d+1))`` and ``value_label`` added to
    ``(W_v)_{d+1,d+1}`` (the value reading the label ``y_i``). With ``value_label = 0`` about a
    third of the seeds (d = 4, n = 4, non-isotropic task) ended in a spurious rank-one solution
    that predicts through ``x^T a y_i x_i^T v`` with ``v_y ~ 0`` (risk 1.45x the optimum);
    ``value_label = 1`` removed this in 8/8 seeds.

    ``rank`` = the inner dimension ``r`` of ``W_q, W_k`` (default ``d + 1``, full).
    """
    M, d = check_int("M", M), check_int("d", d)
    r = d + 1 if rank is None else check_int("rank", rank, minimum=1, maximum=d + 1)
    check_choice("init", init, INITS)
    dev = generator.device
    if init == "torch":
        bound = 1.0 / (d + 1) ** 0.5

        def draw(*shape: int) -> torch.Tensor:
            u = torch.rand(*shape, generator=generator, device=dev, dtype=dtype)
            return (2 * u - 1) * bound

        return {"wq": draw(M, d + 1, r), "wk": draw(M, d + 1, r), "wv": draw(M, d + 1, d + 1)}
    check_positive("scale", scale)
    std = scale / (d + 1) ** 0.5

    def draw(*shape: int) -> torch.Tensor:  # noqa: F811 - the other init's sampler
        return torch.randn(*shape, generator=generator, device=dev, dtype=dtype) * std

    wv = draw(M, d + 1, d + 1)
    wv[:, -1, -1] += value_label
    return {"wq": draw(M, d + 1, r), "wk": draw(M, d + 1, r), "wv": wv}


def linear_attention_predict(params: Params, tokens: torch.Tensor,
                             ctx_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``yhat [M, B]`` from tokens ``[M, B, n+1, d+1]`` (query last, its label slot 0).

    ``ctx_mask [M, n]`` (optional, 0/1) drops context positions per model, so models with
    different context lengths ``n_m <= n`` can share one ensemble.
    """
    wq = effective_wq(params)
    ctx, query = tokens[:, :, :-1], tokens[:, :, -1]
    q = torch.einsum("mbe,mer->mbr", query, wq)
    k = torch.einsum("mbne,mer->mbnr", ctx, params["wk"])
    scores = torch.einsum("mbnr,mbr->mbn", k, q)
    vals = torch.einsum("mbne,me->mbn", ctx, params["wv"][:, :, -1])
    if ctx_mask is not None:
        vals = vals * ctx_mask.unsqueeze(1).to(vals.dtype)
    return (scores * vals).sum(-1)


def effective_wq(params: Params) -> torch.Tensor:
    """``W_q [M, d+1, r]`` including a LoRA update ``A B`` when present."""
    wq = params["wq"]
    if "lora_a" in params:
        wq = wq + params["lora_a"] @ params["lora_b"]
    return wq


def effective_preconditioner(params: Params) -> torch.Tensor:
    """``W = v_y A + a v^T``, shape ``[M, d, d]`` (spec §2.1 [D], completed here).

    With ``P = W_q W_k^T = [A a; b^T c]`` and ``W_v e_{d+1} = [v; v_y]``, the prediction's part of
    the form ``x^T W x_i y_i`` collects ``v_y x^T A x_i y_i`` and ``x^T a y_i x_i^T v``; the other
    terms (``x^T A x_i x_i^T v``, ``v_y x^T a y_i^2``) are uncorrelated with ``y`` and only add
    variance (so they vanish at the optimum, where ``W = v_y A`` as in the spec).
    """
    prod = effective_wq(params) @ params["wk"].transpose(-1, -2)
    d = prod.shape[-1] - 1
    v, v_y = params["wv"][:, :d, -1], params["wv"][:, -1, -1]
    return v_y[:, None, None] * prod[:, :d, :d] + prod[:, :d, d, None] * v[:, None, :]


def embed_preconditioner(W: torch.Tensor, rank: int | None = None) -> Params:
    """Parameters realising PGD with ``W [M, d, d]`` exactly: ``W_q = [W 0; 0 0]``,
    ``W_k = I``, ``W_v = e_{d+1} e_{d+1}^T`` (with ``rank`` < d+1 the first ``rank`` columns of a
    rank-revealing factorisation ``W = U V^T`` are used)."""
    M, d, _ = W.shape
    eye = torch.eye(d + 1, dtype=W.dtype, device=W.device).expand(M, d + 1, d + 1)
    wv = torch.zeros(M, d + 1, d + 1, dtype=W.dtype, device=W.device)
    wv[:, -1, -1] = 1.0
    if rank is None:
        wq = torch.zeros(M, d + 1, d + 1, dtype=W.dtype, device=W.device)
        wq[:, :d, :d] = W
        return {"wq": wq, "wk": eye.clone(), "wv": wv}
    U, S, Vh = torch.linalg.svd(W)
    wq = torch.zeros(M, d + 1, rank, dtype=W.dtype, device=W.device)
    wk = torch.zeros(M, d + 1, rank, dtype=W.dtype, device=W.device)
    wq[:, :d] = U[:, :, :rank] * S[:, None, :rank]
    wk[:, :d] = Vh[:, :rank].transpose(-1, -2)
    return {"wq": wq, "wk": wk, "wv": wv}


def init_lora(base: Params, rank: int, generator: torch.Generator, scale: float = 0.1) -> Params:
    """LoRA adapters for ``W_q``: ``lora_a [M, d+1, r] ~ N(0, scale^2)``, ``lora_b = 0``."""
    M, e, r_q = base["wq"].shape
    rank = check_int("rank", rank, minimum=1, maximum=e)
    a = torch.randn(M, e, rank, generator=generator, device=generator.device,
                    dtype=base["wq"].dtype) * scale
    return {"lora_a": a, "lora_b": torch.zeros(M, rank, r_q, dtype=a.dtype, device=a.device)}


def check_context(context: Sequence[int] | None, members: int) -> tuple[int, ...] | None:
    """Per-member context lengths as a tuple of ``members`` positive ints (or ``None``)."""
    if context is None:
        return None
    ctx = tuple(check_int("context", n) for n in context)
    if len(ctx) != members:
        raise ParameterError("context", list(ctx), f"{members} lengths, one per member")
    return ctx


@dataclasses.dataclass(frozen=True, eq=False)
class ParamsEnsemble:
    """What every parameter-dict ensemble predictor holds: ``params`` (each tensor with the
    ensemble size ``M`` first; ``params["wq"] [M, ...]``) and ``context``, per-member context
    lengths ``n_m`` (member ``m`` reads the last ``n_m`` examples of each prompt) or ``None``
    for all examples."""

    params: Params
    context: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "context", check_context(self.context, self.members))

    @property
    def members(self) -> int:
        """Ensemble size ``M``."""
        return int(self.params["wq"].shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class LinearAttentionPredictor(ParamsEnsemble):
    """An ensemble of trained linear-attention models (with LoRA adapters when present).

    ``params``: ``{"wq", "wk" [M, d+1, r], "wv" [M, d+1, d+1]}`` (+ ``lora_a``, ``lora_b``);
    ``context`` as in :class:`ParamsEnsemble`.
    """

    def predict(self, prompts: Prompts) -> torch.Tensor:
        """``yhat [M, B]``: :func:`linear_attention_predict` on every member's tokens."""
        return linear_attention_predict(self.params,
                                        shared_member_tokens(prompts, self.members, self.context))

    def preconditioner(self) -> torch.Tensor:
        """The effective preconditioner ``W [M, d, d]`` (:func:`effective_preconditioner`)."""
        return effective_preconditioner(self.params)


@dataclasses.dataclass(frozen=True, eq=False)
class PGDPredictor:
    """One step of (weighted) preconditioned gradient descent from zero, ``K`` members::

        yhat_k = x_q^T W_k sum_i omega_i x_i y_i

    ``W [K, d, d]``; ``omega [n]`` sample weights over the context positions (``None``: all 1);
    ``context``: per-member context lengths (member ``k`` uses only the last ``context[k]``
    examples), or ``None``.
    """

    W: torch.Tensor
    omega: torch.Tensor | None = None
    context: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.W.ndim != 3 or self.W.shape[1] != self.W.shape[2]:
            raise ParameterError("W", f"shape {list(self.W.shape)}", "a [K, d, d] tensor")
        object.__setattr__(self, "context", check_context(self.context, self.members))

    @property
    def members(self) -> int:
        """Number of preconditioners ``K``."""
        return int(self.W.shape[0])

    def predict(self, prompts: Prompts) -> torch.Tensor:
        """``yhat [K, B]`` on the prompts' device and dtype."""
        X, x_q = prompts.X, prompts.x_q
        y = prompts.y if self.omega is None else prompts.y * self.omega.to(prompts.y.dtype)
        W = self.W.to(X.dtype)
        if self.context is not None:
            n = prompts.n
            keep = context_keep_mask(self.context, y.dtype, y.device, n)[:, 0, :n, 0]  # [K, n]
            v = torch.einsum("bnd,bn,kn->kbd", X, y, keep)
            return torch.einsum("bd,kde,kbe->kb", x_q, W, v)
        v = torch.einsum("bnd,bn->bd", X, y)
        return torch.einsum("bd,kde,be->kb", x_q, W, v)

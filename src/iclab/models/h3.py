"""A one-layer H3-style state-space model with an ensemble axis ``M`` (spec §2.2).

Original H3 (Fu et al. 2023, [V]): ``q = Z W_q``, ``k = SSM_shift(Z W_k)``, ``v = Z W_v``,
``o = q * SSM_diag(k * v)``. OUR SIMPLIFICATION (spec open point 6 [?]):

* the shift SSM is dropped (identity): each token already holds ``[x_i; y_i]``, and the spec notes
  the shift only re-labels key positions (§2.2);
* the diagonal SSM is a FREE causal filter per channel, ``f [M, p, n]`` over lags ``1..n``
  (lag 0 is excluded, so the query token never sees itself — the analogue of attention's mask);
* the readout is the sum of the ``p`` channels of ``o`` at the query position.

Hence, with ``p`` channels (default ``d + 1``) and context position ``i`` at lag ``n + 1 - i``::

    yhat = sum_c q_c sum_{i<=n} f_{c, n+1-i} k_{i,c} v_{i,c}

and its ``y``-linear part is ``sum_i x^T W_i x_i y_i`` with
``W_i = W_q^x diag(f_{:, n+1-i}) (W_k^x diag(W_v^y) + W_v^x diag(W_k^y))^T`` (``^x`` = first ``d``
rows, ``^y`` = last row). This is weighted PGD (§2.2 [D]); :func:`h3_effective` reports the
effective preconditioner ``W = mean_i W_i`` and sample weights ``omega_i = <W_i, W>/<W, W>``
(mean 1). :class:`H3Predictor` holds trained parameters as a
:class:`iclab.models.base.Predictor`.
"""

from __future__ import annotations

import dataclasses

import torch

from iclab.errors import ParameterError
from iclab.models.linear_attention import ParamsEnsemble
from iclab.tasks.prompts import Prompts
from iclab.tasks.tokens import shared_member_tokens
from iclab.validation import check_choice, check_int, check_positive

Params = dict[str, torch.Tensor]


def init_h3(M: int, d: int, n: int, generator: torch.Generator, channels: int | None = None,
            scale: float = 0.3, filter_spread: float = 0.5,
            dtype: torch.dtype = torch.float32, init: str = "label") -> Params:
    """Random ``{"wq", "wk", "wv" [M, d+1, p], "filt" [M, p, n]}``.

    ``init = "torch"``: the projections get PyTorch's ``nn.Linear(d + 1, p)`` default, entries
    ``U(-1/sqrt(d+1), 1/sqrt(d+1))`` (``scale`` ignored); ``init = "label"``: ``N(0, scale^2 /
    (d+1))`` (H3 needs no label-reading value term).

    The filter starts NON-uniform, ``f ~ U(1 - spread, 1 + spread)`` per channel and lag, so a
    uniform learned filter is a result of training, not of the initialisation.
    """
    M, d, n = check_int("M", M), check_int("d", d), check_int("n", n)
    p = d + 1 if channels is None else check_int("channels", channels)
    check_positive("scale", scale)
    check_choice("init", init, ("torch", "label"))
    std = scale / (d + 1) ** 0.5
    dev = generator.device

    def draw(*shape: int) -> torch.Tensor:
        if init == "torch":
            u = torch.rand(*shape, generator=generator, device=dev, dtype=dtype)
            return (2 * u - 1) / (d + 1) ** 0.5
        return torch.randn(*shape, generator=generator, device=dev, dtype=dtype) * std

    u = torch.rand(M, p, n, generator=generator, device=dev, dtype=dtype)
    return {"wq": draw(M, d + 1, p), "wk": draw(M, d + 1, p), "wv": draw(M, d + 1, p),
            "filt": 1.0 + filter_spread * (2 * u - 1)}


def h3_predict(params: Params, tokens: torch.Tensor) -> torch.Tensor:
    """``yhat [M, B]`` from tokens ``[M, B, n+1, d+1]`` (query last)."""
    ctx, query = tokens[:, :, :-1], tokens[:, :, -1]
    q = torch.einsum("mbe,mep->mbp", query, params["wq"])
    kv = torch.einsum("mbne,mep->mbnp", ctx, params["wk"]) * torch.einsum(
        "mbne,mep->mbnp", ctx, params["wv"])
    by_position = params["filt"].flip(-1)  # [M, p, n]: position i <- lag n - i (0-based)
    state = torch.einsum("mbnp,mpn->mbp", kv, by_position)
    return (q * state).sum(-1)


def h3_position_matrices(params: Params) -> torch.Tensor:
    """``W_i [M, n, d, d]`` for context positions ``i = 1..n`` (module doc)."""
    wq, wk, wv = params["wq"], params["wk"], params["wv"]
    d = wq.shape[1] - 1
    mix = wk[:, :d] * wv[:, d:d + 1] + wv[:, :d] * wk[:, d:d + 1]  # [M, d, p]
    f = params["filt"].flip(-1)  # [M, p, n] by position
    return torch.einsum("mcp,mpn,mep->mnce", wq[:, :d], f, mix)


def h3_effective(params: Params) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W [M, d, d], omega [M, n])``: mean preconditioner and per-position weights (mean 1)."""
    Wi = h3_position_matrices(params)
    W = Wi.mean(1)
    num = torch.einsum("mnce,mce->mn", Wi, W)
    den = (W * W).sum((-1, -2)).clamp_min(1e-30)
    return W, num / den.unsqueeze(-1)


@dataclasses.dataclass(frozen=True, eq=False)
class H3Predictor(ParamsEnsemble):
    """An ensemble of trained H3 models.

    ``params``: ``{"wq", "wk", "wv" [M, d+1, p], "filt" [M, p, n]}``; ``context`` as in
    :class:`~iclab.models.linear_attention.ParamsEnsemble`. Prompts must have the filter's
    length ``n`` (shorter contexts go through ``context``).
    """

    def predict(self, prompts: Prompts) -> torch.Tensor:
        """``yhat [M, B]``: :func:`h3_predict` on every member's tokens."""
        n = int(self.params["filt"].shape[-1])
        if prompts.n != n:
            raise ParameterError("prompts.n", prompts.n, f"{n} (the filter length)")
        return h3_predict(self.params, shared_member_tokens(prompts, self.members, self.context))

    def preconditioner(self) -> torch.Tensor:
        """The mean preconditioner ``W [M, d, d]`` (:func:`h3_effective`)."""
        return h3_effective(self.params)[0]

    def sample_weights(self) -> torch.Tensor:
        """The per-position sample weights ``omega [M, n]`` (mean 1, :func:`h3_effective`)."""
        return h3_effective(self.params)[1]

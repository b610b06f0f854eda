r"""The reduced linear-attention model of Lu et al. 2024 and an exact O(d) feature sampler.

Model (Lu et al. 2024; docs/theory.md, "The reduced linear-attention model"; authors'
``construct_H_NEW``): for a prompt
with context :math:`(x_i, y_i)_{i\le\ell}` and query :math:`x_{\ell+1}`,

.. math::
    h = \Big[\tfrac d\ell \sum_{i\le\ell} y_i x_i\ ;\ \tfrac1\ell\sum_{i\le\ell} y_i^2\Big]
    \in\mathbb R^{d+1},\qquad H_Z = x_{\ell+1} h^\top\in\mathbb R^{d\times(d+1)},\qquad
    \hat y = \langle\Gamma, H_Z\rangle = x_{\ell+1}^\top\Gamma h .

``vec`` is row-major throughout: :math:`\mathrm{vec}(H_Z)_{i(d+1)+a} = x_{q,i} h_a`, i.e.
:math:`\mathrm{vec}(H_Z) = x_q \otimes h`.

Fast sampler (:func:`sample_context_statistics`, derived here; equivalent to the authors'
Householder construction). Fix :math:`w`, let :math:`u = w/\|w\|`, :math:`a^2 = \|w\|^2/d`,
:math:`\sigma^2 = a^2 + \rho`. Write :math:`X = G/\sqrt d` with :math:`G\in\mathbb
R^{\ell\times d}` standard Gaussian, :math:`g = Gu\sim\mathcal N(0,I_\ell)` and
:math:`G_\perp = G(I - uu^\top)`, independent of :math:`g`. Then
:math:`y = a g + \sqrt\rho\,\xi` and

.. math::
    s := \sum_i y_i x_i = X^\top y = \tfrac1{\sqrt d}\big(u\,(g^\top y) + G_\perp^\top y\big).

1. :math:`y\sim\mathcal N(0,\sigma^2 I_\ell)`, so :math:`t := \|y\|^2 = \sigma^2\chi^2_\ell`.
2. Regress :math:`g` on :math:`y`: :math:`g = \tfrac a{\sigma^2} y + r` with
   :math:`r\sim\mathcal N(0, \tfrac\rho{\sigma^2} I_\ell)` independent of :math:`y`, so
   :math:`g^\top y = \tfrac a{\sigma^2}t + \sqrt{\rho t}/\sigma\;\eta`,
   :math:`\eta\sim\mathcal N(0,1)`.
3. Given :math:`y`, the columns of :math:`G_\perp` (in a basis of :math:`u^\perp`) are
   independent of :math:`(g,\xi)`, so :math:`G_\perp^\top y \mid y \sim \sqrt t\,(I-uu^\top)z`,
   :math:`z\sim\mathcal N(0, I_d)`.

Hence :math:`(s, t)` is drawn exactly from one :math:`\chi^2_\ell`, one scalar normal and one
:math:`d`-vector normal: :math:`O(d)` per context whatever :math:`\ell` (so
:math:`\alpha=1000` at :math:`d=100` costs nothing extra). No rotation matrix is formed: the
projection onto :math:`u` and its complement plays the role of the Householder reflection.
At :math:`w=0` any unit :math:`u` gives the same law (here :math:`e_1`).
"""

from __future__ import annotations

import dataclasses

import torch

from iclab.errors import ParameterError
from iclab.seeding import standard_normal
from iclab.tasks.prompts import Prompts
from iclab.validation import check_int, check_nonnegative


def context_features(prompts: Prompts) -> torch.Tensor:
    r""":math:`h = [\frac d\ell X^\top y;\ \frac1\ell\|y\|^2]` from token-level prompts,
    shape ``[B, d+1]``."""
    ell = prompts.n
    s = torch.einsum("bld,bl->bd", prompts.X, prompts.y)
    t = (prompts.y**2).sum(dim=1)
    return features_from_statistics(s, t, ell)


def hz_features(prompts: Prompts) -> torch.Tensor:
    r""":math:`H_Z = x_{\ell+1} h^\top`, shape ``[B, d, d+1]`` (Lu et al. 2024)."""
    return prompts.x_q.unsqueeze(-1) * context_features(prompts).unsqueeze(-2)


def features_from_statistics(s: torch.Tensor, t: torch.Tensor, context_len: int) -> torch.Tensor:
    r""":math:`h = [\frac d\ell s;\ t/\ell]` from :math:`s=\sum y_ix_i` ``[B, d]`` and
    :math:`t = \sum y_i^2` ``[B]``; returns ``[B, d+1]``."""
    d = s.shape[-1]
    return torch.cat([s * (d / context_len), (t / context_len).unsqueeze(-1)], dim=-1)


def _statistics_into(
    out: torch.Tensor, tasks: torch.Tensor, context_len: int, rho: float,
    generator: torch.Generator, scale: float,
) -> torch.Tensor:
    r"""Draw :math:`(s, t)` as in :func:`sample_context_statistics`, write ``scale * s`` into
    ``out [B, d]`` and return ``t [B]``.

    Written as :math:`s = \sqrt{t/d}\,z + c\,w` with
    :math:`c = (g^\top y - \sqrt t\,u^\top z)/(\|w\|\sqrt d)`, which is the module
    doc's :math:`(u\,g^\top y + \sqrt t\,(I-uu^\top)z)/\sqrt d` in two passes over
    ``[B, d]``; at :math:`w = 0`, :math:`c = 0` and :math:`s = \sqrt{t/d}\,z` (same law)."""
    check_int("context_len", context_len)
    check_nonnegative("rho", rho)
    batch, d = tasks.shape
    norm = torch.linalg.vector_norm(tasks, dim=-1)
    var_y = norm.square() / d + rho
    half_ell = torch.full((batch,), context_len / 2.0, device=tasks.device, dtype=tasks.dtype)
    # chi^2_l = 2 Gamma(l/2); torch's gamma sampler is the one that accepts a generator.
    t = var_y * 2.0 * torch._standard_gamma(half_ell, generator=generator)
    eta = standard_normal((batch,), generator, tasks.device, tasks.dtype)
    z = standard_normal((batch, d), generator, tasks.device, tasks.dtype)
    pos = var_y > 0
    var_safe = torch.where(pos, var_y, 1.0)
    g_dot_y = torch.where(pos, norm / d**0.5 / var_safe * t
                          + torch.sqrt(rho * t / var_safe) * eta, 0.0)
    root_t = t.sqrt()
    inv_norm = torch.where(norm > 0, 1.0 / torch.where(norm > 0, norm, 1.0), 0.0)
    w_dot_z = (tasks * z).sum(-1)
    c = (g_dot_y - root_t * w_dot_z * inv_norm) * inv_norm * (scale / d**0.5)
    torch.mul(tasks, c.unsqueeze(-1), out=out)
    out.addcmul_(z, (root_t * (scale / d**0.5)).unsqueeze(-1))
    return t


def sample_context_statistics(
    tasks: torch.Tensor, context_len: int, rho: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Exact joint draw of :math:`(s, t) = (\sum_i y_i x_i, \sum_i y_i^2)` given each task.

    Same law as building :math:`\ell` tokens with :func:`iclab.tasks.regression.sample_prompts`
    (derivation in the module docstring), in :math:`O(d)` per context.

    Args:
        tasks: ``[B, d]`` task vectors (float64 recommended).
        context_len: :math:`\ell`.
        rho: label-noise variance.
        generator: on the same device as ``tasks``.

    Returns:
        ``s [B, d]``, ``t [B]``.
    """
    s = torch.empty_like(tasks)
    t = _statistics_into(s, tasks, context_len, rho, generator, 1.0)
    return s, t


def sample_features(
    tasks: torch.Tensor, context_len: int, rho: float, generator: torch.Generator,
    out: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Fast pretraining sample for the Γ-model: query, context features and query label.

    Returns ``x_q [B, d]`` (:math:`\mathcal N(0, I/d)`), ``h [B, d+1]`` (exact law, via
    :func:`sample_context_statistics`, written in place as
    :func:`features_from_statistics` would) and ``y_q [B]`` (:math:`x_q^\top w + \mathcal
    N(0,\rho)`), all independent given the task. With ``out`` (three tensors of those shapes,
    the dtype and device of ``tasks``) the sample is written into them and they are returned
    (the same draws as without).
    """
    batch, d = tasks.shape
    if out is None:
        out = (torch.empty((batch, d), device=tasks.device, dtype=tasks.dtype),
               torch.empty((batch, d + 1), device=tasks.device, dtype=tasks.dtype),
               torch.empty((batch,), device=tasks.device, dtype=tasks.dtype))
    x_q, h, y_q = out
    t = _statistics_into(h[:, :d], tasks, context_len, rho, generator, d / context_len)
    torch.div(t, context_len, out=h[:, d])
    x_q.copy_(standard_normal((batch, d), generator, tasks.device, tasks.dtype)).mul_(d**-0.5)
    noise = standard_normal((batch,), generator, tasks.device, tasks.dtype)
    torch.sum(x_q * tasks, -1, out=y_q).add_(noise, alpha=rho**0.5)
    return x_q, h, y_q


def predict(gamma: torch.Tensor, x_q: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    r""":math:`\hat y = x_q^\top\Gamma h` for ``gamma [d, d+1]``, ``x_q [B, d]``, ``h [B, d+1]``;
    returns ``[B]``."""
    return ((x_q @ gamma) * h).sum(-1)


@dataclasses.dataclass(frozen=True)
class ReducedLinearAttention:
    r"""The Γ-model as a :class:`~iclab.models.base.Predictor` (one member): ``gamma
    [d, d+1]``; :meth:`predict` maps prompts to :math:`\hat y = \langle\Gamma, H_Z\rangle`,
    ``[1, B]``."""

    gamma: torch.Tensor

    def __post_init__(self) -> None:
        if self.gamma.dim() != 2 or self.gamma.shape[1] != self.gamma.shape[0] + 1:
            raise ParameterError("gamma", tuple(self.gamma.shape), "a [d, d+1] matrix")

    @property
    def members(self) -> int:
        """One model."""
        return 1

    def predict(self, prompts: Prompts) -> torch.Tensor:
        """Predictions ``[1, B]`` at the queries of ``prompts`` (their dtype and device)."""
        gamma = self.gamma.to(prompts.X)
        return predict(gamma, prompts.x_q, context_features(prompts)).unsqueeze(0)

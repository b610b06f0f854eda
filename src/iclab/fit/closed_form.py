r"""Closed-form ridge optimum Γ* of the reduced linear-attention model (Lu et al. 2024;
docs/theory.md): the entry points :func:`fit_gamma` and :func:`fit_gamma_batched` and the
choice of solver.

Problem (authors' ``learn_Gamma_fast_NEW``; λ normalised as in docs/theory.md): with ``n``
contexts, query :math:`x_\mu\in\mathbb R^d`, context features :math:`h_\mu\in\mathbb R^{d+1}`
and query label :math:`y_\mu`,

.. math::
    \Gamma^* = \arg\min_\Gamma \sum_\mu (y_\mu - x_\mu^\top\Gamma h_\mu)^2
    + \lambda'\|\Gamma\|_F^2,\qquad \lambda' = \tfrac n d\lambda .

With row-major :math:`\phi_\mu = \mathrm{vec}(x_\mu h_\mu^\top) = x_\mu\otimes h_\mu`
(:math:`p = d(d+1)` features), :math:`\mathrm{vec}\,\Gamma^* = (G + \lambda' I)^{-1} b` with
:math:`G = \sum_\mu \phi_\mu\phi_\mu^\top = \sum_\mu (x_\mu x_\mu^\top)\otimes(h_\mu
h_\mu^\top)` and :math:`b = \mathrm{vec}\sum_\mu y_\mu x_\mu h_\mu^\top`. Three solvers, all
float64 and device-agnostic (the tensors' device is used):

* ``"primal"`` — Gram + Cholesky (:mod:`iclab.fit.ridge_direct`);
* ``"dual"`` — the ``n × n`` kernel, cheaper when :math:`n\le p` (:mod:`iclab.fit.ridge_direct`);
* ``"pcg"`` — matrix-free Kronecker-preconditioned conjugate gradients
  (:mod:`iclab.fit.ridge_pcg`), to a relative residual :data:`DEFAULT_TOL`; falls back to
  ``"primal"`` if not converged.

``"auto"`` picks the cheapest by flop count (:func:`choose_method`, which accounts for
:math:`\lambda`).

**Batches.** :func:`fit_gamma_batched` solves the independent trials of one grid point
together: ``x [B, n, d]``, ``h [B, n, d+1]``, ``y [B, n]``, with the batched forms of the
same solvers (one batched PCG, one batched dense Gram for :math:`p\le`
:data:`~iclab.fit.ridge_direct.DENSE_MAX_P`, or one batched kernel).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import torch

from iclab.fit.ridge_direct import (
    DEFAULT_MEMORY_BUDGET,
    solve_dual,
    solve_dual_batched,
    solve_primal,
    solve_primal_batched,
)
from iclab.fit.ridge_pcg import (
    DEFAULT_TOL,
    Goal,
    Precision,
    pcg_iterations,
    solve_pcg,
    solve_pcg_batched,
)
from iclab.validation import check_choice, check_nonnegative, check_positive

METHODS = ("auto", "primal", "dual", "pcg")
__all__ = ["DEFAULT_MEMORY_BUDGET", "DEFAULT_TOL", "METHODS", "BatchFit", "GammaFit",
           "default_max_iter",
           "choose_method", "estimated_flops", "fit_gamma", "fit_gamma_batched", "ridge_scale"]


@dataclasses.dataclass(frozen=True)
class GammaFit:
    r"""Result of :func:`fit_gamma`: ``gamma [d, d+1]``, the solver used, CG iterations
    (0 for direct solves) and the final relative residual :math:`\|b-A\gamma\|/\|b\|`."""

    gamma: torch.Tensor
    method: str
    iterations: int = 0
    rel_residual: float = float("nan")


@dataclasses.dataclass(frozen=True)
class BatchFit:
    r"""Result of :func:`fit_gamma_batched`: ``gamma [B, d, d+1]``, the solver used, CG
    iterations (0 for direct solves) and the final relative residuals ``[B]`` (NaN for
    direct solves)."""

    gamma: torch.Tensor
    method: str
    iterations: int
    rel_residual: torch.Tensor


def ridge_scale(n: int, d: int, lam: float) -> float:
    r""":math:`\lambda' = \frac n d \lambda` (λ normalised as in docs/theory.md)."""
    return n / d * lam


def estimated_flops(n: int, d: int, method: str, tol: float = DEFAULT_TOL,
                    lam: float = 0.0) -> float:
    r"""Flop estimate of each solver (used by ``"auto"``).

    ``lam`` is the unscaled ridge :math:`\lambda`; it only changes the PCG estimate
    (:func:`~iclab.fit.ridge_pcg.pcg_iterations` iterations of ``8np`` flop: the operator's
    ``4np`` with a factor 2 for its lower arithmetic intensity)."""
    p = d * (d + 1)
    if method == "dual":
        return 2.0 * n * n * (2 * d + 1) + n**3 / 3.0
    if method == "primal":
        m = d * (d + 1) // 2 * ((d + 1) * (d + 2) // 2)
        return 2.0 * n * m + p**3 / 3.0 + 2.0 * p * p
    return pcg_iterations(n, d, lam, tol) * 8.0 * n * p


def default_max_iter(n: int, d: int, lam: float, tol: float) -> int:
    """CG iteration cap when none is given: twice the prediction, within [500, 20000]."""
    predicted = pcg_iterations(n, d, lam, tol)
    return int(min(20_000, max(500, 2 * predicted))) if math.isfinite(predicted) else 20_000


def choose_method(n: int, d: int, tol: float = DEFAULT_TOL, lam: float = 0.0) -> str:
    """Cheapest of dual / primal / pcg by :func:`estimated_flops` (``lam`` unscaled)."""
    costs = {m: estimated_flops(n, d, m, tol, lam) for m in ("dual", "primal", "pcg")}
    return min(costs, key=costs.__getitem__)


def _prepare(x: torch.Tensor, h: torch.Tensor, y: torch.Tensor, lam: float, method: str,
             tol: float, max_iter: int | None, batch_dims: int) -> tuple[float, str, int]:
    """The checks and set-up both entry points share: validate ``lam``, ``method``, ``tol``
    and the shapes (``x [*batch, n, d]`` with ``batch_dims`` leading dimensions, ``h [*batch,
    n, d+1]``, ``y [*batch, n]``); return ``(lam_scaled, chosen solver, CG iteration cap)``
    (``max_iter``, or :func:`default_max_iter` when ``None``)."""
    check_nonnegative("lam", lam)
    check_choice("method", method, METHODS)
    check_positive("tol", tol)
    if x.dim() != batch_dims + 2:
        want = "[n, d] (batches: fit_gamma_batched)" if batch_dims == 0 else "[B, n, d]"
        raise ValueError(f"x must be {want}, got {tuple(x.shape)}")
    n, d = x.shape[-2:]
    batch = tuple(x.shape[:-2])
    if h.shape != (*batch, n, d + 1) or y.shape != (*batch, n):
        raise ValueError(f"shapes x {tuple(x.shape)}, h {tuple(h.shape)}, y {tuple(y.shape)} "
                         "must be [..., n, d], [..., n, d+1], [..., n]")
    chosen = choose_method(n, d, tol, lam) if method == "auto" else method
    cap = default_max_iter(n, d, lam, tol) if max_iter is None else max_iter
    return ridge_scale(n, d, lam), chosen, cap


def fit_gamma(
    x: torch.Tensor, h: torch.Tensor, y: torch.Tensor, lam: float, method: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET, tol: float = DEFAULT_TOL,
    max_iter: int | None = None, precision: Precision = "mixed", goal: Goal | None = None,
) -> GammaFit:
    r"""Γ* of the ridge problem in the module doc.

    Args:
        x: queries ``[n, d]``; h: context features ``[n, d+1]``; y: query labels ``[n]``
            (float64, any device; the result lives there too).
        lam: ridge :math:`\lambda\ge 0` (the penalty is :math:`\frac n d\lambda\|\Gamma\|_F^2`).
        method: ``"auto"``, ``"primal"``, ``"dual"`` or ``"pcg"``.
        memory_budget: bytes per Gram chunk (primal).
        tol, max_iter: CG stopping rule (pcg; default tolerance in :mod:`iclab.fit.ridge_pcg`;
            default cap :func:`default_max_iter`).
        precision: PCG arithmetic, ``"mixed"`` (float32 sweeps, float64 residuals) or
            ``"double"`` (:mod:`iclab.fit.ridge_pcg`).
        goal: what will be computed from Γ, ``gamma [1, d, d+1] -> [1, m]``: PCG goes on
            until it settles (:mod:`iclab.fit.ridge_pcg`, "Goal-oriented stopping"); the
            direct solvers are exact to rounding and ignore it.
    """
    lam_scaled, chosen, max_iter = _prepare(x, h, y, lam, method, tol, max_iter, batch_dims=0)
    if chosen == "pcg":
        gamma, iters, res = solve_pcg(x, h, y, lam_scaled, tol=tol, max_iter=max_iter,
                                      precision=precision, goal=goal)
        if res <= 10 * tol:
            return GammaFit(gamma, "pcg", iters, res)
        if method == "pcg":
            warnings.warn(f"PCG stopped at relative residual {res:.2e} > tol; "
                          "falling back to the primal Cholesky solve", RuntimeWarning,
                          stacklevel=2)
        chosen = "primal"
    if chosen == "dual":
        gamma = solve_dual(x, h, y, lam_scaled)
    else:
        gamma = solve_primal(x, h, y, lam_scaled, memory_budget)
    return GammaFit(gamma, chosen, 0, float("nan"))


def fit_gamma_batched(
    x: torch.Tensor, h: torch.Tensor, y: torch.Tensor, lam: float, method: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET, tol: float = DEFAULT_TOL,
    max_iter: int | None = None, precision: Precision = "mixed", goal: Goal | None = None,
) -> BatchFit:
    r"""Γ* of ``B`` independent ridge problems of the same size (e.g. the trials of one grid
    point), solved together.

    Args:
        x ``[B, n, d]``, h ``[B, n, d+1]``, y ``[B, n]`` (float64, any device).
        lam, method, memory_budget, tol, max_iter, precision: as :func:`fit_gamma`.
            ``"primal"`` uses the batched dense Gram when :math:`p\le`
            :data:`~iclab.fit.ridge_direct.DENSE_MAX_P`, else one chunked doubly symmetric
            Gram per problem.
        goal: as :func:`fit_gamma`, ``gamma [B, d, d+1] -> [B, m]``.

    Returns:
        :class:`BatchFit`; ``gamma[b]`` equals ``fit_gamma(x[b], h[b], y[b], ...).gamma`` up to
        the solver tolerance. Problems whose PCG does not converge are re-solved by the primal
        route (with a ``RuntimeWarning`` when ``method="pcg"`` was asked for).
    """
    lam_scaled, chosen, max_iter = _prepare(x, h, y, lam, method, tol, max_iter, batch_dims=1)
    batch = x.shape[0]
    nan = torch.full((batch,), float("nan"), dtype=x.dtype, device=x.device)
    if chosen == "pcg":
        gamma, iters, res = solve_pcg_batched(x, h, y, lam_scaled, tol=tol, max_iter=max_iter,
                                              precision=precision, goal=goal)
        bad = torch.nonzero(res > 10 * tol).flatten().tolist()
        if bad and method == "pcg":
            warnings.warn(f"PCG stopped at relative residual {float(res.max()):.2e} > tol for "
                          f"{len(bad)} of {batch} problems; falling back to the primal "
                          "Cholesky solve for those", RuntimeWarning, stacklevel=2)
        for i in bad:
            gamma[i] = solve_primal(x[i], h[i], y[i], lam_scaled, memory_budget)
        return BatchFit(gamma, "pcg" if not bad else "pcg+primal", iters, res)
    if chosen == "dual":
        return BatchFit(solve_dual_batched(x, h, y, lam_scaled), "dual", 0, nan)
    return BatchFit(solve_primal_batched(x, h, y, lam_scaled, memory_budget), "primal", 0, nan)

"""Asymptotic ICL / IDG errors of linear attention (Lu et al. 2024, "Asymptotic theory of
in-context learning by linear attention").

Spec ``asymptotic_linear_attention.md`` §3 (formulas as implemented in the authors' code
github.com/mletey/incontext-cleanup, ``theory_runs/common.py``). Docstrings cite the spec
section and the authors' function name, never the paper's equation numbers (spec open
point 2). Notation follows the authors' code, **not** the seed slides' text (open point 3):

    q := (1 + rho) / alpha,   alpha = l/d,  kappa = k/d,  tau = n/d^2,  rho = noise variance.

All public functions validate their inputs (``ParameterError`` naming the parameter),
broadcast NumPy arrays over all arguments and return a ``float`` for scalar input, otherwise
an array of the broadcast shape. Errors include the label noise, so ``e >= rho``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import elementwise

from iclab.errors import ParameterError
from iclab.theory import _formulas as F
from iclab.theory.mp import _mp, _scalar_or_array, inverse_kappa
from iclab.validation import check_nonnegative, check_positive

__all__ = [
    "e_icl",
    "e_idg",
    "g_task",
    "e_kappa_inf",
    "e_bayes_ridge",
    "optimal_lambda_kappa_inf",
    "solve_ridge_epsilon",
]


def _validate(tau: Any, alpha: Any, kappa: Any, rho: Any, lam: Any = 0.0) -> list[np.ndarray]:
    check_positive("tau", tau)
    check_positive("alpha", alpha)
    check_positive("kappa", kappa, allow_inf=True)
    check_nonnegative("rho", rho)
    check_nonnegative("lam", lam)
    arrays = [np.asarray(v, dtype=float) for v in (tau, alpha, kappa, rho, lam)]
    return list(np.broadcast_arrays(*arrays))


def _ridgeless(metric: str, tau: np.ndarray, q: np.ndarray, rho: np.ndarray,
               ik: np.ndarray) -> np.ndarray:
    """Both tau branches evaluated on the broadcast arrays, selected by ``tau < 1``;
    ``inf`` exactly at ``tau == 1`` (the interpolation peak, spec §3.4)."""
    below, above = ((F.icl_ridgeless_below, F.icl_ridgeless_above) if metric == "icl"
                    else (F.idg_ridgeless_below, F.idg_ridgeless_above))
    out = np.full(tau.shape, np.inf)
    lo, hi = tau < 1.0, tau > 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        if lo.any():
            out[lo] = below(tau[lo], q[lo], rho[lo], ik[lo])
        if hi.any():
            out[hi] = above(tau[hi], q[hi], rho[hi], ik[hi])
    return out


def solve_ridge_epsilon(tau: Any, lam: Any, q: Any, kappa: Any) -> np.ndarray:
    """Self-consistent :math:`\\varepsilon>0` of spec §3.2 (code ``self_consistency``).

    Solves :math:`1-\\tau+\\tau\\lambda/\\varepsilon
    -\\varepsilon\\mathcal M_\\kappa(q+\\varepsilon)=0`
    for all broadcast points at once with SciPy's vectorised bracketing solver
    (``scipy.optimize.elementwise.find_root``, Chandrupatla), applied to the pole-free
    :math:`\\varepsilon\\cdot` LHS. The LHS is strictly decreasing, so the root is unique, and
    the bracket is derived:

    * lower end :math:`\\lambda`: LHS :math:`=1-\\lambda\\mathcal M(q+\\lambda)>0` because
      :math:`x\\mathcal M(q+x)<1`;
    * upper end :math:`\\lambda+(1+q)/\\tau`: by Jensen :math:`\\mathcal M(x)\\ge1/(1+x)`, so
      LHS :math:`\\le-\\tau+(\\tau\\lambda+1+q)/\\varepsilon\\le0` there.

    Args: ``tau > 0``, ``lam > 0``, ``q > 0``, ``kappa > 0`` (inf allowed), broadcastable.
    Returns: :math:`\\varepsilon` of the broadcast shape (relative accuracy ~1e-15).
    """
    tau, lam, q = (np.asarray(v, dtype=float) for v in (tau, lam, q))
    ik = inverse_kappa(kappa)
    tau, lam, q, ik = np.broadcast_arrays(tau, lam, q, ik)
    lo = lam
    hi = lam + (1.0 + q) / tau
    res = elementwise.find_root(
        F.ridge_lhs_times_eps, (lo, hi), args=(tau, lam, q, ik),
        tolerances={"xatol": 1e-300, "xrtol": 4 * np.finfo(float).eps, "fatol": 0.0,
                    "frtol": 0.0},
    )
    if not np.all(res.success | (res.f_x == 0)):
        raise RuntimeError("ridge self-consistency solve failed to converge")  # pragma: no cover
    return np.asarray(res.x, dtype=float)


def e_icl(tau: Any, alpha: Any, kappa: Any, rho: Any, lam: Any = 0.0) -> float | np.ndarray:
    """Asymptotic in-context-learning error :math:`e^{ICL}` (fresh test task).

    * ``lam == 0``: ridgeless closed forms, spec §3.3 (code ``ridgeless_icl``), one branch
      for :math:`\\tau<1` and one for :math:`\\tau>1`; ``inf`` exactly at :math:`\\tau=1`.
    * ``lam > 0``: spec §3.2 (code ``ridge_icl``): :math:`\\varepsilon` from the scalar
      self-consistency equation (:func:`solve_ridge_epsilon`, bracketing, all points
      vectorised), then the boxed formula.

    Args (all broadcastable): ``tau = n/d^2 > 0``, ``alpha = l/d > 0``,
    ``kappa = k/d > 0`` (``math.inf`` = infinite task diversity), ``rho >= 0`` noise
    variance, ``lam >= 0`` ridge (normalised as :math:`\\frac n d\\lambda\\|\\Gamma\\|_F^2`, §2).
    """
    tau, alpha, kappa, rho, lam = _validate(tau, alpha, kappa, rho, lam)
    q = (1.0 + rho) / alpha
    ik = inverse_kappa(kappa)
    out = _ridgeless("icl", tau, q, rho, ik)
    ridge = lam > 0
    if ridge.any():
        eps = solve_ridge_epsilon(tau[ridge], lam[ridge], q[ridge], kappa[ridge])
        out[ridge] = F.icl_ridge_from_eps(eps, tau[ridge], q[ridge], rho[ridge], ik[ridge])
    return _scalar_or_array(out)


def e_idg(tau: Any, alpha: Any, kappa: Any, rho: Any, lam: Any = 0.0) -> float | np.ndarray:
    """Asymptotic in-distribution generalisation error :math:`e^{IDG}` (test task drawn from
    the k pretraining tasks), ridgeless only: spec §3.3 (code ``ridgeless_idg``, notebook
    ``prop_idg``); ``inf`` exactly at :math:`\\tau=1`.

    ``lam > 0`` raises :class:`~iclab.errors.ParameterError`: there is no finite-λ IDG formula
    in the authors' code and the spec says not to guess one (§3.2, open point 5). Use the
    numerical route instead: simulate :math:`\\Gamma^*` (ridge solve on sampled :math:`H_Z`,
    spec §2) and evaluate the exact finite-d error :math:`e(\\Gamma)` with the IDG moments.
    """
    tau, alpha, kappa, rho, lam = _validate(tau, alpha, kappa, rho, lam)
    if np.any(lam > 0):
        raise ParameterError(
            "lam", float(lam[lam > 0].ravel()[0]),
            "0 (finite-lambda IDG has no closed form, spec §3.2; compute it numerically: "
            "simulate Gamma* and apply the exact e(Gamma) of spec §2)")
    q = (1.0 + rho) / alpha
    return _scalar_or_array(_ridgeless("idg", tau, q, rho, inverse_kappa(kappa)))


def g_task(tau: Any, alpha: Any, kappa: Any, rho: Any) -> float | np.ndarray:
    """Task-generalisation gap :math:`g_{task}=e^{ICL}-e^{IDG}` (ridgeless; spec §1, code
    ``g_task``). ``nan`` at :math:`\\tau=1` (inf - inf)."""
    with np.errstate(invalid="ignore"):
        return _scalar_or_array(np.asarray(e_icl(tau, alpha, kappa, rho))
                                - np.asarray(e_idg(tau, alpha, kappa, rho)))


def e_kappa_inf(tau: Any, alpha: Any, rho: Any) -> float | np.ndarray:
    """Ridgeless error at infinite task diversity, where :math:`e^{ICL}=e^{IDG}` (spec §3.5,
    derived from §3.3 with :math:`\\mathcal M\\to1/(1+q)`):

    :math:`\\tau<1`: :math:`\\frac{(1+\\rho)-\\tau(2-\\tau)/(1+q)}{1-\\tau}`;
    :math:`\\tau>1`: :math:`\\frac{\\tau}{\\tau-1}(\\rho+\\frac q{1+q})`; ``inf`` at
    :math:`\\tau=1`. Independent closed form, used to test :func:`e_icl` at ``kappa=inf``.
    """
    tau, alpha, _, rho, _ = _validate(tau, alpha, 1.0, rho)
    q = (1.0 + rho) / alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        below = ((1.0 + rho) - tau * (2.0 - tau) / (1.0 + q)) / (1.0 - tau)
        above = tau / (tau - 1.0) * (rho + q / (1.0 + q))
    return _scalar_or_array(np.where(tau < 1, below, np.where(tau > 1, above, np.inf)))


def e_bayes_ridge(alpha: Any, rho: Any) -> float | np.ndarray:
    """Asymptotic ICL error of the Bayes-optimal (Gaussian-prior) ridge estimator
    :math:`\\hat w=(X^\\top X+\\rho I)^{-1}X^\\top y` on the context alone (spec §4, derived;
    the toolkit's baseline, open point 7):

    :math:`e^{Bayes}=\\rho+\\frac\\rho\\alpha\\mathcal M_\\alpha(\\rho/\\alpha)`,

    i.e. :math:`\\mathcal M` with ratio :math:`\\alpha` in place of :math:`\\kappa`. At
    :math:`\\rho=0` its limit :math:`\\max(0,1-\\alpha)` is returned (noiseless
    least-norm interpolation).
    """
    check_positive("alpha", alpha)
    check_nonnegative("rho", rho)
    alpha, rho = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(rho, float))
    x = rho / alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        xm = x * _mp(x, 1.0 / alpha)
    out = np.where(rho > 0, rho + xm, np.maximum(0.0, 1.0 - alpha))
    return _scalar_or_array(out)


def optimal_lambda_kappa_inf(tau: Any, alpha: Any, rho: Any) -> float | np.ndarray:
    """Ridge :math:`\\lambda^*` minimising finite-λ :math:`e^{ICL}` at :math:`\\kappa=\\infty`:

    :math:`\\lambda^*=(1+q)(q+\\rho(1+q))/\\tau`, i.e.
    :math:`\\lambda^*\\tau=(1+q)^2(\\rho+q/(1+q))`.

    A **numerical finding** (spec §3.5 / open point 6, found by minimising the §3.2 formulas),
    not a stated result of the paper; no finite-κ formula is known. Tested against a direct
    numerical minimisation of :func:`e_icl` over ``lam``.
    """
    tau, alpha, _, rho, _ = _validate(tau, alpha, 1.0, rho)
    q = (1.0 + rho) / alpha
    return _scalar_or_array((1.0 + q) * (q + rho * (1.0 + q)) / tau)

"""Risk of one-step preconditioned gradient descent (PGD) and of weighted PGD (WPGD).

Li, Rawat & Oymak (2024), arXiv 2407.10005; spec ``pgd_h3_lowrank_lora.md``.

Data (spec §1.1): ``beta ~ N(0, Sigma_beta)``, ``x_i ~ N(0, Sigma_x)``, ``y_i = x_i^T beta + xi_i``,
``xi_i ~ N(0, sigma2)``. Predictors (spec §2.3): PGD ``yhat = x^T W X^T y`` and
WPGD ``yhat = x^T W X^T (omega * y)``.

Formulas (spec §3a–b, tags [V numbering (Theorem 1 / Proposition 1); formulas D]), with
``Sigma_x = I`` (general ``Sigma_x`` by the whitening of §1.1 [D])::

    T = tr(Sigma) + sigma2,   M = (n + 1) Sigma + T I
    L(W)  = sigma2 + tr Sigma - 2 n tr(W Sigma) + n tr(W M W^T)
    W*    = Sigma M^{-1},    L* = sigma2 + tr Sigma - n tr(Sigma^2 M^{-1})

WPGD with a temporally correlated task (our drift model, spec §3c [D], derived here):
``Cov(beta_i, beta_j) = K_ij Sigma_beta`` for positions ``i, j in 1..n+1`` (query = ``n+1``),
``K_ii = 1``, ``Sigma_x = I``. Then ``L(W, omega) = E y^2 - 2 omega^T h + omega^T G omega`` with::

    h_i  = K_{i,q} tr(W Sigma)
    G_ij = K_ij tr(W Sigma W^T)                                 (i != j)
    G_ii = tr(W W^T) (tr Sigma + sigma2) + 2 tr(W Sigma W^T)
    omega*(W) = G^{-1} h                                       (spec §3c)
    W*(omega) = a Sigma (b Sigma + c I)^{-1},  a = omega^T K_{:,q},
                b = omega^T K omega + |omega|^2,  c = (tr Sigma + sigma2) |omega|^2   (derived)

For ``K = 1 1^T`` (no drift) and ``omega = 1`` these reduce to the PGD formulas above.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from iclab.validation import check_in_range, check_int, check_nonnegative


def _sym_sqrt(S: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(S)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def _as_cov(name: str, S: ArrayLike) -> np.ndarray:
    """A covariance given as a matrix ``[d, d]`` or a diagonal ``[d]`` -> symmetric ``[d, d]``."""
    A = np.asarray(S, dtype=float)
    if A.ndim == 1:
        check_nonnegative(name, A)
        A = np.diag(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must be a [d] diagonal or a square [d, d] matrix")
    A = 0.5 * (A + A.T)
    if np.linalg.eigvalsh(A).min() < -1e-10 * max(1.0, np.abs(A).max()):
        raise ValueError(f"{name} must be positive semi-definite")
    return A


def whiten(Sigma_beta: ArrayLike,
           Sigma_x: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Whitened task covariance ``S^{1/2} Sigma_beta S^{1/2}`` and ``S^{1/2}`` (spec §1.1 [D]).

    A PGD weight maps as ``W_tilde = S^{1/2} W S^{1/2}`` with ``S = Sigma_x``.
    """
    Sb = _as_cov("Sigma_beta", Sigma_beta)
    if Sigma_x is None:
        return Sb, np.eye(Sb.shape[0])
    Sx = _as_cov("Sigma_x", Sigma_x)
    R = _sym_sqrt(Sx)
    return R @ Sb @ R, R


def pgd_risk(W: ArrayLike, Sigma_beta: ArrayLike, n: int, sigma2: float = 0.0,
             Sigma_x: ArrayLike | None = None) -> float:
    """Exact risk ``E (y - x^T W X^T y)^2`` of PGD with preconditioner ``W [d, d]`` (spec §3a)."""
    n = check_int("n", n, minimum=0)
    sigma2 = float(check_nonnegative("sigma2", sigma2))
    S, R = whiten(Sigma_beta, Sigma_x)
    Wt = R @ np.asarray(W, dtype=float) @ R
    T = np.trace(S) + sigma2
    M = (n + 1) * S + T * np.eye(S.shape[0])
    return float(sigma2 + np.trace(S) - 2 * n * np.trace(Wt @ S) + n * np.trace(Wt @ M @ Wt.T))


def pgd_optimum(Sigma_beta: ArrayLike, n: int, sigma2: float = 0.0,
                Sigma_x: ArrayLike | None = None) -> np.ndarray:
    """The optimal preconditioner ``W* [d, d]`` in the original coordinates (spec §3a).

    ``W* = S^{-1/2} Sigma~ ((n+1) Sigma~ + T I)^{-1} S^{-1/2}``; for ``Sigma_x = I``,
    ``W* = Sigma (M)^{-1}``. ``Sigma_x`` must be invertible.
    """
    n = check_int("n", n, minimum=0)
    sigma2 = float(check_nonnegative("sigma2", sigma2))
    S, R = whiten(Sigma_beta, Sigma_x)
    T = np.trace(S) + sigma2
    Wt = S @ np.linalg.inv((n + 1) * S + T * np.eye(S.shape[0]))
    Rinv = np.linalg.inv(R)
    return Rinv @ Wt @ Rinv


def pgd_optimal_risk(Sigma_beta: ArrayLike, n: ArrayLike, sigma2: float = 0.0,
                     Sigma_x: ArrayLike | None = None) -> np.ndarray:
    """``L*(n) = sigma2 + sum_i lam_i - sum_i n lam_i^2 / ((n+1) lam_i + T)`` (spec §3b).

    ``lam_i`` are the eigenvalues of the whitened task covariance; ``n`` may be an array.
    """
    sigma2 = float(check_nonnegative("sigma2", sigma2))
    S, _ = whiten(Sigma_beta, Sigma_x)
    lam = np.clip(np.linalg.eigvalsh(S), 0.0, None)
    nn = np.asarray(check_nonnegative("n", n), dtype=float)
    T = lam.sum() + sigma2
    gain = (nn[..., None] * lam**2 / ((nn[..., None] + 1) * lam + T)).sum(-1)
    return sigma2 + lam.sum() - gain


def pgd_optimal_risk_isotropic(d: int, n: ArrayLike, sigma2: float = 0.0,
                               scale: float = 1.0) -> np.ndarray:
    """Closed form for ``Sigma_beta = scale * I``, ``Sigma_x = I`` (spec §3a)::

        L* = sigma2 + d s - n d s^2 / ((n + 1) s + d s + sigma2)

    (``scale = 1``: ``sigma2 + d (d + 1 + sigma2) / (n + d + 1 + sigma2)``).
    """
    d = check_int("d", d)
    s = float(check_nonnegative("scale", scale))
    nn = np.asarray(check_nonnegative("n", n), dtype=float)
    return sigma2 + d * s - nn * d * s**2 / ((nn + 1) * s + d * s + sigma2)


# ---- weighted PGD and the drifting task -------------------------------------------------------

def ar1_drift_correlation(n: int, gamma: float) -> np.ndarray:
    """``K [n+1, n+1]`` with ``K_ij = gamma^{|i-j|}``: the AR(1) task drift (our model, [?]).

    Positions ``0..n-1`` are the context, position ``n`` the query. ``gamma = 1``: no drift.
    """
    n = check_int("n", n, minimum=1)
    gamma = float(check_in_range("gamma", gamma, 0.0, 1.0))
    idx = np.arange(n + 1)
    return gamma ** np.abs(idx[:, None] - idx[None, :])


def wpgd_moments(W: ArrayLike, Sigma_beta: ArrayLike, K: ArrayLike,
                 sigma2: float = 0.0) -> tuple[np.ndarray, np.ndarray, float]:
    """``(G [n, n], h [n], E y^2)`` of WPGD for fixed ``W`` under task correlation ``K`` (§3c)."""
    sigma2 = float(check_nonnegative("sigma2", sigma2))
    S = _as_cov("Sigma_beta", Sigma_beta)
    W = np.asarray(W, dtype=float)
    K = np.asarray(K, dtype=float)
    n = K.shape[0] - 1
    t_ws = np.trace(W @ S)
    t_wsw = np.trace(W @ S @ W.T)
    t_ww = np.trace(W @ W.T)
    h = K[:n, n] * t_ws
    G = K[:n, :n] * t_wsw
    G[np.diag_indices(n)] = t_ww * (np.trace(S) + sigma2) + 2 * t_wsw
    return G, h, float(np.trace(S) + sigma2)


def wpgd_risk(W: ArrayLike, omega: ArrayLike, Sigma_beta: ArrayLike, K: ArrayLike,
              sigma2: float = 0.0) -> float:
    """Exact WPGD risk ``E y^2 - 2 omega^T h + omega^T G omega`` (spec §3c [D])."""
    G, h, ey2 = wpgd_moments(W, Sigma_beta, K, sigma2)
    w = np.asarray(omega, dtype=float)
    return float(ey2 - 2 * w @ h + w @ G @ w)


def wpgd_optimal_weights(W: ArrayLike, Sigma_beta: ArrayLike, K: ArrayLike,
                         sigma2: float = 0.0) -> np.ndarray:
    """``omega* = G^{-1} h [n]`` for fixed ``W`` (spec §3c [D])."""
    G, h, _ = wpgd_moments(W, Sigma_beta, K, sigma2)
    return np.linalg.solve(G, h)


def wpgd_optimal_preconditioner(omega: ArrayLike, Sigma_beta: ArrayLike, K: ArrayLike,
                                sigma2: float = 0.0) -> np.ndarray:
    """``W*(omega) = a Sigma (b Sigma + c I)^{-1}`` for fixed weights (derived, see module doc)."""
    S = _as_cov("Sigma_beta", Sigma_beta)
    K = np.asarray(K, dtype=float)
    w = np.asarray(omega, dtype=float)
    n = K.shape[0] - 1
    a = w @ K[:n, n]
    b = w @ K[:n, :n] @ w + w @ w
    c = (np.trace(S) + sigma2) * (w @ w)
    return a * S @ np.linalg.inv(b * S + c * np.eye(S.shape[0]))


def wpgd_joint_optimum(Sigma_beta: ArrayLike, K: ArrayLike, sigma2: float = 0.0,
                       iters: int = 200) -> tuple[np.ndarray, np.ndarray, float]:
    """``(W, omega, risk)`` minimising the WPGD risk over both, by alternating exact minimisation.

    The risk is convex in each block; alternation decreases it monotonically. For
    ``Sigma_beta = s I`` one step is exact (rotation invariance forces ``W ∝ I``).
    ``omega`` is normalised to mean 1 (its scale is absorbed into ``W``).
    """
    iters = check_int("iters", iters)
    K = np.asarray(K, dtype=float)
    n = K.shape[0] - 1
    omega = np.ones(n)
    for _ in range(iters):
        W = wpgd_optimal_preconditioner(omega, Sigma_beta, K, sigma2)
        omega = wpgd_optimal_weights(W, Sigma_beta, K, sigma2)
        scale = omega.mean()
        omega, W = omega / scale, W * scale
    return W, omega, wpgd_risk(W, omega, Sigma_beta, K, sigma2)


def pgd_optimal_risk_drift(Sigma_beta: ArrayLike, K: ArrayLike, sigma2: float = 0.0) -> float:
    """Best uniform-weight (PGD / linear attention) risk under task correlation ``K`` (derived)."""
    n = np.asarray(K).shape[0] - 1
    ones = np.ones(n)
    W = wpgd_optimal_preconditioner(ones, Sigma_beta, K, sigma2)
    return wpgd_risk(W, ones, Sigma_beta, K, sigma2)

"""Optimal rank-r PGD and LoRA adaptation of a pretrained PGD weight.

Li, Rawat & Oymak (2024), arXiv 2407.10005; spec ``pgd_h3_lowrank_lora.md`` §3f–g
([V] that the paper gives an optimal low-rank risk in terms of the spectrum and an upper bound for
LoRA; the formulas below are [D], derived from ``L(W) = L* + n ||(W - W*) M^{1/2}||_F^2`` and
Eckart–Young). ``Sigma_x`` is handled by whitening (spec §1.1), which preserves rank.

Rank r (spec §3f)::

    L*_r = sigma2 + tr Sigma - sum_{i<=r} n lam_i^2 / ((n + 1) lam_i + T),  T = tr Sigma + sigma2
    W*_r = sum_{i<=r} lam_i / ((n + 1) lam_i + T) u_i u_i^T     (top-r eigenvectors of Sigma)

LoRA (spec §3g; our parameterisation: a rank-<=r update of the product ``W_q W_k^T``)::

    L_LoRA(r) = L*_new + n sum_{i>r} s_i^2,   s = singular values of (W*_new - W_0) M'^{1/2}
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from iclab.theory.pgd import _sym_sqrt, pgd_optimal_risk, pgd_optimum, whiten
from iclab.validation import check_int, check_nonnegative


def lowrank_optimal_risk(Sigma_beta: ArrayLike, n: ArrayLike, r: ArrayLike, sigma2: float = 0.0,
                         Sigma_x: ArrayLike | None = None) -> np.ndarray:
    """``L*_r`` (spec §3f); ``n`` and ``r`` broadcast against each other (``0 <= r <= d``)."""
    sigma2 = float(check_nonnegative("sigma2", sigma2))
    S, _ = whiten(Sigma_beta, Sigma_x)
    d = S.shape[0]
    lam = np.sort(np.clip(np.linalg.eigvalsh(S), 0.0, None))[::-1]
    rr = np.asarray(r)
    if np.any(rr < 0) or np.any(rr > d) or np.any(rr != np.round(rr)):
        raise ValueError(f"r must be an integer in [0, {d}]")
    nn, rr = np.broadcast_arrays(np.asarray(check_nonnegative("n", n), dtype=float), rr)
    T = lam.sum() + sigma2
    terms = nn[..., None] * lam**2 / ((nn[..., None] + 1) * lam + T)  # [..., d]
    keep = np.arange(d) < rr[..., None]
    return sigma2 + lam.sum() - (terms * keep).sum(-1)


def lowrank_optimum(Sigma_beta: ArrayLike, n: int, r: int, sigma2: float = 0.0) -> np.ndarray:
    """``W*_r [d, d]`` for ``Sigma_x = I`` (spec §3f): the top-r eigen-part of ``W*``."""
    n = check_int("n", n, minimum=0)
    sigma2 = float(check_nonnegative("sigma2", sigma2))
    S, _ = whiten(Sigma_beta)
    r = check_int("r", r, minimum=0, maximum=S.shape[0])
    lam, U = np.linalg.eigh(S)
    order = np.argsort(lam)[::-1][:r]
    T = np.trace(S) + sigma2
    w = lam[order] / ((n + 1) * lam[order] + T)
    return (U[:, order] * w) @ U[:, order].T


def _risk_matrix(S: np.ndarray, n: int, sigma2: float) -> np.ndarray:
    return (n + 1) * S + (np.trace(S) + sigma2) * np.eye(S.shape[0])


def lora_singular_values(Sigma_old: ArrayLike, Sigma_new: ArrayLike, n: int,
                         sigma2: float = 0.0) -> np.ndarray:
    """Singular values (descending) of ``(W*_new - W_0) M'^{1/2}`` with ``W_0 = W*_old`` (§3g)."""
    S_new, _ = whiten(Sigma_new)
    W0 = pgd_optimum(Sigma_old, n, sigma2)
    Wn = pgd_optimum(S_new, n, sigma2)
    return np.linalg.svd((Wn - W0) @ _sym_sqrt(_risk_matrix(S_new, n, sigma2)), compute_uv=False)


def lora_optimal_risk(Sigma_old: ArrayLike, Sigma_new: ArrayLike, n: int, r: ArrayLike,
                      sigma2: float = 0.0, W0: ArrayLike | None = None) -> np.ndarray:
    """``L_LoRA(r) = L*_new + n sum_{i>r} s_i^2`` (spec §3g [D]); ``r`` may be an array.

    ``W0`` defaults to the pretrained optimum ``W*_old``; pass another ``[d, d]`` to adapt it.
    """
    n = check_int("n", n, minimum=0)
    sigma2 = float(check_nonnegative("sigma2", sigma2))
    S_new, _ = whiten(Sigma_new)
    base = pgd_optimum(Sigma_old, n, sigma2) if W0 is None else np.asarray(W0, dtype=float)
    Wn = pgd_optimum(S_new, n, sigma2)
    s = np.linalg.svd((Wn - base) @ _sym_sqrt(_risk_matrix(S_new, n, sigma2)), compute_uv=False)
    rr = np.asarray(r)
    if np.any(rr < 0) or np.any(rr != np.round(rr)):
        raise ValueError("r must be a non-negative integer")
    tail = np.array([np.sum(s[int(k):] ** 2) for k in rr.ravel()]).reshape(rr.shape)
    return float(pgd_optimal_risk(S_new, n, sigma2)) + n * tail


def lora_optimum(Sigma_old: ArrayLike, Sigma_new: ArrayLike, n: int, r: int,
                 sigma2: float = 0.0) -> np.ndarray:
    """The adapted weight ``W_0 + Delta_r [d, d]`` attaining :func:`lora_optimal_risk`."""
    S_new, _ = whiten(Sigma_new)
    W0 = pgd_optimum(Sigma_old, n, sigma2)
    Wn = pgd_optimum(S_new, n, sigma2)
    R = _sym_sqrt(_risk_matrix(S_new, n, sigma2))
    U, s, Vt = np.linalg.svd((Wn - W0) @ R)
    low = (U[:, :r] * s[:r]) @ Vt[:r]
    return W0 + low @ np.linalg.inv(R)

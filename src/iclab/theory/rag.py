"""PGD risk under correlated designs: RAG (query–example correlation) and task–feature alignment.

Li, Rawat & Oymak (2024), arXiv 2407.10005; spec ``pgd_h3_lowrank_lora.md`` §1.2, §3d–e.

RAG (spec §3d; the model ``x_i = alpha x + sqrt(1 - alpha^2) g_i`` is [?], the formulas [D];
the effective sample size ``kappa = alpha^2 d + 1`` is [V] via a third-party summary). With
``beta ~ N(0, I_d)``, ``W* = c* I`` exactly and for ``W = c I``::

    L(c) = d + sigma2 - 2 c A + c^2 B,   c* = A / B,   L* = d + sigma2 - A^2 / B

with ``A, B`` of spec §3d, and the large-d form ``L* ~ d + sigma2 - kappa n d / (kappa n + d +
sigma2)``: the i.i.d. risk with the effective sample size ``n_eff = kappa n``. That law is a good
approximation only where ``alpha^2 d = O(1)`` (``alpha`` of order ``1/sqrt(d)``); for ``alpha``
of order 1 it overstates the gain badly (``d = 20``, ``n = 80``, ``alpha = 0.9``: exact 1.69,
law 0.29), and for ``n >~ 2d`` at small ``d`` a large ``alpha`` even raises the exact risk
(``d = 4``, ``n = 16``: 0.952 at ``alpha = 0``, 0.981 at ``alpha = 0.9``).
:func:`effective_sample_size` inverts the i.i.d. risk, so any risk can be read as an ``n_eff``.

Task–feature alignment — OUR PROVISIONAL MODEL (spec §3e leaves it open [?]):
``beta ~ N(0, I_d)``; given ``beta``, every feature (context and query) is
``x_i ~ N(0, I + (kappa - 1) u u^T)`` with ``u = beta / |beta|`` and ``kappa = alpha^2 d + 1``:
the features carry extra variance along the task direction. Then ``y_i = x_i^T beta`` has
variance ``kappa |beta|^2``. The law is rotation invariant, so ``W* = c* I``; conditioning on
``beta`` (derived here, Monte Carlo tested)::

    A = n kappa^2 d,   B = n (kappa d + sigma2)(d - 1 + kappa^2) + n (n + 1) kappa^3 d
    L(c) = kappa d + sigma2 - 2 c A + c^2 B,   L* = kappa d + sigma2 - A^2 / B

``alpha = 0`` gives the i.i.d. isotropic formula. Because ``E y^2 = kappa d + sigma2`` grows with
``alpha`` we also report the normalised risk ``L / E y^2``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from iclab.validation import check_in_range, check_int, check_nonnegative


def _rag_AB(alpha: ArrayLike, n: ArrayLike, d: int, sigma2: float) -> tuple[np.ndarray, ...]:
    a = np.asarray(check_in_range("alpha", alpha, 0.0, 1.0), dtype=float)
    nn = np.asarray(check_nonnegative("n", n), dtype=float)
    d = check_int("d", d)
    sigma2 = float(check_nonnegative("sigma2", sigma2))
    b2 = 1.0 - a**2
    e1, e2, e3 = d, d * (d + 2), d * (d + 2) * (d + 4)
    A = nn * d * (a**2 * (d + 1) + 1)
    e_diag = a**4 * e3 + (d + 5) * a**2 * b2 * e2 + (d + 2) * b2**2 * e1
    e_off = a**4 * e3 + 2 * a**2 * b2 * e2 + b2**2 * e1
    B = nn * e_diag + nn * (nn - 1) * e_off + sigma2 * A
    return A, B


def rag_risk(c: ArrayLike, alpha: ArrayLike, n: ArrayLike, d: int,
             sigma2: float = 0.0) -> np.ndarray:
    """Exact RAG risk of PGD with ``W = c I`` (spec §3d [D])."""
    A, B = _rag_AB(alpha, n, d, sigma2)
    c = np.asarray(c, dtype=float)
    return d + sigma2 - 2 * c * A + c**2 * B


def rag_optimal_scale(alpha: ArrayLike, n: ArrayLike, d: int, sigma2: float = 0.0) -> np.ndarray:
    """``c* = A / B`` (spec §3d); ``W* = c* I``."""
    A, B = _rag_AB(alpha, n, d, sigma2)
    return A / B


def rag_optimal_risk(alpha: ArrayLike, n: ArrayLike, d: int, sigma2: float = 0.0) -> np.ndarray:
    """Exact finite-d RAG optimum ``L* = d + sigma2 - A^2 / B`` (spec §3d [D])."""
    A, B = _rag_AB(alpha, n, d, sigma2)
    return d + sigma2 - np.where(B > 0, A**2 / np.where(B > 0, B, 1.0), 0.0)


def rag_optimal_risk_large_d(alpha: ArrayLike, n: ArrayLike, d: int,
                             sigma2: float = 0.0) -> np.ndarray:
    """Large-d form ``d + sigma2 - kappa n d / (kappa n + d + sigma2)``, kappa = alpha^2 d + 1."""
    kappa = np.asarray(alpha, dtype=float) ** 2 * d + 1
    nn = np.asarray(n, dtype=float)
    return d + sigma2 - kappa * nn * d / (kappa * nn + d + sigma2)


def effective_sample_size(risk: ArrayLike, d: int, sigma2: float = 0.0) -> np.ndarray:
    """The ``n_eff`` at which the i.i.d. isotropic PGD optimum has risk ``risk``.

    Inverts ``L_iid(m) = d + sigma2 - m d / (m + d + 1 + sigma2)`` (spec §3a with ``Sigma = I``):
    with ``G = d + sigma2 - risk`` and ``c = d + 1 + sigma2``, ``m = G c / (d - G)``; ``inf`` where
    ``risk <= sigma2`` and 0 where ``risk >= d + sigma2``.
    """
    d = check_int("d", d)
    sigma2 = float(check_nonnegative("sigma2", sigma2))
    G = np.clip(d + sigma2 - np.asarray(risk, dtype=float), 0.0, float(d))
    c = d + 1 + sigma2
    finite = d - G > 0
    return np.where(finite, G * c / np.where(finite, d - G, 1.0), np.inf)


def _align_AB(alpha: ArrayLike, n: ArrayLike, d: int, sigma2: float) -> tuple[np.ndarray, ...]:
    a = np.asarray(check_in_range("alpha", alpha, 0.0, 1.0), dtype=float)
    nn = np.asarray(check_nonnegative("n", n), dtype=float)
    d = check_int("d", d)
    sigma2 = float(check_nonnegative("sigma2", sigma2))
    k = a**2 * d + 1
    A = nn * k**2 * d
    B = nn * (k * d + sigma2) * (d - 1 + k**2) + nn * (nn + 1) * k**3 * d
    return A, B, k * d + sigma2


def alignment_risk(c: ArrayLike, alpha: ArrayLike, n: ArrayLike, d: int,
                   sigma2: float = 0.0) -> np.ndarray:
    """Risk of PGD ``W = c I`` under our provisional alignment model (module doc [D])."""
    A, B, ey2 = _align_AB(alpha, n, d, sigma2)
    c = np.asarray(c, dtype=float)
    return ey2 - 2 * c * A + c**2 * B


def alignment_optimal_risk(alpha: ArrayLike, n: ArrayLike, d: int,
                           sigma2: float = 0.0) -> np.ndarray:
    """``L* = kappa d + sigma2 - A^2 / B`` under our provisional alignment model."""
    A, B, ey2 = _align_AB(alpha, n, d, sigma2)
    return ey2 - np.where(B > 0, A**2 / np.where(B > 0, B, 1.0), 0.0)


def alignment_label_variance(alpha: ArrayLike, d: int, sigma2: float = 0.0) -> np.ndarray:
    """``E y^2 = kappa d + sigma2`` under the alignment model (for normalised risks)."""
    return (np.asarray(alpha, dtype=float) ** 2 * d + 1) * d + sigma2

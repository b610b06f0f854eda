"""Marchenko–Pastur Stieltjes transform :math:`\\mathcal M_\\kappa(q)` and its derivative.

Lu et al. 2024; docs/theory.md, "The Marchenko–Pastur transform" (authors' code ``M_kappa`` /
``S_Wishart`` and ``S_Wishart_derivative``):

.. math::

    \\mathcal M_\\kappa(q) = \\lim_{d\\to\\infty} \\tfrac1d \\operatorname{tr}
        \\Big(\\tfrac1k \\sum_{j=1}^k w_j w_j^\\top + q I_d\\Big)^{-1},
    \\qquad w_j \\sim \\mathcal N(0, I_d),\\ k/d = \\kappa,

the positive root of
:math:`\\tfrac q\\kappa \\mathcal M^2 + (1 - \\tfrac1\\kappa + q)\\mathcal M - 1 = 0`.

Numerics (derived, documented choice): with :math:`b = q + 1 - 1/\\kappa` and
:math:`s = \\sqrt{b^2 + 4q/\\kappa}`, the two algebraically equal forms
:math:`2/(b+s)` and :math:`(s-b)\\kappa/(2q)` are used where each is free of cancellation
(``b >= 0`` resp. ``b < 0``), via :math:`t = |b| + s`. So :math:`q \\to 0` is stable for
every :math:`\\kappa`: :math:`\\mathcal M_\\kappa(0) = \\kappa/(\\kappa-1)` for
:math:`\\kappa > 1` and ``inf`` for :math:`\\kappa \\le 1`
(where :math:`q\\mathcal M\\to 1-\\kappa`).
``kappa=math.inf`` gives :math:`1/(1+q)`.

The private helpers ``_mp`` / ``_mp_prime`` take the *inverse* ratio ``ik = 1/kappa`` and an
array namespace ``xp`` (``numpy`` or ``torch``) so that the same formula serves the public
NumPy API and the torch kernel of :mod:`iclab.theory.landscape`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from iclab.validation import check_nonnegative, check_positive

__all__ = ["mp_transform", "mp_transform_derivative"]


def inverse_kappa(kappa: Any) -> np.ndarray:
    """Return ``1/kappa`` as a float array, with ``kappa = inf`` mapped to 0."""
    k = np.asarray(kappa, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(np.isinf(k), 0.0, 1.0 / k)


def _mp(q: Any, ik: Any, xp: ModuleType = np) -> Any:
    """:math:`\\mathcal M_{1/ik}(q)` elementwise, cancellation-free (see module docstring).

    ``q >= 0`` and ``ik >= 0`` arrays/tensors of broadcastable shapes; same shape out.
    """
    b = q + 1.0 - ik
    s = xp.sqrt(b * b + 4.0 * q * ik)
    t = xp.abs(b) + s
    # b >= 0: M = 2 / (b + s) = 2 / t.   b < 0: M = (s - b) / (2 q ik) = t / (2 q ik).
    # The unused branch may divide by zero (ik = 0 or q = 0): silence NumPy's warning.
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(b >= 0, 2.0 / t, t / (2.0 * q * ik))


def _mp_prime(q: Any, ik: Any, m: Any) -> Any:
    """:math:`\\mathcal M'_{1/ik}(q)` given ``m = M(q)``.

    Uses :math:`\\mathcal M' = -\\frac{\\mathcal M + \\mathcal M^2/\\kappa}
    {1 - 1/\\kappa + q + 2q\\mathcal M/\\kappa}` (the derivative of the quadratic) with
    the quadratic :math:`1 - 1/\\kappa + q = 1/\\mathcal M - q\\mathcal M/\\kappa` substituted,
    which gives the
    cancellation-free form :math:`-\\mathcal M^2 (1 + \\mathcal M/\\kappa) /
    (1 + q\\mathcal M^2/\\kappa)`.
    """
    m2 = m * m
    return -m2 * (1.0 + m * ik) / (1.0 + q * ik * m2)


def mp_transform(q: Any, kappa: Any) -> float | np.ndarray:
    """Marchenko–Pastur transform :math:`\\mathcal M_\\kappa(q)` (docs/theory.md, code ``M_kappa``).

    Args:
        q: shift, ``>= 0`` (scalar or array).
        kappa: ratio :math:`k/d`, ``> 0``; ``math.inf`` allowed (gives ``1/(1+q)``).

    Returns:
        Array of the broadcast shape of ``q`` and ``kappa`` (a ``float`` for scalar input).
        ``inf`` at ``q = 0`` when ``kappa <= 1``.
    """
    check_nonnegative("q", q)
    check_positive("kappa", kappa, allow_inf=True)
    qa = np.asarray(q, dtype=float)
    ik = inverse_kappa(kappa)
    if _needs_safe(qa, ik):
        from iclab.theory._formulas import mp_parts

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = mp_parts(qa, ik, safe=True)[0]
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = _mp(qa, ik)
    return _scalar_or_array(out)


def _needs_safe(q: np.ndarray, ik: np.ndarray) -> bool:
    """Whether ``b^2`` or ``4 q ik`` of :func:`_mp` could overflow (then ``hypot`` is used)."""
    q_max = float(q.max()) if q.size else 0.0
    ik_max = float(ik.max()) if ik.size else 0.0
    return q_max > 1e150 or ik_max > 1e150


def mp_transform_derivative(q: Any, kappa: Any) -> float | np.ndarray:
    """Derivative :math:`\\mathcal M'_\\kappa(q)` (docs/theory.md, code ``S_Wishart_derivative``).

    Args/returns as :func:`mp_transform`; ``-inf`` at ``q = 0`` when ``kappa <= 1``.
    """
    check_nonnegative("q", q)
    check_positive("kappa", kappa, allow_inf=True)
    qa = np.asarray(q, dtype=float)
    ik = inverse_kappa(kappa)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = _mp(qa, ik)
        out = np.where(np.isinf(m), -np.inf, _mp_prime(qa, ik, m))
    return _scalar_or_array(out)


def _scalar_or_array(out: np.ndarray) -> float | np.ndarray:
    out = np.asarray(out, dtype=float)
    return float(out) if out.ndim == 0 else out

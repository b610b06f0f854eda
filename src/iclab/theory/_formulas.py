"""Branch formulas of the Lu et al. asymptotic errors, shared by NumPy and torch callers.

Private module: every function takes already validated inputs, ``q = (1+rho)/alpha``,
``ik = 1/kappa`` (0 for kappa = inf) and an array namespace ``xp`` (``numpy`` or ``torch``),
and works elementwise on broadcastable arrays/tensors. The public, validated API is
:mod:`iclab.theory.asymptotic`; :mod:`iclab.theory.landscape` calls these with torch tensors.

Sources (spec ``asymptotic_linear_attention.md``): §3.3 (authors' code ``ridgeless_icl``,
``ridgeless_idg``, notebook ``prop_idg``) and §3.2 (code ``ridge_icl``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from iclab.theory.mp import _mp, _mp_prime


def icl_ridgeless_below(tau: Any, q: Any, rho: Any, ik: Any, xp: ModuleType = np) -> Any:
    """Ridgeless :math:`e^{ICL}` for :math:`\\tau<1` (§3.3, code ``ridgeless_icl``).

    :math:`\\mu^* = q\\mathcal M_{\\kappa/\\tau}(q)`;
    :math:`e = \\frac{\\tau(1+q)}{1-\\tau}[1-\\tau(1-\\mu^*)^2+\\mu^*(\\rho/q-1)]
    - 2\\tau(1-\\mu^*) + 1 + \\rho`.
    """
    mu = q * _mp(q, tau * ik, xp)  # 1/(kappa/tau) = tau * ik
    one_m_mu = 1.0 - mu
    bracket = 1.0 - tau * one_m_mu * one_m_mu + mu * (rho / q - 1.0)
    return tau * (1.0 + q) / (1.0 - tau) * bracket - 2.0 * tau * one_m_mu + 1.0 + rho


def icl_ridgeless_above(tau: Any, q: Any, rho: Any, ik: Any, xp: ModuleType = np) -> Any:
    """Ridgeless :math:`e^{ICL}` for :math:`\\tau>1` (§3.3, code ``ridgeless_icl``).

    :math:`m=\\mathcal M_\\kappa(q)`; :math:`e=(1+q)[1-2qm-q^2\\mathcal M'_\\kappa(q)
    + \\frac{m}{\\tau-1}(\\rho+q-q^2m)] - 2(1-qm) + 1 + \\rho`.
    """
    m = _mp(q, ik, xp)
    mprime = _mp_prime(q, ik, m)
    qm = q * m
    inner = 1.0 - 2.0 * qm - q * q * mprime + m / (tau - 1.0) * (rho + q - q * qm)
    return (1.0 + q) * inner - 2.0 * (1.0 - qm) + 1.0 + rho


def idg_ridgeless_below(tau: Any, q: Any, rho: Any, ik: Any, xp: ModuleType = np) -> Any:
    """Ridgeless :math:`e^{IDG}` for :math:`\\tau<1` (§3.3, code ``ridgeless_idg``).

    :math:`\\xi = (1-\\tau)/(\\tau\\mathcal M_{\\kappa/\\tau}(q))`,
    :math:`c = [1-\\kappa/(1+\\kappa\\xi/(1-\\tau))^2]^{-1}`,
    :math:`e = \\tau[(q+\\xi)^2/\\xi + (\\rho+q-2q(1-\\tau)(q/\\xi+1))/(1-\\tau-c(1-\\tau)^2)]`.
    The term :math:`\\kappa/(1+\\kappa a)^2` is evaluated as :math:`ik/(ik+a)^2`
    (:math:`a=\\xi/(1-\\tau)`), which is 0 at :math:`\\kappa=\\infty`; and
    :math:`1-\\tau-c(1-\\tau)^2 = (1-\\tau)(\\tau-t)/(1-t)` with :math:`t=ik/(ik+a)^2`.
    """
    one_m_tau = 1.0 - tau
    xi = one_m_tau / (tau * _mp(q, tau * ik, xp))
    a = xi / one_m_tau
    t = ik / ((ik + a) * (ik + a))
    denom = one_m_tau * (tau - t) / (1.0 - t)
    numer = rho + q - 2.0 * q * one_m_tau * (q / xi + 1.0)
    return tau * ((q + xi) * (q + xi) / xi + numer / denom)


def idg_ridgeless_above(tau: Any, q: Any, rho: Any, ik: Any, xp: ModuleType = np) -> Any:
    """Ridgeless :math:`e^{IDG}` for :math:`\\tau>1`: :math:`\\frac{\\tau}{\\tau-1}(\\rho+q-q^2m)`
    with :math:`m=\\mathcal M_\\kappa(q)` (§3.3, code ``ridgeless_idg``)."""
    m = _mp(q, ik, xp)
    return tau / (tau - 1.0) * (rho + q - q * q * m)


def ridge_lhs_times_eps(eps: Any, tau: Any, lam: Any, q: Any, ik: Any) -> Any:
    """:math:`\\varepsilon\\,\\cdot` LHS of the §3.2 self-consistency equation (code
    ``self_consistency``): :math:`(1-\\tau)\\varepsilon + \\tau\\lambda
    - \\varepsilon^2\\mathcal M_\\kappa(q+\\varepsilon)`.

    Same sign as the LHS for :math:`\\varepsilon>0` and free of the :math:`1/\\varepsilon`
    pole; its unique positive zero is the :math:`\\varepsilon` of §3.2.
    """
    return (1.0 - tau) * eps + tau * lam - eps * eps * _mp(q + eps, ik)


def icl_ridge_from_eps(eps: Any, tau: Any, q: Any, rho: Any, ik: Any) -> Any:
    """Finite-λ :math:`e^{ICL}` given the self-consistent :math:`\\varepsilon`
    (§3.2, code ``ridge_icl``).

    :math:`\\nu=q+\\varepsilon`, :math:`m=\\mathcal M_\\kappa(\\nu)`,
    :math:`m'=\\mathcal M'_\\kappa(\\nu)`,
    :math:`c_e=\\frac{\\rho+\\nu-\\nu^2m-\\varepsilon(1-2\\nu m-\\nu^2m')}
    {1-2\\varepsilon m-\\varepsilon^2m'-\\tau}`,
    :math:`e=(1+q)[1-2\\nu m-\\nu^2m'-c_e(m+\\varepsilon m')]-2(1-\\nu m)+1+\\rho`.
    """
    nu = q + eps
    m = _mp(nu, ik)
    mp_ = _mp_prime(nu, ik, m)
    quad = 1.0 - 2.0 * nu * m - nu * nu * mp_
    c_e = (rho + nu - nu * nu * m - eps * quad) / (1.0 - 2.0 * eps * m - eps * eps * mp_ - tau)
    return (1.0 + q) * (quad - c_e * (m + eps * mp_)) - 2.0 * (1.0 - nu * m) + 1.0 + rho

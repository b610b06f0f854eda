r"""Branch formulas of the Lu et al. asymptotic errors, in a form that keeps its digits.

Private module: every function takes already validated NumPy inputs (broadcastable arrays
or floats), ``q = (1+rho)/alpha`` and ``ik = 1/kappa`` (0 for kappa = inf), and works
elementwise. The public, validated API is :mod:`iclab.theory.asymptotic`.

Sources: the authors' code ``ridgeless_icl``, ``ridgeless_idg`` (notebook ``prop_idg``) and
``ridge_icl``. The formulas are rewritten (derived; each docstring states the form used) in
terms of the Marchenko–Pastur transform :math:`m=\mathcal M(q)`, :math:`\mu=qm` and
:math:`u=1-\mu`, where :math:`u` is computed directly as the small root of
:math:`\kappa^{-1}u^2-(1+\kappa^{-1}+q)u+1=0`,

.. math:: u = \frac{2}{1+\kappa^{-1}+q+s},\qquad s=\sqrt{(q+1-\kappa^{-1})^2+4q/\kappa},

(the quadratic of :math:`\mathcal M` rewritten in :math:`u`). The authors' forms subtract
quantities of size :math:`q` or 1 that cancel as :math:`\alpha\to0` (:math:`q\to\infty`), so
at :math:`\alpha=10^{-16}` they return 0 and at :math:`10^{-300}` NaN; the forms here only
add terms of one sign there, and the cancelling differences (:math:`1-2\mu+\mu^2`,
:math:`N_0-2q^2\tau m` against :math:`(q+\xi)^2/\xi`) are done symbolically.

``safe=True`` evaluates :math:`s` with ``hypot`` and :math:`\sqrt q\sqrt{\kappa^{-1}}`, so
that no intermediate overflows for :math:`q` or :math:`\kappa^{-1}` up to about
:math:`10^{306}`; the callers switch it on only when the inputs need it (it is slower).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def mp_parts(q: Any, ik: Any, *, safe: bool = False, negative_b: bool = True
             ) -> tuple[Any, Any, Any]:
    r"""``(m, mu, u)``: :math:`m=\mathcal M_{1/ik}(q)`, :math:`\mu=qm`, :math:`u=1-\mu`.

    :math:`m` by the cancellation-free branches of :func:`iclab.theory.mp._mp`
    (:math:`b=q+1-ik`: :math:`2/(|b|+s)` for :math:`b\ge0`, :math:`(|b|+s)/(2q\,ik)` else);
    :math:`u` by the small-root formula of the module doc. ``negative_b=False`` promises
    :math:`b\ge0` everywhere (true when :math:`ik\le1`) and skips the second branch.
    """
    b = q + 1.0 - ik
    root = np.sqrt(q) * np.sqrt(ik) if safe else None   # sqrt(q ik) without overflow
    s = np.hypot(b, 2.0 * root) if safe else np.sqrt(b * b + 4.0 * q * ik)
    t = np.abs(b) + s
    if negative_b:
        # The unused branch may divide by zero (ik = 0): silence NumPy's warning.
        with np.errstate(divide="ignore", invalid="ignore"):
            other = (t / (2.0 * root)) / root if safe else t / (2.0 * q * ik)
            m = np.where(b >= 0, 2.0 / t, other)
    else:
        m = 2.0 / t
    u = 2.0 / (1.0 + ik + q + s)
    return m, q * m, u


def icl_ridgeless_below(tau: Any, q: Any, rho: Any, ik: Any, *, safe: bool = False,
                        negative_b: bool = True) -> Any:
    r"""Ridgeless :math:`e^{ICL}` for :math:`\tau<1` (code ``ridgeless_icl``).

    Authors' form, with :math:`\mu=q\mathcal M_{\kappa/\tau}(q)`:
    :math:`e=\frac{\tau(1+q)}{1-\tau}[1-\tau(1-\mu)^2+\mu(\rho/q-1)]-2\tau(1-\mu)+1+\rho`.
    Used form: the bracket equals :math:`u(1-\tau u)+\rho m` (:math:`u=1-\mu`,
    :math:`m=\mu/q`), so
    :math:`e=\frac{\tau}{1-\tau}(1+q)[u(1-\tau u)+\rho m]-2\tau u+1+\rho`;
    as :math:`q\to\infty`, :math:`e\to(1+\rho)/(1-\tau)`.
    """
    m, _, u = mp_parts(q, tau * ik, safe=safe, negative_b=negative_b)
    return ((1.0 + q) * (u * (1.0 - tau * u) + rho * m)) * (tau / (1.0 - tau)) \
        - 2.0 * tau * u + 1.0 + rho


def icl_ridgeless_above(tau: Any, q: Any, rho: Any, ik: Any, *, safe: bool = False,
                        negative_b: bool = True) -> Any:
    r"""Ridgeless :math:`e^{ICL}` for :math:`\tau>1` (code ``ridgeless_icl``).

    Authors' form, :math:`m=\mathcal M_\kappa(q)`: :math:`e=(1+q)[1-2qm-q^2\mathcal M'
    + \frac{m}{\tau-1}(\rho+q-q^2m)] - 2(1-qm) + 1 + \rho`. Used form: with
    :math:`q^2\mathcal M'=-\mu^2(q+ik\,\mu)/(q+ik\,\mu^2)` (from :func:`iclab.theory.mp._mp_prime`)
    :math:`1-2qm-q^2\mathcal M' = u^2 + ik\,\mu^3u/(q+ik\,\mu^2)` and
    :math:`\rho+q-q^2m=\rho+qu`, so :math:`e=(1+q)[u^2+ik\mu^3u/(q+ik\mu^2)]
    + (\mu+m)(\rho+qu)/(\tau-1) - 2u + 1 + \rho`; as :math:`q\to\infty`,
    :math:`e\to(1+\rho)\tau/(\tau-1)`.
    """
    m, mu, u = mp_parts(q, ik, safe=safe, negative_b=negative_b)
    quad = u * u + ik * (mu * mu * mu) * u / (q + ik * (mu * mu))
    return (1.0 + q) * quad + (mu + m) * (rho + q * u) / (tau - 1.0) - 2.0 * u + 1.0 + rho


def idg_ridgeless_below(tau: Any, q: Any, rho: Any, ik: Any, *, safe: bool = False,
                        negative_b: bool = True) -> Any:
    r"""Ridgeless :math:`e^{IDG}` for :math:`\tau<1` (code ``ridgeless_idg``).

    Authors' form, :math:`m=\mathcal M_{\kappa/\tau}(q)`, :math:`\xi=(1-\tau)/(\tau m)`,
    :math:`c=[1-\kappa/(1+\kappa\xi/(1-\tau))^2]^{-1}`:
    :math:`e=\tau[(q+\xi)^2/\xi+(\rho+q-2q(1-\tau)(q/\xi+1))/(1-\tau-c(1-\tau)^2)]`.
    Its two terms grow like :math:`\pm q/(1-\tau)` and cancel as :math:`q\to\infty`. Used form
    (derived by writing both in :math:`\mu, u` and cancelling exactly), with
    :math:`t=ik\,(\tau m/(1+\tau\,ik\,m))^2`:

    .. math:: e=\frac{u(1-\tau(2-\tau)u)/m+\rho}{1-\tau}+(\rho-q(1-2\tau u))\frac{t}{\tau-t};

    at :math:`\kappa=\infty` (:math:`t=0`, :math:`u/m=q/(1+q)`) it is the closed form of
    :func:`iclab.theory.asymptotic.e_kappa_inf`; as :math:`q\to\infty`,
    :math:`e\to(1+\rho)/(1-\tau)`.
    """
    ike = tau * ik
    m, _, u = mp_parts(q, ike, safe=safe, negative_b=negative_b)
    r = tau * m / (1.0 + ike * m)
    t = ik * (r * r)
    return (u * (1.0 - tau * (2.0 - tau) * u) / m + rho) / (1.0 - tau) \
        + (rho - q * (1.0 - 2.0 * tau * u)) * (t / (tau - t))


def idg_ridgeless_above(tau: Any, q: Any, rho: Any, ik: Any, *, safe: bool = False,
                        negative_b: bool = True) -> Any:
    r"""Ridgeless :math:`e^{IDG}` for :math:`\tau>1` (code ``ridgeless_idg``):
    :math:`\frac{\tau}{\tau-1}(\rho+q-q^2m)=\frac{\tau}{\tau-1}(\rho+qu)`,
    :math:`m=\mathcal M_\kappa(q)`."""
    _, _, u = mp_parts(q, ik, safe=safe, negative_b=negative_b)
    return (tau / (tau - 1.0)) * (rho + q * u)


def ridge_lhs_times_eps(eps: Any, tau: Any, lam: Any, q: Any, ik: Any) -> Any:
    r""":math:`\varepsilon\,\cdot` LHS of the finite-λ self-consistency equation (code
    ``self_consistency``): :math:`(1-\tau)\varepsilon + \tau\lambda
    - \varepsilon^2\mathcal M_\kappa(q+\varepsilon)`.

    Same sign as the LHS for :math:`\varepsilon>0` and free of the :math:`1/\varepsilon`
    pole; its unique positive zero is the :math:`\varepsilon` of the finite-λ theory.
    """
    m, _, _ = mp_parts(q + eps, ik, safe=True)
    return (1.0 - tau) * eps + tau * lam - eps * (eps * m)  # eps m <= 1: no overflow


def icl_ridge_from_eps(eps: Any, tau: Any, q: Any, rho: Any, ik: Any) -> Any:
    r"""Finite-λ :math:`e^{ICL}` given the self-consistent :math:`\varepsilon`
    (code ``ridge_icl``).

    :math:`\nu=q+\varepsilon`, :math:`m=\mathcal M_\kappa(\nu)`,
    :math:`m'=\mathcal M'_\kappa(\nu)`,
    :math:`c_e=\frac{\rho+\nu-\nu^2m-\varepsilon(1-2\nu m-\nu^2m')}
    {1-2\varepsilon m-\varepsilon^2m'-\tau}`,
    :math:`e=(1+q)[1-2\nu m-\nu^2m'-c_e(m+\varepsilon m')]-2(1-\nu m)+1+\rho`,
    evaluated with :math:`1-2\nu m-\nu^2m' = u^2+ik\mu^3u/(\nu+ik\mu^2)` and
    :math:`\rho+\nu-\nu^2m=\rho+\nu u` (:math:`\mu=\nu m`, :math:`u=1-\mu`, as in
    :func:`icl_ridgeless_above`), :math:`m'=-m^2g`, :math:`g=(1+m/\kappa)/(1+\mu m/\kappa)`,
    and every product ordered so that nothing overflows when :math:`q,\varepsilon` are huge.
    """
    nu = q + eps
    m, mu, u = mp_parts(nu, ik, safe=True)
    em = eps * m                                   # < 1, so no product below overflows
    g = (1.0 + m * ik) / (1.0 + ik * (mu * m))     # m' = -m^2 g  (mp._mp_prime)
    quad = u * u + ik * (mu * mu * mu) * u / (nu + ik * (mu * mu))
    c_e = (rho + nu * u - eps * quad) / (1.0 - 2.0 * em + em * em * g - tau)
    return (1.0 + q) * quad - ((1.0 + q) * m) * (c_e * (1.0 - em * g)) - 2.0 * u + 1.0 + rho

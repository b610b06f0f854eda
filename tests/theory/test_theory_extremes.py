"""The Lu et al. closed forms at extreme but valid inputs, against independent computations:
the authors' original formulas evaluated in 700-digit arithmetic (mpmath), and known limits.

The original forms lose all digits in float64 as α → 0 (q = (1+ρ)/α → ∞): at α = 1e-16 they
give 0 and at 1e-300 NaN, where the true e^IDG(τ=2, κ=0.5, ρ=0.01) is 2.02.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from iclab.errors import ParameterError
from iclab.theory.asymptotic import e_icl, e_idg, e_kappa_inf, g_task

mp = mpmath.mp


def _m(q, ik):
    """M_κ(q): the positive root of (q ik) M² + (1 − ik + q) M − 1 = 0 (plain formula)."""
    if ik == 0:
        return 1 / (1 + q)
    a, b = q * ik, 1 - ik + q
    return (-b + mpmath.sqrt(b * b + 4 * a)) / (2 * a)


def _m_prime(q, ik, m):
    return -(m + m * m * ik) / (1 - ik + q + 2 * q * m * ik)


def reference(metric: str, tau, alpha, kappa, rho, lam=0.0) -> float:
    """The authors' forms (code ``ridgeless_icl``, ``ridgeless_idg``, ``ridge_icl``) at 700
    digits; finite λ through ``mpmath.findroot`` on the self-consistency equation."""
    with mpmath.workdps(700):
        tau, alpha, rho, lam = (mpmath.mpf(v) for v in (tau, alpha, rho, lam))
        ik = mpmath.mpf(0) if math.isinf(kappa) else 1 / mpmath.mpf(kappa)
        q = (1 + rho) / alpha
        if lam > 0:
            def lhs(eps):
                return 1 - tau + tau * lam / eps - eps * _m(q + eps, ik)
            eps = mpmath.findroot(lhs, (lam, lam + (1 + q) / tau), solver="anderson")
            nu = q + eps
            m = _m(nu, ik)
            mp_ = _m_prime(nu, ik, m)
            quad = 1 - 2 * nu * m - nu * nu * mp_
            c_e = (rho + nu - nu * nu * m - eps * quad) / (1 - 2 * eps * m - eps**2 * mp_ - tau)
            return float((1 + q) * (quad - c_e * (m + eps * mp_)) - 2 * (1 - nu * m) + 1 + rho)
        if metric == "icl" and tau < 1:
            mu = q * _m(q, tau * ik)
            br = 1 - tau * (1 - mu) ** 2 + mu * (rho / q - 1)
            return float(tau * (1 + q) / (1 - tau) * br - 2 * tau * (1 - mu) + 1 + rho)
        if metric == "icl":
            m = _m(q, ik)
            inner = 1 - 2 * q * m - q * q * _m_prime(q, ik, m) + m / (tau - 1) * (
                rho + q - q * q * m)
            return float((1 + q) * inner - 2 * (1 - q * m) + 1 + rho)
        if tau < 1:
            xi = (1 - tau) / (tau * _m(q, tau * ik))
            c = 1 / (1 - ik / (ik + xi / (1 - tau)) ** 2)
            numer = rho + q - 2 * q * (1 - tau) * (q / xi + 1)
            return float(tau * ((q + xi) ** 2 / xi + numer / (1 - tau - c * (1 - tau) ** 2)))
        return float(tau / (tau - 1) * (rho + q - q * q * _m(q, ik)))


EXTREMES = [
    # tiny alpha (q -> infinity)
    *[(t, a, k, r) for t in (0.5, 2.0) for a in (1e-16, 1e-300) for k in (0.5, 2.0, math.inf)
      for r in (0.01, 0.0)],
    # large alpha (q -> 0), both sides of kappa = tau and kappa = 1
    *[(t, a, k, 0.3) for t in (0.5, 2.0) for a in (1e6, 1e100) for k in (0.3, 0.7, 3.0)],
    # kappa -> 0 (a handful of tasks per dimension)
    *[(t, a, k, 0.1) for t in (0.5, 2.0) for a in (0.5, 10.0) for k in (1e-8, 1e-200)],
    # huge tau, and tau near 0
    *[(t, 3.0, k, 0.1) for t in (1e8, 1e200, 1e-200) for k in (0.5, math.inf)],
    # rho = 0 at moderate values
    *[(t, a, 0.8, 0.0) for t in (0.3, 3.0) for a in (0.5, 5.0)],
]


@pytest.mark.parametrize(("tau", "alpha", "kappa", "rho"), EXTREMES)
@pytest.mark.parametrize("metric", ["icl", "idg"])
def test_ridgeless_extremes_match_700_digit_original_forms(metric, tau, alpha, kappa, rho):
    """Relative agreement 1e-11 with the authors' forms evaluated at 700 digits."""
    fun = e_icl if metric == "icl" else e_idg
    got = fun(tau, alpha, kappa, rho)
    ref = reference(metric, tau, alpha, kappa, rho)
    assert math.isfinite(got)
    assert got == pytest.approx(ref, rel=1e-11, abs=1e-300), (got, ref)


@pytest.mark.parametrize(("tau", "alpha", "kappa"),
                         [(0.5, 1e-16, 0.5), (0.5, 1e-300, 0.5), (2.0, 1e-300, 2.0),
                          (0.5, 1e6, 0.7), (3.0, 0.1, 1e-8), (0.5, 2.0, math.inf)])
@pytest.mark.parametrize("lam", [1e-3, 0.1, 10.0])
def test_finite_lambda_extremes_match_700_digit_original_forms(tau, alpha, kappa, lam):
    got = e_icl(tau, alpha, kappa, 0.01, lam)
    ref = reference("icl", tau, alpha, kappa, 0.01, lam)
    assert got == pytest.approx(ref, rel=1e-10), (got, ref)


def test_the_reported_cli_case():
    """e^IDG(τ=2, α=1e-16, κ=0.5, ρ=0.01) ≈ 2.02 (was 0.0) and finite at α=1e-300
    (was NaN)."""
    assert e_idg(2, 1e-16, 0.5, 0.01) == pytest.approx(2.02, rel=1e-14)
    assert e_idg(2, 1e-300, 0.5, 0.01) == pytest.approx(2.02, rel=1e-14)


@pytest.mark.parametrize("kappa", [0.3, 1.0, 4.0, math.inf])
@pytest.mark.parametrize("rho", [0.0, 0.01, 2.0])
def test_alpha_to_zero_limits(kappa, rho):
    """As α → 0 (no context) both errors tend to (1+ρ)/(1−τ) for τ<1 and (1+ρ)τ/(τ−1) for
    τ>1, the κ=∞ closed form's limit (derived: u → 0, qu → 1, μ → 1)."""
    for tau, limit in ((0.4, (1 + rho) / 0.6), (2.5, (1 + rho) * 2.5 / 1.5)):
        for alpha in (1e-20, 1e-200):
            assert e_icl(tau, alpha, kappa, rho) == pytest.approx(limit, rel=1e-12)
            assert e_idg(tau, alpha, kappa, rho) == pytest.approx(limit, rel=1e-12)
            assert g_task(tau, alpha, kappa, rho) == pytest.approx(0.0, abs=1e-12)
        assert e_kappa_inf(tau, 1e-200, rho) == pytest.approx(limit, rel=1e-12)


def test_outside_the_documented_range_is_refused():
    """Inputs whose q = (1+ρ)/α or 1/κ would exceed 1e306 get a ParameterError naming
    the parameter, not a silent NaN."""
    for kwargs, name in (({"alpha": 1e-310}, "alpha"), ({"kappa": 1e-310}, "kappa"),
                         ({"tau": 1e305}, "tau"), ({"rho": 1e305}, "rho")):
        params = {"tau": 0.5, "alpha": 1.0, "kappa": 0.5, "rho": 0.1} | kwargs
        with pytest.raises(ParameterError) as err:
            e_icl(**params)
        assert err.value.name == name
        with pytest.raises(ParameterError):
            e_idg(**params)


def test_grid_with_extremes_mixed_in_is_finite_and_blockwise_consistent():
    """A broadcast grid spanning 1e-300 <= α <= 1e100 and both τ branches equals the
    pointwise values (blocks mix the overflow-safe and plain forms)."""
    tau = np.array([0.5, 1.0, 2.0])[:, None, None]
    alpha = np.logspace(-300, 100, 41)[None, :, None]
    kappa = np.array([1e-8, 0.5, 2.0, math.inf])[None, None, :]
    grid = e_icl(tau, alpha, kappa, 0.01)
    assert np.all(np.isinf(grid[1])) and np.all(np.isfinite(grid[[0, 2]]))
    for i, j, k in ((0, 0, 1), (2, 40, 3), (0, 20, 0), (2, 5, 2)):
        assert grid[i, j, k] == e_icl(float(tau[i, 0, 0]), float(alpha[0, j, 0]),
                                      float(kappa[0, 0, k]), 0.01)

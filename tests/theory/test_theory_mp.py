"""Marchenko–Pastur transform M_κ(q) (docs/theory.md, "The Marchenko–Pastur transform")."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from iclab.errors import ParameterError
from iclab.theory.mp import mp_transform, mp_transform_derivative

QS = np.array([1e-6, 1e-3, 0.05, 0.37, 1.0, 3.0, 50.0, 1e4])
KAPPAS = np.array([0.05, 0.3, 0.6, 0.999, 1.0, 1.001, 2.0, 10.0, 1e6])


def test_solves_its_quadratic_to_machine_precision():
    # (q/κ) M² + (1 − 1/κ + q) M − 1 = 0 (docs/theory.md); residual relative to the largest term.
    q, k = np.meshgrid(QS, KAPPAS)
    m = mp_transform(q, k)
    terms = np.stack([q / k * m**2, (1 - 1 / k + q) * m, np.ones_like(m)])
    residual = terms[0] + terms[1] - terms[2]
    assert np.all(m > 0)
    assert np.max(np.abs(residual) / np.abs(terms).max(axis=0)) < 1e-13


def test_infinite_kappa_is_one_over_one_plus_q():
    assert np.allclose(mp_transform(QS, math.inf), 1 / (1 + QS), rtol=1e-15)
    assert np.allclose(mp_transform_derivative(QS, math.inf), -1 / (1 + QS) ** 2, rtol=1e-15)
    # continuity: a huge finite κ is close to κ = inf
    assert np.allclose(mp_transform(QS, 1e12), 1 / (1 + QS), rtol=1e-10)


def test_value_at_zero_for_kappa_above_one():
    for k in (1.001, 1.5, 2.0, 10.0):
        assert mp_transform(0.0, k) == pytest.approx(k / (k - 1), rel=1e-12)
    assert mp_transform(0.0, 0.5) == math.inf
    assert mp_transform(0.0, 1.0) == math.inf
    assert mp_transform_derivative(0.0, 0.5) == -math.inf


@pytest.mark.parametrize("kappa", [0.1, 0.5, 0.9])
def test_q_times_m_tends_to_one_minus_kappa(kappa):
    # Stable as q → 0 for κ < 1 (a pole of weight 1 − κ at 0); error is O(q).
    for q in (1e-8, 1e-12, 1e-200):
        assert q * mp_transform(q, kappa) == pytest.approx(1 - kappa, rel=1e-6)


def test_known_value():
    # independent reference values: M_0.6(0.37) = 1.53649 (5 digits).
    assert mp_transform(0.37, 0.6) == pytest.approx(1.53649, abs=5e-6)
    assert mp_transform_derivative(0.3, 0.5) == pytest.approx(-5.882353, abs=5e-7)


def test_derivative_matches_central_finite_difference():
    q, k = np.meshgrid(QS[1:-1], KAPPAS)
    h = 1e-5 * q
    fd = (mp_transform(q + h, k) - mp_transform(q - h, k)) / (2 * h)
    # central difference error O(h²·M''') plus round-off ~1e-16/1e-5: 1e-7 relative is ample.
    assert np.allclose(mp_transform_derivative(q, k), fd, rtol=1e-7)


@pytest.mark.parametrize("kappa", [0.6, 2.0])
def test_monte_carlo_wishart_resolvent(kappa):
    """M_κ(q) = lim (1/d) tr(W + qI)^{-1} and −M'_κ(q) = lim (1/d) tr(W + qI)^{-2},
    W = (1/k) Σ_j w_j w_jᵀ, w_j ~ N(0, I_d).

    d = 400, mean over 2 independent W. Observed deviations over 6 seeds (q = 0.37 and 1,
    κ = 0.6 and 2): at most 0.25 % for M and 0.33 % for −M' (finite-d bias O(1/d) plus
    fluctuation). Tolerance 1 %, about 3x the largest observed deviation.
    """
    gen = torch.Generator().manual_seed(12345)
    d = 400
    k = int(kappa * d)
    eigs = []
    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # multi-threaded LAPACK is ~10x slower on a busy 2-core machine
    try:
        for _ in range(2):
            w = torch.randn(k, d, generator=gen, dtype=torch.float64)
            eigs.append(torch.linalg.eigvalsh(w.T @ w / k).numpy())
    finally:
        torch.set_num_threads(old_threads)
    eigs = np.concatenate(eigs)
    for q in (0.37, 1.0):
        assert np.mean(1 / (eigs + q)) == pytest.approx(mp_transform(q, kappa), rel=1e-2)
        assert np.mean(1 / (eigs + q) ** 2) == pytest.approx(
            -mp_transform_derivative(q, kappa), rel=1e-2)


def test_broadcasting_and_scalar_return():
    out = mp_transform(np.array([[0.1], [1.0]]), np.array([0.5, 2.0, math.inf]))
    assert out.shape == (2, 3)
    assert out[1, 2] == pytest.approx(0.5)
    assert isinstance(mp_transform(0.3, 2.0), float)
    assert mp_transform_derivative(np.ones(4), 2.0).shape == (4,)


@pytest.mark.parametrize(
    ("q", "kappa", "name"),
    [(-0.1, 1.0, "q"), (math.nan, 1.0, "q"), (0.1, 0.0, "kappa"), (0.1, -2.0, "kappa"),
     (np.array([0.1, -1.0]), 1.0, "q"), (0.1, "x", "kappa")],
)
def test_bad_input_names_the_parameter(q, kappa, name):
    with pytest.raises(ParameterError) as err:
        mp_transform(q, kappa)
    assert err.value.name == name
    with pytest.raises(ParameterError):
        mp_transform_derivative(q, kappa)

"""Figure 3 landscape: interior minima of the ridgeless e(α) (Lu et al. 2024, Fig. 3;
docs/theory.md "Figure 3 landscape")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iclab.errors import ParameterError
from iclab.theory.asymptotic import e_icl, e_idg
from iclab.theory.landscape import error_grid, interior_minimum_alpha, refine_minimum_alpha

ALPHAS = np.logspace(-2, 3, 500)  # the Fig. 3 grid


@pytest.mark.parametrize(
    ("metric", "tau", "rho", "expected"),
    [
        ("icl", 0.5, 0.1, {0.2: 2.31, 0.4: 5.47, 0.5: 9.59, 0.6: 22.6, 1.5: None}),
        ("idg", 0.5, 0.5, {0.1: None, 0.3: 6.16, 0.5: 5.62, 0.7: 7.40, 2.0: None}),
        ("icl", 20.0, 0.5, {0.25: 4.67, 0.75: 16.7, 1.0: 45.0, 1.1: 78.9, 2.0: None}),
    ],
)
def test_interior_minimisers_of_fig2(metric, tau, rho, expected):
    # independent reference values (3 significant digits). The grid answer is within one grid step
    # (factor 10^(5/499) ≈ 1.023); the refined minimiser matches to 1 % (the quoted digits).
    kappas = list(expected)
    grid = interior_minimum_alpha(metric, tau, kappas, [rho], ALPHAS)[:, 0]
    for kappa, a_grid in zip(kappas, grid, strict=True):
        want = expected[kappa]
        if want is None:
            assert math.isnan(a_grid), (kappa, a_grid)
            continue
        assert abs(math.log(a_grid / want)) < math.log(1.024)
        refined = refine_minimum_alpha(metric, tau, kappa, rho, a_grid, ALPHAS)
        assert refined == pytest.approx(want, rel=1e-2)
        # it is a true local minimum of the exact curve
        f = e_icl if metric == "icl" else e_idg
        assert f(tau, refined, kappa, rho) <= min(f(tau, refined * 1.01, kappa, rho),
                                                  f(tau, refined / 1.01, kappa, rho))


def _reference_interior_minimum(values: np.ndarray, alphas: np.ndarray, rtol: float) -> float:
    """Plain-Python statement of the documented rule (one curve)."""
    best, best_val = math.nan, math.inf
    for i in range(1, len(values) - 1):
        margin = rtol * abs(values[i])
        if values[i] < values[i - 1] - margin and values[i] < values[i + 1] - margin \
                and values[i] < best_val:
            best, best_val = alphas[i], values[i]
    return best


@pytest.mark.parametrize(("metric", "tau"), [("icl", 0.5), ("idg", 0.5), ("icl", 20.0),
                                             ("idg", 3.0)])
def test_detection_matches_plain_reference(metric, tau):
    # Independent path: e from the public e_icl/e_idg, minima by a Python loop.
    kappas = np.array([0.1, 0.3, 0.45, 0.8, 1.0, 1.6, math.inf])
    rhos = np.array([0.0, 0.05, 0.3, 1.0])
    alphas = np.logspace(-2, 3, 160)
    f = e_icl if metric == "icl" else e_idg
    curves = f(tau, alphas, kappas[:, None, None], rhos[None, :, None])
    expected = np.array([[_reference_interior_minimum(curves[i, j], alphas, 1e-12)
                          for j in range(rhos.size)] for i in range(kappas.size)])
    for threads in (1, 2):
        got = interior_minimum_alpha(metric, tau, kappas, rhos, alphas, threads=threads,
                                     chunk_elems=700)  # several blocks per κ and ρ
        np.testing.assert_array_equal(got, expected)
    assert np.isfinite(expected).any() or metric == "idg"


@pytest.mark.parametrize(("metric", "tau"), [("icl", 0.5), ("idg", 0.5), ("icl", 20.0),
                                             ("idg", 3.0), ("icl", 0.999), ("idg", 1.001)])
def test_fast_kernel_equals_public_formulas(metric, tau):
    # The landscape kernel rewrites the ridgeless formulas in μ = qM (derived); it must equal
    # e_icl / e_idg.
    kappas = np.array([0.05, 0.2, 0.5, 0.99, 1.0, 1.7, 40.0, math.inf])
    rhos = np.array([0.0, 0.01, 0.5, 2.0])
    alphas = np.logspace(-3, 4, 90)
    f = e_icl if metric == "icl" else e_idg
    ref = f(tau, alphas, kappas[:, None, None], rhos[None, :, None])
    got = error_grid(metric, tau, kappas, rhos, alphas, threads=2, chunk_elems=200)
    np.testing.assert_allclose(got, ref, rtol=1e-11)


def test_fig3_maps_have_both_regions():
    # Small version of the Fig. 3 maps: interior minima appear for small κ, not for κ = 2
    # (docs/theory.md "Limits": κ below min(τ, 1) in the paper's examples).
    kappas = np.linspace(0.1, 2.1, 21)
    rhos = np.linspace(0.01, 1, 10)
    for metric, tau in (("icl", 0.5), ("idg", 0.5), ("icl", 20.0)):
        amap = interior_minimum_alpha(metric, tau, kappas, rhos, ALPHAS)
        assert amap.shape == (21, 10)
        assert np.isfinite(amap[kappas < 0.45]).mean() > 0.5
        assert np.isnan(amap[kappas > 1.95]).all()
        finite = amap[np.isfinite(amap)]
        assert np.all((finite > ALPHAS[0]) & (finite < ALPHAS[-1]))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"metric": "bayes"}, "metric"), ({"tau": 1.0}, "tau"), ({"tau": -1.0}, "tau"),
     ({"kappas": [0.5, 0.0]}, "kappas"), ({"rhos": [-0.1]}, "rhos"),
     ({"alphas": [1.0, 0.5, 2.0]}, "alphas"), ({"alphas": [1.0, 2.0]}, "alphas"),
     ({"threads": 0}, "threads")],
)
def test_bad_input_names_the_parameter(kwargs, name):
    args = {"metric": "icl", "tau": 0.5, "kappas": [0.5], "rhos": [0.1],
            "alphas": np.logspace(-1, 1, 5)} | kwargs
    with pytest.raises(ParameterError) as err:
        interior_minimum_alpha(**args)
    assert err.value.name == name


def test_refine_passes_nan_through():
    assert math.isnan(refine_minimum_alpha("icl", 0.5, 1.5, 0.1, math.nan, ALPHAS))

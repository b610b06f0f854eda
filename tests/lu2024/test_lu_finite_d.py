"""Exact finite-(d, l) error e(Γ) vs Monte Carlo, and finite-d simulation vs asymptotic theory."""

from __future__ import annotations

import math

import pytest
import torch

from iclab.errors import ParameterError
from iclab.evaluate.finite_d_mc import exact_gamma_error, monte_carlo_error, tensor_pool_moments
from iclab.evaluate.lu_errors import exact_errors
from iclab.fit.gamma_trials import fit_trial
from iclab.models.reduced import ReducedLinearAttention, hz_features
from iclab.tasks.regression import InContextRegression, draw_tasks
from iclab.theory.asymptotic import e_icl, e_idg
from iclab.theory.finite_d import exact_error, isotropic_moments, pool_moments


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("task_norm", ["sphere", "gaussian"])
def test_lu_exact_error_matches_monte_carlo(task_norm: str) -> None:
    """A generic Γ (scaled identity plus noise, nonzero last column) at d = 6, l = 9:
    the exact ICL and IDG errors equal token-level Monte Carlo over 100000 prompts within
    4 standard errors (plus 0.1% slack). The Gaussian-task case checks the fourth-moment
    term E r^2 = 1 + 2/d, and the pool has tasks of unequal norm."""
    d, ell, rho = 6, 9, 0.3
    g = _gen(0)
    gamma = 0.6 * torch.eye(d, d + 1, dtype=torch.float64)
    gamma += 0.15 * torch.randn(d, d + 1, generator=g, dtype=torch.float64)
    task = InContextRegression(d=d, context_len=ell, rho=rho, k=5, task_norm=task_norm)
    pool = task.draw_pool(g)
    cases = {"icl": isotropic_moments(d, ell, rho, task_norm),
             "idg": pool_moments(pool.numpy(), ell, rho)}
    for kind, moments in cases.items():
        exact = float(exact_error(gamma.numpy(), moments))
        tasks = task.test_tasks(kind, 100_000, pool, g)
        mc, se = monte_carlo_error(gamma, tasks, ell, rho, g)
        assert abs(mc - exact) < 4 * se + 1e-3 * exact, (kind, mc, exact, se)


def test_lu_exact_error_reduces_to_spec_form() -> None:
    """For unit-norm-squared tasks (|w|^2 = d) the general formula equals the form of
    docs/theory.md "Exact finite-d error",
    e = 1 + rho + (1+rho)/d tr(Γ^T Γ B) - 2/d tr(Γ A) with that page's B (a second,
    independently written expression; agreement to 1e-12)."""
    d, ell, rho = 5, 7, 0.2
    g = _gen(1)
    gamma = torch.randn(d, d + 1, generator=g, dtype=torch.float64)
    pool = draw_tasks(4, d, "sphere", g)
    mu, r_mat = pool.mean(0), pool.T @ pool / 4
    alpha = ell / d
    a = torch.cat([r_mat, (1 + rho) * mu.unsqueeze(0)])
    b = torch.zeros(d + 1, d + 1, dtype=torch.float64)
    b[:d, :d] = torch.eye(d, dtype=torch.float64) / alpha + (1 + 1 / ell) / (1 + rho) * r_mat
    b[:d, d] = b[d, :d] = (1 + 2 / ell) * mu
    b[d, d] = (1 + rho) * (1 + 2 / ell)
    spec = (1 + rho + (1 + rho) / d * torch.trace(gamma.T @ gamma @ b)
            - 2 / d * torch.trace(gamma @ a))
    ours = exact_error(gamma.numpy(), pool_moments(pool.numpy(), ell, rho))
    assert abs(float(spec) - float(ours)) < 1e-12


def test_lu_tensor_moments_equal_numpy_moments() -> None:
    """The IDG moments summed in torch (evaluate) equal those summed in NumPy (theory), and
    the torch-gamma error equals the NumPy one, to 1e-13 relative; a batch of Γ gives the
    per-Γ errors."""
    d, ell, rho = 7, 11, 0.15
    g = _gen(2)
    pool = draw_tasks(5, d, "gaussian", g)
    gammas = torch.randn(3, d, d + 1, generator=g, dtype=torch.float64)
    via_torch = tensor_pool_moments(pool, ell, rho)
    via_numpy = pool_moments(pool.numpy(), ell, rho)
    for got, ref in ((via_torch.a, via_numpy.a), (via_torch.m2, via_numpy.m2)):
        assert abs(got - ref).max() <= 1e-13 * abs(ref).max()
    batch = exact_gamma_error(gammas, via_torch)
    assert batch.shape == (3,)
    for i in range(3):
        single = float(exact_error(gammas[i].numpy(), via_numpy))
        assert abs(batch[i] / single - 1) < 1e-13


def test_lu_finite_d_simulation_approaches_theory() -> None:
    """Finite-d check (alpha = 2, kappa = 0.5, tau = 2, rho = 0.01, lambda = 1e-6): the mean
    simulated error over trials moves towards the asymptotic theory (1.066 / 0.382) as d grows
    20 -> 40 -> 80, and at d = 80 is within 10% of it (convergence is about O(1/d), so ~10% is
    expected at d ~ 40; trial-to-trial std at d = 80 is ~1%)."""
    params = {"alpha": 2.0, "kappa": 0.5, "tau": 2.0, "rho": 0.01, "lam": 1e-6}
    theory = {"e_icl": e_icl(2.0, 2.0, 0.5, 0.01), "e_idg": e_idg(2.0, 2.0, 0.5, 0.01)}
    trials = {20: 16, 40: 6, 80: 3}
    dev: dict[str, list[float]] = {"e_icl": [], "e_idg": []}
    for d, n_trials in trials.items():
        errs = [exact_errors(fit_trial(d, generator=_gen(100 * d + t), **params))
                for t in range(n_trials)]
        for key in dev:
            mean = sum(e[key] for e in errs) / n_trials
            dev[key].append(abs(mean - theory[key]) / theory[key])
    for key, devs in dev.items():
        assert devs[0] > devs[1] > devs[2], (key, devs)
        assert devs[2] < 0.10, (key, devs)
    assert not math.isnan(dev["e_icl"][0])


def test_lu_reduced_predictor_is_the_hz_inner_product() -> None:
    """ReducedLinearAttention predicts <Γ, H_Z> (H_Z built by hz_features, an independent
    route) as [1, B] in the prompts' dtype; a Γ that is not [d, d+1] is refused."""
    d, ell = 4, 7
    g = _gen(5)
    gamma = torch.randn(d, d + 1, generator=g, dtype=torch.float64)
    p = InContextRegression(d=d, context_len=ell, rho=0.1).sample(9, g)
    model = ReducedLinearAttention(gamma)
    out = model.predict(p)
    assert model.members == 1 and out.shape == (1, 9)
    ref = (hz_features(p) * gamma).sum((-2, -1))
    torch.testing.assert_close(out[0], ref, rtol=1e-12, atol=1e-12)
    p32 = p.replace(X=p.X.float(), y=p.y.float(), x_q=p.x_q.float(), y_q=p.y_q.float())
    assert model.predict(p32).dtype == torch.float32
    with pytest.raises(ParameterError, match="gamma"):
        ReducedLinearAttention(torch.zeros(d, d))

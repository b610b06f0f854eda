"""Closed-form ridge optimum Γ* (docs/theory.md): GD agreement, primal = dual = PCG, chunked
Gram."""

from __future__ import annotations

import warnings

import pytest
import torch

from iclab.errors import ParameterError
from iclab.fit.closed_form import choose_method, fit_gamma, ridge_scale
from iclab.fit.ridge_direct import gram_one_shot, solve_dual, solve_primal, symmetric_gram
from iclab.fit.ridge_pcg import solve_pcg
from iclab.models.reduced import sample_features
from iclab.tasks.regression import InContextRegression


def _data(d: int, n: int, seed: int = 0, kappa: float = 0.5, alpha: float = 2.0):
    """Features sampled exactly as in the Lu et al. pipeline (float64)."""
    g = torch.Generator().manual_seed(seed)
    task = InContextRegression(d=d, context_len=round(alpha * d), rho=0.05,
                               k=max(1, round(kappa * d)))
    tasks = task.pretraining_tasks(n, task.draw_pool(g), g)
    return sample_features(tasks, task.context_len, task.rho, g)


def test_lu_closed_form_equals_gradient_descent() -> None:
    """Nesterov-accelerated gradient descent (autograd gradients; step 1/L and momentum from
    L, mu estimated by power iteration on Hessian-vector products) on the same objective
    converges to the closed form; float64, relative tolerance 1e-9 (GD runs until its own
    step is below 1e-13 relative)."""
    d, n, lam = 3, 120, 0.05
    x, h, y = _data(d, n, seed=1)
    gamma_star = fit_gamma(x, h, y, lam, method="primal").gamma
    lam_s = ridge_scale(n, d, lam)

    def grad(gamma: torch.Tensor) -> torch.Tensor:
        g = gamma.detach().requires_grad_(True)
        pred = ((x @ g) * h).sum(-1)
        loss = ((y - pred) ** 2).sum() + lam_s * (g**2).sum()
        return torch.autograd.grad(loss, g)[0]

    zero = torch.zeros(d, d + 1, dtype=torch.float64)
    g0 = grad(zero)

    def hess(v: torch.Tensor) -> torch.Tensor:  # the objective is quadratic
        return grad(v) - g0

    def top_eig(op) -> float:  # noqa: ANN001
        v = torch.ones_like(zero)
        for _ in range(100):
            v = op(v)
            v = v / v.norm()
        return float((op(v) * v).sum())

    lip = top_eig(hess)
    mu = lip - top_eig(lambda v: lip * v - hess(v))
    momentum = (lip**0.5 - mu**0.5) / (lip**0.5 + mu**0.5)
    gamma, prev = zero.clone(), zero.clone()
    for _ in range(50_000):
        look = gamma + momentum * (gamma - prev)
        prev, gamma = gamma, look - grad(look) / lip
        if float((gamma - prev).norm()) < 1e-13 * float(gamma.norm()):
            break
    rel = float((gamma - gamma_star).norm() / gamma_star.norm())
    assert rel < 1e-9, rel


@pytest.mark.parametrize("n, lam", [(40, 1e-3), (300, 1e-6), (300, 0.3)])
def test_lu_primal_dual_pcg_agree(n: int, lam: float) -> None:
    """d = 5 (p = 30): n < p and n > p; the three solvers agree to 1e-8 relative."""
    d = 5
    x, h, y = _data(d, n, seed=n)
    lam_s = ridge_scale(n, d, lam)
    primal = solve_primal(x, h, y, lam_s)
    dual = solve_dual(x, h, y, lam_s)
    pcg, iters, res = solve_pcg(x, h, y, lam_s, tol=1e-13, max_iter=5000)
    scale = float(primal.norm())
    assert float((primal - dual).norm()) / scale < 1e-8
    assert float((primal - pcg).norm()) / scale < 1e-8
    assert res < 1e-12 and iters > 0


def test_lu_chunked_gram_equals_one_shot() -> None:
    """Doubly-symmetric chunked accumulation (chunk sizes not dividing n) equals Phi^T Phi
    to float64 round-off (1e-12 relative)."""
    x, h, _ = _data(6, 257, seed=3)
    ref = gram_one_shot(x, h)
    for chunk in (1, 17, 100, 257, 1000):
        got = symmetric_gram(x, h, chunk=chunk)
        assert float((got - ref).abs().max() / ref.abs().max()) < 1e-12
    tiny_budget = symmetric_gram(x, h, memory_budget=8 * 1024)
    torch.testing.assert_close(tiny_budget, ref, rtol=1e-12, atol=1e-12)


def test_lu_auto_method_choice() -> None:
    """Dual when n <= p; PCG above the peak at large d, also just above it (n ≈ 1.5 p at
    d = 64: measured 94 iterations in 0.3 s against 2.5 s for the primal Cholesky); primal
    for small p."""
    assert choose_method(n=5_000, d=100) == "dual"
    assert choose_method(n=40_960, d=64) == "pcg"
    assert choose_method(n=6_240, d=64) == "pcg"
    assert choose_method(n=1_000, d=10) == "primal"


def test_lu_pcg_fallback_and_cholesky_fallback() -> None:
    """PCG that cannot converge in 2 steps falls back to the exact primal solve (warning);
    a singular ridge-less system falls back to the eigen solve (warning), result finite."""
    d, n = 4, 200
    x, h, y = _data(d, n, seed=4)
    with pytest.warns(RuntimeWarning, match="PCG"):
        fit = fit_gamma(x, h, y, 1e-4, method="pcg", max_iter=2)
    assert fit.method == "primal"
    ref = fit_gamma(x, h, y, 1e-4, method="primal").gamma
    torch.testing.assert_close(fit.gamma, ref)
    x_dup = torch.cat([x[:5]] * 4)  # rank-deficient Gram, lam = 0
    h_dup, y_dup = torch.cat([h[:5]] * 4), torch.cat([y[:5]] * 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gamma = fit_gamma(x_dup, h_dup, y_dup, 0.0, method="primal").gamma
    assert any("positive definite" in str(w.message) for w in caught)
    assert torch.isfinite(gamma).all()


def test_lu_fit_gamma_parameter_errors() -> None:
    x, h, y = _data(3, 20)
    with pytest.raises(ParameterError, match="lam"):
        fit_gamma(x, h, y, -1.0)
    with pytest.raises(ParameterError, match="method"):
        fit_gamma(x, h, y, 0.1, method="svd")

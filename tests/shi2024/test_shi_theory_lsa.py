"""Monte Carlo and independent checks of iclab.theory.lowrank_lsa (docs/shi2024.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from iclab.errors import ParameterError
from iclab.tasks.corruptions import add_input_noise, add_label_noise
from iclab.tasks.spectral_regression import SpectralRegressionTask, random_orthogonal
from iclab.theory import lowrank_lsa as th

LAM = np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.2])
S = np.array([1.0, -0.7, 0.5, 0.0, 0.0, 0.0])
N = 20


def _basis(seed: int = 0) -> np.ndarray:
    return random_orthogonal(6, torch.Generator().manual_seed(seed)).numpy()


def _mc_risk(gamma: np.ndarray, n: int, batch: int, seed: int, w: np.ndarray | None = None,
             sigma2: float = 0.0, input_std: float = 0.0, basis: np.ndarray | None = None
             ) -> tuple[float, float]:
    """MC risk (mean, standard error) of ŷ = x_q^T Γ (1/n) Σ y_i x_i (sampled in float32,
    reduced in float64)."""
    task = SpectralRegressionTask(tuple(LAM), n, basis=basis)
    g = torch.Generator().manual_seed(seed)
    wt = None if w is None else torch.as_tensor(w, dtype=torch.float32)
    prompts = task.sample(batch, g, w=wt)
    prompts = add_input_noise(add_label_noise(prompts, sigma2, g), input_std, g).to("cpu")
    c = torch.einsum("bn,bnd->bd", prompts.y.double(), prompts.X.double()) / n
    pred = torch.einsum("bd,de,be->b", prompts.x_q.double(), torch.as_tensor(gamma), c)
    err2 = (pred - prompts.y_q.double()).pow(2)
    return err2.mean().item(), err2.std().item() / batch**0.5


def test_shi_spec_example_values() -> None:
    # reference values of our derivation, computed independently (4-5 significant digits)
    assert [round(th.optimal_pretrain_risk(LAM, N, r), 4) for r in (1, 3, 6)] == [
        7.4155, 3.5161, 2.6290]
    assert [round(th.rank_risk(LAM, S, 10, 0.5, r, N), 3) for r in (2, 3, 4, 6)] == [
        2.152, 2.126, 2.406, 2.605]
    assert th.behaviour_difference(LAM, S, 10, 0.5, 3, 5) == pytest.approx(1.494, abs=1e-9)


@pytest.mark.parametrize("rank", [1, 3, 6])
def test_shi_optimal_risk_monte_carlo(rank: int) -> None:
    # 1e5 prompts: the MC standard error is ~0.7 % of the risk; allow 4 SE.
    v = _basis()
    gamma = th.optimal_gamma(LAM, v, N, rank)
    mean, se = _mc_risk(gamma, N, 100_000, seed=rank, basis=v)
    assert abs(mean - th.optimal_pretrain_risk(LAM, N, rank)) < 4 * se


def test_shi_optimum_is_the_rank_constrained_minimiser() -> None:
    """Second derivation: minimise the full (non-diagonal) quadratic L(G) over G = P Q^T.

    L(G) = Σλ_i - 2 tr(D² G) + Σ_ij λ_i q_j G_ij² (docs/shi2024.md); a local optimiser from a random
    start must land on Γ*_r's eigen-entries and risk.
    """
    q = LAM * ((N + 1) / N * LAM + LAM.sum() / N)
    rng = np.random.default_rng(0)
    for rank in (1, 2, 4):
        def loss(theta: np.ndarray, rank: int = rank) -> float:
            p, qq = theta[: 6 * rank].reshape(6, rank), theta[6 * rank:].reshape(6, rank)
            g = p @ qq.T
            return float(LAM.sum() - 2 * np.sum(LAM**2 * np.diag(g))
                         + np.sum(LAM[:, None] * q[None, :] * g**2))
        best = min((minimize(loss, rng.normal(size=12 * rank) * 0.3, method="BFGS",
                             options={"gtol": 1e-10, "maxiter": 5000}) for _ in range(3)),
                   key=lambda r: r.fun)
        assert best.fun == pytest.approx(th.optimal_pretrain_risk(LAM, N, rank), rel=1e-6)
        p, qq = best.x[: 6 * rank].reshape(6, rank), best.x[6 * rank:].reshape(6, rank)
        np.testing.assert_allclose(p @ qq.T, np.diag(th.optimal_gamma_spectrum(LAM, N, rank)),
                                   atol=1e-4)


def test_shi_optimum_limits_and_column_space() -> None:
    v = _basis(3)
    full = th.optimal_gamma(LAM, v, N, 6)
    cov = (v * LAM) @ v.T
    zfb = np.linalg.inv((N + 1) / N * cov + LAM.sum() / N * np.eye(6))   # ZFB solution
    np.testing.assert_allclose(full, zfb, rtol=1e-10, atol=1e-12)
    g3 = th.optimal_gamma(LAM, v, np.inf, 3)                             # N -> inf limit
    np.testing.assert_allclose(g3, v[:, :3] @ np.diag(1 / LAM[:3]) @ v[:, :3].T, atol=1e-12)
    np.testing.assert_allclose(th.optimal_gamma(LAM, v, 1e9, 3), g3, atol=1e-7)
    u, s, _ = np.linalg.svd(th.optimal_gamma(LAM, v, N, 3))
    assert np.sum(s > 1e-10) == 3
    proj = v[:, :3] @ v[:, :3].T
    np.testing.assert_allclose(proj @ u[:, :3], u[:, :3], atol=1e-10)   # column space = V_3
    risks = [th.optimal_pretrain_risk(LAM, N, r) for r in range(7)]
    assert risks[0] == pytest.approx(LAM.sum()) and np.all(np.diff(risks) <= 0)


def test_shi_tie_breaking_keeps_lower_index() -> None:
    lam = np.array([3.0, 2.0, 2.0, 1.0])
    g = th.optimal_gamma_spectrum(lam, 10, 2)
    assert g[1] > 0 and g[2] == 0
    with pytest.raises(ParameterError, match="non-increasing"):
        th.optimal_gamma_spectrum(np.array([1.0, 2.0]), 10, 1)
    with pytest.raises(ParameterError, match="rank"):
        th.optimal_gamma_spectrum(lam, 10, 5)


@pytest.mark.parametrize(("rank", "sigma2", "input_std"),
                         [(2, 0.5, 0.0), (4, 0.5, 0.0), (6, 1.0, 0.0), (3, 0.0, 0.4),
                          (6, 0.5, 0.3)])
def test_shi_noisy_prompt_risk_monte_carlo(rank: int, sigma2: float, input_std: float) -> None:
    # fixed task w = V s, M = 10 context examples with label/input noise; 1e5 prompts,
    # tolerance 4 MC standard errors (SE ~0.7 % of R).
    v = _basis(1)
    g = th.optimal_gamma_spectrum(LAM, N, rank)
    mean, se = _mc_risk((v * g) @ v.T, 10, 100_000, seed=10 + rank, w=v @ S, sigma2=sigma2,
                        input_std=input_std, basis=v)
    theory = th.noisy_prompt_risk(g, LAM, S, 10, sigma2, input_std**2)
    assert abs(mean - theory) < 4 * se


def test_shi_behaviour_difference_properties() -> None:
    sig = float(LAM @ S**2)
    for n in (5.0, 20.0, 200.0, np.inf):     # closed form == R_r2 - R_r1 (second derivation)
        for tau2 in (0.0, 0.3):
            assert th.behaviour_difference(LAM, S, 10, 0.5, 3, 5, n, tau2) == pytest.approx(
                th.behaviour_difference_closed_form(LAM, sig, 10, 0.5, 3, 5, n, tau2))
    poster = (5 - 3) / 10 * (sig + 0.5)
    assert th.behaviour_difference(LAM, S, 10, 0.5, 3, 5) == pytest.approx(poster)
    finite = [th.behaviour_difference(LAM, S, 10, 0.5, 3, 5, n) for n in (5, 20, 100, 1e4)]
    assert np.all(np.diff(finite) > 0) and finite[-1] < poster          # increases to limit
    assert finite[-1] == pytest.approx(poster, rel=1e-2)
    vals = [th.behaviour_difference(LAM, S, 10, s2, 3, 5, 20) for s2 in (0.0, 1.0, 2.0)]
    assert vals[2] - vals[1] == pytest.approx(vals[1] - vals[0])         # linear in sigma^2
    inf_slope = th.behaviour_difference(LAM, S, 10, 1.0, 3, 5) - th.behaviour_difference(
        LAM, S, 10, 0.0, 3, 5)
    assert inf_slope == pytest.approx(2 / 10)                           # slope (r2-r1)/M
    assert th.behaviour_difference(LAM, S, 20, 0.5, 3, 5) == pytest.approx(poster / 2)  # 1/M
    with pytest.raises(ParameterError, match="r2"):
        th.behaviour_difference(LAM, S, 10, 0.5, 3, 3)


def test_shi_best_test_rank_criterion() -> None:
    # derived: r -> r+1 helps iff λ_{r+1}(1 - 1/M) > (tr Λ + σ²)/M (N -> inf, w ~ N(0, I))
    m = 10
    for sigma2 in (0.0, 1.0, 5.0, 20.0, 60.0):
        helps = LAM * (1 - 1 / m) > (LAM.sum() + sigma2) / m
        assert th.best_test_rank(LAM, m, sigma2) == int(helps.sum())
    ranks = [th.best_test_rank(LAM, m, s2, n=20) for s2 in (0.0, 5.0, 20.0, 100.0)]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]

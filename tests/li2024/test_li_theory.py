"""Monte Carlo and limit checks of every Li et al. (2024) risk formula (spec §3, §6).

MC tolerance: ``|formula - MC| <= 4.5 * standard error`` of the MC mean (estimated from the same
samples), i.e. a false-failure rate below 1e-5 per check; 2e5 prompts give a standard error of
about 0.5 % of the risk.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iclab.tasks.correlated import AlignmentTask, RAGTask
from iclab.tasks.drift import DriftTask
from iclab.tasks.gaussian_design import GaussianDesignTask
from iclab.tasks.prompts import Prompts
from iclab.theory import lowrank, pgd, rag

D, N, S2 = 5, 8, 0.5
SIG = np.array([3, 1.5, 0.3, 0.15, 0.05])
SIG_NEW = np.array([0.2, 1.5, 2.5, 0.15, 0.4])
MC = 200_000


def _mc(prompts: Prompts, W: np.ndarray, omega: np.ndarray | None = None) -> tuple[float, float]:
    """MC mean and standard error of ``(y - x^T W X^T (omega*y))^2``."""
    y = prompts.y if omega is None else prompts.y * torch.as_tensor(omega)
    v = torch.einsum("bnd,bn->bd", prompts.X, y)
    yhat = torch.einsum("bd,de,be->b", prompts.x_q, torch.as_tensor(W), v)
    err = (yhat - prompts.y_q).pow(2)
    return float(err.mean()), float(err.std() / err.numel() ** 0.5)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _assert_mc(formula: float, mc: tuple[float, float]) -> None:
    mean, se = mc
    assert abs(formula - mean) <= 4.5 * se, (formula, mean, se)


def test_sanity_table_values() -> None:
    """The spec's §6 'Exact' column (an independent evaluation by the spec authors), 1e-4."""
    assert pgd.pgd_optimal_risk(SIG, N, S2) == pytest.approx(2.2198, abs=1e-4)
    assert lowrank.lowrank_optimal_risk(SIG, N, 2, S2) == pytest.approx(2.3372, abs=1e-4)
    np.testing.assert_allclose(rag.rag_optimal_risk([0, 0.3, 0.6, 1], N, D, S2),
                               [2.7414, 2.3593, 1.9126, 1.6379], atol=1e-4)
    np.testing.assert_allclose(lowrank.lora_optimal_risk(SIG, SIG_NEW, N, [0, 1, 2, 5], S2),
                               [3.2331, 2.5975, 2.3670, 2.2709], atol=1e-4)


def test_pgd_risk_monte_carlo_general_covariances() -> None:
    """Non-diagonal Sigma_x and Sigma_beta, a random W and W*: formula vs MC."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(D, D))
    Sx = A @ A.T / D + 0.3 * np.eye(D)
    B = rng.normal(size=(D, D))
    Sb = B @ B.T / D
    task = GaussianDesignTask(D, Sigma_x=Sx, Sigma_beta=Sb, sigma2=S2)
    prompts = task.sample(MC, _gen(1), n=N, dtype=torch.float64)
    for W in (pgd.pgd_optimum(Sb, N, S2, Sigma_x=Sx), rng.normal(size=(D, D)) * 0.05):
        _assert_mc(pgd.pgd_risk(W, Sb, N, S2, Sigma_x=Sx), _mc(prompts, W))
    # the optimum is optimal: random perturbations only increase the exact risk
    Ws = pgd.pgd_optimum(Sb, N, S2, Sigma_x=Sx)
    best = pgd.pgd_risk(Ws, Sb, N, S2, Sigma_x=Sx)
    assert best == pytest.approx(float(pgd.pgd_optimal_risk(Sb, N, S2, Sigma_x=Sx)), rel=1e-10)
    for _ in range(5):
        assert pgd.pgd_risk(Ws + 1e-3 * rng.normal(size=(D, D)), Sb, N, S2, Sigma_x=Sx) > best


def test_pgd_limits() -> None:
    """Spec §6 items 1–4 and 12, plus the Ahn et al. / Mahankali et al. W* cross-check."""
    assert pgd.pgd_optimal_risk(SIG, 0, S2) == pytest.approx(SIG.sum() + S2, rel=1e-12)
    assert pgd.pgd_optimal_risk(SIG, 1e9, S2) == pytest.approx(S2, abs=1e-6)
    # n W* = I - O(T / (n lam_min)) = I - O(1e-6) at n = 1e8
    np.testing.assert_allclose(1e8 * pgd.pgd_optimum(SIG, int(1e8), S2), np.eye(D), atol=1e-5)
    ns = np.arange(0, 60)
    iso = pgd.pgd_optimal_risk(np.eye(D), ns, S2)
    np.testing.assert_allclose(iso - S2, D * (D + 1 + S2) / (ns + D + 1 + S2), rtol=1e-12)
    np.testing.assert_allclose(pgd.pgd_optimum(np.eye(D), N, S2), np.eye(D) / (N + D + 1 + S2),
                               rtol=1e-12)
    np.testing.assert_allclose(pgd.pgd_optimal_risk_isotropic(D, ns, S2, scale=1 / D),
                               pgd.pgd_optimal_risk(np.eye(D) / D, ns, S2), rtol=1e-12)
    assert np.all(np.diff(pgd.pgd_optimal_risk(SIG, ns, S2)) < 0)
    assert pgd.pgd_optimal_risk(SIG, N, 0.2) < pgd.pgd_optimal_risk(SIG, N, 0.6)
    Sx = np.diag([2.0, 1.0, 0.5, 0.3, 0.1])
    np.testing.assert_allclose(pgd.pgd_optimum(np.eye(D), N, 0.0, Sigma_x=Sx),
                               np.linalg.inv((N + 1) * Sx + np.trace(Sx) * np.eye(D)), rtol=1e-10)
    R = np.sqrt(Sx)
    assert pgd.pgd_optimal_risk(SIG, N, S2, Sigma_x=Sx) == pytest.approx(
        float(pgd.pgd_optimal_risk(R @ np.diag(SIG) @ R, N, S2)), rel=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_rag_monte_carlo(alpha: float) -> None:
    """Exact RAG risk of W = c I at c* and at c*/2 vs MC on RAGTask."""
    prompts = RAGTask(D, alpha, S2).sample(MC, _gen(2), n=N, dtype=torch.float64)
    c = float(rag.rag_optimal_scale(alpha, N, D, S2))
    for cc in (c, c / 2):
        _assert_mc(float(rag.rag_risk(cc, alpha, N, D, S2)), _mc(prompts, cc * np.eye(D)))


def test_rag_limits() -> None:
    """Spec §6 items 5–6: alpha = 0 is the i.i.d. formula; alpha = 1 (copies of the query)."""
    ns = np.arange(1, 40)
    np.testing.assert_allclose(rag.rag_optimal_risk(0.0, ns, D, S2),
                               D + S2 - ns * D / (ns + D + 1 + S2), rtol=1e-12)
    np.testing.assert_allclose(rag.rag_optimal_risk(1.0, ns, D, S2),
                               D + S2 - ns * D * (D + 2) / (ns * (D + 4) + S2), rtol=1e-12)
    assert rag.rag_optimal_risk(1.0, 1e9, D, S2) == pytest.approx(2 * D / (D + 4) + S2, rel=1e-6)


def test_rag_risk_is_not_monotone_in_alpha() -> None:
    """Spec §6 item 7 (corrected): the exact risk falls with alpha for small n, but for
    n >~ 2d a large alpha raises it (d = 4, n = 16: the spec's independent values)."""
    np.testing.assert_allclose(rag.rag_optimal_risk([0, 0.3, 0.6, 0.9, 1], 16, 4),
                               [0.952, 0.854, 0.904, 0.981, 1.000], atol=1e-3)
    small_n = rag.rag_optimal_risk(np.linspace(0, 1, 21), 2, 4)
    assert np.all(np.diff(small_n) < 0)
    assert rag.rag_optimal_risk(0.9, 16, 4) > rag.rag_optimal_risk(0.0, 16, 4)


def test_effective_sample_size_law_only_for_alpha_of_order_inverse_sqrt_d() -> None:
    """Spec §6 item 8 (corrected): the law n_eff = (alpha^2 d + 1) n compared as RISKS.

    At alpha = 1/sqrt(d), n = d the exact risk approaches the law's as d grows (relative error
    4.8 % at d = 20, 0.2 % at d = 500, the spec's values 6.99 / 6.67 and 166.9998 / 166.67);
    at alpha = 0.9 it does not (d = 20, n = 80: exact 1.69 vs law 0.29).
    """
    errors = []
    for d in (20, 100, 500, 2000):
        a = 1 / np.sqrt(d)
        exact = float(rag.rag_optimal_risk(a, d, d))
        law = float(rag.rag_optimal_risk_large_d(a, d, d))
        errors.append(abs(exact / law - 1))
        # read as an effective sample size: n_eff / n -> alpha^2 d + 1 = 2
        ratio = float(rag.effective_sample_size(exact, d)) / d
        assert abs(ratio - 2) < 6 / d, (d, ratio)
    assert errors[0] == pytest.approx(6.9929 / 6.6667 - 1, abs=1e-3)
    assert all(e1 > e2 for e1, e2 in zip(errors, errors[1:], strict=False)) and errors[2] < 0.003
    assert rag.rag_optimal_risk(0.9, 80, 20) == pytest.approx(1.6855, abs=1e-3)
    assert rag.rag_optimal_risk_large_d(0.9, 80, 20) == pytest.approx(0.2865, abs=1e-3)
    # beyond alpha ~ 1/sqrt(d) the exact n_eff stays far below the law's (alpha^2 d + 1) n
    n_eff = float(rag.effective_sample_size(rag.rag_optimal_risk(0.9, 80, 20), 20))
    assert n_eff / (80 * (0.81 * 20 + 1)) < 0.2


def test_effective_sample_size_inverts_the_iid_risk() -> None:
    ms = np.array([0.0, 1.0, 7.5, 40.0])
    risks = pgd.pgd_optimal_risk(np.eye(D), ms, S2)
    np.testing.assert_allclose(rag.effective_sample_size(risks, D, S2), ms, atol=1e-9)
    assert np.isinf(rag.effective_sample_size(S2, D, S2))
    np.testing.assert_allclose(rag.rag_optimal_risk_large_d(0.0, ms, D, S2),
                               D + S2 - ms * D / (ms + D + S2), rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_alignment_monte_carlo(alpha: float) -> None:
    """Our provisional alignment model: formula at c* and 2c* vs MC; alpha=0 is the iid case."""
    prompts = AlignmentTask(D, alpha, S2).sample(MC, _gen(3), n=N, dtype=torch.float64)
    c = float(rag.alignment_risk(0.0, alpha, N, D, S2))  # the null risk kappa d + sigma2
    assert c == pytest.approx(float(rag.alignment_label_variance(alpha, D, S2)))
    A_over_B = (rag.alignment_risk(0, alpha, N, D, S2) - rag.alignment_optimal_risk(
        alpha, N, D, S2))
    assert A_over_B > 0
    for W_scale in (0.02, 0.06):
        _assert_mc(float(rag.alignment_risk(W_scale, alpha, N, D, S2)),
                   _mc(prompts, W_scale * np.eye(D)))
    if alpha == 0.0:
        assert rag.alignment_optimal_risk(0.0, N, D, S2) == pytest.approx(
            float(pgd.pgd_optimal_risk(np.eye(D), N, S2)), rel=1e-12)


def test_lowrank_and_lora_monte_carlo() -> None:
    """Rank-2 optimum and LoRA r = 1, 2 adapted weights: formula vs MC (spec §6 table rows)."""
    prompts = GaussianDesignTask(D, Sigma_beta=SIG, sigma2=S2).sample(MC, _gen(4), n=N,
                                                                      dtype=torch.float64)
    W2 = lowrank.lowrank_optimum(SIG, N, 2, S2)
    assert np.linalg.matrix_rank(W2) == 2
    _assert_mc(float(lowrank.lowrank_optimal_risk(SIG, N, 2, S2)), _mc(prompts, W2))
    new = GaussianDesignTask(D, Sigma_beta=SIG_NEW, sigma2=S2).sample(MC, _gen(5), n=N,
                                                                      dtype=torch.float64)
    W0 = pgd.pgd_optimum(SIG, N, S2)
    for r in (1, 2):
        Wr = lowrank.lora_optimum(SIG, SIG_NEW, N, r, S2)
        assert np.linalg.matrix_rank(Wr - W0, tol=1e-10) == r
        _assert_mc(float(lowrank.lora_optimal_risk(SIG, SIG_NEW, N, r, S2)), _mc(new, Wr))


def test_lowrank_and_lora_limits() -> None:
    """Spec §6 items 9–10; low-rank optimality against random rank-r matrices."""
    rs = np.arange(D + 1)
    risks = lowrank.lowrank_optimal_risk(SIG, N, rs, S2)
    assert risks[0] == pytest.approx(SIG.sum() + S2)
    assert risks[-1] == pytest.approx(float(pgd.pgd_optimal_risk(SIG, N, S2)), rel=1e-12)
    assert np.all(np.diff(risks) <= 0)
    iso = lowrank.lowrank_optimal_risk(np.eye(D), N, rs, S2)
    np.testing.assert_allclose(np.diff(iso), -N / (N + D + 1 + S2), rtol=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(20):
        U = rng.normal(size=(D, 2)) * 0.1
        assert pgd.pgd_risk(U @ rng.normal(size=(2, D)) * 0.5, SIG, N, S2) >= risks[2]
    lora = lowrank.lora_optimal_risk(SIG, SIG_NEW, N, rs, S2)
    assert lora[0] == pytest.approx(pgd.pgd_risk(pgd.pgd_optimum(SIG, N, S2), SIG_NEW, N, S2))
    assert lora[-1] == pytest.approx(float(pgd.pgd_optimal_risk(SIG_NEW, N, S2)), rel=1e-10)
    assert np.all(np.diff(lora) <= 1e-12)
    np.testing.assert_allclose(lowrank.lora_optimal_risk(SIG, SIG, N, rs, S2),
                               pgd.pgd_optimal_risk(SIG, N, S2), rtol=1e-10)
    # commuting case: the closed-form singular values of spec §3g
    T, Tn = SIG.sum() + S2, SIG_NEW.sum() + S2
    s = np.abs(SIG_NEW / ((N + 1) * SIG_NEW + Tn) - SIG / ((N + 1) * SIG + T)) * np.sqrt(
        (N + 1) * SIG_NEW + Tn)
    np.testing.assert_allclose(lowrank.lora_singular_values(SIG, SIG_NEW, N, S2),
                               np.sort(s)[::-1], rtol=1e-10)


def test_wpgd_drift_monte_carlo() -> None:
    """WPGD risk under the AR(1) drift for a random W and weights, and at the joint optimum."""
    gamma, n = 0.85, 6
    K = pgd.ar1_drift_correlation(n, gamma)
    Sb = np.eye(D) * 0.7
    prompts = DriftTask(D, gamma, S2, scale=0.7).sample(MC, _gen(6), n=n, dtype=torch.float64)
    rng = np.random.default_rng(2)
    W = np.eye(D) * 0.08 + rng.normal(size=(D, D)) * 0.02
    omega = rng.uniform(0.2, 2.0, size=n)
    _assert_mc(pgd.wpgd_risk(W, omega, Sb, K, S2), _mc(prompts, W, omega))
    Wj, oj, Lj = pgd.wpgd_joint_optimum(Sb, K, S2)
    _assert_mc(Lj, _mc(prompts, Wj, oj))
    # optimal weights are increasing towards the query and beat uniform weights
    assert np.all(np.diff(oj) > 0)
    assert Lj < pgd.pgd_optimal_risk_drift(Sb, K, S2)
    # omega* = G^{-1} h is optimal for fixed W: perturbations increase the exact risk
    ws = pgd.wpgd_optimal_weights(W, Sb, K, S2)
    base = pgd.wpgd_risk(W, ws, Sb, K, S2)
    for _ in range(5):
        assert pgd.wpgd_risk(W, ws + 1e-3 * rng.normal(size=n), Sb, K, S2) > base


def test_wpgd_without_drift_is_pgd() -> None:
    """gamma = 1: uniform optimal weights and the PGD optimum (spec §3c, §6 item 11)."""
    K = pgd.ar1_drift_correlation(N, 1.0)
    W, omega, risk = pgd.wpgd_joint_optimum(np.diag(SIG), K, S2)
    np.testing.assert_allclose(omega, 1.0, rtol=1e-8)
    assert risk == pytest.approx(float(pgd.pgd_optimal_risk(SIG, N, S2)), rel=1e-10)
    np.testing.assert_allclose(W, pgd.pgd_optimum(SIG, N, S2), rtol=1e-8, atol=1e-12)

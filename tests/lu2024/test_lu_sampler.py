"""Fast O(d) feature sampler vs the token-level construction (docs/theory.md, "The reduced
linear-attention model")."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from iclab.errors import ParameterError
from iclab.models.reduced import context_features, sample_context_statistics
from iclab.tasks.regression import (
    InContextRegression,
    assign_tasks,
    balanced_context_count,
    draw_tasks,
    sample_prompts,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _components(s: torch.Tensor, t: torch.Tensor, w: torch.Tensor) -> dict[str, np.ndarray]:
    """Scalar summaries of (s, t): along w, along a fixed direction orthogonal to w, |s|^2, t."""
    u = w / w.norm()
    v = torch.zeros_like(u)
    v[1], v[0] = u[0], -u[1]
    v = v / v.norm()
    return {"s_par": (s @ u).numpy(), "s_perp": (s @ v).numpy(),
            "s_norm2": (s**2).sum(-1).numpy(), "t": t.numpy()}


@pytest.mark.parametrize("d, ell, rho, scale", [(6, 15, 0.1, 1.0), (5, 40, 0.5, 1.7),
                                                 (8, 3, 0.0, 0.6)])
def test_lu_fast_sampler_matches_token_level(d: int, ell: int, rho: float, scale: float) -> None:
    """Two-sample KS on four scalar components of (sum y x, sum y^2): with N = 20000 per side
    the 0.1% critical value of the KS statistic is 1.95*sqrt(2/N) = 0.0195; the seed is fixed,
    so the test is deterministic. The norm of w is varied (scale) and rho = 0 is covered."""
    n = 20_000
    w = torch.randn(d, generator=_gen(0), dtype=torch.float64)
    w = w / w.norm() * (d**0.5) * scale
    tasks = w.expand(n, d).contiguous()
    prompts = sample_prompts(tasks, ell, rho, _gen(1))
    s_ref = torch.einsum("bld,bl->bd", prompts.X, prompts.y)
    t_ref = (prompts.y**2).sum(1)
    s_fast, t_fast = sample_context_statistics(tasks, ell, rho, _gen(2))
    ref, fast = _components(s_ref, t_ref, w), _components(s_fast, t_fast, w)
    crit = 1.95 * (2.0 / n) ** 0.5
    for key in ref:
        ks = stats.ks_2samp(ref[key], fast[key]).statistic
        assert ks < crit, f"{key}: KS statistic {ks:.4f} >= {crit:.4f}"


def test_lu_fast_sampler_exact_moments() -> None:
    """Sample means of s and t against the exact values E s = (l/d) w and
    E t = l (|w|^2/d + rho), within 5 standard errors (N = 200000)."""
    d, ell, rho, n = 7, 25, 0.2, 200_000
    w = torch.randn(d, generator=_gen(3), dtype=torch.float64)
    s, t = sample_context_statistics(w.expand(n, d).contiguous(), ell, rho, _gen(4))
    se_s = s.std(0) / n**0.5
    assert torch.all((s.mean(0) - ell / d * w).abs() < 5 * se_s)
    t_exact = ell * (float(w @ w) / d + rho)
    assert abs(float(t.mean()) - t_exact) < 5 * float(t.std()) / n**0.5


def test_lu_context_features_layout() -> None:
    """h = [(d/l) X^T y ; |y|^2 / l] from token-level prompts, checked by hand."""
    tasks = draw_tasks(3, 4, "gaussian", _gen(5))
    p = sample_prompts(tasks, 6, 0.1, _gen(6))
    h = context_features(p)
    b = 1
    manual = torch.cat([4 / 6 * p.X[b].T @ p.y[b], (p.y[b] @ p.y[b] / 6).reshape(1)])
    torch.testing.assert_close(h[b], manual)


def test_lu_task_pool_normalisation_and_balance() -> None:
    pool = draw_tasks(50, 9, "sphere", _gen(7))
    torch.testing.assert_close(pool.norm(dim=-1), torch.full((50,), 3.0, dtype=torch.float64))
    n = balanced_context_count(103, 10)
    assert n == 100
    counts = torch.bincount(assign_tasks(n, 10, True, _gen(8)), minlength=10)
    assert torch.all(counts == 10)
    counts = torch.bincount(assign_tasks(23, 10, True, _gen(8)), minlength=10)
    assert counts.min() == 2 and counts.max() == 3


def test_lu_task_family_test_distributions() -> None:
    task = InContextRegression(d=5, context_len=7, rho=0.1, k=4)
    pool = task.draw_pool(_gen(9))
    idg = task.test_tasks("idg", 200, pool, _gen(10))
    assert all(any(torch.equal(row, p) for p in pool) for row in idg)
    icl = task.test_tasks("icl", 200, pool, _gen(10))
    assert not any(torch.equal(icl[0], p) for p in pool)
    a = task.sample(3, _gen(11), kind="pretrain", pool=pool)
    b = task.sample(3, _gen(11), kind="pretrain", pool=pool)
    torch.testing.assert_close(a.tokens(), b.tokens())
    assert a.tokens().shape == (3, 8, 6)


def test_lu_task_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="task_norm"):
        InContextRegression(d=5, context_len=7, rho=0.1, task_norm="cube")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="rho"):
        InContextRegression(d=5, context_len=7, rho=-1.0)

"""The exact Wishart sampler of prompt statistics and dMMSE on statistics.

Checked against independent computations: the Wishart moments E W = ℓI, Var W_ij = ℓ
(i ≠ j), Var W_ii = 2ℓ; the law of (X^T X, X^T y, y^T y) against token-level prompts built
from their definition; dMMSE on statistics equal to dMMSE on the tokens they summarise, and
its Monte Carlo error equal to the token-level one within 5 standard errors.
"""

from __future__ import annotations

import pytest
import torch

from iclab.baselines.bayes import DMMSE, dmmse_predict, dmmse_predict_statistics
from iclab.errors import ParameterError
from iclab.evaluate.lu_errors import dmmse_squared_errors, prompt_squared_errors
from iclab.tasks.prompt_statistics import (
    PromptStatistics,
    bartlett_wishart,
    sample_prompt_statistics,
)
from iclab.tasks.regression import sample_prompts

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_bartlett_wishart_moments() -> None:
    """E W = ℓ I, Var W_ii = 2ℓ, Var W_ij = ℓ (i ≠ j), each within 5 standard errors
    (the SE of a sample variance uses the fourth moment measured on the sample)."""
    n, dim, dof = 40_000, 4, 7
    w = bartlett_wishart(n, dim, dof, _gen(0), torch.device("cpu"), F64)
    mean = w.mean(0)
    var = w.var(0)
    expect_mean = dof * torch.eye(dim, dtype=F64)
    expect_var = dof * (torch.ones(dim, dim, dtype=F64) + torch.eye(dim, dtype=F64))
    se_mean = (var / n).sqrt()
    centred = w - mean
    se_var = (((centred**2 - var) ** 2).mean(0) / n).sqrt()
    assert bool(((mean - expect_mean).abs() < 5 * se_mean).all())
    assert bool(((var - expect_var).abs() < 5 * se_var).all())


def test_statistics_law_matches_token_prompts() -> None:
    """Means and variances of every entry of X^T X, X^T y, y^T y and y_q agree between the
    Wishart sampler and token-level prompts (d = 3, ℓ = 6, one fixed task), within 5
    combined standard errors."""
    n, d, ell, rho = 30_000, 3, 6, 0.3
    tasks = torch.tensor([[1.0, -0.5, 2.0]], dtype=F64).expand(n, d).contiguous()
    fast = sample_prompt_statistics(tasks, ell, rho, _gen(1))
    slow = PromptStatistics.from_prompts(sample_prompts(tasks, ell, rho, _gen(2)))

    def columns(s: PromptStatistics) -> torch.Tensor:
        return torch.cat([s.gram.reshape(n, -1), s.xty, s.yty[:, None], s.y_q[:, None]], 1)

    a, b = columns(fast), columns(slow)
    se = ((a.var(0) + b.var(0)) / n).sqrt()
    assert bool(((a.mean(0) - b.mean(0)).abs() < 5 * se).all())
    sq_a, sq_b = (a - a.mean(0)) ** 2, (b - b.mean(0)) ** 2
    se_var = ((sq_a.var(0) + sq_b.var(0)) / n).sqrt()
    assert bool(((sq_a.mean(0) - sq_b.mean(0)).abs() < 5 * se_var).all())


def test_dmmse_on_statistics_equals_dmmse_on_tokens() -> None:
    """Deterministic identity: the prediction from the statistics of token prompts equals
    the token-level dMMSE prediction to 1e-10."""
    pool = torch.randn(7, 4, generator=_gen(3), dtype=F64)
    prompts = sample_prompts(pool[torch.arange(50) % 7], 12, 0.05, _gen(4))
    got = dmmse_predict_statistics(PromptStatistics.from_prompts(prompts), pool, 0.05)
    torch.testing.assert_close(got, dmmse_predict(prompts, pool, 0.05), rtol=1e-10,
                               atol=1e-10)


@pytest.mark.parametrize("fresh", [True, False])
def test_dmmse_error_by_statistics_matches_tokens(fresh: bool) -> None:
    """Monte Carlo dMMSE error on statistics vs on token prompts (d = 5, ℓ = 10, k = 8,
    fresh or pool tasks): equal within 5 combined standard errors."""
    d, ell, rho, n = 5, 10, 0.1, 20_000
    pool = torch.randn(8, d, generator=_gen(5), dtype=F64)
    g = _gen(6)
    tasks = (torch.randn(n, d, generator=g, dtype=F64) if fresh
             else pool[torch.randint(8, (n,), generator=g)])
    fast = dmmse_squared_errors(pool, tasks, ell, rho, _gen(7))
    slow = prompt_squared_errors(DMMSE(pool, rho), tasks, ell, rho, _gen(8))
    se = ((fast.var() + slow.var()) / n).sqrt()
    assert abs(float(fast.mean() - slow.mean())) < 5 * float(se)


def test_short_context_is_refused_by_the_sampler_and_routed_to_tokens() -> None:
    """ℓ < d + 1: the Wishart sampler refuses with a one-line error naming context_len;
    dmmse_squared_errors falls back to token prompts."""
    tasks = torch.randn(10, 6, generator=_gen(9), dtype=F64)
    with pytest.raises(ParameterError, match="context_len"):
        sample_prompt_statistics(tasks, 6, 0.1, _gen(10))
    errors = dmmse_squared_errors(tasks[:3], tasks, 6, 0.1, _gen(11))
    assert errors.shape == (10,) and bool(torch.isfinite(errors).all())

"""Corruption transforms: exact/statistical flip fractions, noise variances, reproducibility."""

from __future__ import annotations

import math

import pytest
import torch

from iclab.errors import ParameterError
from iclab.tasks.corruptions import add_input_noise, add_label_noise, flip_labels, flip_mask
from iclab.tasks.prompts import Prompts


def _prompts(batch: int = 400, n: int = 30, d: int = 5, seed: int = 0) -> Prompts:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n + 1, d, generator=g)
    y = torch.where(torch.rand(batch, n + 1, generator=g) < 0.5, -1.0, 1.0)
    return Prompts(X=x[:, :n], y=y[:, :n], x_q=x[:, n], y_q=y[:, n])


@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 1 / 3, 0.5, 1.0])
def test_shi_flip_exact_fraction(p: float) -> None:
    prompts = _prompts()
    out = flip_labels(prompts, p, torch.Generator().manual_seed(1))
    flipped = (out.y != prompts.y).sum(dim=1)
    assert torch.all(flipped == math.floor(p * prompts.n + 0.5))     # exactly round(pN)
    assert torch.equal(out.y_q, prompts.y_q) and torch.equal(out.X, prompts.X)


def test_shi_flip_positions_uniform() -> None:
    # each position is flipped with probability k/n; over 4000 prompts the per-position
    # frequency has std sqrt(.3*.7/4000)=0.0072, so 5 std = 0.036 bounds all 30 positions.
    mask = flip_mask(4000, 30, 0.3, torch.Generator().manual_seed(2))
    assert torch.allclose(mask.float().mean(0), torch.full((30,), 0.3), atol=0.036)


def test_shi_flip_bernoulli_fraction() -> None:
    # Bernoulli mode: fraction ~ p with std sqrt(p(1-p)/(B n)) = 0.0016 for B n = 60000
    prompts = _prompts(batch=2000)
    out = flip_labels(prompts, 0.2, torch.Generator().manual_seed(3), mode="bernoulli")
    frac = (out.y != prompts.y).float().mean().item()
    assert abs(frac - 0.2) < 5 * math.sqrt(0.2 * 0.8 / out.y.numel())
    per_prompt = (out.y != prompts.y).sum(1)
    assert per_prompt.float().std() > 0      # not an exact count


def test_shi_label_noise_variance() -> None:
    # variance of 1.2e4 N(0, .5) draws: std of the estimate .5*sqrt(2/12000) = 0.0065
    prompts = _prompts()
    out = add_label_noise(prompts, 0.5, torch.Generator().manual_seed(4))
    diff = out.y - prompts.y
    assert abs(diff.var().item() - 0.5) < 5 * 0.5 * math.sqrt(2 / diff.numel())
    assert abs(diff.mean().item()) < 5 * math.sqrt(0.5 / diff.numel())
    assert torch.equal(out.X, prompts.X) and torch.equal(out.y_q, prompts.y_q)


def test_shi_input_noise_variance_and_query() -> None:
    prompts = _prompts()
    out = add_input_noise(prompts, 0.3, torch.Generator().manual_seed(5))
    diff = out.X - prompts.X
    assert abs(diff.var().item() - 0.09) < 5 * 0.09 * math.sqrt(2 / diff.numel())
    assert torch.equal(out.x_q, prompts.x_q) and torch.equal(out.y, prompts.y)
    both = add_input_noise(prompts, 0.3, torch.Generator().manual_seed(5), query=True)
    assert not torch.equal(both.x_q, prompts.x_q)


def test_shi_corruptions_reproducible_and_composable() -> None:
    prompts = _prompts()

    def chain(seed: int) -> Prompts:
        g = torch.Generator().manual_seed(seed)
        return add_input_noise(add_label_noise(flip_labels(prompts, 0.2, g), 0.1, g), 0.1, g)

    a, b, c = chain(7), chain(7), chain(8)
    assert torch.equal(a.y, b.y) and torch.equal(a.X, b.X)
    assert not torch.equal(a.y, c.y)


def test_shi_corruption_bad_parameters() -> None:
    prompts = _prompts(batch=2)
    g = torch.Generator()
    with pytest.raises(ParameterError, match="p=1.5"):
        flip_labels(prompts, 1.5, g)
    with pytest.raises(ParameterError, match="mode"):
        flip_labels(prompts, 0.1, g, mode="sometimes")
    with pytest.raises(ParameterError, match="sigma2"):
        add_label_noise(prompts, -1.0, g)
    with pytest.raises(ParameterError, match="std"):
        add_input_noise(prompts, float("nan"), g)

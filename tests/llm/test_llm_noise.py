"""Noise injection: exact counts, uniformity over seeds, nesting in p, prompt-level wiring."""

from __future__ import annotations

import math

import pytest
import torch

from iclab.errors import ParameterError
from iclab.llm.noise import (
    corrupt_demonstrations,
    flip_labels,
    n_corrupted,
    perturb_words,
    replace_inputs,
)
from iclab.llm.study import build_prompts
from iclab.llm.tasks import NEUTRAL, builtin_task


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("p", "k", "n"), [
    (0.0, 8, 0), (1.0, 8, 8), (0.25, 8, 2), (0.25, 2, 1),  # 0.5 rounds up (not banker's)
    (0.5, 3, 2), (0.125, 4, 1), (0.1, 4, 0), (0.3, 16, 5), (0.5, 1, 1),
])
def test_llm_n_corrupted_round_half_up(p: float, k: int, n: int) -> None:
    assert n_corrupted(p, k) == n


def test_llm_n_corrupted_rejects_bad_p() -> None:
    with pytest.raises(ParameterError, match="p="):
        n_corrupted(1.5, 4)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_llm_flip_labels_exact_count(p: float, n_classes: int) -> None:
    k = 16
    for seed in range(50):
        labels = torch.randint(n_classes, (k,), generator=gen(1000 + seed))
        noisy, mask = flip_labels(labels, p, n_classes, gen(seed))
        assert int(mask.sum()) == n_corrupted(p, k)
        assert torch.all(noisy[mask] != labels[mask])      # flipped to a *different* label
        assert torch.equal(noisy[~mask], labels[~mask])    # the rest untouched
        assert int((noisy != labels).sum()) == n_corrupted(p, k)


def test_llm_flip_distribution_over_seeds() -> None:
    """Over S seeds each position is flipped with probability n/k, and a flipped label of a
    3-class task goes to each other class with probability 1/2. Tolerance: 5 binomial standard
    deviations (a false failure has probability < 1e-6 per check)."""
    k, p, classes, seeds = 8, 0.25, 3, 2000
    n = n_corrupted(p, k)
    position_counts = torch.zeros(k)
    to_plus_one = 0
    labels = torch.zeros(k, dtype=torch.long)
    for seed in range(seeds):
        noisy, mask = flip_labels(labels, p, classes, gen(seed))
        position_counts += mask.float()
        to_plus_one += int((noisy[mask] == 1).sum())
    rate = n / k
    sd = math.sqrt(seeds * rate * (1 - rate))
    assert torch.all((position_counts - seeds * rate).abs() < 5 * sd)
    total = seeds * n
    assert abs(to_plus_one - total / 2) < 5 * math.sqrt(total / 4)


def test_llm_noise_is_nested_in_p() -> None:
    labels = torch.tensor([0, 1] * 8)
    masks = [flip_labels(labels, p, 2, gen(7))[1] for p in (0.125, 0.25, 0.5, 1.0)]
    for small, large in zip(masks, masks[1:], strict=False):
        assert torch.all(large[small])  # corrupted set at smaller p is a subset
    texts = [f"word{i} x" for i in range(16)]
    r_masks = [replace_inputs(texts, p, gen(7))[1] for p in (0.25, 0.5)]
    assert torch.all(r_masks[1][r_masks[0]])


def test_llm_replace_inputs_exact() -> None:
    texts = ["the soup was good", "a b", "one", "x y z"] * 2
    for seed in range(20):
        new, mask = replace_inputs(texts, 0.5, gen(seed))
        assert int(mask.sum()) == 4
        for old, nw, m in zip(texts, new, mask.tolist(), strict=True):
            assert len(nw.split()) == len(old.split())  # same word count
            if m:
                assert all(w in NEUTRAL for w in nw.split())
            else:
                assert nw == old


def test_llm_perturb_words_rate() -> None:
    """Each word is replaced with probability q: the count over W words is Binomial(W, q')
    where q' = q·(1 − P(draw equals the original word)) = q since originals are not in NEUTRAL.
    Tolerance: 5 binomial standard deviations."""
    texts = ["alpha beta gamma delta epsilon"] * 400  # W = 2000 words, none in NEUTRAL
    q = 0.3
    new, count = perturb_words(texts, q, gen(0))
    changed = sum(a != b for t, u in zip(texts, new, strict=True)
                  for a, b in zip(t.split(), u.split(), strict=True))
    assert changed == count
    w = 2000
    assert abs(count - q * w) < 5 * math.sqrt(w * q * (1 - q))
    assert perturb_words(texts[:3], 0.0, gen(0)) == (texts[:3], 0)
    all_new, n_all = perturb_words(texts[:3], 1.0, gen(0))
    assert n_all == 15 and all(w in NEUTRAL for t in all_new for w in t.split())


def test_llm_corrupt_rejects_unknown_kind() -> None:
    with pytest.raises(ParameterError, match="noise"):
        corrupt_demonstrations(["a"], torch.tensor([0]), "shuffle", 0.5, 2, gen(0))


def test_llm_build_prompts_paired_across_p() -> None:
    """Same queries and demonstrations at every p; only the labels of round(p·k) demonstrations
    per prompt differ from the clean prompt."""
    task = builtin_task("sentiment")
    k, nq = 8, 12
    clean = build_prompts(task, "label", 0.0, k, seed=3, n_queries=nq)
    noisy = build_prompts(task, "label", 0.25, k, seed=3, n_queries=nq)
    assert noisy.n_corrupted == nq * n_corrupted(0.25, k) == 24
    assert torch.equal(clean.targets, noisy.targets)
    for a, b in zip(clean.prompts, noisy.prompts, strict=True):
        la, lb = a.splitlines(), b.splitlines()
        assert len(la) == len(lb)
        diff = [(x, y) for x, y in zip(la, lb, strict=True) if x != y]
        assert len(diff) == 2 and all(x.startswith("Sentiment:") for x, _ in diff)
    other_seed = build_prompts(task, "label", 0.0, k, seed=4, n_queries=nq)
    assert other_seed.prompts != clean.prompts

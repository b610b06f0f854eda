"""Checks of iclab.theory.parity and the sparse-parity construction (docs/shi2024.md)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from iclab.evaluate.noisy_prompts import sign_correct
from iclab.models.parity_heads import ParityHeadsEnsemble, TrainedParityHeads, parity_statistics
from iclab.tasks.corruptions import flip_labels
from iclab.tasks.parity import SparseParityTask, pair_features, pair_ids, pair_list
from iclab.theory import parity as th


def test_shi_relu_parity_identity() -> None:
    for x1, x2 in itertools.product((-1.0, 1.0), repeat=2):
        assert th.relu_parity(np.array(x1), np.array(x2)) == x1 * x2


def test_shi_parity_task_distribution_and_labels() -> None:
    task = SparseParityTask(d=6, d_imp=3, p_imp=0.75, n=40)
    g = torch.Generator().manual_seed(0)
    pr = task.sample(20000, g)
    ids = pair_ids(pr.w)
    pairs = pair_list(6)
    assert torch.equal(pr.y, pr.X[torch.arange(20000), :, pairs[ids, 0]]
                       * pr.X[torch.arange(20000), :, pairs[ids, 1]])
    freq = torch.bincount(ids, minlength=15).double() / 20000
    probs = task.pair_probabilities()
    # multinomial frequencies: std <= sqrt(.25*.75/2e4) = 0.0031; 5 std
    assert torch.allclose(freq, probs, atol=0.016)
    assert probs[task.important()].sum().item() == pytest.approx(0.75)
    # E[ĉ] = e_pair (the signal of docs/shi2024.md): mean of ĉ over prompts with the same pair
    c, _ = parity_statistics(task.sample(4000, g, pair=4))
    expected = torch.zeros(15)
    expected[4] = 1.0
    assert torch.allclose(c.mean(0), expected, atol=5 / (40 * 4000) ** 0.5)


def test_shi_negative_control_raw_coordinates() -> None:
    # negative control: under uniform ±1 inputs the raw statistic X^T y / N has mean 0 (no signal)
    task = SparseParityTask(d=6, d_imp=3, p_imp=0.5, n=40)
    pr = task.sample(20000, torch.Generator().manual_seed(1))
    raw = torch.einsum("bn,bnd->bd", pr.y, pr.X) / 40
    assert raw.mean(0).abs().max() < 5 / (40 * 20000) ** 0.5


def test_shi_pair_aligned_coverage() -> None:
    probs = SparseParityTask(6, 3, 0.75, 30).pair_probabilities().numpy()
    imp = SparseParityTask(6, 3, 0.75, 30).important().numpy()
    assert th.pair_aligned_coverage(probs, 6)[imp].tolist() == [1.0, 1.0, 1.0]
    assert th.pair_aligned_coverage(probs, 6)[~imp].sum() == 0
    assert th.pair_aligned_coverage(probs, 7)[~imp].sum() == 0.5
    assert th.pair_aligned_coverage(probs, 40).sum() == 15
    risks = [th.noiseless_hinge_risk(probs, m) for m in range(0, 32)]
    assert risks[0] == pytest.approx(1.0) and risks[30] == pytest.approx(0.0)
    assert np.all(np.diff(risks) <= 1e-12)


@pytest.mark.parametrize(("served", "p"), [(3, 0.2), (15, 0.0), (15, 0.3), (8, 0.4)])
def test_shi_served_accuracy_monte_carlo(served: int, p: float) -> None:
    """Build the idealised model explicitly (2 rank-one heads per served pair, u=v=e_pair,
    a=±1) and compare its accuracy on a served task with Φ((1-2k/N)√(N/(K-1))).
    The CLT approximation and 8000 prompts (SE <= 0.0056): tolerance 0.03."""
    n, d = 30, 6
    task = SparseParityTask(d, 3, 0.75, n)
    ens = ParityHeadsEnsemble(task.n_pairs, (2 * served,), 1)
    eye = torch.eye(task.n_pairs)[:served]
    u = eye.repeat_interleave(2, dim=0).unsqueeze(0)
    a = torch.tensor([1.0, -1.0]).repeat(served).unsqueeze(0)
    # heads 2p, 2p+1: a_i ReLU((ĉ·u_i)(v_i·φ_q)) with u = ±e_p, v = e_p, a = ±1 -> ĉ_p φ_p
    params = {"a": a, "u": u * a.unsqueeze(-1), "v": u}
    g = torch.Generator().manual_seed(served)
    prompts = flip_labels(task.sample(8000, g, pair=0), p, g)
    acc = sign_correct(TrainedParityHeads(ens, params), prompts).mean().item()
    assert abs(acc - float(th.served_accuracy(p, n, served)[0])) < 0.03
    unserved = flip_labels(task.sample(8000, g, pair=task.n_pairs - 1), p, g)
    if served < task.n_pairs:
        assert abs(sign_correct(TrainedParityHeads(ens, params), unserved).mean().item()
                   - 0.5) < 0.03


def test_shi_pair_features_match_statistics() -> None:
    x = torch.where(torch.rand(5, 7, 6, generator=torch.Generator().manual_seed(2)) < .5, -1., 1.)
    feats = pair_features(x)
    pairs = pair_list(6)
    for k, (a, b) in enumerate(pairs.tolist()):
        assert torch.equal(feats[..., k], x[..., a] * x[..., b])

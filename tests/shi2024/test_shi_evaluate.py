"""Checks of the noisy-prompt evaluation (iclab.evaluate.noisy_prompts) on the Shi predictors
against independent computations: the shared Monte Carlo risk and a direct sign count."""

from __future__ import annotations

import torch

from iclab.evaluate.noisy_prompts import accuracy_by_pair, noisy_prompt_risks, sign_correct
from iclab.evaluate.risk import mc_risk
from iclab.models.lsa import LowRankLSAEnsemble, TrainedLSA
from iclab.models.parity_heads import ParityHeadsEnsemble, TrainedParityHeads
from iclab.tasks.corruptions import add_label_noise, flip_labels
from iclab.tasks.parity import SparseParityTask
from iclab.tasks.spectral_regression import SpectralRegressionTask, random_orthogonal


def _lsa() -> tuple[TrainedLSA, SpectralRegressionTask, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    v = random_orthogonal(4, g).numpy()
    task = SpectralRegressionTask((4.0, 2.0, 1.0, 0.5), 10, basis=v)
    ens = LowRankLSAEnsemble(4, (1, 2, 4), seeds=2)
    w = torch.tensor(v @ [1.0, -0.7, 0.0, 0.0], dtype=torch.float32)
    return TrainedLSA(ens, ens.init_params(g, scale=0.5)), task, w


def test_shi_noisy_risk_equals_the_shared_monte_carlo_risk() -> None:
    """For each σ², the risk equals ``mc_risk`` on the same noisy prompts (same generator
    draws, rebuilt here by hand); float32 predictions: relative tolerance 1e-5."""
    trained, task, w = _lsa()
    sigma2s = [0.0, 0.5, 2.0]
    risks = noisy_prompt_risks(trained, task, w, sigma2s, torch.Generator().manual_seed(3),
                               n_test=3000, chunk=3000)
    g = torch.Generator().manual_seed(3)
    base = task.sample(3000, g, w=w)
    state = g.get_state()
    for k, s2 in enumerate(sigma2s):
        g.set_state(state)
        noisy = add_label_noise(base, s2, g)
        torch.testing.assert_close(risks[k].float(), mc_risk(trained, noisy), rtol=1e-5,
                                   atol=0.0)
    assert risks.shape == (3, trained.members)
    assert bool((risks[2] > risks[0]).all())          # label noise only adds risk here


def test_shi_antithetic_risk_is_linear_in_sigma2() -> None:
    """With ``antithetic=True`` the cross term cancels: R(σ²) = R(0) + σ² (R(1) - R(0)) up to
    float32 round-off (relative 1e-4)."""
    trained, task, w = _lsa()
    risks = noisy_prompt_risks(trained, task, w, [0.0, 1.0, 3.0],
                               torch.Generator().manual_seed(5), n_test=2000, antithetic=True)
    torch.testing.assert_close(risks[2], risks[0] + 3.0 * (risks[1] - risks[0]), rtol=1e-4,
                               atol=0.0)


def test_shi_sign_accuracy_counts_signs() -> None:
    task = SparseParityTask(5, 3, 0.6, 12)
    ens = ParityHeadsEnsemble(task.n_pairs, (2, 4), seeds=2)
    trained = TrainedParityHeads(ens, ens.init_params(torch.Generator().manual_seed(1)))
    g = torch.Generator().manual_seed(2)
    prompts = flip_labels(task.sample(500, g), 0.25, g)
    g_out = ens.forward(trained.params, prompts)
    direct = (torch.sign(g_out) == prompts.y_q).double() + 0.5 * (g_out == 0).double()
    torch.testing.assert_close(sign_correct(trained, prompts).double(), direct)
    acc = accuracy_by_pair(trained, task, torch.Generator().manual_seed(4), 50, p=0.2)
    assert acc.shape == (trained.members, task.n_pairs)
    assert bool(((acc >= 0) & (acc <= 1)).all())

"""Unit checks of the LSA and parity-head models (literal formulas, masks, symmetries)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iclab.errors import ParameterError
from iclab.models.lsa import LowRankLSAEnsemble, TrainedLSA, lsa_forward
from iclab.models.parity_heads import ParityHeadsEnsemble
from iclab.tasks.parity import SparseParityTask, pair_features
from iclab.tasks.spectral_regression import SpectralRegressionTask, random_orthogonal
from iclab.tasks.tokens import per_member_tokens


def _lsa_setup(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    v = random_orthogonal(4, g).numpy()
    task = SpectralRegressionTask((4.0, 2.0, 1.0, 0.5), 12, basis=v)
    ens = LowRankLSAEnsemble(4, (1, 2, 5), seeds=2)
    params = {k: t.double() for k, t in ens.init_params(g, scale=0.5).items()}
    params["pv"] = torch.randn(params["pv"].shape, generator=g, dtype=torch.float64)
    return g, task, ens, params


def test_shi_lsa_fast_prediction_equals_literal_formula() -> None:
    g, task, ens, params = _lsa_setup()
    tokens = per_member_tokens(task.sample(2 * 7, g, dtype=torch.float64), 2)  # [S, B, ...]
    pred = ens.predict(params, tokens)                                 # [M, B]
    w_kq = ens.w_kq(params)
    for i, s in enumerate(ens.member_seeds):
        full = lsa_forward(tokens[s], params["pv"][i], w_kq[i], rho=12.0)
        torch.testing.assert_close(pred[i], full[:, -1, -1])


def test_shi_lsa_rank_mask_and_gamma_reduction() -> None:
    g, task, ens, params = _lsa_setup(1)
    full = dict(params, a=torch.randn(params["a"].shape, generator=g, dtype=torch.float64),
                b=torch.randn(params["b"].shape, generator=g, dtype=torch.float64))
    assert torch.linalg.matrix_rank(ens.w_kq(full)).tolist() == ens.member_ranks
    # with w21 blocks at zero (the init), ŷ = x_q^T Γ (1/n) Σ y_i x_i (docs/shi2024.md)
    params["pv"][:, -1, :-1] = 0.0
    prompts = task.sample(5, g, dtype=torch.float64)
    c = torch.einsum("bn,bnd->bd", prompts.y, prompts.X) / 12
    reduced = torch.einsum("bd,mde,be->mb", prompts.x_q, ens.gamma(params), c)
    torch.testing.assert_close(TrainedLSA(ens, params).predict(prompts), reduced)


def test_shi_lsa_scale_symmetry() -> None:
    # scale symmetry: (W^{KQ}, w^{PV}_22) -> (W^{KQ}/c, c w^{PV}_22) leaves ŷ unchanged (w21=0)
    g, task, ens, params = _lsa_setup(2)
    params["pv"][:, -1, :-1] = 0.0
    prompts = task.sample(6, g, dtype=torch.float64)
    scaled = dict(params, a=params["a"] / 3.0, pv=params["pv"] * 3.0)
    torch.testing.assert_close(TrainedLSA(ens, params).predict(prompts),
                               TrainedLSA(ens, scaled).predict(prompts))


def test_shi_lsa_bad_rank() -> None:
    with pytest.raises(ParameterError, match="rank"):
        LowRankLSAEnsemble(4, (0, 2))


def test_shi_spectral_task_covariance() -> None:
    # empirical covariance of 2e5·21 inputs: entries' SE <= 4*sqrt(2/4.2e6) ~ 0.003; tol 0.03
    v = random_orthogonal(4, torch.Generator().manual_seed(3)).numpy()
    task = SpectralRegressionTask((4.0, 2.0, 1.0, 0.5), 20, basis=v)
    pr = task.sample(200_000, torch.Generator().manual_seed(4))
    x = pr.X.reshape(-1, 4).double()
    np.testing.assert_allclose((x.T @ x / x.shape[0]).numpy(), (v * [4, 2, 1, .5]) @ v.T,
                               atol=0.03)
    torch.testing.assert_close(pr.y_q, (pr.x_q * pr.w).sum(-1))


def test_shi_parity_heads_formula_and_mask() -> None:
    task = SparseParityTask(5, 3, 0.6, 9)
    g = torch.Generator().manual_seed(5)
    prompts = task.sample(4, g)
    for head in ("rank1", "full"):
        ens = ParityHeadsEnsemble(task.n_pairs, (1, 3), 1, head)
        params = ens.init_params(g)
        out = ens.forward(params, prompts)                              # [2, 4]
        phi, phq = pair_features(prompts.X), pair_features(prompts.x_q)
        c = torch.einsum("bn,bnk->bk", prompts.y, phi) / 9
        for i, m in enumerate(ens.member_heads):
            w = (params["u"][i].unsqueeze(-1) * params["v"][i].unsqueeze(-2) if head == "rank1"
                 else params["w"][i])                                   # [h, D, D]
            pre = torch.einsum("bj,hjk,bk->bh", c, w, phq)
            expect = (params["a"][i, :m] * torch.relu(pre[:, :m])).sum(-1)
            torch.testing.assert_close(out[i], expect, rtol=1e-5, atol=1e-5)

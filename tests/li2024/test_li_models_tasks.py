"""Tasks (moments, errors) and models (forward = the paper's formula, effective W, masks)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iclab.errors import ParameterError
from iclab.evaluate.paired_risk import pgd_risk_mc
from iclab.models.h3 import h3_effective, h3_position_matrices, h3_predict, init_h3
from iclab.models.linear_attention import (
    effective_preconditioner,
    embed_preconditioner,
    init_linear_attention,
    init_lora,
    linear_attention_predict,
)
from iclab.tasks.correlated import AlignmentTask, RAGTask
from iclab.tasks.drift import DriftTask
from iclab.tasks.gaussian_design import GaussianDesignTask
from iclab.tasks.tokens import context_keep_mask

D, N = 4, 6


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_task_moments() -> None:
    """Sampled covariances match the models (tolerance 0.03: ~6 MC standard errors at 1e5)."""
    B = 100_000
    Sx = np.array([[2.0, 0.5, 0, 0], [0.5, 1.0, 0, 0], [0, 0, 0.5, 0], [0, 0, 0, 0.2]])
    p = GaussianDesignTask(D, Sigma_x=Sx, Sigma_beta=[1, 2, 3, 4], sigma2=0.3).sample(
        B, _gen(0), n=N, dtype=torch.float64)
    np.testing.assert_allclose(torch.cov(p.X[:, 0].T).numpy(), Sx, atol=0.03)
    np.testing.assert_allclose(p.w.var(0).numpy(), [1, 2, 3, 4], rtol=0.03)
    resid = p.y_q - (p.x_q * p.w).sum(-1)
    assert float(resid.var()) == pytest.approx(0.3, rel=0.03)
    r = RAGTask(D, 0.6).sample(B, _gen(1), n=N, dtype=torch.float64)
    assert float((r.X[:, 2] * r.x_q).mean()) == pytest.approx(0.6, abs=0.03)
    assert float(r.X[:, 2].var()) == pytest.approx(1.0, abs=0.03)
    a = AlignmentTask(D, 0.5).sample(B, _gen(2), n=N, dtype=torch.float64)
    u = a.w / a.w.norm(dim=-1, keepdim=True)
    along = (a.X[:, 0] * u).sum(-1)
    assert float(along.var()) == pytest.approx(0.25 * D + 1, rel=0.03)
    assert float(a.X[:, 0].pow(2).sum(-1).mean()) == pytest.approx(D + 0.25 * D, rel=0.03)
    dr = DriftTask(D, 0.8, sigma2=0.0).sample(B, _gen(3), n=N, dtype=torch.float64)
    # y_i = x_i^T beta_i, so E[y_i x_i . beta_q] = E[beta_i . beta_q] = D gamma^{N - i}
    for i in (0, N - 1):
        val = float((dr.y[:, i:i + 1] * dr.X[:, i] * dr.w).sum(-1).mean())
        assert val == pytest.approx(D * 0.8 ** (N - i), abs=0.1)


def test_task_errors() -> None:
    with pytest.raises(ParameterError, match="alpha"):
        RAGTask(D, 1.5)
    with pytest.raises(ParameterError, match="sigma2"):
        GaussianDesignTask(D, sigma2=-1.0)
    with pytest.raises(ParameterError, match="gamma"):
        DriftTask(D, -0.1)
    with pytest.raises(ValueError, match="Sigma_x"):
        GaussianDesignTask(D, Sigma_x=np.eye(3))


def test_linear_attention_is_the_paper_formula() -> None:
    """yhat = [(Z Wq Wk^T Z^T M) Z Wv]_{n+1,d+1} computed naively (spec §2.1), float64."""
    p = GaussianDesignTask(D, sigma2=0.1).sample(5, _gen(4), n=N, dtype=torch.float64)
    for rank in (None, 2):
        params = init_linear_attention(3, D, _gen(5), rank=rank, scale=1.0, dtype=torch.float64)
        tok = p.tokens()
        got = linear_attention_predict(params, tok.expand(3, *tok.shape))
        mask = torch.diag(torch.tensor([1.0] * N + [0.0], dtype=torch.float64))
        for m in range(3):
            wq, wk, wv = params["wq"][m], params["wk"][m], params["wv"][m]
            for b in range(5):
                Z = tok[b]
                att = (Z @ wq @ wk.T @ Z.T @ mask) @ Z @ wv
                assert float(got[m, b]) == pytest.approx(float(att[-1, -1]), rel=1e-10)


def test_embedded_preconditioner_is_pgd() -> None:
    """embed_preconditioner(W) predicts x^T W X^T y exactly; extracts back to W (full/low rank)."""
    p = GaussianDesignTask(D).sample(50, _gen(6), n=N, dtype=torch.float64)
    W = torch.randn(2, D, D, generator=_gen(7), dtype=torch.float64)
    W[1] = W[1, :, :1] @ W[1, :1, :]  # rank one
    for rank, models in ((None, [0, 1]), (1, [1])):
        params = embed_preconditioner(W[models], rank=rank)
        torch.testing.assert_close(effective_preconditioner(params), W[models])
        tok = p.tokens()
        yhat = linear_attention_predict(params, tok.expand(len(models), *tok.shape))
        ref = torch.einsum("bd,mde,bne,bn->mb", p.x_q, W[models], p.X, p.y)
        torch.testing.assert_close(yhat, ref)
    lora = init_lora(embed_preconditioner(W), 2, _gen(8))
    assert torch.all(lora["lora_b"] == 0)


def test_context_mask_equals_shorter_prompts() -> None:
    """Zeroing the first n_max - n_m tokens = using the last n_m examples (both models)."""
    p = GaussianDesignTask(D).sample(20, _gen(9), n=N, dtype=torch.float64)
    short = p.replace(X=p.X[:, 2:], y=p.y[:, 2:])
    keep = context_keep_mask([N - 2], torch.float64, n_max=N)
    la = init_linear_attention(1, D, _gen(10), dtype=torch.float64)
    h3 = init_h3(1, D, N, _gen(11), dtype=torch.float64)
    h3_short = {**h3, "filt": h3["filt"][..., : N - 2]}  # lags 1..N-2 only
    for pred, params, params_short in ((linear_attention_predict, la, la),
                                       (h3_predict, h3, h3_short)):
        torch.testing.assert_close(pred(params, p.tokens()[None] * keep),
                                   pred(params_short, short.tokens()[None]))
    W = torch.eye(D, dtype=torch.float64)[None]
    torch.testing.assert_close(pgd_risk_mc(W, p, ns=[N - 2]), pgd_risk_mc(W, short))


def test_h3_is_weighted_pgd() -> None:
    """With k = k(x) and v = v(y), H3's output is exactly sum_i x^T W_i x_i y_i (spec §2.2)."""
    p = GaussianDesignTask(D).sample(10, _gen(12), n=N, dtype=torch.float64)
    params = init_h3(2, D, N, _gen(13), scale=1.0, dtype=torch.float64)
    params["wk"][:, D] = 0.0  # keys see x only
    params["wv"][:, :D] = 0.0  # values see y only
    tok = p.tokens()
    yhat = h3_predict(params, tok.expand(2, *tok.shape))
    Wi = h3_position_matrices(params)
    ref = torch.einsum("bd,mnde,bne,bn->mb", p.x_q, Wi, p.X, p.y)
    torch.testing.assert_close(yhat, ref)
    # identical filters over positions => uniform effective weights
    params["filt"] = params["filt"][..., :1].expand_as(params["filt"]).clone()
    _, omega = h3_effective(params)
    torch.testing.assert_close(omega, torch.ones_like(omega))

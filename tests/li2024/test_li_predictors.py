"""Predictors (linear attention, H3, PGD), the Task protocol of the Li tasks, token builders and
the paired risks, each against an independent computation."""

from __future__ import annotations

import pytest
import torch

from iclab.errors import ParameterError
from iclab.evaluate.paired_risk import ensemble_risk, pgd_risk_mc
from iclab.evaluate.risk import mc_risk
from iclab.models.base import Predictor
from iclab.models.h3 import H3Predictor, h3_effective, init_h3
from iclab.models.linear_attention import (
    LinearAttentionPredictor,
    PGDPredictor,
    embed_preconditioner,
    init_linear_attention,
)
from iclab.tasks.base import Task
from iclab.tasks.correlated import AlignmentTask, RAGTask
from iclab.tasks.drift import DriftTask
from iclab.tasks.gaussian_design import GaussianDesignTask
from iclab.tasks.tokens import per_member_tokens

D, N = 4, 6
F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _prompts(batch: int = 30, seed: int = 0):
    return GaussianDesignTask(D, sigma2=0.1, n=N).sample(batch, _gen(seed), dtype=F64)


@pytest.mark.parametrize("task", [GaussianDesignTask(D, n=N), RAGTask(D, 0.5, n=N),
                                  AlignmentTask(D, 0.5, n=N), DriftTask(D, 0.9, n=N)])
def test_tasks_are_tasks_with_a_default_context_length(task) -> None:
    """Every Li task is a Task; ``n=None`` samples the task's ``n`` with the same draws."""
    assert isinstance(task, Task) and task.d == D
    default = task.sample(7, _gen(1), dtype=F64)
    explicit = task.sample(7, _gen(1), n=N, dtype=F64)
    assert default.X.shape == (7, N, D)
    for a, b in zip((default.X, default.y, default.x_q, default.y_q),
                    (explicit.X, explicit.y, explicit.x_q, explicit.y_q), strict=True):
        assert torch.equal(a, b)
    assert task.sample(3, _gen(2), n=2).n == 2


def test_task_context_length_must_be_valid() -> None:
    with pytest.raises(ParameterError, match="n"):
        RAGTask(D, 0.5, n=-1)
    with pytest.raises(ParameterError, match="n"):
        DriftTask(D, 0.5).sample(3, _gen(0), n=-2)


def test_per_member_tokens_split_one_draw() -> None:
    p = _prompts(12)
    tok = per_member_tokens(p, 3)
    assert tok.shape == (3, 4, N + 1, D + 1)
    torch.testing.assert_close(tok[1], p.tokens()[4:8], rtol=0, atol=0)
    with pytest.raises(ParameterError, match="members"):
        per_member_tokens(p, 5)


def test_linear_attention_predictor_realises_pgd() -> None:
    """embed_preconditioner(W) as a predictor == x^T W X^T y (einsum); members = M."""
    p = _prompts()
    W = torch.randn(3, D, D, generator=_gen(3), dtype=F64)
    la = LinearAttentionPredictor(embed_preconditioner(W))
    assert isinstance(la, Predictor) and la.members == 3
    ref = torch.einsum("bd,mde,bne,bn->mb", p.x_q, W, p.X, p.y)
    torch.testing.assert_close(la.predict(p), ref)
    torch.testing.assert_close(PGDPredictor(W).predict(p), ref)
    torch.testing.assert_close(la.preconditioner(), W)


def test_context_lengths_equal_shorter_prompts() -> None:
    """Member m with context n_m predicts as a model given only the last n_m examples."""
    p = _prompts()
    short = p.replace(X=p.X[:, 2:], y=p.y[:, 2:])
    la = init_linear_attention(2, D, _gen(4), dtype=F64)
    got = LinearAttentionPredictor(la, context=(N - 2, N)).predict(p)
    torch.testing.assert_close(got[0], LinearAttentionPredictor(la).predict(short)[0])
    torch.testing.assert_close(got[1], LinearAttentionPredictor(la).predict(p)[1])
    h3 = init_h3(1, D, N, _gen(5), dtype=F64)
    h3_short = {**h3, "filt": h3["filt"][..., : N - 2]}
    torch.testing.assert_close(H3Predictor(h3, context=(N - 2,)).predict(p),
                               H3Predictor(h3_short).predict(short))
    W = torch.randn(2, D, D, generator=_gen(6), dtype=F64)
    got = PGDPredictor(W, context=(N - 2, N)).predict(p)
    torch.testing.assert_close(got[0], PGDPredictor(W[:1]).predict(short)[0])


def test_weighted_pgd_and_h3_weights() -> None:
    """PGDPredictor(W, omega) == sum_i omega_i x^T W x_i y_i; H3 exposes W and omega."""
    p = _prompts()
    W = torch.randn(1, D, D, generator=_gen(7), dtype=F64)
    omega = torch.linspace(0.2, 1.8, N, dtype=F64)
    ref = torch.einsum("bd,de,bne,bn,n->b", p.x_q, W[0], p.X, p.y, omega)
    torch.testing.assert_close(PGDPredictor(W, omega).predict(p)[0], ref)
    params = init_h3(2, D, N, _gen(8), dtype=F64)
    model = H3Predictor(params)
    assert model.members == 2
    W_h3, omega_h3 = h3_effective(params)
    torch.testing.assert_close(model.preconditioner(), W_h3)
    torch.testing.assert_close(model.sample_weights(), omega_h3)


def test_predictor_input_errors() -> None:
    la = init_linear_attention(2, D, _gen(9))
    with pytest.raises(ParameterError, match="context"):
        LinearAttentionPredictor(la, context=(3,))
    with pytest.raises(ParameterError, match="prompts.n"):
        H3Predictor(init_h3(1, D, N + 1, _gen(10))).predict(_prompts().to("cpu"))
    with pytest.raises(ParameterError, match="W"):
        PGDPredictor(torch.zeros(D, D))


def test_paired_risks_are_mean_squared_errors() -> None:
    """ensemble_risk (chunked) and pgd_risk_mc == the mean squared error computed directly."""
    p = _prompts(101)
    params = init_linear_attention(3, D, _gen(11), dtype=F64)
    model = LinearAttentionPredictor(params, context=(2, 4, N))
    direct = (model.predict(p) - p.y_q).pow(2).mean(-1)
    torch.testing.assert_close(ensemble_risk(model, p, chunk=7), direct, rtol=1e-12, atol=0)
    torch.testing.assert_close(mc_risk(model, p), direct, rtol=1e-12, atol=0)
    W = torch.randn(2, D, D, generator=_gen(12), dtype=F64)
    yhat = torch.einsum("bd,kde,bne,bn->kb", p.x_q, W, p.X, p.y)
    torch.testing.assert_close(pgd_risk_mc(W, p), (yhat - p.y_q).pow(2).mean(-1))

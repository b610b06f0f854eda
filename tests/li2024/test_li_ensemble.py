"""The ensemble trainer: M models in one program == M separate runs; Adam == torch.optim."""

from __future__ import annotations

import pytest
import torch

from iclab.errors import ParameterError
from iclab.fit.ensemble import cosine_schedule, train_ensemble

M, B, D, STEPS = 4, 16, 3, 40


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed data stream: inputs [STEPS, M, B, D] and targets [STEPS, M, B] (float64)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(STEPS, M, B, D, generator=g, dtype=torch.float64)
    w = torch.randn(M, D, 1, generator=g, dtype=torch.float64)
    y = torch.tanh(x @ w.unsqueeze(0)).squeeze(-1)
    return x, y


def _loss(params: dict[str, torch.Tensor], batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """A small non-linear per-model regression loss -> [M]."""
    x, y = batch
    hidden = torch.tanh(x @ params["a"])  # [M, B, H]
    pred = (hidden @ params["b"]).squeeze(-1)
    return (pred - y).pow(2).mean(-1)


def _init(m: int, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"a": torch.randn(m, D, 5, generator=g, dtype=torch.float64),
            "b": torch.randn(m, 5, 1, generator=g, dtype=torch.float64)}


def test_ensemble_equals_separate_runs() -> None:
    """Per-model lr / weight decay / clip: each slice equals its own single-model run.

    Tolerance 1e-12 relative: the only difference is batched vs single matmul reduction order
    in float64 (~1e-16 per op over 40 steps).
    """
    x, y = _data()
    init = _init(M)
    lr = torch.tensor([1e-3, 3e-3, 1e-2, 3e-2], dtype=torch.float64)
    wd = torch.tensor([0.0, 0.1, 0.0, 0.2], dtype=torch.float64)
    clip = torch.tensor([0.5, 10.0, 1.0, 0.2], dtype=torch.float64)
    sched = cosine_schedule(STEPS, warmup=5)
    ens = train_ensemble(init, _loss, lambda s: (x[s], y[s]), steps=STEPS, lr=lr,
                         weight_decay=wd, grad_clip=clip, lr_schedule=sched, record_every=10)
    for m in range(M):
        single = train_ensemble({k: v[m:m + 1] for k, v in init.items()}, _loss,
                                lambda s, m=m: (x[s, m:m + 1], y[s, m:m + 1]), steps=STEPS,
                                lr=lr[m], weight_decay=wd[m], grad_clip=clip[m],
                                lr_schedule=sched, record_every=10)
        for k in init:
            torch.testing.assert_close(ens.params[k][m], single.params[k][0], rtol=1e-12,
                                       atol=1e-13)
        torch.testing.assert_close(ens.loss_history[:, m], single.loss_history[:, 0],
                                   rtol=1e-12, atol=1e-13)
    # the models did train (differently): parameters moved
    assert not torch.allclose(ens.params["a"], init["a"])


@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_adam_matches_torch_optim(wd: float) -> None:
    """With a scalar lr our Adam(W) reproduces torch.optim.AdamW on the summed loss (1e-10)."""
    x, y = _data(3)
    init = _init(M, 4)
    ours = train_ensemble(init, _loss, lambda s: (x[s], y[s]), steps=STEPS, lr=1e-2,
                          weight_decay=wd)
    leaves = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    opt = torch.optim.AdamW(list(leaves.values()), lr=1e-2, weight_decay=wd)
    for s in range(STEPS):
        opt.zero_grad()
        _loss(leaves, (x[s], y[s])).sum().backward()
        opt.step()
    for k in init:
        torch.testing.assert_close(ours.params[k], leaves[k].detach(), rtol=1e-10, atol=1e-12)


def test_bad_arguments() -> None:
    x, y = _data()
    with pytest.raises(ParameterError, match="steps"):
        train_ensemble(_init(M), _loss, lambda s: (x[s], y[s]), steps=0)
    with pytest.raises(ValueError, match="shape"):
        train_ensemble(_init(M), _loss, lambda s: (x[s], y[s]), steps=1, lr=torch.ones(3))
    with pytest.raises(ParameterError, match="lr"):
        train_ensemble(_init(M), _loss, lambda s: (x[s], y[s]), steps=1, lr=-1.0)

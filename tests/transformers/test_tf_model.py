"""The ensemble transformer: members are independent models, tokens are laid out as documented,
stacked training equals separate training, and training actually learns in context."""

from __future__ import annotations

import pytest
import torch

from iclab.errors import ParameterError
from iclab.evaluate.risk import mc_risk
from iclab.fit.closed_form import fit_gamma
from iclab.fit.transformer_lbfgs import train_lbfgs
from iclab.fit.transformer_training import (
    FixedDataset,
    TrainSettings,
    member_grad_norms,
    single_thread_if_tiny,
    train,
    train_early_stopping,
)
from iclab.models.reduced import ReducedLinearAttention, context_features
from iclab.models.transformer import (
    EnsembleTransformer,
    TransformerConfig,
    lu_linear_attention,
    lu_softmax_block,
    lu_two_softmax_mlp,
)
from iclab.tasks.regression import InContextRegression
from iclab.tasks.tokens import prompt_tokens

CONFIGS = [
    lu_linear_attention(3),
    lu_softmax_block(3),
    lu_two_softmax_mlp(3),
    TransformerConfig(d=3, n_layers=2, n_heads=2, width=8, pos_encoding=True),
    TransformerConfig(d=3, n_layers=1, n_heads=2, width=8, token_format="interleaved"),
]


def _task(d: int = 3, ell: int = 4) -> InContextRegression:
    return InContextRegression(d=d, context_len=ell, rho=0.01, k=None, task_norm="gaussian")


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.attention}-{c.n_layers}-{c.mlp}")
def test_members_are_independent_single_models(cfg: TransformerConfig) -> None:
    torch.manual_seed(0)
    prompts = _task().sample(7, torch.Generator().manual_seed(1))
    ens = EnsembleTransformer(cfg, members=3).double()
    out = ens.predict(prompts)                                   # [3, 7]
    for m in range(3):
        single = EnsembleTransformer(cfg, members=1).double()
        with torch.no_grad():
            for name, p in single.named_parameters():
                p.copy_(ens.member_parameters(m)[name].unsqueeze(0))
        torch.testing.assert_close(single.predict(prompts)[0], out[m], rtol=0, atol=1e-12)


@pytest.mark.parametrize("cfg", CONFIGS[1:3] + CONFIGS[4:], ids=lambda c: c.token_format)
def test_predict_each_gives_member_m_its_own_batch(cfg: TransformerConfig) -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    batches = [_task().sample(5, gen) for _ in range(3)]
    ens = EnsembleTransformer(cfg, members=3).double()
    out = ens.predict_each(batches)                              # [3, 5]
    for m in range(3):
        torch.testing.assert_close(out[m], ens.predict(batches[m])[m], rtol=0, atol=1e-12)
    # the batches differ, so each row must come from its own batch
    assert not torch.allclose(out[0], ens.predict(batches[1])[0])
    with pytest.raises(ParameterError, match="one batch per member"):
        ens.predict_each(batches[:2])


def test_causal_mask_hides_later_tokens() -> None:
    cfg = TransformerConfig(d=3, n_layers=2, n_heads=1, width=8)
    model = EnsembleTransformer(cfg, 1).double()
    tokens = torch.randn(1, 2, 5, 4, dtype=torch.float64)
    # Prediction on the prefix ending at token 2 must not change when tokens 3, 4 change.
    prefix = model(tokens[:, :, :3])
    changed = tokens.clone()
    changed[:, :, 3:] += 1.0
    torch.testing.assert_close(model(changed[:, :, :3]), prefix)


def test_token_layouts() -> None:
    p = _task(d=2, ell=3).sample(1, torch.Generator().manual_seed(0))
    joint = prompt_tokens(p, "joint")
    assert joint.shape == (1, 4, 3) and joint[0, -1, -1] == 0
    torch.testing.assert_close(joint[0, :3, :2], p.X[0])
    inter = prompt_tokens(p, "interleaved")
    assert inter.shape == (1, 7, 3)
    torch.testing.assert_close(inter[0, 0::2, :2], torch.cat([p.X[0], p.x_q]))
    torch.testing.assert_close(inter[0, 1::2, 2], p.y[0])
    assert torch.all(inter[0, 1::2, :2] == 0) and torch.all(inter[0, 0::2, 2] == 0)


def test_stacked_training_equals_separate_training() -> None:
    """Adam is element-wise and the loss a sum over members: a stacked run is M solo runs."""
    cfg = lu_two_softmax_mlp(3)
    task, gen = _task(), torch.Generator().manual_seed(3)
    data = [task.sample(40, gen, kind="pretrain") for _ in range(2)]
    torch.manual_seed(5)
    ens = EnsembleTransformer(cfg, 2).double()
    init = [{k: v.detach().clone() for k, v in ens.member_parameters(m).items()}
            for m in range(2)]
    batches = [FixedDataset(data).minibatch(8, torch.Generator().manual_seed(s))
               for s in range(20)]
    settings = TrainSettings(steps=20, batch=8, lr=1e-2, log_every=1)
    train(ens, lambda s: batches[s], settings)
    for m in range(2):
        solo = EnsembleTransformer(cfg, 1).double()
        with torch.no_grad():
            for name, p in solo.named_parameters():
                p.copy_(init[m][name].detach().unsqueeze(0))
        train(solo, lambda s, m=m: (batches[s][0][m : m + 1], batches[s][1][m : m + 1]),
              settings)
        for name, p in solo.named_parameters():
            torch.testing.assert_close(p[0], ens.member_parameters(m)[name], rtol=0,
                                       atol=1e-10)


def test_minibatches_stay_inside_each_members_dataset() -> None:
    task, gen = _task(), torch.Generator().manual_seed(0)
    data = FixedDataset([task.sample(n, gen, kind="pretrain") for n in (3, 50)])
    for _ in range(20):
        tokens, targets = data.minibatch(16, gen)
        assert torch.all(targets[0] != 0)  # padding rows (zeros) are never drawn
        assert {float(t) for t in targets[0]} <= {float(t) for t in data.targets[0, :3]}


def test_linear_attention_learns_in_context_every_member() -> None:
    """Full-batch L-BFGS takes every member past the AdamW plateau (near 0.47 at d = 4,
    ell = 16) to the neighbourhood of the reduced Gamma-model's least-squares fit on the same
    data: the Gamma-model is a sub-model of linear attention, so a converged member can do no
    worse on its training set, and its test error should be close."""
    task, gen = _task(d=4, ell=16), torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = EnsembleTransformer(lu_linear_attention(4), 4)
    sets = [task.sample(1000, gen, kind="pretrain") for _ in range(4)]
    data = FixedDataset(sets)
    data.tokens, data.targets = data.tokens.float(), data.targets.float()
    with single_thread_if_tiny(torch.device("cpu"), 5):
        report = train_lbfgs(model, data, max_iter=400)
    test = task.sample(4000, gen, kind="icl")
    err = mc_risk(model, test.__class__(*(t.float() for t in (test.X, test.y, test.x_q,
                                                                 test.y_q, test.w))))
    for m, p in enumerate(sets):
        gamma = fit_gamma(p.x_q, context_features(p), p.y_q, lam=0.0).gamma
        fit = ReducedLinearAttention(gamma)
        gamma_train = float(((fit.predict(p) - p.y_q) ** 2).mean())
        gamma_test = float(((fit.predict(test) - test.y_q) ** 2).mean())
        assert float(report.train_loss[m]) < gamma_train + 0.01, (m, report, gamma_train)
        assert float(err[m]) < gamma_test + 0.05, (m, err, gamma_test)
    # one step of GD at alpha = 4 reaches about rho + q/(1+q) = 0.21; the plateau is 0.47
    assert torch.all(err < 0.3), err


def test_last_position_forward_equals_full_forward() -> None:
    """The last block computes only the query position; it must equal the last row of the
    full computation (every block on every position)."""
    for cfg in [*CONFIGS, TransformerConfig(d=3, n_layers=2, n_heads=2, width=8, norm="none")]:
        model = EnsembleTransformer(cfg, 2).double()
        tokens = torch.randn(2, 5, 6, 4, dtype=torch.float64)
        h = model.embed(tokens)
        if model.pos is not None:
            h = h + model.pos[:, None, :6]
        for block in model.blocks:
            h = block(h)
        last = h[:, :, -1]
        if model.final_norm is not None:
            last = model.final_norm(last)
        torch.testing.assert_close(model(tokens), model.readout(last).squeeze(-1),
                                   rtol=0, atol=1e-12)


def test_lbfgs_interpolates_below_the_threshold_and_flags_the_rest() -> None:
    """n = 10 contexts (far fewer than the parameters): training MSE reaches the criterion;
    n = 400 cannot be interpolated: that member stops at a stationary point or is flagged."""
    task, gen = _task(d=3, ell=3), torch.Generator().manual_seed(2)
    torch.manual_seed(1)
    model = EnsembleTransformer(lu_linear_attention(3), 2).double()
    data = FixedDataset([task.sample(10, gen, kind="pretrain"),
                         task.sample(400, gen, kind="pretrain")])
    report = train_lbfgs(model, data, max_iter=300, loss_tol=1e-6, grad_tol=1e-5)
    assert float(report.train_loss[0]) <= 1e-6 and bool(report.converged[0])
    assert float(report.train_loss[1]) > 1e-3
    assert bool(report.converged[1]) == (float(report.grad_norm[1]) <= 1e-5)
    torch.testing.assert_close(report.train_loss, data.full_loss(model).detach(), rtol=1e-6,
                               atol=1e-9)


def test_member_gradient_norms_match_single_models() -> None:
    cfg = lu_softmax_block(3)
    task, gen = _task(), torch.Generator().manual_seed(4)
    data = FixedDataset([task.sample(20, gen, kind="pretrain") for _ in range(2)])
    model = EnsembleTransformer(cfg, 2).double()
    ((model(data.tokens) - data.targets) ** 2).mean(1).sum().backward()
    norms = member_grad_norms(model)
    for m in range(2):
        solo = EnsembleTransformer(cfg, 1).double()
        with torch.no_grad():
            for name, p in solo.named_parameters():
                p.copy_(model.member_parameters(m)[name].detach().unsqueeze(0))
        ((solo(data.tokens[m : m + 1]) - data.targets[m : m + 1]) ** 2).mean().backward()
        solo_norm = torch.sqrt(sum((p.grad**2).sum() for p in solo.parameters()))
        torch.testing.assert_close(norms[m], solo_norm)


def test_early_stopping_restores_each_members_best_parameters() -> None:
    """Member 0 trains with a useless validation target (it can never improve after its
    first checks), member 1 with the real one; each gets back the parameters of its best check,
    and the reported validation error is the error of the restored model."""
    cfg = lu_two_softmax_mlp(3)
    task, gen = _task(), torch.Generator().manual_seed(5)
    train_set = FixedDataset([task.sample(200, gen, kind="pretrain") for _ in range(2)])
    val = task.sample(100, gen, kind="pretrain")
    tokens = prompt_tokens(val, "joint").unsqueeze(0).expand(2, -1, -1, -1)
    targets = torch.stack([val.y_q * 0 + 100.0, val.y_q])
    model = EnsembleTransformer(cfg, 2).double()
    report = train_early_stopping(
        model, lambda _: train_set.minibatch(16, gen),
        TrainSettings(steps=400, batch=16, lr=1e-2, schedule="cosine", warmup=0.1),
        (tokens, targets), eval_every=20, patience=3)
    with torch.no_grad():
        err = ((model(tokens) - targets) ** 2).mean(dim=1)
    torch.testing.assert_close(err, report.val_error.to(err.dtype), rtol=1e-6, atol=1e-9)
    assert int(report.steps[1]) > 0
    assert int(report.steps[0]) <= 400


def test_cosine_schedule() -> None:
    s = TrainSettings(steps=100, schedule="cosine", warmup=0.1)
    assert s.lr_factor(0) == pytest.approx(0.1) and s.lr_factor(9) == pytest.approx(1.0)
    assert s.lr_factor(10) == pytest.approx(1.0) and s.lr_factor(55) == pytest.approx(0.5)
    assert s.lr_factor(99) < 0.01
    assert TrainSettings(steps=10).lr_factor(7) == 1.0
    with pytest.raises(ParameterError, match="schedule"):
        TrainSettings(schedule="linear")


def test_bad_config_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError, match="width"):
        TransformerConfig(d=3, width=10, n_heads=3)
    with pytest.raises(ParameterError, match="attention"):
        TransformerConfig(d=3, attention="cosine")  # type: ignore[arg-type]

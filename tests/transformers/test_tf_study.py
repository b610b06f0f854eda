"""The training pipeline of the transformer experiments: initial-weight scaling, the data it
accepts, and a trained ensemble scored as a Predictor."""

from __future__ import annotations

import pytest
import torch

from iclab.errors import ParameterError
from iclab.evaluate.risk import mc_risk
from iclab.fit.transformer_study import (
    Recipe,
    as_float32,
    first_prompts,
    fit_transformer_ensemble,
)
from iclab.fit.transformer_training import TrainSettings
from iclab.models.base import Predictor
from iclab.models.transformer import EnsembleTransformer, lu_linear_attention
from iclab.tasks.regression import InContextRegression

CPU = torch.device("cpu")


def _sets(members: int, n: int = 50) -> list:
    task, gen = InContextRegression(d=3, context_len=4, rho=0.01), torch.Generator()
    gen.manual_seed(0)
    return [task.sample(n, gen, kind="pretrain") for _ in range(members)]


def test_init_scale_multiplies_every_initial_weight() -> None:
    """One AdamW step at a negligible learning rate leaves the scaled initialisation."""
    cfg = lu_linear_attention(3)
    recipe = Recipe("adamw", TrainSettings(steps=1, batch=4, lr=1e-12, weight_decay=0.0),
                    init_scale=0.3)
    fitted = fit_transformer_ensemble(cfg, 2, recipe, device=CPU,
                                      init_generator=torch.Generator().manual_seed(3),
                                      batch_generator=torch.Generator().manual_seed(4),
                                      train_sets=_sets(2))
    plain = EnsembleTransformer(cfg, 2, generator=torch.Generator().manual_seed(3))
    for (name, p), q in zip(fitted.model.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(p.detach(), 0.3 * q.detach(), rtol=1e-6, atol=1e-9,
                                   msg=name)
    assert fitted.report is None  # AdamW without validation has no criterion


def test_lbfgs_recipe_reports_and_the_ensemble_is_a_predictor() -> None:
    sets = _sets(2)
    fitted = fit_transformer_ensemble(lu_linear_attention(3), 2,
                                      Recipe("lbfgs", max_iter=50), device=CPU,
                                      init_generator=torch.Generator().manual_seed(1),
                                      batch_generator=torch.Generator().manual_seed(2),
                                      train_sets=sets)
    assert isinstance(fitted.model, Predictor)
    assert fitted.report is not None and fitted.data is not None
    # the reported training loss is the mean squared error on each member's own set
    for m, p in enumerate(sets):
        own = float(mc_risk(fitted.model, as_float32(p))[m])
        assert own == pytest.approx(float(fitted.report.train_loss[m]), rel=1e-4, abs=1e-7)


def test_bad_inputs_are_clear_errors() -> None:
    gens = {"init_generator": torch.Generator(), "batch_generator": torch.Generator()}
    with pytest.raises(ValueError, match="exactly one"):
        fit_transformer_ensemble(lu_linear_attention(3), 2, Recipe(), device=CPU, **gens)
    with pytest.raises(ValueError, match="needs fixed train_sets"):
        fit_transformer_ensemble(lu_linear_attention(3), 2, Recipe("lbfgs"), device=CPU,
                                 sample=lambda b: _sets(1, b)[0], **gens)
    with pytest.raises(ParameterError, match="optimizer"):
        Recipe("sgd")
    with pytest.raises(ParameterError, match="init_scale"):
        Recipe(init_scale=0.0)


def test_select_copies_the_chosen_members() -> None:
    model = EnsembleTransformer(lu_linear_attention(3), 4,
                                generator=torch.Generator().manual_seed(5))
    tokens = torch.randn(4, 6, 5, 4, generator=torch.Generator().manual_seed(6))
    picked = model.select([2, 0])
    assert picked.members == 2
    with torch.no_grad():
        full, part = model(tokens), picked(tokens[[2, 0]])
    torch.testing.assert_close(part, full[[2, 0]], rtol=0, atol=0)
    with pytest.raises(ValueError, match="index"):
        model.select([4])


def test_restarts_keep_the_best_screened_initialisation() -> None:
    """Each member keeps its restart of lowest validation error after the screen, trains on,
    and ends no worse on the validation set than that restart (checked by scoring the final
    ensemble on the validation prompts independently of the trainer)."""
    task, gen = InContextRegression(d=3, context_len=4, rho=0.01), torch.Generator()
    gen.manual_seed(9)
    val = task.sample(200, gen, kind="pretrain")
    recipe = Recipe("lbfgs", max_iter=60, restarts=3, screen_iter=25, patience=2)
    fitted = fit_transformer_ensemble(lu_linear_attention(3), 2, recipe, device=CPU,
                                      init_generator=torch.Generator().manual_seed(1),
                                      batch_generator=torch.Generator().manual_seed(2),
                                      train_sets=_sets(2), validation=val)
    assert fitted.screen is not None and fitted.report is not None
    assert fitted.screen.shape == (2, 3) and fitted.model.members == 2
    final = mc_risk(fitted.model, as_float32(val))
    torch.testing.assert_close(final, fitted.report.val_error, rtol=1e-4, atol=1e-7)
    assert bool((final <= fitted.screen.min(dim=1).values * (1 + 1e-4)).all())
    assert bool((fitted.report.steps >= 0).all())


def test_restarts_need_lbfgs_and_validation() -> None:
    gens = {"init_generator": torch.Generator(), "batch_generator": torch.Generator()}
    with pytest.raises(ValueError, match="restarts=2 needs optimizer 'lbfgs'"):
        Recipe("adamw", restarts=2)
    with pytest.raises(ValueError, match="validation"):
        fit_transformer_ensemble(lu_linear_attention(3), 2, Recipe("lbfgs", restarts=2),
                                 device=CPU, train_sets=_sets(2), **gens)
    with pytest.raises(ParameterError, match="restarts"):
        Recipe("lbfgs", restarts=0)


def test_prompt_maps_keep_every_field() -> None:
    """``as_float32`` and ``first_prompts`` act on every tensor of the batch and keep an
    absent task vector absent."""
    full = _sets(1, n=10)[0]
    assert full.w is not None
    head = first_prompts(as_float32(full), 4)
    for name in ("X", "y", "x_q", "y_q", "w"):
        t, ref = getattr(head, name), getattr(full, name)
        assert t.dtype == torch.float32 and t.shape == (4, *ref.shape[1:])
        torch.testing.assert_close(t, ref[:4].float())
    assert first_prompts(full.replace(w=None), 3).w is None
    assert first_prompts(full, None).batch == 10

r"""Train an ensemble of one transformer architecture on in-context regression: the pipeline
shared by the trained-transformer experiments (Lu et al. 2024 Figs. 5–6; the transformer
analogue of Shi et al. 2024).

:func:`fit_transformer_ensemble` builds ``M`` members of one
:class:`~iclab.models.transformer.TransformerConfig` and trains them together with one
:class:`Recipe`:

- ``"adamw"`` — minibatch AdamW for ``adamw.steps`` steps; with a validation set, stopped
  early when every member's validation error has stopped improving;
- ``"lbfgs"`` — full-batch L-BFGS on each member's fixed training set: to the
  interpolation/stationarity criterion with a separate L-BFGS per member
  (:func:`iclab.fit.batched_lbfgs.train_lbfgs_independent`), or, with a validation set,
  stopped early (one L-BFGS on the members' summed loss,
  :func:`iclab.fit.transformer_lbfgs.train_lbfgs`);
- ``"adamw_lbfgs"`` — AdamW first (``adamw.steps`` steps, no early stopping: it only moves
  the members off the flat region around their initialisation), then L-BFGS as above.

**Restarts** (L-BFGS with validation; ``recipe.restarts = R > 1``): every member is
initialised ``R`` times; the ``M·R`` restarts train together on their member's data for at
most ``recipe.screen_iter`` iterations (early stopping as below), each member keeps the restart
with the lowest validation error, and only the ``M`` kept restarts train on to their plateau.
The choice uses the validation set only, never the test prompts, and is the same rule for
every member: it is part of the recipe, a standard multi-start for a non-convex fit whose
small models have spurious local minima.

The training data are either a fixed set per member (``train_sets``, ``P_m`` prompts each;
minibatches drawn with replacement) or prompts drawn afresh every step (``sample``,
AdamW only). The trained ensemble is a :class:`~iclab.models.base.Predictor`: score it with
:func:`iclab.evaluate.risk.mc_risk`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from iclab.fit.batched_lbfgs import train_lbfgs_independent
from iclab.fit.transformer_lbfgs import train_lbfgs
from iclab.fit.transformer_training import (
    Batch,
    FitReport,
    FixedDataset,
    TrainSettings,
    single_thread_if_tiny,
    train,
    train_early_stopping,
)
from iclab.models.transformer import EnsembleTransformer, TransformerConfig
from iclab.tasks.prompts import Prompts
from iclab.tasks.tokens import prompt_tokens
from iclab.validation import check_choice, check_int, check_positive

RECIPES: tuple[str, ...] = ("adamw", "lbfgs", "adamw_lbfgs")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How an ensemble is trained (see the module docstring).

    Attributes:
        optimizer: ``"adamw"``, ``"lbfgs"`` or ``"adamw_lbfgs"``.
        adamw: AdamW's steps, batch, learning rate and schedule.
        max_iter: L-BFGS iterations (the most).
        loss_tol, grad_tol: L-BFGS's criterion without validation: a member has converged
            when its training MSE is ``<= loss_tol`` or its gradient norm ``<= grad_tol``.
        eval_every: AdamW steps between validation checks (L-BFGS checks every 25).
        patience, min_delta: early stopping: a member has reached its plateau after
            ``patience`` checks without a relative fall of its validation MSE by more than
            ``min_delta``.
        init_scale: every initial parameter is multiplied by this (1: the default
            ``nn.Linear``-style initialisation).
        restarts: initialisations per member (L-BFGS with validation only; 1: no screening).
        screen_iter: L-BFGS iterations (the most) the restarts train before the choice.
        screen_prompts: the restarts screen on the first this many prompts of their member's
            set (``None``: all of them); the kept restart trains on in the whole set.
    """

    optimizer: str = "adamw"
    adamw: TrainSettings = dataclasses.field(default_factory=TrainSettings)
    max_iter: int = 1000
    loss_tol: float = 1e-4
    grad_tol: float = 1e-4
    eval_every: int = 100
    patience: int = 10
    min_delta: float = 1e-3
    init_scale: float = 1.0
    restarts: int = 1
    screen_iter: int = 300
    screen_prompts: int | None = None

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, RECIPES)
        check_int("max_iter", self.max_iter)
        check_int("eval_every", self.eval_every)
        check_int("patience", self.patience)
        check_positive("init_scale", self.init_scale)
        check_int("restarts", self.restarts)
        check_int("screen_iter", self.screen_iter)
        if self.screen_prompts is not None:
            check_int("screen_prompts", self.screen_prompts)
        if self.restarts > 1 and self.optimizer != "lbfgs":
            raise ValueError(f"restarts={self.restarts} needs optimizer 'lbfgs', "
                             f"got {self.optimizer!r}")


@dataclasses.dataclass(frozen=True)
class FittedEnsemble:
    """A trained ensemble, its training data (``None`` when sampled online), the trainer's
    per-member report (``None`` for AdamW without validation, which has no criterion) and,
    with restarts, ``screen`` ``[M, R]``: each restart's best validation MSE at the choice
    (the kept restart is its row's minimum; ``None`` without restarts)."""

    model: EnsembleTransformer
    data: FixedDataset | None
    report: FitReport | None
    screen: torch.Tensor | None = None

    @property
    def kept_restart(self) -> list[int]:
        """Index of each member's kept restart (all 0 without restarts)."""
        if self.screen is None:
            return [0] * self.model.members
        return self.screen.argmin(dim=1).tolist()


def as_float32(prompts: Prompts) -> Prompts:
    """The same prompts in float32 (the precision every transformer trains in)."""
    return prompts.map(torch.Tensor.float)


def first_prompts(prompts: Prompts, count: int | None) -> Prompts:
    """The first ``count`` prompts of a batch (all of them when ``count`` is ``None``)."""
    return prompts.map(lambda t: t[:count])


def _validation_batch(validation: Prompts | list[Prompts], cfg: TransformerConfig) -> Batch:
    """Tokens and targets of a validation set shared by the members (``[B, ...]``) or one per
    member (``[M, B, ...]``)."""
    if isinstance(validation, Prompts):
        val = as_float32(validation)
        return prompt_tokens(val, cfg.token_format), val.y_q
    data = FixedDataset([as_float32(p) for p in validation], cfg.token_format)
    return data.tokens, data.targets


def _initial_ensemble(cfg: TransformerConfig, members: int, recipe: Recipe,
                      device: torch.device, init_generator: torch.Generator
                      ) -> EnsembleTransformer:
    """``members`` freshly initialised transformers, every weight times ``recipe.init_scale``."""
    model = EnsembleTransformer(cfg, members, generator=init_generator).to(device)
    if recipe.init_scale != 1.0:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(recipe.init_scale)
    return model


def fit_transformer_ensemble(
    cfg: TransformerConfig, members: int, recipe: Recipe, *, device: torch.device,
    init_generator: torch.Generator, batch_generator: torch.Generator,
    train_sets: list[Prompts] | None = None, sample: Callable[[int], Prompts] | None = None,
    validation: Prompts | list[Prompts] | None = None,
) -> FittedEnsemble:
    """Initialise ``members`` transformers of ``cfg`` from ``init_generator`` and train them.

    Args:
        train_sets: one fixed training set per member (required by L-BFGS); or
        sample: ``batch -> Prompts``, fresh prompts every AdamW step (``members · batch`` of
            them, member ``m`` gets rows ``[m·batch, (m+1)·batch)``).
        batch_generator: draws the minibatches from ``train_sets``.
        validation: held-out prompts shared by the members, or one set per member; turns on
            early stopping.
    """
    if (train_sets is None) == (sample is None):
        raise ValueError("give exactly one of train_sets and sample")
    if train_sets is not None and len(train_sets) != members:
        raise ValueError(f"train_sets has {len(train_sets)} sets for {members} members")
    if train_sets is None and recipe.optimizer != "adamw":
        raise ValueError(f"optimizer {recipe.optimizer!r} needs fixed train_sets")
    if recipe.restarts > 1:
        if train_sets is None or validation is None:
            raise ValueError("restarts need fixed train_sets and a validation set")
        return _fit_with_restarts(cfg, members, recipe, device, init_generator, train_sets,
                                  validation)
    model = _initial_ensemble(cfg, members, recipe, device, init_generator)
    data = None if train_sets is None else FixedDataset([as_float32(p) for p in train_sets],
                                                         cfg.token_format)
    settings = recipe.adamw

    def next_batch(_: int) -> Batch:
        if data is not None:
            return data.minibatch(settings.batch, batch_generator)
        assert sample is not None
        p = as_float32(sample(settings.batch * members))
        tokens = prompt_tokens(p, cfg.token_format)
        return (tokens.view(members, settings.batch, *tokens.shape[1:]),
                p.y_q.view(members, settings.batch))

    val = None if validation is None else _validation_batch(validation, cfg)
    report: FitReport | None = None
    with single_thread_if_tiny(device, cfg.width):
        if recipe.optimizer == "adamw_lbfgs" or (recipe.optimizer == "adamw" and val is None):
            train(model, next_batch, settings)
        elif recipe.optimizer == "adamw":
            assert val is not None
            report = train_early_stopping(model, next_batch, settings, val,
                                          eval_every=recipe.eval_every,
                                          patience=recipe.patience, min_delta=recipe.min_delta)
        if recipe.optimizer != "adamw" and val is None:
            assert data is not None
            report = train_lbfgs_independent(model, data, max_iter=recipe.max_iter,
                                             loss_tol=recipe.loss_tol,
                                             grad_tol=recipe.grad_tol)
        elif recipe.optimizer != "adamw":
            assert data is not None
            report = train_lbfgs(model, data, max_iter=recipe.max_iter, validation=val,
                                 patience=recipe.patience, min_delta=recipe.min_delta)
    return FittedEnsemble(model, data, report)


def _fit_with_restarts(cfg: TransformerConfig, members: int, recipe: Recipe,
                       device: torch.device, init_generator: torch.Generator,
                       train_sets: list[Prompts],
                       validation: Prompts | list[Prompts]) -> FittedEnsemble:
    """L-BFGS with ``recipe.restarts`` screened initialisations per member (see the module).

    Restart ``r`` of member ``m`` is member ``m·R + r`` of one ensemble of ``M·R``, trained on
    member ``m``'s set for at most ``min(screen_iter, max_iter)`` iterations; the kept restarts
    continue for the rest of ``max_iter`` (at least one check), and the report's ``steps``
    count both phases."""
    R = recipe.restarts
    sets = [as_float32(p) for p in train_sets]
    many = _initial_ensemble(cfg, members * R, recipe, device, init_generator)
    repeated = (validation if isinstance(validation, Prompts)
                else [v for v in validation for _ in range(R)])
    with single_thread_if_tiny(device, cfg.width):
        screened = train_lbfgs(
            many, FixedDataset([first_prompts(p, recipe.screen_prompts)
                                for p in sets for _ in range(R)], cfg.token_format),
            max_iter=min(recipe.screen_iter, recipe.max_iter),
            validation=_validation_batch(repeated, cfg),
            patience=recipe.patience, min_delta=recipe.min_delta)
        screen = screened.val_error.view(members, R)
        kept = [m * R + int(r) for m, r in enumerate(screen.argmin(dim=1).tolist())]
        model = many.select(kept)
        del many
        data = FixedDataset(sets, cfg.token_format)
        report = train_lbfgs(model, data, max_iter=max(1, recipe.max_iter - recipe.screen_iter),
                             validation=_validation_batch(validation, cfg),
                             patience=recipe.patience, min_delta=recipe.min_delta)
    report = dataclasses.replace(report, steps=report.steps + screened.steps[kept])
    return FittedEnsemble(model, data, report, screen)

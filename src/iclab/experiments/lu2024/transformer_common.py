"""What the trained-transformer experiments share: ``lu2024.fig5``, ``lu2024.fig6`` and
``shi2024.fig_transformer_noise``.

- the three architectures of Lu et al. 2024 §5 (:data:`ARCHITECTURES`, presets of
  :mod:`iclab.models.transformer`);
- the training settings (:class:`TrainingFields`, :class:`EarlyStoppingFields`), which become a
  :class:`~iclab.fit.transformer_study.Recipe` for
  :func:`~iclab.fit.transformer_study.fit_transformer_ensemble`;
- two interval rules of their claim checks (:func:`welch`, :func:`from_quantiles`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import pydantic
from scipy import stats

from iclab.claims import Evidence, Verdict
from iclab.contract import ExperimentSettings
from iclab.fit.transformer_study import Recipe
from iclab.fit.transformer_training import TrainSettings
from iclab.models.transformer import (
    TransformerConfig,
    lu_linear_attention,
    lu_softmax_block,
    lu_two_softmax_mlp,
)

ARCHITECTURES: dict[str, Callable[[int], TransformerConfig]] = {
    "linear": lu_linear_attention,
    "softmax": lu_softmax_block,
    "softmax2_mlp": lu_two_softmax_mlp,
}
ARCH_LABELS = {"linear": "linear attention", "softmax": "1 softmax block",
               "softmax2_mlp": "2 softmax blocks + MLP"}


class TrainingFields(ExperimentSettings):
    """AdamW settings and the ensemble size of a trained-transformer experiment."""

    steps: int = pydantic.Field(20000, ge=1, le=10_000_000,
                                description="AdamW steps (the most, with early stopping)")
    batch: int = pydantic.Field(128, ge=1, le=1_000_000,
                                description="contexts per member per step")
    lr: float = pydantic.Field(1e-3, gt=0, le=1.0,
        description="AdamW learning rate (peak, with a schedule)")
    weight_decay: float = pydantic.Field(1e-4, ge=0, le=1.0, description="AdamW weight decay")
    schedule: Literal["constant", "cosine"] = pydantic.Field(
        "constant", description="AdamW learning-rate schedule: constant, or warm-up + cosine")
    warmup: float = pydantic.Field(0.0, ge=0, le=1, description="warm-up fraction of steps")
    seeds: int = pydantic.Field(3, ge=1, le=10_000,
                                description="independent models per configuration")
    test_prompts: int = pydantic.Field(4000, ge=1, le=10_000_000,
        description="Monte Carlo test prompts per model")

    def train_settings(self) -> TrainSettings:
        """AdamW's hyper-parameters."""
        return TrainSettings(steps=self.steps, batch=self.batch, lr=self.lr,
                             weight_decay=self.weight_decay,
                             log_every=max(1, min(100, self.steps)),
                             schedule=self.schedule, warmup=self.warmup)


class EarlyStoppingFields(TrainingFields):
    """:class:`TrainingFields` plus early stopping on a held-out validation set."""

    eval_every: int = pydantic.Field(100, ge=1, le=1_000_000,
                                     description="AdamW steps between validation checks")
    patience: int = pydantic.Field(10, ge=1, le=100_000, description=(
        "a member has reached its plateau after this many checks without improvement"))
    min_delta: float = pydantic.Field(0.005, ge=0, lt=1, description=(
        "an improvement is a relative fall of the validation error by more than this"))
    val_prompts: int = pydantic.Field(2000, ge=1, le=1_000_000,
                                      description="held-out validation prompts per member")

    def recipe(self, optimizer: str = "adamw", max_iter: int = 1000,
               init_scale: float = 1.0, restarts: int = 1, screen_iter: int = 300,
               screen_prompts: int | None = None) -> Recipe:
        """The training recipe with early stopping on the validation set (and, for L-BFGS,
        ``restarts`` initialisations per member screened for ``screen_iter`` iterations on
        the first ``screen_prompts`` prompts of its set)."""
        return Recipe(optimizer=optimizer, adamw=self.train_settings(), max_iter=max_iter,
                      eval_every=self.eval_every, patience=self.patience,
                      min_delta=self.min_delta, init_scale=init_scale, restarts=restarts,
                      screen_iter=screen_iter, screen_prompts=screen_prompts)


def welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(mean(a) - mean(b), half-width)`` of the 95 % Welch t-interval of the difference."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return float(a.mean() - b.mean()), 0.0
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return float(a.mean() - b.mean()), float(stats.t.ppf(0.975, df) * se)


def from_quantiles(estimate: float, lo: float, hi: float, low: float, high: float,
                   detail: str) -> Evidence:
    """Evidence that a quantity lies in ``[low, high]`` from its bootstrap interval
    ``[lo, hi]``: holds if inside, fails if disjoint, inconclusive if it straddles an end."""
    verdict: Verdict = ("holds" if lo >= low and hi <= high else
                        "fails" if hi < low or lo > high else "inconclusive")
    threshold = high if estimate >= (low + high) / 2 else low
    return Evidence(verdict, estimate, (hi - lo) / 2, threshold, detail)

"""``shi2024.fig_transformer_noise`` — transformers of several sizes trained on the same data;
error against the variance of label noise added to the in-context labels at test (the
transformer analogue of Shi, Wei, Xu & Liang 2024).

**Features (our choice).** Inputs x ~ N(0, Λ), Λ = V diag(λ) Vᵀ in a random basis V fixed by
the seed, with ``important`` directions of variance ``lam_important`` and the others of
variance ``lam_other``: a few important directions carry most of the task signal, many carry
a little each. Every size is trained to its plateau (early stopping on held-out prompts
shared by every size) through :func:`iclab.fit.transformer_study.fit_transformer_ensemble`;
the error against the clean query label is :func:`iclab.evaluate.risk.mc_risk`.

**Restarts (quick variant).** The small linear-attention models have spurious local minima
(training stops at a validation error of 0.71–0.76 where the optimum of their rank is about
0.515), and which basin a model lands in depends on its initialisation. Each seed therefore
starts ``restarts`` = 4 initialisations, trains them together by L-BFGS for at most
``screen_iter`` = 300 iterations on the first ``screen_prompts`` = 1000 of its training
prompts, keeps the one with the lowest error on the validation prompts, and trains that one
on its whole set to its plateau. Every size and seed gets the same rule; the test prompts
play no part in the choice. Each row records the kept restart (``restart``).
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
import pydantic
from matplotlib.figure import Figure

from iclab.claims import (
    Claim,
    ClaimData,
    Evidence,
    all_of,
    decide,
    reverse_column,
    scale_column,
    slope,
)
from iclab.contract import Experiment, RunContext
from iclab.errors import ParameterError
from iclab.evaluate.risk import mc_risk
from iclab.experiments.lu2024.transformer_common import EarlyStoppingFields, welch
from iclab.experiments.registry import register
from iclab.figures import color_cycle, experiment_points, label_axes, legend, subplots
from iclab.fit.transformer_study import fit_transformer_ensemble
from iclab.models.transformer import TransformerConfig
from iclab.seeding import torch_generator
from iclab.tasks.corruptions import add_label_noise
from iclab.tasks.prompts import Prompts
from iclab.tasks.spectral_regression import SpectralRegressionTask, random_orthogonal
from iclab.validation import NonEmptyList, NonNegativeFloat


class NoiseSettings(EarlyStoppingFields):
    """Settings of ``shi2024.fig_transformer_noise``."""

    d: int = pydantic.Field(10, ge=1, le=4096, description="token dimension d")
    alpha: float = pydantic.Field(2.0, gt=0, le=1000, description="context length / d")
    rho: float = pydantic.Field(0.01, ge=0, le=100,
                                description="variance of the context-label noise in training")
    important: int = pydantic.Field(2, ge=1, le=4096, description=(
        "number of important input directions (large eigenvalue of the input covariance)"))
    lam_important: float = pydantic.Field(1.0, gt=0, le=1e6,
                                          description="input variance along important ones")
    lam_other: float = pydantic.Field(0.2, gt=0, le=1e6,
                                      description="input variance along the other directions")
    sizes: list[list[int]] = pydantic.Field(
        default_factory=lambda: [[1, 4, 1], [1, 8, 2], [2, 32, 2], [4, 64, 4]],
        description="model sizes as [n_layers, width, n_heads], smallest first")
    attention: Literal["softmax", "linear"] = pydantic.Field("softmax", description=(
        "softmax: GPT-2-style blocks (pre-LayerNorm, GELU MLP); linear: linear-attention "
        "layers without MLP or LayerNorm, whose width bounds the key-query rank"))
    optimizer: Literal["adamw", "lbfgs"] = pydantic.Field("adamw", description=(
        "adamw: fresh prompts every step; lbfgs: full batch on a fixed set of `contexts`"))
    contexts: int = pydantic.Field(4000, ge=1, le=10_000_000,
                                   description="training prompts per member (lbfgs)")
    max_iter: int = pydantic.Field(2000, ge=1, le=1_000_000,
                                   description="L-BFGS iterations (the most)")
    init_scale: float = pydantic.Field(1.0, gt=0, le=100, description=(
        "every initial weight is multiplied by this (1: the nn.Linear-style default)"))
    restarts: int = pydantic.Field(1, ge=1, le=64, description=(
        "lbfgs: initialisations per seed; each seed keeps the one with the lowest "
        "validation error after screen_iter iterations (1: no screening)"))
    screen_iter: int = pydantic.Field(300, ge=1, le=1_000_000, description=(
        "lbfgs with restarts: iterations (the most) every restart trains before the choice"))
    screen_prompts: int | None = pydantic.Field(None, ge=1, le=10_000_000, description=(
        "lbfgs with restarts: the restarts screen on the first this many of their seed's "
        "training prompts (None: all `contexts`)"))
    test_noise: NonEmptyList[NonNegativeFloat] = pydantic.Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 1.0, 2.0],
        description="variance of noise added to in-context labels at test")

    @pydantic.field_validator("sizes")
    @classmethod
    def _valid_sizes(cls, v: list[list[int]]) -> list[list[int]]:
        for size in v:
            if len(size) != 3 or any(x < 1 or x > 100_000 for x in size) \
                    or size[1] % size[2]:
                raise ValueError(f"size {size} must be [n_layers, width, n_heads] of positive "
                                 "integers with width a multiple of n_heads")
        return v

    @pydantic.field_validator("restarts")
    @classmethod
    def _restarts_need_lbfgs(cls, v: int, info: pydantic.ValidationInfo) -> int:
        optimizer = info.data.get("optimizer")
        if v > 1 and optimizer != "lbfgs":
            raise ValueError(f"1 unless optimizer='lbfgs' (optimizer is {optimizer!r})")
        return v

    @pydantic.field_validator("test_noise")
    @classmethod
    def _valid_noise(cls, v: list[float]) -> list[float]:
        if len(v) < 2 or 0.0 not in v or any(not (0 <= x <= 1e6) for x in v):
            raise ValueError("test_noise must list at least 2 variances in [0, 1e6], one 0")
        return v

    def task(self) -> SpectralRegressionTask:
        """Prompts with ``important`` directions of variance ``lam_important`` and ``d -
        important`` of variance ``lam_other``, in a random basis fixed by ``seed``."""
        if self.important > self.d:
            raise ParameterError("important", self.important, f"at most d={self.d}")
        lam = [self.lam_important] * self.important + [self.lam_other] * (self.d - self.important)
        basis = random_orthogonal(self.d, torch_generator(self.seed + 7, "cpu")).numpy()
        return SpectralRegressionTask(eigenvalues=tuple(lam), n=max(1, round(self.alpha * self.d)),
                                      basis=basis, label_noise2=self.rho)


def noise_slopes(results: pd.DataFrame) -> pd.DataFrame:
    """Per (size, seed): least-squares slope of error against the test noise variance σ²."""
    rows = []
    for (params, trial), sub in results.groupby(["params", "trial"]):
        rows.append({"params": int(params), "trial": int(trial),
                     "slope": slope(sub.sigma2, sub.error)})
    return pd.DataFrame(rows)


def _check_slope_rises(data: ClaimData) -> Evidence:
    """Each size step: slope(larger) - slope(smaller) > 0 (Welch 95 % interval over seeds)."""
    sl = noise_slopes(data.results)
    params = sorted(sl.params.unique())
    evidence = []
    for small, large in zip(params[:-1], params[1:], strict=True):
        diff, half = welch(sl[sl.params == large].slope, sl[sl.params == small].slope)
        evidence.append(decide(diff, half, 0.0, ">",
                               f"slope({large} params) - slope({small} params), Welch 95 % "
                               "interval > 0"))
    return all_of(evidence, "noise sensitivity rises with size")


def _check_clean_not_worse(data: ClaimData) -> Evidence:
    """Each size step at σ² = 0: error(larger) - error(smaller) < 5 % of error(smaller)."""
    clean = data.results[data.results.sigma2 == 0]
    params = sorted(clean.params.unique())
    evidence = []
    for small, large in zip(params[:-1], params[1:], strict=True):
        a = clean[clean.params == large].error.to_numpy(float)
        b = clean[clean.params == small].error.to_numpy(float)
        diff, half = welch(a, b)
        margin = 0.05 * float(b.mean())
        evidence.append(decide(diff, half, margin, "<",
                               f"clean error({large} params) - error({small} params), Welch "
                               f"95 % interval < 5 % of the smaller's error"))
    return all_of(evidence, "larger not worse on clean prompts")


def shi_claims() -> tuple[Claim, ...]:
    return (
        Claim(id="noise_slope_rises_with_size",
              statement=("The slope of test error in the in-context label-noise variance "
                         "rises with model size: larger models are more sensitive to noise in "
                         "the context."),
              source="Shi et al. 2024 (transformer analogue, ours)",
              check=_check_slope_rises,
              # the sizes' results reversed: the smallest model gets the largest's errors
              counterexample=reverse_column("error", within=("sigma2", "trial")),
              variants=("quick", "full"),
              no_control=(
                  "in the theory every feature a larger model adds raises its noise "
                  "sensitivity, so no configuration reverses the effect; the nulls (equal "
                  "sizes, or widths beyond d) can at best be inconclusive for a check of a "
                  "positive slope difference, and each run takes minutes (the same null is "
                  "measured on shi2024.fig_rank_noise)")),
        Claim(id="larger_not_worse_clean",
              statement="Larger models are not worse on clean prompts.",
              source="Shi et al. 2024 (transformer analogue, ours)",
              check=_check_clean_not_worse,
              counterexample=scale_column(
                  "error", 1.5, lambda f: (f.sigma2 == 0) & (f.params == f.params.max())),
              variants=("quick", "full"),
              no_control=(
                  "a claim that larger models are not worse holds wherever the sizes end up "
                  "alike, so its control must make a larger model worse, and none was found "
                  "within this recipe: with 40 or 8 pretraining contexts, or L-BFGS stopped "
                  "after 5 iterations, the validation-based stop keeps every size from "
                  "overfitting (the check held or was inconclusive on all three)")),
    )



@register
class ShiTransformerNoise(Experiment[NoiseSettings]):
    name = "shi2024.fig_transformer_noise"
    title = "Transformers of several sizes: error vs in-context label noise at test"
    paper = "Shi, Wei, Xu & Liang 2024 (arXiv 2405.19592), transformer analogue"
    Settings = NoiseSettings
    needs_gpu_for_full = True
    version = "4"
    variants = {
        "quick": {"d": 8, "attention": "linear", "sizes": [[1, 3, 1], [1, 5, 1], [1, 9, 1]],
                  "lam_important": 0.3125, "lam_other": 0.0625,
                  "optimizer": "lbfgs", "contexts": 4000, "max_iter": 1500, "patience": 8,
                  "restarts": 4, "screen_iter": 300, "screen_prompts": 1000,
                  "seeds": 4, "test_prompts": 4000},
        "full": {"steps": 100000, "seeds": 5},
        # not a figure of the paper: the full variant's values written out (same settings)
        "paper": {"d": 10, "alpha": 2.0, "rho": 0.01, "important": 2, "lam_important": 1.0,
                  "lam_other": 0.2, "sizes": [[1, 4, 1], [1, 8, 2], [2, 32, 2], [4, 64, 4]],
                  "attention": "softmax", "optimizer": "adamw", "steps": 100000, "seeds": 5,
                  "test_noise": [0.0, 0.25, 0.5, 1.0, 2.0]},
    }
    variant_notes = {
        "quick": ("d = 8 (tr Λ = 1), one linear-attention layer of width 3, 5, 9, L-BFGS on 4000 "
                  "prompts with 4 restarts, 4 seeds instead of softmax blocks up to 4 × 64 and "
                  "AdamW: CPU budget, and AdamW's plateaus"),
        "full": ("identical to paper (same settings, so the same stored results): the GPU-sized "
                 "run; no run of it is recorded"),
        "paper": ("not a figure of the paper (its evidence is theory and LLMs): the full "
                  "variant's, all ours: d = 10 with 2 important directions, N = 20, softmax "
                  "blocks 1 × 4 to 4 × 64, AdamW ≤ 100000 steps, 5 seeds"),
    }
    smoke_overrides = {"d": 4, "sizes": [[1, 3, 1], [1, 5, 1]], "contexts": 100,
                       "max_iter": 50, "seeds": 2, "test_prompts": 200, "val_prompts": 100}
    claims = shi_claims()

    def points(self, s: NoiseSettings) -> list[dict[str, Any]]:
        return [{"n_layers": L, "width": w, "n_heads": h} for L, w, h in s.sizes]

    def trials(self, s: NoiseSettings, point: dict[str, Any]) -> int:
        return 1

    def unit_cost(self, s: NoiseSettings, point: dict[str, Any]) -> float:
        """Training time grows about linearly in width and depth (measured on the quick
        setting: width 3, 5, 9 took 0.41 : 0.62 : 1 of the largest)."""
        return point["n_layers"] * (point["width"] + 1.0)

    def run_point(self, s: NoiseSettings, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        task = s.task()
        L, width, heads = point["n_layers"], point["width"], point["n_heads"]
        if s.attention == "linear":
            cfg = TransformerConfig(d=s.d, n_layers=L, width=width, n_heads=heads,
                                    attention="linear", mlp="none", norm="none",
                                    residual=L > 1)
        else:
            cfg = TransformerConfig(d=s.d, n_layers=L, width=width, n_heads=heads)
        # the same validation and test prompts for every size (the seed ignores the point)
        data_gen = torch_generator(s.seed, ctx.device)
        val = task.sample(s.val_prompts, data_gen)
        clean = task.sample(s.test_prompts, data_gen)
        noisy = {sigma2: add_label_noise(clean, sigma2, data_gen) if sigma2 > 0 else clean
                 for sigma2 in s.test_noise}
        gen = ctx.generator(2)

        def fresh(batch: int) -> Prompts:  # fresh prompts every AdamW step (online)
            return task.sample(batch, gen)

        # L-BFGS: the same training prompts for every size; member m gets its own draw
        train_sets = ([task.sample(s.contexts, data_gen) for _ in range(s.seeds)]
                      if s.optimizer == "lbfgs" else None)
        fitted = fit_transformer_ensemble(
            cfg, s.seeds, s.recipe(s.optimizer, s.max_iter, s.init_scale, s.restarts,
                                   s.screen_iter, s.screen_prompts), device=ctx.device,
            init_generator=ctx.generator(1), batch_generator=gen, train_sets=train_sets,
            sample=None if train_sets is not None else fresh, validation=val)
        report = fitted.report
        assert report is not None
        n_params = sum(p[0].numel() for p in fitted.model.parameters())
        kept = fitted.kept_restart
        rows = []
        for sigma2, prompts in noisy.items():
            # the noise is in the context labels only: the query label stays clean
            err = mc_risk(fitted.model, prompts).cpu()
            rows += [{"sigma2": sigma2, "trial": seed, "params": n_params,
                      "error": float(err[seed]), "val_error": float(report.val_error[seed]),
                      "stop_step": int(report.steps[seed]), "restart": int(kept[seed]),
                      "converged": bool(report.converged[seed])} for seed in range(s.seeds)]
        return rows

    def plot(self, s: NoiseSettings, results: pd.DataFrame,
             theory: pd.DataFrame | None) -> Figure:
        fig, axes = subplots(ncols=2, width=3.6)
        sizes = results.drop_duplicates(["n_layers", "width", "n_heads"]).sort_values("params")
        colors = color_cycle(len(sizes), "plasma")
        for color, row in zip(colors, sizes.itertuples(), strict=True):
            sub = results[(results.n_layers == row.n_layers) & (results.width == row.width)]
            label = f"L={row.n_layers}, w={row.width}, h={row.n_heads} ({row.params} params)"
            experiment_points(axes[0, 0], sub, "sigma2", "error", color=color, label=label)
            base = sub[sub.sigma2 == 0].set_index("trial").error
            delta = sub.assign(error=sub.error - sub.trial.map(base))
            experiment_points(axes[0, 1], delta, "sigma2", "error", color=color, label=label)
        label_axes(axes[0, 0], r"test label-noise variance $\sigma^2$", "error")
        label_axes(axes[0, 1], r"test label-noise variance $\sigma^2$",
                   r"error$(\sigma^2)$ − error$(0)$")
        legend(axes[0, 0], fontsize=6)
        axes[0, 0].set_title("error vs in-context noise")
        axes[0, 1].set_title("sensitivity (paired by seed)")
        return fig

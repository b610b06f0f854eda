"""``lu2024.fig5`` — double descent in trained transformers (Lu et al. 2024, Fig. 5).

Test error vs τ = n/d² for the three architectures of Lu et al. at several d: each unit
(architecture, d) trains one member per (τ, seed), member (τ, seed) on its own pretraining set
of ``n = τ d²`` contexts (α = ℓ/d, ρ, infinite task diversity), by full-batch L-BFGS to the
interpolation/stationarity criterion (or minibatch AdamW) through
:func:`iclab.fit.transformer_study.fit_transformer_ensemble`; the test error is
:func:`iclab.evaluate.risk.mc_risk` on fresh tasks (label noise included). The interpolation
peak per (architecture, d) and the fit ``n_peak = c d²`` follow the peak rule of
:mod:`iclab.experiments.lu2024.transformer_claims`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import pydantic
from matplotlib.figure import Figure

from iclab.contract import Experiment, RunContext
from iclab.evaluate.deviation import deviation_frame
from iclab.evaluate.risk import mc_risk
from iclab.experiments.lu2024.transformer_claims import fig5_claims, peak_constants, peak_table
from iclab.experiments.lu2024.transformer_common import (
    ARCH_LABELS,
    ARCHITECTURES,
    TrainingFields,
)
from iclab.experiments.registry import register
from iclab.figures import color_cycle, experiment_points, label_axes, legend, subplots, theory_line
from iclab.fit.transformer_study import Recipe, as_float32, fit_transformer_ensemble
from iclab.tasks.regression import InContextRegression
from iclab.theory.asymptotic import e_kappa_inf
from iclab.validation import NonEmptyList, PositiveFloat, PositiveInt

#: the authors' τ grid for linear attention (Fig. 5A): 0.5-1.5 in steps of 0.05, 2, 2.5, 3, 5
PAPER_TAUS = [round(0.5 + 0.05 * i, 2) for i in range(21)] + [2.0, 2.5, 3.0, 5.0]


class Fig5Settings(TrainingFields):
    """Settings of ``lu2024.fig5``."""

    ds: NonEmptyList[PositiveInt] = pydantic.Field(default_factory=lambda: [20, 40, 80],
        description="token dimensions d (each in [1, 4096])")
    taus: NonEmptyList[PositiveFloat] = pydantic.Field(
        default_factory=lambda: [round(0.25 * i, 2) for i in range(1, 25)],
        description="pretraining sizes τ = n/d²")
    architectures: list[str] = pydantic.Field(default_factory=lambda: list(ARCHITECTURES),
        description=("architectures trained: linear (one linear-attention layer), softmax (one "
                     "softmax block), softmax2_mlp (two softmax blocks with an MLP)"))
    alpha: float = pydantic.Field(1.0, gt=0, le=1000, description="context length / d")
    rho: float = pydantic.Field(0.01, ge=0, le=100, description="label-noise variance")
    optimizer: Literal["lbfgs", "adamw"] = pydantic.Field(
        "lbfgs", description="full-batch L-BFGS to the criterion, or minibatch AdamW")
    max_iter: int = pydantic.Field(2000, ge=1, le=1_000_000,
                                   description="L-BFGS iterations (the most)")
    loss_tol: float = pydantic.Field(1e-4, gt=0, le=1, description=(
        "criterion: a member has converged when its training MSE is below this ..."))
    grad_tol: float = pydantic.Field(2e-3, gt=0, le=1, description=(
        "... or the norm of its training-loss gradient is below this"))

    @pydantic.field_validator("ds")
    @classmethod
    def _positive_ds(cls, v: list[int]) -> list[int]:
        if not v or any(d < 1 or d > 4096 for d in v):
            raise ValueError("ds must be a non-empty list of integers in [1, 4096]")
        return v

    @pydantic.field_validator("taus")
    @classmethod
    def _positive_taus(cls, v: list[float]) -> list[float]:
        if len(v) < 3 or any(not (0 < t <= 1000) for t in v):
            raise ValueError("taus must list at least 3 values in (0, 1000]")
        return v

    @pydantic.field_validator("architectures")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a not in ARCHITECTURES]
        if bad or not v:
            raise ValueError(f"unknown architecture {bad[0] if bad else None!r}; "
                             f"allowed: {list(ARCHITECTURES)}")
        return v


    def recipe(self) -> Recipe:
        """L-BFGS to the criterion (no validation set), or AdamW for ``steps`` steps."""
        return Recipe(optimizer=self.optimizer, adamw=self.train_settings(),
                      max_iter=self.max_iter, loss_tol=self.loss_tol, grad_tol=self.grad_tol)


@register
class LuFigure5(Experiment[Fig5Settings]):
    name = "lu2024.fig5"
    title = "Double descent in transformers: test error vs tau, peak location vs d^2"
    paper = "Lu, Letey, Zavatone-Veth, Maiti & Pehlevan 2024 (arXiv 2405.11751), Fig. 5"
    Settings = Fig5Settings
    needs_gpu_for_full = True
    #: 3: a separate L-BFGS per member (``train_lbfgs_independent``) instead of one L-BFGS on
    #: the members' summed loss; the quick variant has 8 seeds (4 before), the medium one
    #: d up to 20
    version = "3"
    variants = {
        "quick": {"architectures": ["linear"], "ds": [8, 12],
                  "taus": [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5], "seeds": 8,
                  "max_iter": 500, "test_prompts": 2000},
        "medium": {"ds": [10, 15, 20],
                   "taus": [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0],
                   "seeds": 3, "max_iter": 500, "test_prompts": 2000},
        "full": {"max_iter": 5000},
        "paper": {"taus": PAPER_TAUS, "seeds": 10, "optimizer": "adamw", "lr": 1e-4,
                  "weight_decay": 1e-4, "schedule": "constant", "steps": 1_100_000,
                  "batch": 1024, "test_prompts": 20_000},
    }
    variant_notes = {
        "paper": "the authors' d = 20, 40, 80, alpha = 1, AdamW lr 1e-4 wd 1e-4 for 1.1 M "
                 "updates, their linear-attention tau grid for every architecture, 10 seeds; "
                 "batch 1024 for all members (theirs: 0.1 P) and 20 000 test prompts",
        "quick": "linear attention only at d = 8, 12 with 8 taus and 8 seeds, full-batch "
                 "L-BFGS to interpolation (at most 500 iterations): a CPU budget of minutes",
        "medium": "d = 10, 15, 20, all three architectures, 8 taus, 3 seeds, L-BFGS (at most "
                  "500 iterations): the largest size that trains on 2 CPU cores in about an hour",
        "full": "the paper's d with a 0.25-6 tau grid and 3 seeds, trained by L-BFGS to "
                "interpolation (at most 5000 iterations) instead of 1.1 M AdamW updates",
    }
    smoke_overrides = {"ds": [3, 4], "taus": [0.5, 1.0, 2.0], "seeds": 2, "max_iter": 20,
                       "test_prompts": 200}
    claims = fig5_claims()

    def points(self, s: Fig5Settings) -> list[dict[str, Any]]:
        return [{"arch": a, "d": d} for a in s.architectures for d in s.ds]

    def unit_cost(self, s: Fig5Settings, point: dict[str, Any]) -> float:
        """Relative cost of a unit for the progress estimate and the order of the units.
        Measured on the medium variant (3 seeds, 8 τ, 500 L-BFGS iterations, one core):
        23.6 / 127 / 422 s for linear attention at d = 10 / 15 / 20, 25 / 125 / 380 s for one
        softmax block and 80 / 342 / 1197 s for two blocks + MLP, i.e. about d⁴ (n ∝ d²
        contexts of d tokens of width ≈ d) times a per-architecture factor."""
        depth = {"linear": 1.0, "softmax": 1.0, "softmax2_mlp": 3.0}.get(point["arch"], 2.0)
        return depth * (1.0 + (point["d"] / 8) ** 4)

    def trials(self, s: Fig5Settings, point: dict[str, Any]) -> int:
        return 1  # one unit trains every tau x seed as an ensemble

    def run_point(self, s: Fig5Settings, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        d = point["d"]
        task = InContextRegression(d=d, context_len=max(1, round(s.alpha * d)), rho=s.rho,
                                   k=None, task_norm="gaussian")
        gen = ctx.generator()
        members = [(tau, seed) for tau in s.taus for seed in range(s.seeds)]
        datasets = [task.sample(max(1, round(tau * d * d)), gen, kind="pretrain")
                    for tau, _ in members]
        cfg = ARCHITECTURES[point["arch"]](d)
        # AdamW draws its minibatches from the generator that initialised the members
        init = ctx.generator(1)
        fitted = fit_transformer_ensemble(cfg, len(members), s.recipe(), device=ctx.device,
                                          init_generator=init, batch_generator=init,
                                          train_sets=datasets)
        report = fitted.report
        assert fitted.data is not None
        train_loss = (report.train_loss if report is not None
                      else fitted.data.full_loss(fitted.model).cpu())
        test = as_float32(task.sample(s.test_prompts, gen, kind="icl"))
        e_icl = mc_risk(fitted.model, test).cpu()
        rows = []
        for m, (tau, seed) in enumerate(members):
            row = {"tau": tau, "trial": seed, "n": round(tau * d * d),
                   "train_loss": float(train_loss[m]), "e_icl": float(e_icl[m])}
            if report is not None:
                row.update(grad_norm=float(report.grad_norm[m]),
                           converged=bool(report.converged[m]), iters=int(report.steps[m]))
            rows.append(row)
        return rows

    def theory(self, s: Fig5Settings) -> pd.DataFrame:
        tau = np.linspace(min(s.taus), max(s.taus), 400)
        tau = tau[np.abs(tau - 1) > 1e-3]
        return pd.DataFrame({"tau": tau, "e_icl": e_kappa_inf(tau, s.alpha, s.rho),
                             "curve": "linear theory (ridgeless, kappa=inf)"})

    def plot(self, s: Fig5Settings, results: pd.DataFrame,
             theory: pd.DataFrame | None) -> Figure:
        archs = [a for a in s.architectures if a in set(results.get("arch", []))]
        fig, axes = subplots(ncols=len(archs) + 1, width=3.2)
        colors = color_cycle(len(s.ds))
        peaks = peak_table(results) if not results.empty else pd.DataFrame()
        for ax, arch in zip(axes[0], archs, strict=False):
            for color, d in zip(colors, s.ds, strict=True):
                sub = results[(results.arch == arch) & (results.d == d)]
                experiment_points(ax, sub, "tau", "e_icl", color=color, label=f"d={d}")
                pk = peaks[(peaks.arch == arch) & (peaks.d == d)]
                if len(pk):
                    ax.axvline(pk.tau_peak.iloc[0], color=color, linestyle="--", alpha=0.5)
            if arch == "linear" and theory is not None:
                theory_line(ax, theory.tau, theory.e_icl, color="k", label="theory")
            ax.set_yscale("log")
            ax.set_title(ARCH_LABELS[arch])
            if len(peaks):
                ax.plot([], [], "--", color="0.4", label=r"measured peak $\tau_{\rm peak}$")
            label_axes(ax, "tau", "test error")
            legend(ax)
        ax = axes[0, -1]
        consts = peak_constants(results) if not results.empty else pd.DataFrame()
        for arch in archs:
            pk = peaks[peaks.arch == arch]
            if pk.empty:
                continue
            row = consts[consts.arch == arch].iloc[0]
            c = row.c
            line = ax.plot(pk.d**2, pk.n_peak, "o",
                           label=f"{ARCH_LABELS[arch]}: c={c:.2f} [{row.c_lo:.2f}, "
                                 f"{row.c_hi:.2f}]")
            grid = np.linspace(0, pk.d.max() ** 2 * 1.05, 10)
            ax.plot(grid, c * grid, ":", color=line[0].get_color())
        ax.set_title("interpolation peak")
        label_axes(ax, r"$d^2$", r"$n_{\mathrm{peak}}$")
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.45)  # room for the legend above the data
        legend(ax, loc="upper left", fontsize="small")
        fig.suptitle(rf"$\alpha = {s.alpha:g}$, $\rho = {s.rho:g}$, $\kappa = \infty$ (a fresh "
                     r"task per context); dashed: the measured peak $\tau_{\rm peak}$")
        return fig

    def deviations(self, s: Fig5Settings, results: pd.DataFrame,
                   theory: pd.DataFrame | None) -> pd.DataFrame | None:
        if results.empty:
            return None
        rows = [{"curve": f"{ARCH_LABELS[r.arch]} peak",
                 "metric": "c in n_peak = c d^2, vs 1 (reduced linear attention)",
                 "n_points": int(r.n_d), "max_abs_dev": abs(r.c - 1.0),
                 "max_rel_dev": abs(r.c - 1.0)}
                for r in peak_constants(results).itertuples()]
        return deviation_frame(rows)


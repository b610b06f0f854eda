"""``lu2024.fig6`` — the task-diversity transition in a trained transformer (Lu et al. 2024,
Fig. 6).

g_task = e^ICL − e^IDG against the task diversity κ for two softmax blocks with an MLP. One
engine unit per seed trains that seed's members (one per κ) together. Each
member (κ, seed) has its own pool of ``k = κ d`` Gaussian tasks and its own pretraining set of
``n = τ d²`` contexts drawn from that pool; it is trained by AdamW with early stopping on
held-out prompts from its pretraining distribution (pool tasks, fresh contexts) through
:func:`iclab.fit.transformer_study.fit_transformer_ensemble`. The errors are
:func:`iclab.evaluate.risk.mc_risk` on fresh tasks (ICL) and on pool tasks (IDG), for the
transformer and for dMMSE on the same pool (:class:`iclab.baselines.bayes.DMMSE`, the
Bayes-optimal predictor under the discrete prior); the theory curve is the ridgeless reduced
linear attention.

Quick variant (our choices): context length ``ℓ = 4d`` (α = 4) instead of the paper's α = 1,
and residual width ``h = 20`` instead of the paper's ``h = d``. At α = 1 and d = 6 the best the
reduced linear attention can reach on fresh tasks is e^ICL ≈ 0.53 against 1.01 for ŷ = 0, and
in a few thousand AdamW steps the members never left the trivial predictor. With α = 4 but
``h = d = 6`` they learn in context only partly: at κ = 16 their e^ICL (0.71) is worse than
dMMSE's (0.41) on fresh tasks, and with 8 seeds at 12 000 steps g_task at κ = 8 is three times
0.1 · g_task(dMMSE). The paper's smallest model is 20 wide (d = 20); at width 20 the d = 6
members reach e^ICL ≈ 0.25 at κ ≥ 8, an in-context learner, so the quick variant keeps the
paper's smallest width rather than its ratio h/d (``docs/transformers.md``). The theory curve
and dMMSE are computed at the variant's α. The full variant keeps α = 1 and ``h = d``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np
import pandas as pd
import pydantic
import torch
from matplotlib.figure import Figure

from iclab.baselines.bayes import DMMSE
from iclab.contract import Experiment, RunContext
from iclab.evaluate.risk import mc_risk
from iclab.experiments.lu2024.transformer_claims import FIG6_QUICK_UNCLAIMED, fig6_claims
from iclab.experiments.lu2024.transformer_common import ARCHITECTURES, EarlyStoppingFields
from iclab.experiments.registry import register
from iclab.figures import experiment_points, label_axes, legend, subplots, theory_line
from iclab.fit.transformer_study import as_float32, fit_transformer_ensemble
from iclab.tasks.prompts import Prompts
from iclab.tasks.regression import InContextRegression
from iclab.theory.asymptotic import g_task
from iclab.validation import NonEmptyList, PositiveOrInf


class Fig6Settings(EarlyStoppingFields):
    """Settings of ``lu2024.fig6``."""

    d: int = pydantic.Field(20, ge=1, le=4096, description="token dimension d")
    kappas: NonEmptyList[PositiveOrInf] = pydantic.Field(
        default_factory=lambda: [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0],
        description="task diversities κ = k/d (at least 3)")
    alpha: float = pydantic.Field(1.0, gt=0, le=1000, description="context length / d")
    tau: float = pydantic.Field(10.0, gt=0, le=1000, description="pretraining contexts / d²")
    rho: float = pydantic.Field(0.01, ge=0, le=100, description="label-noise variance")
    architecture: Literal["linear", "softmax", "softmax2_mlp"] = pydantic.Field(
        "softmax2_mlp", description="one of " + ", ".join(ARCHITECTURES))
    width: int | None = pydantic.Field(
        None, ge=1, le=65_536,
        description="residual width h of the transformer (None: h = d, the paper's choice)")

    @pydantic.field_validator("kappas")
    @classmethod
    def _positive_kappas(cls, v: list[float]) -> list[float]:
        if len(v) < 3 or any(not (0 < k <= 1e6) for k in v):
            raise ValueError("kappas must list at least 3 values in (0, 1e6]")
        return v


#: the authors' pool sizes k at each d of their Fig. 6 (κ = k/d up to 6.15, 6.7 and 4.45)
PAPER_KS: dict[int, tuple[int, ...]] = {
    20: (2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 23, 28, 35, 45, 57, 69, 82, 96, 109, 123),
    40: (2, 6, 10, 14, 18, 22, 26, 30, 34, 38, 40, 43, 46, 50, 54, 59, 64, 69, 75, 81, 88, 95,
         103, 112, 121, 131, 142, 154, 167, 180, 195, 211, 229, 248, 268),
    80: (2, 6, 10, 14, 18, 22, 26, 30, 34, 38, 42, 46, 50, 75, 100, 142, 159, 178, 200, 225,
         252, 283, 317, 356),
}


def _paper(d: int, ks: tuple[int, ...], seeds: int) -> dict[str, Any]:
    """The authors' Fig. 6 settings at ``d``: α = 1, τ = 10, width d, AdamW at lr 1e-4 (weight
    decay 1e-4, no schedule) for 100 000 × 11 updates of 0.1·P = d² contexts, no early stop."""
    return {"d": d, "kappas": [k / d for k in ks], "alpha": 1.0, "tau": 10.0,
            "steps": 1_100_000, "batch": d * d, "lr": 1e-4, "weight_decay": 1e-4,
            "schedule": "constant", "warmup": 0.0, "eval_every": 1000, "patience": 100_000,
            "seeds": seeds, "test_prompts": 20_000}


#: the quick variant; alpha = 4 and width = 20: see the module docstring
_QUICK: dict[str, Any] = {
    "d": 6, "kappas": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0], "tau": 40.0, "alpha": 4.0,
    "width": 20, "steps": 6000, "batch": 32, "lr": 1e-2, "schedule": "cosine", "warmup": 0.05,
    "seeds": 4, "test_prompts": 4000, "eval_every": 100, "patience": 15}


@register
class LuFigure6(Experiment[Fig6Settings]):
    name = "lu2024.fig6"
    title = "Task-diversity transition in a transformer: g_task vs kappa, with dMMSE and theory"
    paper = "Lu, Letey, Zavatone-Veth, Maiti & Pehlevan 2024 (arXiv 2405.11751), Fig. 6"
    Settings = Fig6Settings
    needs_gpu_for_full = True
    version = "7"
    variants = {
        "quick": _QUICK,
        # the quick setting with 16 seeds (its seeds 0-3 repeat the quick run): 21 min
        "medium": {**_QUICK, "seeds": 16},
        "full": {"d": 40, "kappas": [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]},
        # the authors' runs at d = 20, 40, 80: AdamW lr 1e-4 with their 100 000 iterations of
        # 11 minibatches of 0.1 P = d² contexts; no early stopping (more patience than
        # validation checks); 20 seeds at d = 20 and 10 at d = 40, 80, as in their data
        "paper": _paper(20, PAPER_KS[20], seeds=20),
        "paper_d40": _paper(40, PAPER_KS[40], seeds=10),
        "paper_d80": _paper(80, PAPER_KS[80], seeds=10),
    }
    variant_notes = {
        "paper": "the authors' d = 20 run: alpha = 1, tau = 10, width d, their 20 values of k, "
                 "AdamW lr 1e-4 wd 1e-4, batch 0.1 P = 400, 1.1 M updates, no early stopping, 20 "
                 "seeds; 20 000 test prompts (theirs 1000 P)",
        "paper_d40": "the paper variant at the authors' d = 40: their 35 values of k, batch "
                     "0.1 P = 1600, 10 seeds",
        "paper_d80": "the paper variant at the authors' d = 80: their 24 values of k, batch "
                     "0.1 P = 6400, 10 seeds",
        "quick": "d = 6, alpha = 4, tau = 40, width 20, 7 kappas, AdamW lr 1e-2 with cosine "
                 "decay and early stopping (at most 6000 steps), 4 seeds: the CPU budget; "
                 "alpha = 4 and width 20 let d = 6 models learn in context",
        "medium": "the quick setting with 16 seeds (about 21 min on 2 cores), where the "
                  "transition claims are stated",
        "full": "d = 40 with 9 kappas up to 16, AdamW lr 1e-3 batch 128 with early stopping "
                "(at most 20 000 steps), 3 seeds, instead of the paper's 1.1 M updates",
    }
    smoke_overrides = {"d": 3, "kappas": [0.5, 2.0, 8.0], "steps": 30, "seeds": 2,
                       "test_prompts": 200, "val_prompts": 100, "eval_every": 10}
    claims = fig6_claims()
    unclaimed_variants = {"quick": FIG6_QUICK_UNCLAIMED}

    def points(self, s: Fig6Settings) -> list[dict[str, Any]]:
        return [{"d": s.d, "arch": s.architecture}]

    def trials(self, s: Fig6Settings, point: dict[str, Any]) -> int:
        return s.seeds  # one unit per seed: its members (one per κ) train together

    def run_point(self, s: Fig6Settings, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        d = s.d
        ell = max(1, round(s.alpha * d))
        gen = ctx.generator()
        tasks, pools, datasets, vals = [], [], [], []
        for kappa in s.kappas:
            task = InContextRegression(d=d, context_len=ell, rho=s.rho,
                                       k=max(1, round(kappa * d)), task_norm="gaussian",
                                       balanced=False)
            pool = task.draw_pool(gen)
            tasks.append(task)
            pools.append(pool)
            datasets.append(task.sample(max(1, round(s.tau * d * d)), gen, kind="pretrain",
                                        pool=pool))
            # held out, from the pretraining distribution (pool tasks, fresh contexts)
            vals.append(task.sample(s.val_prompts, gen, kind="pretrain", pool=pool))
        config = ARCHITECTURES[point["arch"]](d)
        if s.width is not None:
            config = dataclasses.replace(config, width=s.width)
        fitted = fit_transformer_ensemble(
            config, len(s.kappas), s.recipe(), device=ctx.device,
            init_generator=ctx.generator(1), batch_generator=ctx.generator(2),
            train_sets=datasets, validation=vals)
        report = fitted.report
        assert report is not None
        # test sets drawn in the order icl, idg per κ; each member sees its own pool's sets
        tests: dict[str, list[Prompts]] = {"icl": [], "idg": []}
        for task, pool in zip(tasks, pools, strict=True):
            for kind in ("icl", "idg"):
                tests[kind].append(task.sample(s.test_prompts, gen, kind=kind, pool=pool))
        with torch.no_grad():
            preds = {kind: fitted.model.predict_each([as_float32(t) for t in sets]).double()
                     for kind, sets in tests.items()}
        rows = []
        for m, (kappa, pool) in enumerate(zip(s.kappas, pools, strict=True)):
            errs: dict[str, float] = {}
            dmmse = DMMSE(pool, s.rho)
            for kind in ("icl", "idg"):
                test = tests[kind][m]
                errs[f"e_{kind}"] = float(((preds[kind][m] - test.y_q) ** 2).mean())
                errs[f"dmmse_{kind}"] = float(mc_risk(dmmse, test)[0])
            common = {"kappa": kappa, "k": pool.shape[0]}
            rows.append({**common, "method": "transformer", "e_icl": errs["e_icl"],
                         "e_idg": errs["e_idg"], "g_task": errs["e_icl"] - errs["e_idg"],
                         "val_error": float(report.val_error[m]),
                         "stop_step": int(report.steps[m]),
                         "converged": bool(report.converged[m])})
            rows.append({**common, "method": "dmmse", "e_icl": errs["dmmse_icl"],
                         "e_idg": errs["dmmse_idg"],
                         "g_task": errs["dmmse_icl"] - errs["dmmse_idg"]})
        return rows

    def theory(self, s: Fig6Settings) -> pd.DataFrame:
        kappa = np.geomspace(min(s.kappas), max(s.kappas), 200)
        return pd.DataFrame({"kappa": kappa, "g_task": g_task(s.tau, s.alpha, kappa, s.rho),
                             "curve": "linear attention theory (ridgeless)"})

    def plot(self, s: Fig6Settings, results: pd.DataFrame,
             theory: pd.DataFrame | None) -> Figure:
        fig, axes = subplots(width=4.0, height=3.0)
        ax = axes[0, 0]
        for method, color, marker in (("transformer", "C0", "o"), ("dmmse", "C3", "s")):
            experiment_points(ax, results[results.method == method], "kappa", "g_task",
                              color=color, label=method, marker=marker)
        if theory is not None:
            theory_line(ax, theory.kappa, theory.g_task, color="k", label="linear theory")
        ax.set_xscale("log")
        width = s.d if s.width is None else s.width
        ax.set_title(rf"$d={s.d}$, $\alpha={s.alpha:g}$, $\tau={s.tau:g}$, width {width}")
        label_axes(ax, "kappa", "g_task")
        legend(ax)
        return fig



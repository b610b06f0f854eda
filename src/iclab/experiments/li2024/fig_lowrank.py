"""``li2024.fig_lowrank``: rank-r linear attention (``W_q, W_k`` in ``R^{(d+1) x r}``) on a
non-isotropic task, against the optimal rank-r PGD risk (Eckart–Young)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from iclab.claims import Claim, scale_column
from iclab.experiments.li2024.claims import REACH_RATE, early_stopped, near_reference
from iclab.experiments.li2024.common import (
    QUICK_SGD,
    SGD_RECIPE,
    LiExperiment,
    LiSettings,
    decaying_spectrum,
    rank_grid,
)
from iclab.experiments.registry import register
from iclab.fit.ensemble import EnsembleTrainResult
from iclab.fit.li_training import ContextLengthTask, TrainConfig, train_icl_ensemble
from iclab.tasks.gaussian_design import GaussianDesignTask
from iclab.theory import lowrank


@register
class LiFigLowRank(LiExperiment[LiSettings]):
    """Rank-r attention (W_q, W_k in R^{(d+1) x r}) on a non-isotropic task."""

    name = "li2024.fig_lowrank"
    title = "Low-rank linear attention: trained vs optimal rank-r PGD risk"
    version = "3"
    Settings = LiSettings
    curve_key = "r"
    #: Three initialisations per model, screened on the training loss after half of the steps
    #: (docs/li2024.md, "Restarts"): with one, 1-3 of the 15 models at r = 2 ended in the
    #: rank-1 saddle and the claim failed on 3 of 4 seeds.
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {**QUICK_SGD, "methods": ["linear_attention"], "restarts": 3},
        "full": {**SGD_RECIPE, "methods": ["linear_attention"]},
        # The paper's numbers are not known here: the full variant's sizes, spelled out.
        "paper": {**SGD_RECIPE, "d": 20, "ns": [10, 20, 40, 60, 80], "seeds": 5,
                  "steps": 20000, "batch": 512, "methods": ["linear_attention"]}}
    variant_notes: ClassVar[dict[str, str]] = {
        "paper": "The sweep over the attention rank r is the paper's; r in {1, 5, 10, 20}, "
                 "spectrum 0.7^i, d = 20, n in {10..80}, 5 seeds, 20 000 SGD steps, batch 512 "
                 "are our choices: the paper's values are not known here.",
        "quick": "d = 4 (r in {1, 2, 4}), n in {2..16}, 3 seeds, 2400 steps, batch 128: the CPU "
                 "budget of make demo; 3 screened restarts, since at r = 2 one to three of 15 "
                 "models stalled at the rank-1 saddle.",
        "full": "The same settings as paper (full sets only what differs from the defaults); "
                "the claims are stated for quick and full. Not run yet: it needs a GPU.",
    }
    claims = (
        Claim("reach_rank_r_optimum",
              "Trained rank-r linear attention reaches the optimal rank-r PGD risk: the rate at "
              "which trained models end within 1 % of the rank-r optimum's risk on the same test "
              "prompts is above 75 % (95 % Wilson interval, pooled over r, n and seeds), and at "
              "no r is it demonstrably below (Holm over the r's).",
              "Li et al. 2024, optimal low-rank attention (risk in terms of the covariance "
              "spectrum); rank-r formula: ours (Eckart-Young)",
              near_reference(["r", "method"], tol=0.01, frac=REACH_RATE),
              scale_column("risk", 1.03),
              controls=(early_stopped(2400),)),
    )

    def points(self, settings: LiSettings) -> list[dict[str, Any]]:
        return [{"r": r} for r in rank_grid(settings.d)]

    def task(self, settings: LiSettings, point: dict[str, Any]) -> GaussianDesignTask:
        return GaussianDesignTask(settings.d, Sigma_beta=decaying_spectrum(settings.d),
                                  sigma2=settings.sigma2, n=max(settings.ns))

    def optimum(self, settings: LiSettings, point: dict[str, Any],
                n: int) -> tuple[np.ndarray, float]:
        S, r, s2 = decaying_spectrum(settings.d), point["r"], settings.sigma2
        return (lowrank.lowrank_optimum(S, int(n), r, s2),
                float(lowrank.lowrank_optimal_risk(S, n, r, s2)))

    def train(self, method: str, task: ContextLengthTask, ns: list[int], settings: LiSettings,
              point: dict[str, Any], gen: torch.Generator,
              config: TrainConfig) -> EnsembleTrainResult:
        return train_icl_ensemble(method, task, ns, len(ns), gen, config, rank=point["r"])

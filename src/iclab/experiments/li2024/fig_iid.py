"""``li2024.fig_iid``: trained linear attention and H3 vs the optimal PGD risk ``L*(n)``.

Three panels: (a) noiseless i.i.d. task, (b) noisy labels, (c) a non-isotropic task spectrum
(Theorem 1 / Proposition 1 of Li et al. 2024).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from iclab.claims import Claim, scale_column
from iclab.experiments.li2024.claims import (
    REACH_RATE,
    early_stopped,
    equal_at_reference,
    near_reference,
)
from iclab.experiments.li2024.common import (
    QUICK_SGD,
    SGD_RECIPE,
    LiExperiment,
    LiSettings,
    decaying_spectrum,
)
from iclab.experiments.registry import register
from iclab.tasks.gaussian_design import GaussianDesignTask
from iclab.theory import pgd


def panel_spectrum(settings: LiSettings, panel: str) -> np.ndarray:
    """The task spectrum of a panel: decaying for ``nonisotropic``, else all ones."""
    return decaying_spectrum(settings.d) if panel == "nonisotropic" else np.ones(settings.d)


@register
class LiFigIID(LiExperiment[LiSettings]):
    """Theorem 1 / Proposition 1 figure: (a) noiseless, (b) noisy labels, (c) non-isotropic."""

    name = "li2024.fig_iid"
    title = "Trained linear attention and H3 vs optimal PGD risk (iid, noisy, non-isotropic)"
    version = "2"
    Settings = LiSettings
    #: The recipe from PyTorch's initialisation (docs/li2024.md): SGD with momentum 0.9; Adam
    #: stalls in a spurious rank-one minimum at small n on the non-isotropic task.
    #: Three restarts per model in the quick variant (screened on the training loss): on 20
    #: random pilot seeds 9 of the 120 linear-attention models at n = 2 and 4 on the
    #: non-isotropic task stalled in the rank-one solution (cos_W 0.61-0.64, up to 46 % above
    #: the optimum), and attention_equals_h3 was inconclusive on the 7 seeds that had one.
    #: A stall rate of 7.5 % per model becomes 0.04 % when all three candidates must stall.
    #: Judged on 20 other seeds: both claims 20 of 20.
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {**QUICK_SGD, "restarts": 3}, "full": SGD_RECIPE,
        # The paper's numbers (d, n, noise level, optimiser, steps, seeds) are not known here:
        # the full variant's sizes, spelled out (docs/li2024.md, "Variants").
        "paper": {**SGD_RECIPE, "d": 20, "ns": [10, 20, 40, 60, 80], "seeds": 5,
                  "steps": 20000, "batch": 512}}
    variant_notes: ClassVar[dict[str, str]] = {
        "paper": "The three panels (noiseless, noisy, non-isotropic) are the paper's; d = 20, "
                 "n in {10..80}, noisy sigma2 = 1, spectrum 0.7^i, 5 seeds, 20 000 SGD steps, "
                 "batch 512 are our choices: the paper's values are not known here.",
        "quick": "d = 4, n in {2..16}, 3 seeds, 2400 steps, batch 128: the CPU budget of make "
                 "demo; 3 screened restarts per model against the rank-one stalls seen at "
                 "n = 2 and 4 on the non-isotropic panel.",
        "full": "The same settings as paper (full sets only what differs from the defaults); "
                "the claims are stated for quick and full. Not run yet: it needs a GPU.",
    }
    claims = (
        Claim("reach_pgd_optimum",
              "Trained one-layer linear attention and H3 reach the optimal one-step PGD risk: per "
              "architecture, the rate at which trained models end within 1 % of the PGD-optimal "
              "predictor's risk on the same test prompts is above 75 % (95 % Wilson interval, "
              "pooled over panels, n and seeds), and in no panel is it demonstrably below (Holm "
              "over the panels).",
              "Li et al. 2024, Theorem 1 and Proposition 1 (figure of the i.i.d., noisy and "
              "non-isotropic cases)",
              near_reference(["panel", "method"], tol=0.01, frac=REACH_RATE),
              scale_column("risk", 1.03),
              controls=(early_stopped(2400),)),
        Claim("attention_equals_h3",
              "Linear attention and H3 reach the same risk, that of the optimal one-step PGD "
              "predictor: in every panel each architecture's mean over n and seeds of "
              "risk / PGD risk - 1 is below 1 %, and the mean of (risk_H3 - risk_ATT) / PGD "
              "risk lies within ±1 %.",
              "Li et al. 2024, Theorem 1 (min L_ATT = min L_H3 = min L_PGD)",
              # The theorem equates minima: trained risks show it only where both models are
              # at the minimum, whose value is the PGD optimum's. "At" is the 1 % of every
              # reach claim; two early-stopped models may agree anywhere above it.
              equal_at_reference("panel", "linear_attention", "h3", tol=0.01),
              scale_column("risk", 1.03, lambda f: f["method"] == "h3"),
              controls=(early_stopped(2400, "neither parameterisation is at the shared "
                                      "optimum yet"),)),
    )

    def points(self, settings: LiSettings) -> list[dict[str, Any]]:
        noisy = settings.sigma2 if settings.sigma2 > 0 else 1.0
        return [{"panel": "noiseless", "sigma2": 0.0}, {"panel": "noisy", "sigma2": noisy},
                {"panel": "nonisotropic", "sigma2": 0.0}]

    def task(self, settings: LiSettings, point: dict[str, Any]) -> GaussianDesignTask:
        return GaussianDesignTask(settings.d, Sigma_beta=panel_spectrum(settings, point["panel"]),
                                  sigma2=point["sigma2"], n=max(settings.ns))

    def optimum(self, settings: LiSettings, point: dict[str, Any],
                n: int) -> tuple[np.ndarray, float]:
        S = panel_spectrum(settings, point["panel"])
        return (pgd.pgd_optimum(S, int(n), point["sigma2"]),
                float(pgd.pgd_optimal_risk(S, n, point["sigma2"])))

"""``li2024.fig_alignment``: task–feature alignment under OUR PROVISIONAL model.

Features have extra variance ``kappa - 1 = alpha^2 d`` along the task direction
(:class:`iclab.tasks.correlated.AlignmentTask`; theory in :mod:`iclab.theory.rag`).
``E y^2 = kappa d + sigma2`` grows with alpha, so the raw risk rises with alpha; the figure and
the claims use the normalised risk ``L / E y^2`` (the fraction of the label variance left
unexplained).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from iclab.claims import Claim, Control, scale_column, transform_column
from iclab.contract import Row
from iclab.experiments.li2024.claims import REACH_RATE, early_stopped, monotone_in, near_reference
from iclab.experiments.li2024.common import QUICK, SGD_RECIPE, LiExperiment, LiSettings
from iclab.experiments.registry import register
from iclab.figures import label_axes, legend
from iclab.tasks.correlated import AlignmentTask
from iclab.theory import rag

ALIGN_ALPHAS = (0.0, 0.3, 0.6, 0.9)


@register
class LiFigAlignment(LiExperiment[LiSettings]):
    """Task–feature alignment (our provisional model): normalised risk ``L / E y^2``."""

    name = "li2024.fig_alignment"
    title = "Task-feature alignment (provisional model): normalised risk, trained vs PGD theory"
    version = "2"
    Settings = LiSettings
    curve_key = "alpha"
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        # Adam with batch 512 (isotropic law): with SGD and batch 128 the gradient noise left
        # up to 1.2 % excess at alpha = 0.6 (3 of 15 models above 1 %).
        # Two restarts per model (screened on the training loss): on 20 random pilot seeds 2
        # of 480 models stalled at alpha = 0 (26 % and 60 % above the optimum) and made
        # alignment_lowers_normalised_risk inconclusive on their seeds (3-seed interval
        # 0.18 +- 0.48); every other seed held with a margin above 27. A stall that needs both
        # candidates to stall is rarer by the factor 2/480. Judged on 20 other
        # seeds: both claims 20 of 20.
        "quick": {**QUICK, "methods": ["linear_attention"], "optimizer": "adam", "batch": 512,
                  "steps": 1200, "restarts": 2},
        "full": {**SGD_RECIPE, "methods": ["linear_attention", "h3"]},
        # The paper's alignment model and numbers are not known here: our provisional model
        # at the full variant's sizes, spelled out.
        "paper": {**SGD_RECIPE, "d": 20, "ns": [10, 20, 40, 60, 80], "seeds": 5,
                  "steps": 20000, "batch": 512, "methods": ["linear_attention", "h3"]}}
    variant_notes: ClassVar[dict[str, str]] = {
        "paper": "The paper's alignment model is not known: ours (feature variance kappa = "
                 "alpha^2 d + 1 along beta) is provisional; alpha in {0, .3, .6, .9}, d = 20, "
                 "n in {10..80}, 5 seeds, 20 000 SGD steps, batch 512: our choices.",
        "quick": "d = 4, n in {2..16}, 3 seeds, attention only, Adam with batch 512 for 1200 "
                 "steps: CPU budget (SGD, batch 128: 1.2 % excess at alpha = 0.6); 2 screened "
                 "restarts against stalls at alpha = 0.",
        "full": "The same settings as paper (full sets only what differs from the defaults); "
                "the claims are stated for quick and full. Not run yet: it needs a GPU.",
    }
    claims = (
        Claim("reach_pgd_optimum",
              "Under task-feature alignment, trained linear attention reaches the optimal PGD "
              "risk: the rate at which trained models end within 1 % of the optimum's risk on the "
              "same test prompts is above 75 % (95 % Wilson interval, pooled over alpha and "
              "seeds), and at no alpha is it demonstrably below (Holm over the alphas).",
              "ours (provisional alignment model and its PGD theory)",
              near_reference(["alpha", "method"], tol=0.01, frac=REACH_RATE),
              scale_column("risk", 1.03),
              controls=(early_stopped(1200),)),
        Claim("alignment_lowers_normalised_risk",
              "Alignment increases the effective sample size: at every n the normalised risk "
              "L / E[y^2] of the trained models falls from each alpha to the next larger one.",
              "Li et al. 2024 (task-feature alignment improves sample complexity); model: ours",
              monotone_in("alpha", "risk_norm", ALIGN_ALPHAS, by=["n", "method"],
                          direction="decreasing"),
              transform_column("risk_norm", lambda f: f["risk"] / f["ey2"].min()),
              controls=(Control(
                  {"d": 1},
                  "in one dimension there is no direction to align with: alignment only "
                  "rescales the feature, and the normalised risk is the same at every alpha "
                  "(theory 0.5 at n = 2, 0.111 at n = 16)"),)),
    )

    def points(self, settings: LiSettings) -> list[dict[str, Any]]:
        return [{"alpha": a} for a in ALIGN_ALPHAS]

    def task(self, settings: LiSettings, point: dict[str, Any]) -> AlignmentTask:
        return AlignmentTask(settings.d, point["alpha"], settings.sigma2, n=max(settings.ns))

    def optimum(self, settings: LiSettings, point: dict[str, Any],
                n: int) -> tuple[np.ndarray, float]:
        a, d, s2 = point["alpha"], settings.d, settings.sigma2
        A_B = rag.alignment_risk(0.0, a, n, d, s2) - rag.alignment_optimal_risk(a, n, d, s2)
        ey2 = rag.alignment_label_variance(a, d, s2)
        # c* = A / B and L* = E y^2 - A^2 / B, so c* = (E y^2 - L*) / A with A = n kappa^2 d
        A = n * (a**2 * d + 1) ** 2 * d
        c = float(A_B / A) if n > 0 else 0.0
        return c * np.eye(d), float(ey2 - A_B)

    def finish_rows(self, settings: LiSettings, point: dict[str, Any],
                    rows: list[Row]) -> list[Row]:
        ey2 = float(rag.alignment_label_variance(point["alpha"], settings.d, settings.sigma2))
        for row in rows:
            row.update(ey2=ey2, risk_norm=row["risk"] / ey2,
                       risk_theory_norm=row["risk_theory"] / ey2)
        return rows

    def theory(self, settings: LiSettings) -> pd.DataFrame | None:
        th = self.optimum_curves(settings)
        ey2 = rag.alignment_label_variance(th["alpha"].to_numpy(), settings.d, settings.sigma2)
        return th.assign(ey2=ey2, risk_norm=th["risk"] / ey2)

    def plot(self, settings: LiSettings, results: pd.DataFrame,
             theory: pd.DataFrame | None) -> Figure:
        res = results if results.empty else results.assign(risk=results["risk_norm"])
        th = None if theory is None else theory.assign(risk=theory["risk_norm"])
        fig = super().plot(settings, res, th)
        ax = fig.axes[0]
        label_axes(ax, "context length $n$",
                   r"normalised risk $\mathcal{L}/\mathbb{E}[y^2]$")
        ax.set_title(r"task-feature alignment (our model), $\kappa=\alpha^2 d+1$")
        ax.plot([], [], ":", color="black", label="PGD theory (dotted)")
        legend(ax)
        return fig

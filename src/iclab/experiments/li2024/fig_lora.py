"""``li2024.fig_lora``: LoRA of rank r on ``W_q`` of a frozen PGD-optimal model.

The frozen model is optimal for ``Sigma_old`` (a decaying task spectrum); the adapter is trained
on ``Sigma_new`` (the reversed spectrum). Besides the trained adapter's risk every row holds, on
the same test prompts, the frozen model's risk (``risk_frozen``, rank 0) and the new task's full
optimum (``risk_new_opt``), so the fraction of the frozen -> optimum gap a rank-r adapter
recovers is a paired measurement.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from iclab.claims import (
    Check,
    Claim,
    ClaimData,
    Evidence,
    all_of,
    reverse_column,
    scale_column,
    transform_column,
)
from iclab.contract import Row
from iclab.evaluate.paired_risk import pgd_risk_mc
from iclab.experiments.li2024.claims import (
    REACH_RATE,
    early_stopped,
    monotone_in,
    near_reference,
    within_interval,
)
from iclab.experiments.li2024.common import (
    QUICK,
    LiExperiment,
    LiSettings,
    decaying_spectrum,
    rank_grid,
    theory_and_trained,
)
from iclab.experiments.registry import register
from iclab.figures import color_cycle, label_axes, legend, subplots
from iclab.fit.ensemble import EnsembleTrainResult
from iclab.fit.li_training import ContextLengthTask, TrainConfig, train_icl_ensemble
from iclab.models.linear_attention import embed_preconditioner
from iclab.tasks.gaussian_design import GaussianDesignTask
from iclab.tasks.prompts import Prompts
from iclab.theory import lowrank, pgd


def lora_spectra(d: int) -> tuple[np.ndarray, np.ndarray]:
    """(Sigma_old, Sigma_new): a decaying spectrum and its reversal (a shift of the task)."""
    old = decaying_spectrum(d)
    return old, old[::-1].copy()


def lora_fraction(frame: pd.DataFrame, column: str = "risk") -> pd.Series:
    """Fraction of the frozen -> new-optimum gap recovered: ``(L_0 - L) / (L_0 - L*_new)``."""
    gap = frame["risk_frozen"] - frame["risk_new_opt"]
    return (frame["risk_frozen"] - frame[column]) / gap


def lora_matches_theory(tol: float) -> Check:
    """At every (r, n): the mean over seeds of (recovered fraction - theory) within ``±tol``."""

    def check(data: ClaimData) -> Evidence:
        res = data.results
        res = res.assign(err=lora_fraction(res) - res["frac_theory"])
        return all_of([within_interval(g["err"], tol, f"r={r}, n={n}: recovered fraction - "
                                       "theory") for (r, n), g in res.groupby(["r", "n"])],
                      "every r and n")

    return check


def with_lora_fraction(frame: pd.DataFrame) -> pd.DataFrame:
    """The results with the recovered fraction as column ``frac``."""
    return frame.assign(frac=lora_fraction(frame))


@register
class LiFigLoRA(LiExperiment[LiSettings]):
    """LoRA of rank r on W_q of a frozen PGD-optimal model for Sigma_old, trained on Sigma_new."""

    name = "li2024.fig_lora"
    title = "LoRA adaptation to a shifted task covariance: recovered gap vs rank, trained vs theory"
    version = "2"
    Settings = LiSettings
    curve_key = "r"
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        # Adam (the adapters start at B = 0); 2000 steps: at 1200 the full-rank adapter (r = 8,
        # n = 16) ended 0.5-0.9 % above its optimum
        "quick": {**QUICK, "d": 8, "ns": [8, 16], "methods": ["lora"], "steps": 2000},
        "full": {"methods": ["lora"]},
        # The paper's LoRA parameterisation and numbers are not known here: the full
        # variant's sizes, spelled out.
        "paper": {"d": 20, "ns": [10, 20, 40, 60, 80], "seeds": 5, "steps": 20000,
                  "batch": 512, "optimizer": "adam", "lr": 3e-3, "methods": ["lora"]}}
    variant_notes: ClassVar[dict[str, str]] = {
        "paper": "LoRA after a task-covariance shift is the paper's; a rank-r adapter on W_q, the "
                 "0.7^i spectrum to its reversal, r in {1, 5, 10, 20}, d = 20, n in {10..80}, "
                 "5 seeds, Adam lr 3e-3, 20 000 steps, batch 512: our choices.",
        "quick": "d = 8 (r in {1, 2, 4, 8}), n in {8, 16}, 3 seeds, Adam lr 1e-2, 2000 steps, "
                 "batch 128: the CPU budget of make demo; at 1200 steps the full-rank adapter "
                 "ended 0.5-0.9 % above its optimum.",
        "full": "The same settings as paper (full sets only what differs from the defaults); "
                "the claims are stated for quick and full. Not run yet: it needs a GPU.",
    }
    claims = (
        Claim("reach_lora_optimum",
              "A trained rank-r LoRA adapter reaches the optimal rank-r adaptation: the rate at "
              "which trained adapters end within 1 % of its risk on the same test prompts is "
              "above 75 % (95 % Wilson interval, pooled over r, n and seeds), and at no r is it "
              "demonstrably below (Holm over the r's).",
              "Li et al. 2024, LoRA result; rank-r formula: ours (Eckart-Young)",
              near_reference(["r", "method"], tol=0.01, frac=REACH_RATE),
              scale_column("risk", 1.03),
              controls=(early_stopped(2000),)),
        Claim("recovered_fraction_matches_theory",
              "The fraction of the frozen-model -> new-optimum risk gap that a rank-r adapter "
              "recovers matches the theory within ±0.05 at every r and n.",
              "Li et al. 2024, LoRA result; formula: ours (Eckart-Young)",
              lora_matches_theory(0.05),
              transform_column("risk", lambda f: f["risk_frozen"]
                               - 0.8 * (f["risk_frozen"] - f["risk"])),
              controls=(early_stopped(2000, "the adapters (which start at B = 0) have "
                                      "recovered less of the gap than the theory's"),)),
        Claim("rank_recovers_more",
              "A larger LoRA rank recovers more of the gap: at every n the recovered fraction "
              "rises from each r to the next.",
              "Li et al. 2024, LoRA result (risk in terms of the rank)",
              monotone_in("r", "frac", (1, 2, 4, 8), by=["n"], frame=with_lora_fraction),
              reverse_column("risk", within=["n", "seed"]),
              no_control="the task shift (a decaying spectrum to its reversal) is fixed in "
              "code and needs a full-rank update at every d, n and noise, so no setting makes "
              "a larger rank recover no more (an early-stopped adapter is no control: it "
              "is far from every rank's optimum, and 50 steps gave inconclusive, "
              "0.06 ± 0.20)"),
    )

    def points(self, settings: LiSettings) -> list[dict[str, Any]]:
        return [{"r": r} for r in rank_grid(settings.d)]

    def task(self, settings: LiSettings, point: dict[str, Any]) -> GaussianDesignTask:
        return GaussianDesignTask(settings.d, Sigma_beta=lora_spectra(settings.d)[1],
                                  sigma2=settings.sigma2, n=max(settings.ns))

    def optimum(self, settings: LiSettings, point: dict[str, Any],
                n: int) -> tuple[np.ndarray, float]:
        old, new = lora_spectra(settings.d)
        r, s2 = point["r"], settings.sigma2
        return (lowrank.lora_optimum(old, new, int(n), r, s2),
                float(lowrank.lora_optimal_risk(old, new, int(n), r, s2)))

    def kind(self, method: str) -> str:
        return "lora"

    def references(self, settings: LiSettings, point: dict[str, Any], test: Prompts,
                   ns: list[int]) -> dict[str, np.ndarray]:
        old, new = lora_spectra(settings.d)
        s2 = settings.sigma2
        frozen = np.stack([pgd.pgd_optimum(old, n, s2) for n in ns])
        best = np.stack([pgd.pgd_optimum(new, n, s2) for n in ns])
        out = {}
        for name, W in (("risk_frozen", frozen), ("risk_new_opt", best)):
            Wt = torch.tensor(W, dtype=test.X.dtype, device=test.X.device)
            out[name] = pgd_risk_mc(Wt, test, ns=ns).cpu().numpy()
        return out

    def finish_rows(self, settings: LiSettings, point: dict[str, Any],
                    rows: list[Row]) -> list[Row]:
        for row in rows:
            row["frac_theory"] = self.fraction_theory(settings, row["n"], point["r"])
            row["frac"] = float(lora_fraction(pd.DataFrame([row])).iloc[0])
        return rows

    def fraction_theory(self, settings: LiSettings, n: int, r: int) -> float:
        """``(L_0 - L_r) / (L_0 - L*_new)`` from the LoRA formula."""
        old, new = lora_spectra(settings.d)
        L = lowrank.lora_optimal_risk(old, new, int(n), [0, r, settings.d], settings.sigma2)
        return float((L[0] - L[1]) / (L[0] - L[2]))

    def train(self, method: str, task: ContextLengthTask, ns: list[int], settings: LiSettings,
              point: dict[str, Any], gen: torch.Generator,
              config: TrainConfig) -> EnsembleTrainResult:
        old, _ = lora_spectra(settings.d)
        W0 = torch.tensor(np.stack([pgd.pgd_optimum(old, n, settings.sigma2) for n in ns]),
                          dtype=config.dtype, device=gen.device)
        frozen = embed_preconditioner(W0)
        return train_icl_ensemble("lora", task, ns, len(ns), gen, config, rank=point["r"],
                                  frozen=frozen)

    def theory(self, settings: LiSettings) -> pd.DataFrame | None:
        old, new = lora_spectra(settings.d)
        rows = []
        for n in settings.ns:
            risks = lowrank.lora_optimal_risk(old, new, int(n), np.arange(settings.d + 1),
                                              settings.sigma2)
            for r, risk in enumerate(risks):
                rows.append({"r": r, "n": int(n), "risk": float(risk),
                             "frac": float((risks[0] - risk) / (risks[0] - risks[-1]))})
        return pd.DataFrame(rows)

    def plot(self, settings: LiSettings, results: pd.DataFrame,
             theory: pd.DataFrame | None) -> Figure:
        fig, axes = subplots(ncols=1, width=4.2, height=3.2)
        ax = axes[0, 0]
        for n, col in zip(settings.ns, color_cycle(max(len(settings.ns), 2)), strict=False):
            th = theory[theory["n"] == n] if theory is not None else None
            sel = results[results["n"] == n] if not results.empty else results
            theory_and_trained(ax, "r", "frac", th, sel, color=col,
                               theory_label=f"theory, n={n}", marker="^",
                               label=lambda method, n=n: f"trained LoRA, n={n}")
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ax.text(0.1, 0.02, "frozen model (r = 0)", fontsize=7, color="grey")
        ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="-.")
        ax.text(0.1, 0.96, r"new optimum $W^\star_{\rm new}$", fontsize=7, color="grey",
                va="top")
        label_axes(ax, "LoRA rank $r$",
                   r"gap recovered $(\mathcal{L}_0-\mathcal{L}_r)/(\mathcal{L}_0-"
                   r"\mathcal{L}^\star_{\rm new})$")
        ax.set_title(f"LoRA on a frozen PGD model, d = {settings.d}")
        legend(ax, loc="lower right")
        return fig

"""``lu2024.fig3`` — where is the ridgeless error non-monotone in context length α?
(Lu et al. 2024, Fig. 3)

Theory only. Three heat maps over task diversity κ × label noise ρ; colour is the α at the
interior minimum of e(α) (α scanned on a log grid), grey where e(α) is monotone on the grid.
Panels (Lu et al. 2024, Fig. 3; docs/theory.md, "Figure 3 landscape"):

- A: e^ICL at τ = 0.5;  B: e^IDG at τ = 0.5;  C: e^ICL at τ = 20.

The red line is κ = min(τ, 1); the letters mark the κ values (at the ρ) of Figure 2's
curves. The ρ axis is linearly spaced (the paper does not give the authors'
spacing; our choice). Each panel is one unit of work (one row per grid cell).
"""

from __future__ import annotations

from typing import Any

import matplotlib
import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pydantic
from matplotlib.figure import Figure

from iclab.contract import Experiment, ExperimentSettings, RunContext
from iclab.experiments.registry import register
from iclab.figures import LABELS, subplots
from iclab.theory.landscape import interior_minimum_alpha

#: (panel, metric, tau, rho of Fig. 2's curves, kappa of Fig. 2's curves A–E)
PANELS: list[tuple[str, str, float, float, list[float]]] = [
    ("A", "icl", 0.5, 0.1, [0.2, 0.4, 0.5, 0.6, 1.5]),
    ("B", "idg", 0.5, 0.5, [0.1, 0.3, 0.5, 0.7, 2.0]),
    ("C", "icl", 20.0, 0.5, [0.25, 0.75, 1.0, 1.1, 2.0]),
]


class Fig3Settings(ExperimentSettings):
    n_kappa: int = pydantic.Field(401, ge=3, description="grid points in kappa")
    kappa_min: float = pydantic.Field(0.1, gt=0, description="smallest κ of the grid")
    kappa_max: float = pydantic.Field(2.1, gt=0, description="largest κ of the grid")
    n_rho: int = pydantic.Field(300, ge=2, description="grid points in rho (linear)")
    rho_min: float = pydantic.Field(0.01, ge=0, description="smallest ρ of the grid")
    rho_max: float = pydantic.Field(1.0, ge=0, description="largest ρ of the grid")
    n_alpha: int = pydantic.Field(500, ge=3, description="grid points in alpha (log)")
    alpha_min: float = pydantic.Field(1e-2, gt=0, description="smallest α searched")
    alpha_max: float = pydantic.Field(1e3, gt=0, description="largest α searched")

    @pydantic.model_validator(mode="after")
    def _ranges(self) -> Fig3Settings:
        for name in ("kappa", "rho", "alpha"):
            if getattr(self, f"{name}_min") >= getattr(self, f"{name}_max"):
                raise ValueError(f"{name}_min must be < {name}_max")
        return self

    def grids(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(kappas [K], rhos [R], alphas [A])."""
        return (np.linspace(self.kappa_min, self.kappa_max, self.n_kappa),
                np.linspace(self.rho_min, self.rho_max, self.n_rho),
                np.logspace(np.log10(self.alpha_min), np.log10(self.alpha_max), self.n_alpha))


@register
class LuFigure3(Experiment[Fig3Settings]):
    name = "lu2024.fig3"
    title = "Where e(alpha) is non-monotone: alpha at the interior minimum over kappa x rho"
    paper = "Lu, Letey, Zavatone-Veth, Maiti & Pehlevan 2024 (arXiv 2405.11751), Fig. 3"
    Settings = Fig3Settings
    variants = {"quick": {"n_kappa": 201, "n_rho": 150, "n_alpha": 300}, "full": {},
                "paper": {}}
    variant_notes = {
        "paper": "the authors' grids: 401 kappa x 300 rho x 500 alpha; the minimum is iclab's "
                 "(strict interior minimum, refined), not the first grid minimum at their "
                 "absolute tolerance 1e-5",
        "quick": "201 x 150 x 300 grid points instead of 401 x 300 x 500: a coarser map in a "
                 "few seconds for make demo",
        "full": "the paper variant",
    }
    #: The map was once checked by a claim, ``map_matches_brute_force`` (the map against a
    #: brute-force search of the same closed form): a software check, now in the tests.
    no_claims = ("theory only: the map evaluates the closed-form e(alpha) and has no "
                 "simulation to disagree with; the map is tested against a brute-force search "
                 "of e(alpha) and against reference minimisers in the test suite")

    def points(self, settings: Fig3Settings) -> list[dict[str, Any]]:
        return [{"panel": p, "metric": m, "tau": t} for p, m, t, _, _ in PANELS]

    def trials(self, settings: Fig3Settings, point: dict[str, Any]) -> int:
        return 1

    def run_point(self, settings: Fig3Settings, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        kappas, rhos, alphas = settings.grids()
        a_star = interior_minimum_alpha(point["metric"], point["tau"], kappas, rhos, alphas)
        kk, rr = np.meshgrid(kappas, rhos, indexing="ij")
        return [{"kappa": float(k), "rho": float(r), "alpha_star": None if np.isnan(a) else
                 float(a)} for k, r, a in zip(kk.ravel(), rr.ravel(), a_star.ravel(),
                                              strict=True)]

    def plot(self, settings: Fig3Settings, results: pd.DataFrame,
             theory: pd.DataFrame | None) -> Figure:
        fig, axes = subplots(ncols=3, width=3.6, height=3.0)
        fig.set_layout_engine("constrained")
        found = results["alpha_star"].dropna() if "alpha_star" in results else pd.Series()
        lo, hi = (found.min(), found.max()) if len(found) else (settings.alpha_min,
                                                                 settings.alpha_max)
        norm = mcolors.LogNorm(lo, max(hi, lo * 10))
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
        mesh = None
        for ax, (panel, metric, tau, rho_fig2, kappas_fig2) in zip(axes[0], PANELS, strict=True):
            sub = results[results.panel == panel]
            if sub.empty:
                continue
            grid = sub.pivot_table(index="rho", columns="kappa", values="alpha_star",
                                   dropna=False)
            values = np.ma.masked_invalid(grid.to_numpy(dtype=float))
            mesh = ax.pcolormesh(grid.columns, grid.index, values, norm=norm, cmap=cmap,
                                 shading="auto", rasterized=True)
            ax.axvline(min(tau, 1.0), color="red", linewidth=1.2)
            for letter, kappa in zip("ABCDE", kappas_fig2, strict=True):
                ax.annotate(letter, (kappa, rho_fig2), color="white", fontsize=8,
                            ha="center", va="center", fontweight="bold",
                            bbox={"boxstyle": "circle,pad=0.15", "fc": "black", "alpha": 0.6})
            what = r"$e^{\mathrm{ICL}}$" if metric == "icl" else r"$e^{\mathrm{IDG}}$"
            ax.set_title(f"{panel}: {what}, " + rf"$\tau={tau:g}$")
            ax.set_xlabel(LABELS["kappa"])
            ax.set_ylabel(LABELS["rho"])
            ax.grid(False)
        if mesh is not None:
            cbar = fig.colorbar(mesh, ax=axes[0].tolist(), shrink=0.95, pad=0.02)
            cbar.set_label(r"$\alpha^*$ at the interior minimum (grey: monotone)")
        return fig

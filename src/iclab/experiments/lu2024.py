"""Lu et al. 2024, "Asymptotic theory of in-context learning by linear attention": Figs 1, 2, 4.

Mathematics in docs/theory.md, settings in docs/lu2024.md. Theory curves (dotted) from
:mod:`iclab.theory.asymptotic`; markers are finite-d linear attention — Γ* by the closed-form
ridge solve on exactly sampled :math:`H_Z` features, errors by the exact finite-(d, ℓ)
formula — as mean ± std over trials (pipeline in :mod:`iclab.experiments._lu2024_sim`).

The toolkit's choices where the paper does not fix a detail (also in ``docs/lu2024.md``):

* task normalisation: ``task_norm="sphere"`` (norm √d, as the authors' linear
  simulations) and balanced task usage, for every figure; Fig. 4's dMMSE uses the same pool
  as the linear-attention fit of the same trial. ``task_norm="gaussian"`` is a setting.
* trials: 10 per point in the full variants (the authors' md examples), 3–5
  in the quick ones.
* λ for Fig. 4: 1e-6, as the authors' CPU demo.
* "ridgeless" theory is λ = 0; the simulations use a small λ (1e-5 / 1e-6), as the
  authors do.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd

from iclab import figures
from iclab.claims import Claim, ClaimData, Evidence, scale_column, transform_column
from iclab.contract import Experiment, ExperimentSettings, RunContext
from iclab.experiments import _lu2024_claims as lc
from iclab.experiments import _lu2024_sim as sim
from iclab.experiments.registry import register
from iclab.validation import (
    NonEmptyTuple,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    PositiveOrInf,
)

TaskNorm = Literal["sphere", "gaussian"]
Solver = Literal["auto", "primal", "dual", "pcg"]
PAPER = "Lu, Letey, Zavatone-Veth, Maiti & Pehlevan 2024 (arXiv 2405.11751)"


class _SimSettings(ExperimentSettings):
    d: PositiveInt = 100
    trials: PositiveInt = 10
    task_norm: TaskNorm = "sphere"
    balanced: bool = True
    solver: Solver = "auto"
    theory_points: PositiveInt = 300


def _la_rows(s: _SimSettings, point: dict[str, Any], ctx: RunContext) -> tuple[sim.Trial, list]:
    trial = sim.fit_trial(point["d"], point["alpha"], point["kappa"], point["tau"], point["rho"],
                          point["lam"], ctx.generator(), s.task_norm, s.balanced, s.solver)
    return trial, [sim.trial_row(trial)]


def _scale_errors(factor: float) -> Any:
    """Counterexample: e_icl and e_idg (hence g_task) of every row multiplied by ``factor``."""
    def apply(data: ClaimData) -> ClaimData:
        frame = data.results.copy()
        for col in ("e_icl", "e_idg", "g_task"):
            frame[col] = frame[col] * factor
        return data.replace(results=frame)
    return apply


def _monotone_in_alpha(data: ClaimData) -> ClaimData:
    """Counterexample: every error replaced by 1 + 1/alpha (monotone in alpha)."""
    frame = data.results.copy()
    for col in ("e_icl", "e_idg"):
        frame[col] = 1.0 + 1.0 / frame["alpha"]
    return data.replace(results=frame)


def _fig4_transition(data: ClaimData) -> Evidence:
    s = data.settings
    return lc.fig4_transition(data, lambda a, k: float(
        sim.theory_value("g_task", s.tau_factor * a, a, k, s.rho)))


def _fit_cost(point: dict[str, Any]) -> float:
    """Expected relative cost of one unit, for the progress estimate (not the results).

    The ridge fit's cost grows with the n = τd² pretraining contexts, sublinearly at large τ
    where the solver switches to PCG (measured at d = 24: 0.014 s at τ = 0.2, 0.13 s at τ = 2,
    0.27 s at τ = 20), and roughly like d³ with d: ≈ (0.05 + τ/(1 + τ/5)) (d/24)³.
    """
    tau = float(point.get("tau", 1.0))
    return (0.05 + tau / (1 + tau / 5)) * (float(point.get("d", 24)) / 24) ** 3


def _set_log_y(ax: Any) -> None:
    ax.set_yscale("log")


# ---- Figure 1 ----------------------------------------------------------------------------
class Fig1Settings(_SimSettings):
    rho: NonNegativeFloat = 0.01
    kappa: PositiveOrInf = 0.5
    alphas: NonEmptyTuple[PositiveFloat] = (1.0, 10.0, 100.0)
    taus: NonEmptyTuple[PositiveFloat] = (0.2, 0.5, 0.85, 1.15, 1.5, 2.0)
    lam_ridgeless: NonNegativeFloat = 1e-5
    alpha_c: PositiveFloat = 10.0
    lams_c: NonEmptyTuple[NonNegativeFloat] = (1e-5, 0.1, 1.0)
    taus_c: NonEmptyTuple[PositiveFloat] = (0.2, 0.5, 0.85, 1.0, 1.15, 1.5, 2.0)


@register
class LuFig1(Experiment):
    """Sample-wise double descent: e^ICL, e^IDG vs τ (A, B; κ=0.5, ridgeless) and e^ICL vs τ
    for three ridges at κ=∞ (C)."""

    name = "lu2024.fig1"
    title = "Double descent in tau = n/d^2 (linear attention, theory + finite-d)"
    paper = PAPER
    Settings = Fig1Settings
    variants = {"quick": {"d": 24, "trials": 10}, "full": {"d": 100, "trials": 10}}
    version = "2"
    needs_gpu_for_full = True
    claims = (
        Claim("finite_d_agreement",
              "Finite-d linear attention (closed-form Gamma*, exact error) agrees with the "
              "asymptotic e^ICL and e^IDG within a relative 5(1+1/|1-tau|)/min(d, k, l), "
              "O(1/d), away from the peak (|tau-1| >= 0.2) and for alpha <= d.",
              "Lu et al. 2024, Fig. 1 (theory curves vs finite-d markers); Result 1",
              lambda data: lc.theory_agreement(data, ("e_icl", "e_idg"), _fig1_theory_at),
              scale_column("e_icl", 2.0)),
        Claim("ridgeless_peak_at_tau_1",
              "Ridgeless e^ICL shows sample-wise double descent: its maximum over tau lies "
              "near tau = n/d^2 = 1, above both flanking tau (every alpha in A, lambda=1e-5 "
              "in C).",
              "Lu et al. 2024, Fig. 1A, 1C; Result 1 (divergence at tau = 1)",
              lc.fig1_ridgeless_peak,
              scale_column("e_icl", 0.05, lambda f: (f["tau"] - 1.0).abs() < lc.PEAK_WINDOW)),
        Claim("ridge_removes_peak",
              "With ridge lambda >= 0.05 (Fig. 1C: 0.1 and 1) e^ICL near tau = 1 stays "
              "below its flanking values: regularisation removes the peak.",
              "Lu et al. 2024, Fig. 1C",
              lc.fig1_ridge_removes_peak,
              scale_column("e_icl", 20.0, lambda f: ((f["tau"] - 1.0).abs() < lc.PEAK_WINDOW)
                           & (f["lam"] >= lc.RIDGE_MIN_LAM))),
    )

    def unit_cost(self, settings: Any, point: dict[str, Any]) -> float:
        """Relative cost of a unit for the progress estimate (:func:`_fit_cost`)."""
        return _fit_cost(point)

    def points(self, settings: Fig1Settings) -> list[dict[str, Any]]:  # type: ignore[override]
        s = settings
        ab = [{"panel": "AB", "d": s.d, "alpha": a, "kappa": s.kappa, "tau": t, "rho": s.rho,
               "lam": s.lam_ridgeless} for a in s.alphas for t in s.taus]
        c = [{"panel": "C", "d": s.d, "alpha": s.alpha_c, "kappa": math.inf, "tau": t,
              "rho": s.rho, "lam": lam} for lam in s.lams_c for t in s.taus_c]
        return ab + c

    def run_point(self, settings: Fig1Settings, point: dict[str, Any], trial: int,  # type: ignore[override]
                  ctx: RunContext) -> list[dict[str, Any]]:
        return _la_rows(settings, point, ctx)[1]

    def theory(self, settings: Fig1Settings) -> pd.DataFrame:  # type: ignore[override]
        s = settings
        tau = np.union1d(np.linspace(0.02, 2.2, s.theory_points), s.taus + s.taus_c)
        frames = []
        for a in s.alphas:
            for metric in ("e_icl", "e_idg"):
                frames.append(pd.DataFrame({
                    "panel": "AB", "alpha": a, "kappa": s.kappa, "rho": s.rho, "lam": 0.0,
                    "tau": tau, "metric": metric,
                    "value": sim.theory_value(metric, tau, a, s.kappa, s.rho)}))
        for lam in s.lams_c:
            frames.append(pd.DataFrame({
                "panel": "C", "alpha": s.alpha_c, "kappa": math.inf, "rho": s.rho, "lam": lam,
                "tau": tau, "metric": "e_icl",
                "value": sim.theory_value("e_icl", tau, s.alpha_c, math.inf, s.rho, lam)}))
        return pd.concat(frames, ignore_index=True)

    @staticmethod
    def _theory_at(row: pd.Series, metric: str) -> float:
        lam = row["lam"] if row["panel"] == "C" else 0.0
        return float(sim.theory_value(metric, row["tau"], row["alpha"], row["kappa"],
                                      row["rho"], lam))

    def deviations(self, settings: Fig1Settings, results: pd.DataFrame,  # type: ignore[override]
                   theory: pd.DataFrame | None) -> pd.DataFrame:
        ab = results[results["panel"] == "AB"] if not results.empty else results
        c = results[results["panel"] == "C"] if not results.empty else results
        return pd.concat([
            sim.deviation_table(ab, self._theory_at, ["panel", "alpha"], ["e_icl", "e_idg"]),
            sim.deviation_table(c, self._theory_at, ["panel", "lam"], ["e_icl"]),
        ], ignore_index=True)

    def plot(self, settings: Fig1Settings, results: pd.DataFrame,  # type: ignore[override]
             theory: pd.DataFrame | None) -> Any:
        s = settings
        theory = self.theory(s) if theory is None else theory
        fig, axes = figures.subplots(3, width=3.3)
        colors = figures.color_cycle(len(s.alphas))
        res = results if not results.empty else pd.DataFrame(columns=["panel", "alpha", "lam"])
        for ax, metric, title in ((axes[0, 0], "e_icl", "A"), (axes[0, 1], "e_idg", "B")):
            for a, col in zip(s.alphas, colors, strict=True):
                th = theory[(theory.panel == "AB") & (theory.alpha == a)
                            & (theory.metric == metric)]
                figures.theory_line(ax, th.tau, th.value, color=col)
                figures.experiment_points(
                    ax, res[(res.panel == "AB") & (res.alpha == a)], "tau", metric, color=col,
                    label=rf"$\alpha={a:g}$")
            figures.label_axes(ax, "tau", metric)
            ax.set_title(rf"{title}: $\kappa={s.kappa:g}$, $\rho={s.rho:g}$, ridgeless")
        ax = axes[0, 2]
        for lam, col in zip(s.lams_c, figures.color_cycle(len(s.lams_c), "plasma"), strict=True):
            th = theory[(theory.panel == "C") & (theory.lam == lam)]
            figures.theory_line(ax, th.tau, th.value, color=col)
            figures.experiment_points(ax, res[(res.panel == "C") & (res.lam == lam)], "tau",
                                      "e_icl", color=col, label=rf"$\lambda={lam:g}$")
        figures.label_axes(ax, "tau", "e_icl")
        ax.set_title(rf"C: $\alpha={s.alpha_c:g}$, $\kappa=\infty$")
        for ax in axes.ravel():
            _set_log_y(ax)
            ax.axvline(1.0, color="grey", linewidth=0.6, linestyle="--")
            figures.legend(ax)
        fig.suptitle(f"Lu et al. Fig. 1 (d={s.d}, {s.trials} trials; theory dotted)")
        return fig


# ---- Figure 2 ----------------------------------------------------------------------------
#: panel -> (metric, tau, rho, kappas, simulated alphas); Lu et al. 2024, Fig. 2
FIG2_PANELS: dict[str, tuple[str, float, float, tuple[float, ...], tuple[float, ...]]] = {
    "A": ("e_idg", 0.5, 0.5, (0.1, 0.3, 0.5, 0.7, 2.0), (1.0, 5.6, 6.15, 7.4, 100.0, 1000.0)),
    "B": ("e_icl", 0.5, 0.1, (0.2, 0.4, 0.5, 0.6, 1.5), (2.35, 5.5, 9.62, 22.7, 100.0, 1000.0)),
    "C": ("e_icl", 20.0, 0.5, (0.25, 0.75, 1.0, 1.1, 2.0),
          (2.35, 5.5, 9.62, 22.7, 100.0, 1000.0)),
}


class Fig2Settings(_SimSettings):
    lam: NonNegativeFloat = 1e-6
    panels: NonEmptyTuple[Literal["A", "B", "C"]] = ("A", "B", "C")


@register
class LuFig2(Experiment):
    """Errors vs context length α (log axis): non-monotone for small κ (A: e^IDG at τ=0.5,
    ρ=0.5; B: e^ICL at τ=0.5, ρ=0.1; C: e^ICL at τ=20, ρ=0.5)."""

    name = "lu2024.fig2"
    title = "Non-monotone error in context length alpha (theory + finite-d)"
    paper = PAPER
    Settings = Fig2Settings
    variants = {"quick": {"d": 24, "trials": 10}, "full": {"d": 100, "trials": 10}}
    version = "2"
    needs_gpu_for_full = True
    claims = (
        Claim("finite_d_agreement",
              "Finite-d linear attention agrees with the asymptotic error of each panel "
              "within a relative 5(1+1/|1-tau|)/min(d, k, l), O(1/d), for alpha <= d.",
              "Lu et al. 2024, Fig. 2 (theory curves vs finite-d markers)",
              lambda data: lc.theory_agreement(data, ("e_icl", "e_idg"), _fig2_theory_at),
              _scale_errors(2.0)),
        Claim("non_monotone_in_alpha",
              "At small task diversity kappa the error is non-monotone in the context length "
              "alpha: wherever the theory dips on the simulated alpha grid by more than the "
              "finite-d resolution 1/min(d, k, l), the simulated error at an interior alpha "
              "is below both ends.",
              "Lu et al. 2024, Fig. 2 (and Fig. 3)",
              lambda data: lc.fig2_non_monotone(data, lambda p: FIG2_PANELS[p][0],
                                                _fig2_theory_at),
              _monotone_in_alpha),
    )

    def unit_cost(self, settings: Any, point: dict[str, Any]) -> float:
        """Relative cost of a unit for the progress estimate (:func:`_fit_cost`)."""
        return _fit_cost(point)

    def points(self, settings: Fig2Settings) -> list[dict[str, Any]]:  # type: ignore[override]
        pts = []
        for panel in settings.panels:
            metric, tau, rho, kappas, alphas = FIG2_PANELS[panel]
            pts += [{"panel": panel, "d": settings.d, "alpha": a, "kappa": k, "tau": tau,
                     "rho": rho, "lam": settings.lam} for k in kappas for a in alphas]
        return pts

    def run_point(self, settings: Fig2Settings, point: dict[str, Any], trial: int,  # type: ignore[override]
                  ctx: RunContext) -> list[dict[str, Any]]:
        return _la_rows(settings, point, ctx)[1]

    def theory(self, settings: Fig2Settings) -> pd.DataFrame:  # type: ignore[override]
        sim_alphas = [a for p in settings.panels for a in FIG2_PANELS[p][4]]
        alpha = np.union1d(np.logspace(-0.3, 3.2, settings.theory_points), sim_alphas)
        frames = []
        for panel in settings.panels:
            metric, tau, rho, kappas, _ = FIG2_PANELS[panel]
            for k in kappas:
                frames.append(pd.DataFrame({
                    "panel": panel, "kappa": k, "tau": tau, "rho": rho, "lam": 0.0,
                    "alpha": alpha, "metric": metric,
                    "value": sim.theory_value(metric, tau, alpha, k, rho)}))
        return pd.concat(frames, ignore_index=True)

    @staticmethod
    def _theory_at(row: pd.Series, metric: str) -> float:
        if metric != FIG2_PANELS[row["panel"]][0]:
            return math.nan
        return float(sim.theory_value(metric, row["tau"], row["alpha"], row["kappa"],
                                      row["rho"]))

    def deviations(self, settings: Fig2Settings, results: pd.DataFrame,  # type: ignore[override]
                   theory: pd.DataFrame | None) -> pd.DataFrame:
        return sim.deviation_table(results, self._theory_at, ["panel", "kappa"],
                                   ["e_icl", "e_idg"])

    def plot(self, settings: Fig2Settings, results: pd.DataFrame,  # type: ignore[override]
             theory: pd.DataFrame | None) -> Any:
        s = settings
        theory = self.theory(s) if theory is None else theory
        fig, axes = figures.subplots(len(s.panels), width=3.3)
        res = results if not results.empty else pd.DataFrame(columns=["panel", "kappa"])
        for ax, panel in zip(axes[0], s.panels, strict=True):
            metric, tau, rho, kappas, _ = FIG2_PANELS[panel]
            for k, col in zip(kappas, figures.color_cycle(len(kappas)), strict=True):
                th = theory[(theory.panel == panel) & (theory.kappa == k)]
                figures.theory_line(ax, th.alpha, th.value, color=col)
                figures.experiment_points(ax, res[(res.panel == panel) & (res.kappa == k)],
                                          "alpha", metric, color=col, label=rf"$\kappa={k:g}$")
            ax.set_xscale("log")
            ax.set_yscale("log")  # the large-alpha divergence would hide the interior minima
            figures.label_axes(ax, "alpha", metric)
            ax.set_title(rf"{panel}: $\tau={tau:g}$, $\rho={rho:g}$")
            figures.legend(ax)
        fig.suptitle(f"Lu et al. Fig. 2 (d={s.d}, λ={s.lam:g}, {s.trials} trials; "
                     "theory dotted, ridgeless)")
        return fig


# ---- Figure 4 ----------------------------------------------------------------------------
FIG4_KAPPAS = tuple(float(k) for k in np.round(np.logspace(np.log10(0.08),
                                                           np.log10(95.72), 31), 4))
DEMO_KAPPAS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.6, 2.0, 4.0, 8.0, 16.0, 32.0)


class Fig4Settings(_SimSettings):
    rho: NonNegativeFloat = 0.01
    lam: NonNegativeFloat = 1e-6
    tau_factor: PositiveFloat = 0.2
    alphas_a: NonEmptyTuple[PositiveFloat] = (6.0, 10.0, 20.0)
    alphas_b: tuple[PositiveFloat, ...] = ()  # the paper's panel B, (10, 20, 40): "full"
    kappas: NonEmptyTuple[PositiveOrInf] = FIG4_KAPPAS
    dmmse_prompts: PositiveInt = 100


@register
class LuFig4(Experiment):
    """Memorisation → ICL transition: g_task = e^ICL − e^IDG vs κ (log axis), τ = 0.2α;
    theory, finite-d linear attention and dMMSE (which keeps memorising)."""

    name = "lu2024.fig4"
    title = "Task-diversity transition g_task vs kappa (theory, linear attention, dMMSE)"
    paper = PAPER
    Settings = Fig4Settings
    variants = {
        "quick": {"d": 32, "trials": 10, "alphas_a": (10.0,),
                  "tau_factor": 1.0, "kappas": DEMO_KAPPAS, "dmmse_prompts": 200},
        "full": {"d": 100, "trials": 10, "alphas_b": (10.0, 20.0, 40.0)},
    }
    version = "2"
    needs_gpu_for_full = True
    claims = (
        Claim("finite_d_agreement",
              "Finite-d linear attention agrees with the asymptotic e^ICL and e^IDG within a "
              "relative 5(1+1/|1-tau|)/min(d, k, l), O(1/d), at every kappa.",
              "Lu et al. 2024, Fig. 4 (theory curve vs finite-d markers)",
              lambda data: lc.theory_agreement(data, ("e_icl", "e_idg"), _fig4_theory_at),
              _scale_errors(2.0)),
        Claim("transition_at_kappa_1",
              "Linear attention moves from memorising the pretraining tasks to in-context "
              "learning at kappa ~ 1: the steepest fall of log g_task in log kappa lies within "
              "a factor 2 of kappa = 1.",
              "Lu et al. 2024, Fig. 4; g_task -> max(0, 1 - kappa) as alpha, tau -> inf",
              _fig4_transition,
              transform_column("g_task", lambda f: 1.0 / (1.0 + (f["kappa"] / 20.0) ** 4))),
        Claim("dmmse_above_la_below_1",
              "For kappa < 1 the dMMSE estimator (discrete prior on the pretraining tasks) "
              "stays above linear attention in g_task: it keeps memorising.",
              "Lu et al. 2024, Fig. 4 (dMMSE markers)",
              lc.fig4_dmmse_above,
              scale_column("g_task", 0.2, lambda f: f["method"] == "dmmse")),
    )

    @staticmethod
    def _alphas(s: Fig4Settings) -> list[float]:
        return sorted(set(s.alphas_a) | set(s.alphas_b))

    def unit_cost(self, settings: Any, point: dict[str, Any]) -> float:
        """Relative cost of a unit for the progress estimate (:func:`_fit_cost`)."""
        return _fit_cost(point)

    def points(self, settings: Fig4Settings) -> list[dict[str, Any]]:  # type: ignore[override]
        s = settings
        return [{"d": s.d, "alpha": a, "kappa": k, "tau": s.tau_factor * a, "rho": s.rho,
                 "lam": s.lam} for a in self._alphas(s) for k in s.kappas]

    def run_point(self, settings: Fig4Settings, point: dict[str, Any], trial: int,  # type: ignore[override]
                  ctx: RunContext) -> list[dict[str, Any]]:
        fitted, rows = _la_rows(settings, point, ctx)
        return rows + [sim.dmmse_row(fitted, settings.dmmse_prompts, ctx.generator(1))]

    def theory(self, settings: Fig4Settings) -> pd.DataFrame:  # type: ignore[override]
        s = settings
        kappa = np.union1d(np.logspace(np.log10(min(s.kappas) / 1.3),
                                       np.log10(max(s.kappas) * 1.3), s.theory_points),
                           s.kappas)
        frames = [pd.DataFrame({"alpha": a, "tau": s.tau_factor * a, "rho": s.rho, "lam": 0.0,
                                "kappa": kappa, "metric": m,
                                "value": sim.theory_value(m, s.tau_factor * a, a, kappa, s.rho)})
                  for a in self._alphas(s) for m in ("g_task", "e_icl", "e_idg")]
        return pd.concat(frames, ignore_index=True)

    @staticmethod
    def _theory_at(row: pd.Series, metric: str) -> float:
        return float(sim.theory_value(metric, row["tau"], row["alpha"], row["kappa"],
                                      row["rho"]))

    def deviations(self, settings: Fig4Settings, results: pd.DataFrame,  # type: ignore[override]
                   theory: pd.DataFrame | None) -> pd.DataFrame:
        return sim.deviation_table(results, self._theory_at, ["alpha"],
                                   ["g_task", "e_icl", "e_idg"])

    def plot(self, settings: Fig4Settings, results: pd.DataFrame,  # type: ignore[override]
             theory: pd.DataFrame | None) -> Any:
        s = settings
        theory = self.theory(s) if theory is None else theory
        panels = [("A", s.alphas_a), ("B", s.alphas_b)]
        panels = [(p, a) for p, a in panels if a]
        fig, axes = figures.subplots(len(panels), width=3.8)
        res = results if not results.empty else pd.DataFrame(columns=["alpha", "method"])
        all_alphas = self._alphas(s)
        colors = dict(zip(all_alphas, figures.color_cycle(len(all_alphas)), strict=True))
        for ax, (panel, alphas) in zip(axes[0], panels, strict=True):
            for a in alphas:
                col = colors[a]
                th = theory[(theory.alpha == a) & (theory.metric == "g_task")]
                figures.theory_line(ax, th.kappa, th.value, color=col)
                sub = res[res.alpha == a]
                figures.experiment_points(ax, sub[sub.method == "linear_attention"], "kappa",
                                          "g_task", color=col, label=rf"LA $\alpha={a:g}$")
                figures.experiment_points(ax, sub[sub.method == "dmmse"], "kappa", "g_task",
                                          color=col, marker="s", line=False, mfc="none",
                                          label=rf"dMMSE $\alpha={a:g}$")
            ax.set_xscale("log")
            figures.label_axes(ax, "kappa", "g_task")
            ax.axvline(1.0, color="grey", linewidth=0.6, linestyle="--")
            factor = "" if s.tau_factor == 1 else f"{s.tau_factor:g}"
            ax.set_title(rf"{panel}: $\tau={factor}\alpha$, $\rho={s.rho:g}$")
            figures.legend(ax, fontsize=6)
        fig.suptitle(f"Lu et al. Fig. 4 (d={s.d}, λ={s.lam:g}, {s.trials} trials; "
                     "theory dotted)")
        return fig


# ---- claim wiring ---------------------------------------------------------------------------
_fig1_theory_at = LuFig1._theory_at
_fig2_theory_at = LuFig2._theory_at
_fig4_theory_at = LuFig4._theory_at

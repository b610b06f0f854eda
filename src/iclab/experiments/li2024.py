"""Li, Rawat & Oymak (2024), arXiv 2407.10005: trained linear attention / H3 vs PGD theory.

Registered experiments (spec ``pgd_h3_lowrank_lora.md`` §4; settings are OUR choices, the
paper's are not confirmed — reproductions are provisional):

* ``li2024.fig_iid``      — risk vs ``n``: (a) noiseless i.i.d., (b) noisy labels,
  (c) non-isotropic task; linear attention and H3; theory ``L*(n)`` (§3a–b).
* ``li2024.fig_rag``      — RAG correlation ``alpha``; exact finite-d theory (§3d).
* ``li2024.fig_alignment``— our PROVISIONAL task–feature alignment model (§3e, [?]).
* ``li2024.fig_lowrank``  — rank-r linear attention, non-isotropic task (§3f).
* ``li2024.fig_lora``     — LoRA (rank r on ``W_q``) on a frozen PGD-optimal model pretrained for
  ``Sigma_old``, adapted to ``Sigma_new`` (§3g).
* ``li2024.fig_h3_drift`` — AR(1)-drifting task: H3 vs linear attention, learned filter vs the
  optimal WPGD weights (§3c).

Every point trains ONE ensemble (seeds x context lengths) in one tensor program and returns one
row per model: ``method``, ``n``, ``seed``, ``trial`` (= seed), ``risk`` (Monte Carlo on a shared
test set), ``risk_pgd_mc`` (the theory-optimal predictor on the same test prompts),
``risk_theory`` and ``cos_W`` (cosine of the learned effective preconditioner with ``W*``).
Risks are for ``beta ~ N(0, Sigma_beta)`` with ``tr Sigma_beta = d`` (null risk ``d + sigma2``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pydantic
import torch

from iclab.experiments._li2024_train import (
    TrainConfig,
    cosine,
    cpu_threads,
    effective,
    ensemble_risk,
    pgd_risk_mc,
    train_icl_ensemble,
)
from iclab.experiments.base import Experiment, ExperimentSettings, RunContext
from iclab.experiments.registry import register
from iclab.figures import color_cycle, experiment_points, label_axes, legend, subplots, theory_line
from iclab.models.linear_attention import embed_preconditioner
from iclab.tasks.correlated import AlignmentTask, RAGTask
from iclab.tasks.drift import DriftTask
from iclab.tasks.gaussian_design import GaussianDesignTask
from iclab.theory import lowrank, pgd, rag

PAPER = "Li, Rawat & Oymak 2024 (arXiv 2407.10005)"


def decaying_spectrum(d: int, ratio: float = 0.7) -> np.ndarray:
    """Non-isotropic task spectrum ``lam_i ∝ ratio^i`` normalised to ``sum lam_i = d`` (ours)."""
    lam = ratio ** np.arange(d)
    return lam * d / lam.sum()


class LiSettings(ExperimentSettings):
    """Shared settings; ``ns`` are the context lengths trained together in one ensemble."""

    d: int = pydantic.Field(20, ge=1)
    ns: list[int] = pydantic.Field(default_factory=lambda: [10, 20, 40, 60, 80])
    sigma2: float = pydantic.Field(0.0, ge=0)
    seeds: int = pydantic.Field(5, ge=1, description="models per context length")
    steps: int = pydantic.Field(20000, ge=1)
    batch: int = pydantic.Field(512, ge=1)
    lr: float = pydantic.Field(3e-3, gt=0)
    test_size: int = pydantic.Field(50000, ge=100)
    methods: list[str] = pydantic.Field(default_factory=lambda: ["linear_attention", "h3"])


QUICK: dict[str, Any] = {"d": 4, "ns": [2, 4, 8, 12, 16], "seeds": 3, "steps": 1200, "batch": 128,
                         "lr": 1e-2, "test_size": 50000}
FULL: dict[str, Any] = {}


class _LiExperiment(Experiment):
    """Common machinery: train an ensemble per point and method, compare with theory."""

    paper = PAPER
    Settings: ClassVar[type[ExperimentSettings]] = LiSettings
    variants: ClassVar[dict[str, dict[str, Any]]] = {"quick": QUICK, "full": FULL}
    needs_gpu_for_full = True
    curve_key: ClassVar[str] = "panel"
    store_omega: ClassVar[bool] = False  # add the learned weights omega_1..omega_n to H3 rows

    def trials(self, settings: Any, point: dict[str, Any]) -> int:
        return 1  # the seeds are the ensemble axis inside the point

    # --- hooks ---------------------------------------------------------------------------------
    def task(self, settings: Any, point: dict[str, Any]) -> Any:
        raise NotImplementedError

    def optimum(self, settings: Any, point: dict[str, Any], n: int) -> tuple[np.ndarray, float]:
        """``(W* [d, d], L*)`` at context length ``n``."""
        raise NotImplementedError

    def methods(self, settings: Any, point: dict[str, Any]) -> list[str]:
        return list(settings.methods)

    # --- the point -----------------------------------------------------------------------------
    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        with cpu_threads(1, ctx.device):  # tiny tensors: see _li2024_train.cpu_threads
            return self._run_point(settings, point, ctx)

    def _run_point(self, settings: Any, point: dict[str, Any],
                   ctx: RunContext) -> list[dict[str, Any]]:
        task = self.task(settings, point)
        ns = [n for n in settings.ns for _ in range(settings.seeds)]
        seeds = [s for _ in settings.ns for s in range(settings.seeds)]
        test = task.sample(settings.test_size, max(ns), ctx.generator(1))
        W_star = torch.tensor(np.stack([self.optimum(settings, point, n)[0] for n in ns]),
                              dtype=torch.float32, device=ctx.device)
        ref = pgd_risk_mc(W_star, test, ns=ns).cpu().numpy()
        config = TrainConfig(steps=settings.steps, batch=settings.batch, lr=settings.lr)
        rows: list[dict[str, Any]] = []
        for k, method in enumerate(self.methods(settings, point)):
            res = self.train(method, task, ns, settings, point, ctx.generator(100 + k), config)
            risk = ensemble_risk(self.kind(method), res.params, test, ns=ns).cpu().numpy()
            eff = effective(self.kind(method), res.params)
            cos = cosine(eff["W"], W_star).cpu().numpy()
            for m, (n, seed) in enumerate(zip(ns, seeds, strict=True)):
                row = {"method": method, "n": n, "seed": seed, "trial": seed,
                       "risk": float(risk[m]), "risk_pgd_mc": float(ref[m]),
                       "risk_theory": float(self.optimum(settings, point, n)[1]),
                       "cos_W": float(cos[m]), "train_loss": float(res.final_loss[m])}
                if "omega" in eff:
                    om = eff["omega"][m, max(ns) - n:].cpu().numpy()  # the model's n positions
                    row["omega_cv"] = float(om.std() / abs(om.mean()))
                    if self.store_omega:
                        row.update({f"omega_{i + 1}": float(v) for i, v in enumerate(om)})
                rows.append(row)
        return rows

    def kind(self, method: str) -> str:
        return method

    def train(self, method: str, task: Any, ns: list[int], settings: Any, point: dict[str, Any],
              gen: torch.Generator, config: TrainConfig) -> Any:
        return train_icl_ensemble(method, task, ns, len(ns), gen, config)

    # --- theory and figure ---------------------------------------------------------------------
    def theory(self, settings: Any) -> pd.DataFrame | None:
        grid = np.arange(1, max(settings.ns) + 1)
        rows = []
        for point in self.points(settings):
            for n in grid:
                rows.append({**point, "n": int(n), "risk": self.optimum(settings, point, n)[1]})
        return pd.DataFrame(rows)

    def plot(self, settings: Any, results: pd.DataFrame, theory: pd.DataFrame | None) -> Any:
        points = self.points(settings)
        fig, axes = subplots(ncols=len(points) if self.curve_key == "panel" else 1)
        colors = color_cycle(max(len(points), 2))
        markers = {"linear_attention": "o", "h3": "s", "lora": "^"}
        for j, point in enumerate(points):
            ax = axes[0, j] if self.curve_key == "panel" else axes[0, 0]
            key, val = self.curve_key, point[self.curve_key]
            sel = results[results[key] == val] if key in results else results.iloc[0:0]
            th = theory[theory[key] == val] if theory is not None else None
            col = colors[j] if self.curve_key != "panel" else None
            lab = f"{key}={val}" if self.curve_key != "panel" else None
            if th is not None:
                theory_line(ax, th["n"], th["risk"], color=col or "black",
                            label=None if lab else "PGD theory")
            for method in sel["method"].unique() if not sel.empty else []:
                experiment_points(ax, sel[sel["method"] == method], "n", "risk", color=col,
                                  marker=markers.get(method, "o"),
                                  label=f"{method} {lab}" if lab else method)
            if self.curve_key == "panel":
                ax.set_title(str(val))
            label_axes(ax, "n", "risk")
            legend(ax)
        return fig

    def deviations(self, settings: Any, results: pd.DataFrame,
                   theory: pd.DataFrame | None) -> pd.DataFrame | None:
        if results.empty:
            return None
        out = []
        for (curve, method), g in results.groupby([self.curve_key, "method"]):
            mean = g.groupby("n")[["risk", "risk_theory"]].mean()
            dev = (mean["risk"] - mean["risk_theory"]).abs()
            out.append({"curve": f"{self.curve_key}={curve} {method}", "metric": "risk",
                        "n_points": len(mean), "max_abs_dev": float(dev.max()),
                        "max_rel_dev": float((dev / mean["risk_theory"]).max())})
        return pd.DataFrame(out)


def _spectrum(settings: Any, panel: str) -> np.ndarray:
    return decaying_spectrum(settings.d) if panel == "nonisotropic" else np.ones(settings.d)


@register
class LiFigIID(_LiExperiment):
    """Theorem 1 / Proposition 1 figure: (a) noiseless, (b) noisy labels, (c) non-isotropic."""

    name = "li2024.fig_iid"
    title = "Trained linear attention and H3 vs optimal PGD risk (iid, noisy, non-isotropic)"

    def points(self, settings: Any) -> list[dict[str, Any]]:
        noisy = settings.sigma2 if settings.sigma2 > 0 else 1.0
        return [{"panel": "noiseless", "sigma2": 0.0}, {"panel": "noisy", "sigma2": noisy},
                {"panel": "nonisotropic", "sigma2": 0.0}]

    def task(self, settings: Any, point: dict[str, Any]) -> Any:
        return GaussianDesignTask(settings.d, Sigma_beta=_spectrum(settings, point["panel"]),
                                  sigma2=point["sigma2"])

    def optimum(self, settings: Any, point: dict[str, Any], n: int) -> tuple[np.ndarray, float]:
        S = _spectrum(settings, point["panel"])
        return (pgd.pgd_optimum(S, int(n), point["sigma2"]),
                float(pgd.pgd_optimal_risk(S, n, point["sigma2"])))


class _CorrelatedBase(_LiExperiment):
    curve_key = "alpha"
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {**QUICK, "methods": ["linear_attention"]},
        "full": {"methods": ["linear_attention", "h3"]}}

    def points(self, settings: Any) -> list[dict[str, Any]]:
        return [{"alpha": a} for a in (0.0, 0.3, 0.6, 0.9)]


@register
class LiFigRAG(_CorrelatedBase):
    """RAG: examples correlated with the query; exact finite-d theory of spec §3d."""

    name = "li2024.fig_rag"
    title = "RAG (query-example correlation alpha): trained vs exact PGD theory"

    def task(self, settings: Any, point: dict[str, Any]) -> Any:
        return RAGTask(settings.d, point["alpha"], settings.sigma2)

    def optimum(self, settings: Any, point: dict[str, Any], n: int) -> tuple[np.ndarray, float]:
        a, d, s2 = point["alpha"], settings.d, settings.sigma2
        return (float(rag.rag_optimal_scale(a, n, d, s2)) * np.eye(d),
                float(rag.rag_optimal_risk(a, n, d, s2)))


@register
class LiFigAlignment(_CorrelatedBase):
    """Task–feature alignment under OUR PROVISIONAL model (see iclab.theory.rag)."""

    name = "li2024.fig_alignment"
    title = "Task-feature alignment (provisional model): trained vs PGD theory"

    def task(self, settings: Any, point: dict[str, Any]) -> Any:
        return AlignmentTask(settings.d, point["alpha"], settings.sigma2)

    def optimum(self, settings: Any, point: dict[str, Any], n: int) -> tuple[np.ndarray, float]:
        a, d, s2 = point["alpha"], settings.d, settings.sigma2
        A_B = rag.alignment_risk(0.0, a, n, d, s2) - rag.alignment_optimal_risk(a, n, d, s2)
        ey2 = rag.alignment_label_variance(a, d, s2)
        # c* = A / B and L* = E y^2 - A^2 / B, so c* = (E y^2 - L*) / A with A = n kappa^2 d
        A = n * (a**2 * d + 1) ** 2 * d
        c = float(A_B / A) if n > 0 else 0.0
        return c * np.eye(d), float(ey2 - A_B)


class _SpectrumBase(_LiExperiment):
    curve_key = "r"
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {**QUICK, "methods": ["linear_attention"]},
        "full": {"methods": ["linear_attention"]}}

    def points(self, settings: Any) -> list[dict[str, Any]]:
        d = settings.d
        return [{"r": r} for r in sorted({1, max(1, d // 4), max(1, d // 2), d})]


@register
class LiFigLowRank(_SpectrumBase):
    """Rank-r attention (W_q, W_k in R^{(d+1) x r}) on a non-isotropic task (spec §3f)."""

    name = "li2024.fig_lowrank"
    title = "Low-rank linear attention: trained vs optimal rank-r PGD risk"

    def task(self, settings: Any, point: dict[str, Any]) -> Any:
        return GaussianDesignTask(settings.d, Sigma_beta=decaying_spectrum(settings.d),
                                  sigma2=settings.sigma2)

    def optimum(self, settings: Any, point: dict[str, Any], n: int) -> tuple[np.ndarray, float]:
        S, r, s2 = decaying_spectrum(settings.d), point["r"], settings.sigma2
        return (lowrank.lowrank_optimum(S, int(n), r, s2),
                float(lowrank.lowrank_optimal_risk(S, n, r, s2)))

    def train(self, method: str, task: Any, ns: list[int], settings: Any, point: dict[str, Any],
              gen: torch.Generator, config: TrainConfig) -> Any:
        return train_icl_ensemble(method, task, ns, len(ns), gen, config, rank=point["r"])


def lora_spectra(d: int) -> tuple[np.ndarray, np.ndarray]:
    """(Sigma_old, Sigma_new): a decaying spectrum and its reversal (a shift of the task)."""
    old = decaying_spectrum(d)
    return old, old[::-1].copy()


@register
class LiFigLoRA(_SpectrumBase):
    """LoRA of rank r on W_q of a frozen PGD-optimal model for Sigma_old, trained on Sigma_new."""

    name = "li2024.fig_lora"
    title = "LoRA adaptation to a shifted task covariance: trained vs theory"
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {**QUICK, "methods": ["lora"]}, "full": {"methods": ["lora"]}}

    def points(self, settings: Any) -> list[dict[str, Any]]:
        d = settings.d
        return [{"r": r} for r in sorted({1, max(1, d // 4), max(1, d // 2), d})]

    def task(self, settings: Any, point: dict[str, Any]) -> Any:
        return GaussianDesignTask(settings.d, Sigma_beta=lora_spectra(settings.d)[1],
                                  sigma2=settings.sigma2)

    def optimum(self, settings: Any, point: dict[str, Any], n: int) -> tuple[np.ndarray, float]:
        old, new = lora_spectra(settings.d)
        r, s2 = point["r"], settings.sigma2
        return (lowrank.lora_optimum(old, new, int(n), r, s2),
                float(lowrank.lora_optimal_risk(old, new, int(n), r, s2)))

    def kind(self, method: str) -> str:
        return "lora"

    def train(self, method: str, task: Any, ns: list[int], settings: Any, point: dict[str, Any],
              gen: torch.Generator, config: TrainConfig) -> Any:
        old, _ = lora_spectra(settings.d)
        W0 = torch.tensor(np.stack([pgd.pgd_optimum(old, n, settings.sigma2) for n in ns]),
                          dtype=config.dtype, device=gen.device)
        frozen = embed_preconditioner(W0)
        return train_icl_ensemble("lora", task, ns, len(ns), gen, config, rank=point["r"],
                                  frozen=frozen)


class DriftSettings(LiSettings):
    gammas: list[float] = pydantic.Field(default_factory=lambda: [1.0, 0.95, 0.9, 0.8])


@register
class LiFigH3Drift(_LiExperiment):
    """Drifting task (AR(1) over positions): H3's filter learns recency weights, beats attention."""

    name = "li2024.fig_h3_drift"
    title = "H3 vs linear attention on a drifting task; learned filter vs optimal WPGD weights"
    Settings = DriftSettings
    curve_key = "gamma"
    store_omega = True
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {**QUICK, "ns": [12], "sigma2": 0.25, "seeds": 4},
        "full": {"ns": [40], "sigma2": 0.25, "seeds": 8}}

    def points(self, settings: Any) -> list[dict[str, Any]]:
        return [{"gamma": g} for g in settings.gammas]

    def task(self, settings: Any, point: dict[str, Any]) -> Any:
        return DriftTask(settings.d, point["gamma"], settings.sigma2)

    def optimum(self, settings: Any, point: dict[str, Any], n: int) -> tuple[np.ndarray, float]:
        """Linear-attention (uniform-weight PGD) optimum; H3's is in :meth:`h3_optimum`."""
        K = pgd.ar1_drift_correlation(int(n), point["gamma"])
        S = np.eye(settings.d)
        W = pgd.wpgd_optimal_preconditioner(np.ones(int(n)), S, K, settings.sigma2)
        return W, pgd.pgd_optimal_risk_drift(S, K, settings.sigma2)

    def h3_optimum(self, settings: Any, gamma: float, n: int) -> tuple[np.ndarray, float]:
        """``(omega*, L*_WPGD)`` of the jointly optimal weighted PGD (spec §3c, derived)."""
        K = pgd.ar1_drift_correlation(int(n), gamma)
        _, omega, risk = pgd.wpgd_joint_optimum(np.eye(settings.d), K, settings.sigma2)
        return omega, risk

    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        rows = super().run_point(settings, point, trial, ctx)
        for row in rows:
            omega, risk = self.h3_optimum(settings, point["gamma"], row["n"])
            row["risk_theory_h3"] = float(risk)
            if row["method"] == "h3":
                row["risk_theory"] = float(risk)
        return rows

    def theory(self, settings: Any) -> pd.DataFrame | None:
        rows = []
        for g in settings.gammas:
            for n in settings.ns:
                rows.append({"gamma": g, "n": n, "method": "linear_attention",
                             "risk": self.optimum(settings, {"gamma": g}, n)[1]})
                rows.append({"gamma": g, "n": n, "method": "h3",
                             "risk": self.h3_optimum(settings, g, n)[1]})
        return pd.DataFrame(rows)

    def plot(self, settings: Any, results: pd.DataFrame, theory: pd.DataFrame | None) -> Any:
        fig, axes = subplots(ncols=2)
        ax = axes[0, 0]
        n = settings.ns[-1]
        for method, marker in (("linear_attention", "o"), ("h3", "s")):
            if theory is not None:
                th = theory[(theory.method == method) & (theory.n == n)]
                theory_line(ax, th["gamma"], th["risk"], label=f"{method} theory")
            if not results.empty:
                experiment_points(ax, results[(results.method == method) & (results.n == n)],
                                  "gamma", "risk", marker=marker, label=method)
        label_axes(ax, r"drift correlation $\gamma$", "risk")
        legend(ax)
        ax = axes[0, 1]
        for g, col in zip(settings.gammas, color_cycle(len(settings.gammas)), strict=True):
            omega, _ = self.h3_optimum(settings, g, n)
            theory_line(ax, np.arange(1, n + 1), omega, color=col, label=rf"$\gamma$={g}")
            sel = results[(results.get("gamma") == g) & (results.get("method") == "h3")
                          & (results.get("n") == n)] if not results.empty else results
            cols = [f"omega_{i}" for i in range(1, n + 1)]
            if not sel.empty and all(c in sel for c in cols):
                learned = sel[cols].to_numpy(dtype=float)
                ax.errorbar(np.arange(1, n + 1), learned.mean(0), yerr=learned.std(0), fmt="s-",
                            color=col, markersize=3, linewidth=0.8, capsize=2)
        ax.set_xlabel("context position i")
        ax.set_ylabel(r"optimal weight $\omega_i$ (mean 1)")
        legend(ax)
        return fig

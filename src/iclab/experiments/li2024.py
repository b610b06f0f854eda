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

from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import pandas as pd
import pydantic
import torch

from iclab.claims import (
    Claim,
    all_of,
    compare_interval,
    reverse_column,
    scale_column,
    transform_column,
)
from iclab.contract import Experiment, ExperimentSettings, RunContext
from iclab.experiments._li2024_claims import (
    equal_methods,
    monotone_in,
    near_reference,
    within_interval,
)
from iclab.experiments._li2024_train import (
    TrainConfig,
    cosine,
    cpu_threads,
    effective,
    ensemble_risk,
    pgd_risk_mc,
    train_icl_ensemble,
)
from iclab.experiments.registry import register
from iclab.figures import (
    color_cycle,
    experiment_points,
    fixed_params,
    label_axes,
    legend,
    subplots,
    theory_line,
)
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


PositiveInt = Annotated[int, pydantic.Field(ge=1)]
UnitFloat = Annotated[float, pydantic.Field(ge=0.0, le=1.0)]


class LiSettings(ExperimentSettings):
    """Shared settings; ``ns`` are the context lengths trained together in one ensemble.

    Training recipe (``init``, ``optimizer``, ``lr``, ``warmup``, ``curriculum``): see
    :class:`iclab.experiments._li2024_train.TrainConfig` and docs/li2024.md.
    """

    d: int = pydantic.Field(20, ge=1)
    ns: list[PositiveInt] = pydantic.Field(default_factory=lambda: [10, 20, 40, 60, 80],
                                           min_length=1)
    sigma2: float = pydantic.Field(0.0, ge=0)
    seeds: int = pydantic.Field(5, ge=1, description="models per context length")
    steps: int = pydantic.Field(20000, ge=1)
    batch: int = pydantic.Field(512, ge=1)
    lr: float = pydantic.Field(3e-3, gt=0)
    warmup: int = pydantic.Field(100, ge=0, description="linear lr warm-up steps")
    init: Literal["torch", "label"] = pydantic.Field(
        "torch", description="torch: PyTorch's nn.Linear default; label: ours, +1 on the "
        "value weight reading the label")
    optimizer: Literal["adam", "sgd"] = "adam"
    curriculum: float = pydantic.Field(
        0.0, ge=0.0, lt=1.0, description="fraction of the steps first trained on the longest "
        "context")
    test_size: int = pydantic.Field(50000, ge=100)
    methods: list[Literal["linear_attention", "h3", "lora"]] = pydantic.Field(
        default_factory=lambda: ["linear_attention", "h3"], min_length=1)


QUICK: dict[str, Any] = {"d": 4, "ns": [2, 4, 8, 12, 16], "seeds": 3, "steps": 1200, "batch": 128,
                         "lr": 1e-2, "test_size": 50000}
FULL: dict[str, Any] = {}
#: The training recipe from PyTorch's initialisation (docs/li2024.md, "Training recipe").
SGD_RECIPE: dict[str, Any] = {"optimizer": "sgd", "lr": 1e-2}
QUICK_SGD: dict[str, Any] = {**QUICK, **SGD_RECIPE, "steps": 2400}


def train_config(settings: Any) -> TrainConfig:
    """The :class:`TrainConfig` of an experiment's settings."""
    return TrainConfig(steps=settings.steps, batch=settings.batch, lr=settings.lr,
                       warmup=min(settings.warmup, settings.steps), init=settings.init,
                       optimizer=settings.optimizer, curriculum=settings.curriculum)


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

    def references(self, settings: Any, point: dict[str, Any], test: Any,
                   ns: list[int]) -> dict[str, np.ndarray]:
        """Extra per-model columns ``{name: [M]}`` measured on the shared test prompts."""
        return {}

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
        extra = self.references(settings, point, test, ns)
        config = train_config(settings)
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
                       "cos_W": float(cos[m]), "train_loss": float(res.final_loss[m]),
                       **{k: float(v[m]) for k, v in extra.items()}}
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
                fixed_params(ax, d=settings.d, **(
                    {"sigma2": point["sigma2"]} if "sigma2" in point else {}))
            label_axes(ax, "n", "risk")
            legend(ax)
        if self.curve_key != "panel":
            fixed_params(axes[0, 0], d=settings.d)
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
    version = "2"
    #: The recipe from PyTorch's initialisation (docs/li2024.md): SGD with momentum 0.9; Adam
    #: stalls in a spurious rank-one minimum at small n on the non-isotropic task.
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": QUICK_SGD, "full": SGD_RECIPE}
    claims = (
        Claim("reach_pgd_optimum",
              "Trained one-layer linear attention and H3 reach the optimal one-step PGD risk: in "
              "every panel, at least 90 % of the models of each architecture (all n and seeds) "
              "end within 1 % of the PGD-optimal predictor's risk on the same test prompts.",
              "Li et al. 2024, Theorem 1 and Proposition 1 (figure of the i.i.d., noisy and "
              "non-isotropic cases)",
              near_reference(["panel", "method"], tol=0.01, frac=0.9),
              scale_column("risk", 1.03)),
        Claim("attention_equals_h3",
              "Linear attention and H3 reach the same risk: in every panel the mean over n and "
              "seeds of (risk_H3 - risk_ATT) / PGD risk lies within ±1 %.",
              "Li et al. 2024, Theorem 1 (min L_ATT = min L_H3 = min L_PGD)",
              equal_methods("panel", "linear_attention", "h3", tol=0.01),
              scale_column("risk", 1.03, lambda f: f["method"] == "h3")),
    )

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


class RAGSettings(LiSettings):
    """RAG settings: ``alphas`` (default: ``{0, .5, 1, 1.5} / sqrt(d)`` and ``{0.75, 0.9}``)."""

    alphas: list[UnitFloat] | None = pydantic.Field(
        None, min_length=2, description="query-example correlations; default: multiples of "
        "1/sqrt(d) and 0.75, 0.9")


def rag_alphas(settings: Any) -> list[float]:
    """The RAG grid: where ``alpha^2 d = O(1)`` (multiples of ``1/sqrt d``) and beyond it."""
    if settings.alphas is not None:
        return sorted({float(a) for a in settings.alphas})
    scaled = [m / np.sqrt(settings.d) for m in (0.0, 0.5, 1.0, 1.5)]
    return sorted({round(float(a), 4) for a in [*scaled, 0.75, 0.9] if a <= 1.0})


def rag_neff_ratio(frame: pd.DataFrame, d: int, sigma2: float,
                   column: str = "risk") -> pd.Series:
    """``n_eff / ((alpha^2 d + 1) n)``: the effective sample size of ``column`` over the law's."""
    n_eff = rag.effective_sample_size(frame[column].to_numpy(), d, sigma2)
    kappa = frame["alpha"].to_numpy() ** 2 * d + 1
    return pd.Series(n_eff / (kappa * frame["n"].to_numpy()), index=frame.index)


def _rag_law_check(regime: str, tol: float) -> Any:
    """Where ``alpha^2 d <= 1``: ``|n_eff / (kappa n) - 1| < tol``; where ``alpha >= 0.75``:
    ``n_eff / (kappa n) < tol`` (interval over seeds, every alpha and n of the regime)."""

    def check(data: Any) -> Any:
        st = data.settings
        res = data.results.assign(ratio=rag_neff_ratio(data.results, st.d, st.sigma2))
        k1 = res["alpha"] ** 2 * st.d
        sel = res[k1 <= 1 + 1e-3] if regime == "law" else res[res["alpha"] >= 0.75 - 1e-9]
        ev = []
        for (a, n), g in sel.groupby(["alpha", "n"]):
            what = f"alpha={a:g}, n={n}: n_eff / ((alpha^2 d + 1) n)"
            ev.append(within_interval(g["ratio"] - 1, tol, what + " - 1") if regime == "law"
                      else compare_interval(g["ratio"], tol, "<", what))
        return all_of(ev, "alpha^2 d <= 1" if regime == "law" else "alpha >= 0.75")

    return check


def _risk_from_law(data: Any) -> Any:
    """Counterexample: every trained risk replaced by the law's ``L_iid((alpha^2 d + 1) n)``."""
    st, frame = data.settings, data.results.copy()
    frame["risk"] = rag.rag_optimal_risk_large_d(frame["alpha"].to_numpy(),
                                                 frame["n"].to_numpy(), st.d, st.sigma2)
    return data.replace(results=frame)


@register
class LiFigRAG(_LiExperiment):
    """RAG over alpha: trained, the exact finite-d theory (spec §3d) and the law n_eff = kappa n."""

    name = "li2024.fig_rag"
    title = "RAG (query-example correlation alpha): trained vs exact theory vs n_eff law"
    version = "2"
    Settings = RAGSettings
    curve_key = "alpha"
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        # Adam with batch 512: at alpha = 0.9 the gradient noise of batch 128 left the models
        # 1-2.5 % above the optimum (SGD or Adam, 2400-4800 steps); batch 512: 0.2-0.35 %
        "quick": {**QUICK, "d": 8, "ns": [8], "seeds": 4, "methods": ["linear_attention"],
                  "optimizer": "adam", "batch": 512, "steps": 2400},
        "full": {**SGD_RECIPE, "d": 20, "ns": [20, 40], "methods": ["linear_attention", "h3"]}}
    claims = (
        Claim("reach_exact_optimum",
              "Under RAG correlation alpha, trained linear attention reaches the optimal PGD risk: "
              "at every alpha at least 90 % of the models end within 1 % of the exact optimum's "
              "risk on the same test prompts.",
              "Li et al. 2024 (PGD optimality under correlated designs); exact finite-d risk: "
              "ours",
              near_reference(["alpha", "method"], tol=0.01, frac=0.9),
              scale_column("risk", 1.03)),
        Claim("neff_law_where_alpha2d_small",
              "Where alpha^2 d <= 1 (alpha of order 1/sqrt(d)) the trained models' effective "
              "sample size follows the law n_eff = (alpha^2 d + 1) n within ±10 %.",
              "Li et al. 2024, RAG result (effective sample size kappa n, kappa = alpha^2 d + 1)",
              _rag_law_check("law", 0.10),
              scale_column("risk", 1.15)),
        Claim("neff_law_overstates_beyond",
              "Beyond alpha ~ 1/sqrt(d) the law overstates the gain: for alpha of order 1 "
              "(alpha >= 0.75) the trained models' n_eff is below 85 % of (alpha^2 d + 1) n.",
              "ours (exact finite-d RAG risk); the paper states the law as an approximation",
              _rag_law_check("beyond", 0.85),
              _risk_from_law),
    )

    def points(self, settings: Any) -> list[dict[str, Any]]:
        return [{"alpha": a} for a in rag_alphas(settings)]

    def task(self, settings: Any, point: dict[str, Any]) -> Any:
        return RAGTask(settings.d, point["alpha"], settings.sigma2)

    def optimum(self, settings: Any, point: dict[str, Any], n: int) -> tuple[np.ndarray, float]:
        a, d, s2 = point["alpha"], settings.d, settings.sigma2
        return (float(rag.rag_optimal_scale(a, n, d, s2)) * np.eye(d),
                float(rag.rag_optimal_risk(a, n, d, s2)))

    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        rows = super().run_point(settings, point, trial, ctx)
        a, d, s2 = point["alpha"], settings.d, settings.sigma2
        for row in rows:
            row["kappa"] = a**2 * d + 1
            row["risk_law"] = float(rag.rag_optimal_risk_large_d(a, row["n"], d, s2))
            row["n_eff"] = float(rag.effective_sample_size(row["risk"], d, s2))
        return rows

    def theory(self, settings: Any) -> pd.DataFrame | None:
        d, s2 = settings.d, settings.sigma2
        alphas = np.union1d(np.linspace(0.0, max(rag_alphas(settings)), 91), rag_alphas(settings))
        rows = []
        for n in settings.ns:
            exact = rag.rag_optimal_risk(alphas, n, d, s2)
            law = rag.rag_optimal_risk_large_d(alphas, n, d, s2)
            kappa = alphas**2 * d + 1
            for a, e, lw, k in zip(alphas, exact, law, kappa, strict=True):
                rows.append({"alpha": float(a), "n": int(n), "risk": float(e),
                             "risk_law": float(lw), "kappa": float(k),
                             "n_eff_ratio": float(rag.effective_sample_size(e, d, s2)) / n})
        return pd.DataFrame(rows)

    def plot(self, settings: Any, results: pd.DataFrame, theory: pd.DataFrame | None) -> Any:
        fig, axes = subplots(ncols=2, width=3.8)
        d = settings.d
        cols = color_cycle(max(len(settings.ns), 2))
        for n, col in zip(settings.ns, cols, strict=False):
            th = theory[theory["n"] == n] if theory is not None else None
            sel = results[results["n"] == n] if not results.empty else results
            if not sel.empty:
                sel = sel.assign(n_eff_ratio=sel["n_eff"] / sel["n"])
            tag = f" (n={n})" if len(settings.ns) > 1 else ""
            if th is not None:
                theory_line(axes[0, 0], th["alpha"], th["risk"], color=col,
                            label="exact PGD theory" + tag)
                axes[0, 0].plot(th["alpha"], th["risk_law"], "--", color=col, linewidth=1.2,
                                label=r"law: i.i.d. risk at $n_{\rm eff}=(\alpha^2d+1)n$" + tag)
                theory_line(axes[0, 1], th["alpha"], th["n_eff_ratio"], color=col,
                            label="exact PGD theory" + tag)
                axes[0, 1].plot(th["alpha"], th["kappa"], "--", color=col, linewidth=1.2,
                                label=r"law: $\alpha^2 d + 1$" + tag)
            for method in sel["method"].unique() if not sel.empty else []:
                m = sel[sel["method"] == method]
                experiment_points(axes[0, 0], m, "alpha", "risk", color=col,
                                  label=f"trained {method}" + tag)
                experiment_points(axes[0, 1], m, "alpha", "n_eff_ratio", color=col,
                                  label=f"trained {method}" + tag)
        for ax in axes[0]:
            ax.axvline(1 / np.sqrt(d), color="grey", linewidth=0.8, linestyle="-.")
            ax.text(1 / np.sqrt(d), ax.get_ylim()[1], r" $\alpha=1/\sqrt{d}$", fontsize=8,
                    va="top", ha="left", color="grey")
        label_axes(axes[0, 0], r"query-example correlation $\alpha$", r"risk $\mathcal{L}$")
        ns = ", ".join(str(n) for n in settings.ns)
        axes[0, 0].set_title(f"RAG, d = {d}, n = {ns}")
        label_axes(axes[0, 1], r"query-example correlation $\alpha$",
                   r"effective sample size $n_{\rm eff}/n$")
        axes[0, 1].set_title(r"$n_{\rm eff}$: i.i.d. $n$ with the same risk")
        legend(axes[0, 0], loc="lower left")
        legend(axes[0, 1], loc="lower right")
        return fig


class _AlignmentVariants(_LiExperiment):
    curve_key = "alpha"
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        # Adam with batch 512 (isotropic law): with SGD and batch 128 the gradient noise left
        # up to 1.2 % excess at alpha = 0.6 (3 of 15 models above 1 %)
        "quick": {**QUICK, "methods": ["linear_attention"], "optimizer": "adam", "batch": 512,
                  "steps": 1200},
        "full": {**SGD_RECIPE, "methods": ["linear_attention", "h3"]}}

    def points(self, settings: Any) -> list[dict[str, Any]]:
        return [{"alpha": a} for a in (0.0, 0.3, 0.6, 0.9)]


ALIGN_ALPHAS = (0.0, 0.3, 0.6, 0.9)


@register
class LiFigAlignment(_AlignmentVariants):
    """Task–feature alignment under OUR PROVISIONAL model (see iclab.theory.rag).

    ``E y^2 = kappa d + sigma2`` grows with alpha, so the raw risk rises with alpha; the figure
    and the claims use the normalised risk ``L / E y^2`` (the fraction of the label variance left
    unexplained).
    """

    name = "li2024.fig_alignment"
    title = "Task-feature alignment (provisional model): normalised risk, trained vs PGD theory"
    version = "2"
    claims = (
        Claim("reach_pgd_optimum",
              "Under task-feature alignment, trained linear attention reaches the optimal PGD "
              "risk: at every alpha at least 90 % of the models end within 1 % of the optimum's "
              "risk on the same test prompts.",
              "ours (provisional alignment model and its PGD theory)",
              near_reference(["alpha", "method"], tol=0.01, frac=0.9),
              scale_column("risk", 1.03)),
        Claim("alignment_lowers_normalised_risk",
              "Alignment increases the effective sample size: at every n the normalised risk "
              "L / E[y^2] of the trained models falls from each alpha to the next larger one.",
              "Li et al. 2024 (task-feature alignment improves sample complexity); model: ours",
              monotone_in("alpha", "risk_norm", ALIGN_ALPHAS, by=["n", "method"],
                          direction="decreasing"),
              transform_column("risk_norm", lambda f: f["risk"] / f["ey2"].min())),
    )

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

    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        rows = super().run_point(settings, point, trial, ctx)
        ey2 = float(rag.alignment_label_variance(point["alpha"], settings.d, settings.sigma2))
        for row in rows:
            row.update(ey2=ey2, risk_norm=row["risk"] / ey2,
                       risk_theory_norm=row["risk_theory"] / ey2)
        return rows

    def theory(self, settings: Any) -> pd.DataFrame | None:
        th = super().theory(settings)
        ey2 = rag.alignment_label_variance(th["alpha"].to_numpy(), settings.d, settings.sigma2)
        return th.assign(ey2=ey2, risk_norm=th["risk"] / ey2)

    def plot(self, settings: Any, results: pd.DataFrame, theory: pd.DataFrame | None) -> Any:
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


class _SpectrumBase(_LiExperiment):
    curve_key = "r"
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {**QUICK_SGD, "methods": ["linear_attention"]},
        "full": {**SGD_RECIPE, "methods": ["linear_attention"]}}

    def points(self, settings: Any) -> list[dict[str, Any]]:
        d = settings.d
        return [{"r": r} for r in sorted({1, max(1, d // 4), max(1, d // 2), d})]


@register
class LiFigLowRank(_SpectrumBase):
    """Rank-r attention (W_q, W_k in R^{(d+1) x r}) on a non-isotropic task (spec §3f)."""

    name = "li2024.fig_lowrank"
    title = "Low-rank linear attention: trained vs optimal rank-r PGD risk"
    version = "2"
    claims = (
        Claim("reach_rank_r_optimum",
              "Trained rank-r linear attention reaches the optimal rank-r PGD risk: at every r at "
              "least 90 % of the models (all n and seeds) end within 1 % of the rank-r optimum's "
              "risk on the same test prompts.",
              "Li et al. 2024, optimal low-rank attention (risk in terms of the covariance "
              "spectrum); rank-r formula: ours (Eckart-Young)",
              near_reference(["r", "method"], tol=0.01, frac=0.9),
              scale_column("risk", 1.03)),
    )

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


def lora_fraction(frame: pd.DataFrame, column: str = "risk") -> pd.Series:
    """Fraction of the frozen -> new-optimum gap recovered: ``(L_0 - L) / (L_0 - L*_new)``."""
    gap = frame["risk_frozen"] - frame["risk_new_opt"]
    return (frame["risk_frozen"] - frame[column]) / gap


def _lora_matches_theory(tol: float) -> Any:
    def check(data: Any) -> Any:
        res = data.results
        res = res.assign(err=lora_fraction(res) - res["frac_theory"])
        return all_of([within_interval(g["err"], tol, f"r={r}, n={n}: recovered fraction - "
                                       "theory") for (r, n), g in res.groupby(["r", "n"])],
                      "every r and n")

    return check


def _lora_fraction_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(frac=lora_fraction(frame))


@register
class LiFigLoRA(_SpectrumBase):
    """LoRA of rank r on W_q of a frozen PGD-optimal model for Sigma_old, trained on Sigma_new.

    Besides the trained adapter's risk every row holds, on the same test prompts, the frozen
    model's risk (``risk_frozen``, rank 0) and the new task's full optimum (``risk_new_opt``), so
    the fraction of the frozen -> optimum gap a rank-r adapter recovers is a paired measurement.
    """

    name = "li2024.fig_lora"
    title = "LoRA adaptation to a shifted task covariance: recovered gap vs rank, trained vs theory"
    version = "2"
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        # Adam (the adapters start at B = 0); 2000 steps: at 1200 the full-rank adapter (r = 8,
        # n = 16) ended 0.5-0.9 % above its optimum
        "quick": {**QUICK, "d": 8, "ns": [8, 16], "methods": ["lora"], "steps": 2000},
        "full": {"methods": ["lora"]}}
    claims = (
        Claim("reach_lora_optimum",
              "A trained rank-r LoRA adapter reaches the optimal rank-r adaptation: at every r at "
              "least 90 % of the models end within 1 % of its risk on the same test prompts.",
              "Li et al. 2024, LoRA result; rank-r formula: ours (Eckart-Young)",
              near_reference(["r", "method"], tol=0.01, frac=0.9),
              scale_column("risk", 1.03)),
        Claim("recovered_fraction_matches_theory",
              "The fraction of the frozen-model -> new-optimum risk gap that a rank-r adapter "
              "recovers matches the theory within ±0.05 at every r and n.",
              "Li et al. 2024, LoRA result; formula: ours (Eckart-Young)",
              _lora_matches_theory(0.05),
              transform_column("risk", lambda f: f["risk_frozen"]
                               - 0.8 * (f["risk_frozen"] - f["risk"]))),
        Claim("rank_recovers_more",
              "A larger LoRA rank recovers more of the gap: at every n the recovered fraction "
              "rises from each r to the next.",
              "Li et al. 2024, LoRA result (risk in terms of the rank)",
              monotone_in("r", "frac", (1, 2, 4, 8), by=["n"], frame=_lora_fraction_frame),
              reverse_column("risk", within=["n", "seed"])),
    )

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

    def references(self, settings: Any, point: dict[str, Any], test: Any,
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

    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        rows = super().run_point(settings, point, trial, ctx)
        for row in rows:
            row["frac_theory"] = self.fraction_theory(settings, row["n"], point["r"])
            row["frac"] = float(lora_fraction(pd.DataFrame([row])).iloc[0])
        return rows

    def fraction_theory(self, settings: Any, n: int, r: int) -> float:
        """``(L_0 - L_r) / (L_0 - L*_new)`` from the LoRA formula (spec §3g)."""
        old, new = lora_spectra(settings.d)
        L = lowrank.lora_optimal_risk(old, new, int(n), [0, r, settings.d], settings.sigma2)
        return float((L[0] - L[1]) / (L[0] - L[2]))

    def train(self, method: str, task: Any, ns: list[int], settings: Any, point: dict[str, Any],
              gen: torch.Generator, config: TrainConfig) -> Any:
        old, _ = lora_spectra(settings.d)
        W0 = torch.tensor(np.stack([pgd.pgd_optimum(old, n, settings.sigma2) for n in ns]),
                          dtype=config.dtype, device=gen.device)
        frozen = embed_preconditioner(W0)
        return train_icl_ensemble("lora", task, ns, len(ns), gen, config, rank=point["r"],
                                  frozen=frozen)

    def theory(self, settings: Any) -> pd.DataFrame | None:
        old, new = lora_spectra(settings.d)
        rows = []
        for n in settings.ns:
            risks = lowrank.lora_optimal_risk(old, new, int(n), np.arange(settings.d + 1),
                                              settings.sigma2)
            for r, risk in enumerate(risks):
                rows.append({"r": r, "n": int(n), "risk": float(risk),
                             "frac": float((risks[0] - risk) / (risks[0] - risks[-1]))})
        return pd.DataFrame(rows)

    def plot(self, settings: Any, results: pd.DataFrame, theory: pd.DataFrame | None) -> Any:
        fig, axes = subplots(ncols=1, width=4.2, height=3.2)
        ax = axes[0, 0]
        for n, col in zip(settings.ns, color_cycle(max(len(settings.ns), 2)), strict=False):
            if theory is not None:
                th = theory[theory["n"] == n]
                theory_line(ax, th["r"], th["frac"], color=col, label=f"theory, n={n}")
            sel = results[results["n"] == n] if not results.empty else results
            experiment_points(ax, sel, "r", "frac", color=col, marker="^",
                              label=f"trained LoRA, n={n}")
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


class DriftSettings(LiSettings):
    gammas: list[UnitFloat] = pydantic.Field(default_factory=lambda: [1.0, 0.95, 0.9, 0.8],
                                             min_length=2, description="AR(1) task correlation "
                                             "between neighbouring positions (1: no drift)")


def drift_advantage(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (gamma, n, seed): H3's advantage ``(risk_ATT - risk_H3) / risk_ATT*``.

    ``risk_ATT*`` is the best linear-attention (uniform PGD) risk on the same prompts; the two
    architectures' models with the same seed index are paired (independent draws).
    """
    keys = ["gamma", "n", "seed"]
    la = frame[frame["method"] == "linear_attention"].set_index(keys)
    h3 = frame[frame["method"] == "h3"].set_index(keys)
    adv = ((la["risk"] - h3["risk"]) / la["risk_pgd_mc"]).dropna()
    return adv.rename("adv").reset_index()


#: The claim's range: the theory's advantage rises steeply down to gamma = 0.9 (0, 5.1, 8.4 % at
#: gamma = 1, .95, .9 for d = 4, n = 12) and then saturates (9.2 % at .8, 9.4 % at .85) and falls.
ADVANTAGE_GAMMA_MIN = 0.9


def _advantage_grows(data: Any) -> Any:
    order = sorted((g for g in data.settings.gammas if g >= ADVANTAGE_GAMMA_MIN - 1e-9),
                   reverse=True)
    return monotone_in("gamma", "adv", order, by=["n"], frame=drift_advantage)(data)


def _omega_close(tol: float) -> Any:
    def check(data: Any) -> Any:
        h3 = data.results[data.results["method"] == "h3"]
        return all_of([compare_interval(g["omega_err"], tol, "<",
                                        f"gamma={gm:g}, n={n}: |omega - omega*| / |omega*|")
                       for (gm, n), g in h3.groupby(["gamma", "n"])], "every gamma and n")

    return check


def _uniform_filter(data: Any) -> Any:
    """Counterexample: H3's learned weights replaced by uniform ones (no sample weighting)."""
    frame = data.results.copy()
    h3 = frame["method"] == "h3"
    for (g, n), idx in frame[h3].groupby(["gamma", "n"]).groups.items():
        K = pgd.ar1_drift_correlation(int(n), float(g))
        omega = pgd.wpgd_joint_optimum(np.eye(data.settings.d), K, data.settings.sigma2)[1]
        frame.loc[idx, "omega_err"] = float(np.linalg.norm(1 - omega) / np.linalg.norm(omega))
    return data.replace(results=frame)


@register
class LiFigH3Drift(_LiExperiment):
    """Drifting task (AR(1) over positions): H3's filter learns the optimal sample weights.

    Rows add ``risk_wpgd_mc`` (the jointly optimal weighted PGD on the same prompts, H3's
    reference; ``risk_ref`` is each architecture's own optimum), ``risk_theory_h3`` and, for H3,
    ``omega_1..omega_n`` and ``omega_err = |omega - omega*| / |omega*|`` (both mean 1).
    """

    name = "li2024.fig_h3_drift"
    title = "H3 vs linear attention on a drifting task; learned filter vs optimal WPGD weights"
    version = "2"
    Settings = DriftSettings
    curve_key = "gamma"
    store_omega = True
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {**QUICK_SGD, "ns": [12], "sigma2": 0.25, "seeds": 4},
        "full": {**SGD_RECIPE, "ns": [40], "sigma2": 0.25, "seeds": 8}}
    claims = (
        Claim("reach_own_optimum",
              "Each architecture reaches its own optimum on the drifting task: at every gamma at "
              "least 90 % of the linear-attention models end within 1 % of the best uniform-"
              "weight PGD risk, and of the H3 models within 1 % of the best weighted PGD risk "
              "(same test prompts).",
              "Li et al. 2024 (ATT = PGD, H3 = weighted PGD); drift model and WPGD optimum: ours",
              near_reference(["gamma", "method"], tol=0.01, frac=0.9, ref="risk_ref"),
              scale_column("risk", 1.03)),
        Claim("filter_matches_optimal_weights",
              "H3's learned convolution filter implements the optimal sample weights: at every "
              "gamma the relative error |omega - omega*| / |omega*| of the learned weights "
              "(both normalised to mean 1) is below 0.15.",
              "Li et al. 2024 (H3's filter acts as sample weighting); omega*: ours (WPGD "
              "optimum under the AR(1) drift)",
              _omega_close(0.15),
              _uniform_filter),
        Claim("advantage_grows_with_drift",
              "H3's advantage over linear attention, (risk_ATT - risk_H3) / risk_ATT*, grows as "
              "the task drifts faster, from gamma = 1 (no drift, no advantage) to each smaller "
              "gamma of the grid down to gamma = 0.9.",
              "Li et al. 2024 (H3 better on temporally heterogeneous data); the trend: ours",
              _advantage_grows,
              scale_column("risk", 0.0, lambda f: f["method"] == "h3")),
    )

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

    def h3_optimum(self, settings: Any, gamma: float, n: int
                   ) -> tuple[np.ndarray, float, np.ndarray]:
        """``(omega*, L*_WPGD, W*)`` of the jointly optimal weighted PGD (spec §3c, derived)."""
        K = pgd.ar1_drift_correlation(int(n), gamma)
        W, omega, risk = pgd.wpgd_joint_optimum(np.eye(settings.d), K, settings.sigma2)
        return omega, risk, W

    def references(self, settings: Any, point: dict[str, Any], test: Any,
                   ns: list[int]) -> dict[str, np.ndarray]:
        n_max = max(ns)
        out = np.zeros(len(ns))
        for n in sorted(set(ns)):
            omega, _, W = self.h3_optimum(settings, point["gamma"], n)
            padded = np.concatenate([np.zeros(n_max - n), omega])  # drop the older examples
            Wt = torch.tensor(W, dtype=test.X.dtype, device=test.X.device)[None]
            risk = float(pgd_risk_mc(Wt, test, torch.tensor(padded, device=test.X.device))[0])
            out[[m for m, v in enumerate(ns) if v == n]] = risk
        return {"risk_wpgd_mc": out}

    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        rows = super().run_point(settings, point, trial, ctx)
        for row in rows:
            omega, risk, _ = self.h3_optimum(settings, point["gamma"], row["n"])
            row["risk_theory_h3"] = float(risk)
            row["risk_ref"] = row["risk_pgd_mc"]
            if row["method"] == "h3":
                row["risk_theory"] = float(risk)
                row["risk_ref"] = row["risk_wpgd_mc"]
                learned = np.array([row[f"omega_{i + 1}"] for i in range(row["n"])])
                row["omega_err"] = float(np.linalg.norm(learned - omega) / np.linalg.norm(omega))
        return rows

    def theory(self, settings: Any) -> pd.DataFrame | None:
        rows = []
        grid = np.union1d(np.linspace(min(settings.gammas), 1.0, 41), settings.gammas)
        for g in grid:
            for n in settings.ns:
                la = self.optimum(settings, {"gamma": g}, n)[1]
                h3 = self.h3_optimum(settings, g, n)[1]
                rows.append({"gamma": float(g), "n": n, "method": "linear_attention", "risk": la,
                             "adv": (la - h3) / la})
                rows.append({"gamma": float(g), "n": n, "method": "h3", "risk": h3,
                             "adv": (la - h3) / la})
        return pd.DataFrame(rows)

    def plot(self, settings: Any, results: pd.DataFrame, theory: pd.DataFrame | None) -> Any:
        fig, axes = subplots(ncols=3, width=3.5)
        n = settings.ns[-1]
        ax = axes[0, 0]
        names = {"linear_attention": "linear attention", "h3": "H3"}
        for (method, marker), col in zip((("linear_attention", "o"), ("h3", "s")),
                                         color_cycle(2), strict=True):
            if theory is not None:
                th = theory[(theory.method == method) & (theory.n == n)]
                theory_line(ax, th["gamma"], th["risk"], color=col,
                            label=f"{names[method]}: theory")
            if not results.empty:
                experiment_points(ax, results[(results.method == method) & (results.n == n)],
                                  "gamma", "risk", marker=marker, color=col,
                                  label=f"{names[method]}: trained")
        label_axes(ax, r"drift correlation $\gamma$", r"risk $\mathcal{L}$")
        ax.set_title(f"drifting task, d = {settings.d}, n = {n}")
        legend(ax)
        ax = axes[0, 1]
        if theory is not None:
            th = theory[(theory.method == "h3") & (theory.n == n)]
            theory_line(ax, th["gamma"], th["adv"], color="black", label="theory (WPGD vs PGD)")
        if not results.empty:
            adv = drift_advantage(results)
            experiment_points(ax, adv[adv["n"] == n], "gamma", "adv", marker="s",
                              label="trained H3 vs trained attention")
        label_axes(ax, r"drift correlation $\gamma$",
                   r"H3 advantage $(\mathcal{L}_{\rm ATT}-\mathcal{L}_{\rm H3})/"
                   r"\mathcal{L}^\star_{\rm ATT}$")
        ax.invert_xaxis()
        ax.set_title("faster drift to the right")
        legend(ax)
        ax = axes[0, 2]
        for g, col in zip(settings.gammas, color_cycle(len(settings.gammas)), strict=True):
            omega = self.h3_optimum(settings, g, n)[0]
            theory_line(ax, np.arange(1, n + 1), omega, color=col,
                        label=rf"$\omega^\star$, $\gamma$={g}")
            sel = results[(results.get("gamma") == g) & (results.get("method") == "h3")
                          & (results.get("n") == n)] if not results.empty else results
            cols = [f"omega_{i}" for i in range(1, n + 1)]
            if not sel.empty and all(c in sel for c in cols):
                learned = sel[cols].to_numpy(dtype=float)
                ax.errorbar(np.arange(1, n + 1), learned.mean(0), yerr=learned.std(0), fmt="s-",
                            color=col, markersize=3, linewidth=0.8, capsize=2)
        ax.plot([], [], "s-", color="grey", markersize=3, linewidth=0.8,
                label="learned H3 filter")
        ax.set_xlabel("context position $i$ (query at $n+1$)")
        ax.set_ylabel(r"sample weight $\omega_i$ (mean 1)")
        ax.set_title("learned vs optimal weights")
        legend(ax)
        return fig

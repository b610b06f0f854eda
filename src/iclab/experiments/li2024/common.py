"""Shared declarations of the Li, Rawat & Oymak (2024) figures: settings, recipes, the figure
base class and plotting helpers.

Every point trains ONE ensemble (seeds x context lengths) in one tensor program
(:func:`iclab.fit.li_training.train_icl_ensemble`) and returns one row per model: ``method``,
``n``, ``seed``, ``trial`` (= seed), ``risk`` (Monte Carlo on a shared test set,
:func:`iclab.evaluate.paired_risk.ensemble_risk`), ``risk_pgd_mc`` (the theory-optimal predictor
on the same test prompts), ``risk_theory`` and ``cos_W`` (cosine of the learned effective
preconditioner with ``W*``). Risks are for ``beta ~ N(0, Sigma_beta)`` with
``tr Sigma_beta = d`` (null risk ``d + sigma2``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import numpy as np
import pandas as pd
import pydantic
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from iclab.contract import Experiment, ExperimentSettings, Row, RunContext
from iclab.devices import torch_threads
from iclab.evaluate.deviation import deviation_table
from iclab.evaluate.paired_risk import cosine, ensemble_risk, pgd_risk_mc
from iclab.figures import (
    color_cycle,
    experiment_points,
    fixed_params,
    label_axes,
    legend,
    subplots,
    theory_line,
)
from iclab.fit.ensemble import EnsembleTrainResult
from iclab.fit.li_training import (
    ContextLengthTask,
    TrainConfig,
    train_icl_ensemble,
    trained_predictor,
)
from iclab.models.h3 import H3Predictor
from iclab.tasks.prompts import Prompts

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
    :class:`iclab.fit.li_training.TrainConfig` and docs/li2024.md.
    """

    d: int = pydantic.Field(20, ge=1, description="input dimension d")
    ns: list[PositiveInt] = pydantic.Field(
        default_factory=lambda: [10, 20, 40, 60, 80], min_length=1,
        description="context lengths n, trained together in one ensemble")
    sigma2: float = pydantic.Field(0.0, ge=0, description="label-noise variance σ²")
    seeds: int = pydantic.Field(5, ge=1, description="models per context length")
    steps: int = pydantic.Field(20000, ge=1, description="training steps")
    batch: int = pydantic.Field(512, ge=1, description="prompts per step")
    lr: float = pydantic.Field(3e-3, gt=0, description="learning rate")
    warmup: int = pydantic.Field(100, ge=0, description="linear lr warm-up steps")
    init: Literal["torch", "label"] = pydantic.Field(
        "torch", description="torch: PyTorch's nn.Linear default; label: ours, +1 on the "
        "value weight reading the label")
    optimizer: Literal["adam", "sgd"] = pydantic.Field("adam", description="adam or sgd")
    curriculum: float = pydantic.Field(
        0.0, ge=0.0, lt=1.0, description="fraction of the steps first trained on the longest "
        "context")
    restarts: int = pydantic.Field(
        1, ge=1, description="initialisations per model; the one with the lowest training "
        "loss after half of the steps trains on (TrainConfig.restarts)")
    test_size: int = pydantic.Field(50000, ge=100, description="Monte Carlo test prompts per model")
    methods: list[Literal["linear_attention", "h3", "lora"]] = pydantic.Field(
        default_factory=lambda: ["linear_attention", "h3"], min_length=1,
        description="models trained: linear_attention, h3, lora")


QUICK: dict[str, Any] = {"d": 4, "ns": [2, 4, 8, 12, 16], "seeds": 3, "steps": 1200, "batch": 128,
                         "lr": 1e-2, "test_size": 50000}
FULL: dict[str, Any] = {}
#: The training recipe from PyTorch's initialisation (docs/li2024.md, "Training recipe").
SGD_RECIPE: dict[str, Any] = {"optimizer": "sgd", "lr": 1e-2}
QUICK_SGD: dict[str, Any] = {**QUICK, **SGD_RECIPE, "steps": 2400}
#: Marker of each architecture in the figures.
MARKERS = {"linear_attention": "o", "h3": "s", "lora": "^"}


def train_config(settings: LiSettings) -> TrainConfig:
    """The :class:`TrainConfig` of an experiment's settings."""
    return TrainConfig(steps=settings.steps, batch=settings.batch, lr=settings.lr,
                       warmup=min(settings.warmup, settings.steps), init=settings.init,
                       optimizer=settings.optimizer, curriculum=settings.curriculum,
                       restarts=settings.restarts)


def theory_and_trained(ax: Axes, x: str, y: str, theory: pd.DataFrame | None,
                       trained: pd.DataFrame | None, *, color: Any = None,
                       theory_label: str | None = None,
                       label: Callable[[str], str] = str, marker: str | None = None,
                       law: str | None = None, law_label: str | None = None) -> None:
    """One curve of a Li figure: the theory line ``theory[y]`` vs ``theory[x]`` (dotted; with
    ``law``, also ``theory[law]`` dashed) and the trained models' mean ± std of ``y`` per ``x``,
    one set of points per ``method`` (label ``label(method)``, marker :data:`MARKERS` unless
    ``marker`` is given)."""
    if theory is not None:
        theory_line(ax, theory[x], theory[y], color=color or "black", label=theory_label)
        if law is not None:
            ax.plot(theory[x], theory[law], "--", color=color, linewidth=1.2, label=law_label)
    if trained is None or trained.empty:
        return
    for method in trained["method"].unique():
        experiment_points(ax, trained[trained["method"] == method], x, y, color=color,
                          marker=marker or MARKERS.get(method, "o"), label=label(method))


def rank_grid(d: int) -> list[int]:
    """The ranks ``r`` of the low-rank and LoRA figures: ``1, d/4, d/2, d`` (distinct)."""
    return sorted({1, max(1, d // 4), max(1, d // 2), d})


LS = TypeVar("LS", bound=LiSettings)


class LiExperiment(Experiment[LS]):
    """Train an ensemble per point and method, compare with the PGD theory.

    A figure declares its task (:meth:`task`), the optimum ``(W*, L*)`` at each context length
    (:meth:`optimum`) and, optionally, extra reference risks (:meth:`references`), how to train
    (:meth:`train`) and rows added after the run (:meth:`finish_rows`).
    """

    paper = PAPER
    variants: ClassVar[dict[str, dict[str, Any]]] = {"quick": QUICK, "full": FULL}
    needs_gpu_for_full = True
    curve_key: ClassVar[str] = "panel"
    store_omega: ClassVar[bool] = False  # add the learned weights omega_1..omega_n to H3 rows

    def trials(self, settings: LS, point: dict[str, Any]) -> int:
        return 1  # the seeds are the ensemble axis inside the point

    # --- hooks ---------------------------------------------------------------------------------
    def task(self, settings: LS, point: dict[str, Any]) -> ContextLengthTask:
        raise NotImplementedError

    def optimum(self, settings: LS, point: dict[str, Any], n: int) -> tuple[np.ndarray, float]:
        """``(W* [d, d], L*)`` at context length ``n``."""
        raise NotImplementedError

    def methods(self, settings: LS, point: dict[str, Any]) -> list[str]:
        return list(settings.methods)

    def references(self, settings: LS, point: dict[str, Any], test: Prompts,
                   ns: list[int]) -> dict[str, np.ndarray]:
        """Extra per-model columns ``{name: [M]}`` measured on the shared test prompts."""
        return {}

    def kind(self, method: str) -> str:
        """The architecture :func:`~iclab.fit.li_training.train_icl_ensemble` trains."""
        return method

    def train(self, method: str, task: ContextLengthTask, ns: list[int], settings: LS,
              point: dict[str, Any], gen: torch.Generator,
              config: TrainConfig) -> EnsembleTrainResult:
        return train_icl_ensemble(method, task, ns, len(ns), gen, config)

    def finish_rows(self, settings: LS, point: dict[str, Any], rows: list[Row]) -> list[Row]:
        """Columns derived from each finished row (default: none)."""
        return rows

    # --- the point -----------------------------------------------------------------------------
    def run_point(self, settings: LS, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[Row]:
        with torch_threads(1, ctx.device):  # tiny tensors: see TrainConfig.cpu_threads
            rows = self._run_point(settings, point, ctx)
        return self.finish_rows(settings, point, rows)

    def _run_point(self, settings: LS, point: dict[str, Any], ctx: RunContext) -> list[Row]:
        task = self.task(settings, point)
        ns = [n for n in settings.ns for _ in range(settings.seeds)]
        seeds = [s for _ in settings.ns for s in range(settings.seeds)]
        test = task.sample(settings.test_size, ctx.generator(1), n=max(ns))
        W_star = torch.tensor(np.stack([self.optimum(settings, point, n)[0] for n in ns]),
                              dtype=torch.float32, device=ctx.device)
        ref = pgd_risk_mc(W_star, test, ns=ns).cpu().numpy()
        extra = self.references(settings, point, test, ns)
        config = train_config(settings)
        rows: list[Row] = []
        for k, method in enumerate(self.methods(settings, point)):
            res = self.train(method, task, ns, settings, point, ctx.generator(100 + k), config)
            model = trained_predictor(self.kind(method), res.params, ns)
            risk = ensemble_risk(model, test).cpu().numpy()
            cos = cosine(model.preconditioner(), W_star).cpu().numpy()
            omega = model.sample_weights() if isinstance(model, H3Predictor) else None
            for m, (n, seed) in enumerate(zip(ns, seeds, strict=True)):
                row = {"method": method, "n": n, "seed": seed, "trial": seed,
                       "risk": float(risk[m]), "risk_pgd_mc": float(ref[m]),
                       "risk_theory": float(self.optimum(settings, point, n)[1]),
                       "cos_W": float(cos[m]), "train_loss": float(res.final_loss[m]),
                       **{k: float(v[m]) for k, v in extra.items()}}
                if omega is not None:
                    om = omega[m, max(ns) - n:].cpu().numpy()  # the model's n positions
                    row["omega_cv"] = float(om.std() / abs(om.mean()))
                    if self.store_omega:
                        row.update({f"omega_{i + 1}": float(v) for i, v in enumerate(om)})
                rows.append(row)
        return rows

    # --- theory and figure ---------------------------------------------------------------------
    def optimum_curves(self, settings: LS) -> pd.DataFrame:
        """``L*(n)`` for ``n = 1 .. max(ns)`` at every point (columns: the point's, n, risk)."""
        grid = np.arange(1, max(settings.ns) + 1)
        rows = []
        for point in self.points(settings):
            for n in grid:
                rows.append({**point, "n": int(n), "risk": self.optimum(settings, point, n)[1]})
        return pd.DataFrame(rows)

    def theory(self, settings: LS) -> pd.DataFrame | None:
        return self.optimum_curves(settings)

    def plot(self, settings: LS, results: pd.DataFrame, theory: pd.DataFrame | None) -> Figure:
        points = self.points(settings)
        panels = self.curve_key == "panel"
        fig, axes = subplots(ncols=len(points) if panels else 1)
        colors = color_cycle(max(len(points), 2))
        for j, point in enumerate(points):
            ax = axes[0, j] if panels else axes[0, 0]
            key, val = self.curve_key, point[self.curve_key]
            sel = results[results[key] == val] if key in results else results.iloc[0:0]
            th = theory[theory[key] == val] if theory is not None else None
            lab = None if panels else f"{key}={val}"
            theory_and_trained(ax, "n", "risk", th, sel, color=None if panels else colors[j],
                               theory_label=None if lab else "PGD theory",
                               label=lambda method, lab=lab: f"{method} {lab}" if lab else method)
            if panels:
                ax.set_title(str(val))
                fixed_params(ax, d=settings.d, **(
                    {"sigma2": point["sigma2"]} if "sigma2" in point else {}))
            label_axes(ax, "n", "risk")
            legend(ax)
        if not panels:
            fixed_params(axes[0, 0], d=settings.d)
        return fig

    def deviations(self, settings: LS, results: pd.DataFrame,
                   theory: pd.DataFrame | None) -> pd.DataFrame | None:
        """Per curve and method: max over ``n`` of ``|mean risk - L*|`` (and relative to L*)."""
        if results.empty:
            return None
        keys = [self.curve_key, "method", "n"]
        optimum = results.groupby(keys)["risk_theory"].mean()

        def theory_at(row: pd.Series, metric: str) -> float:
            return float(optimum[tuple(row[k] for k in keys)])

        return deviation_table(results, theory_at, keys[:2], ["risk"], point_columns=keys)

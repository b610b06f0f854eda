"""Nonlinear transformers on in-context regression (Lu et al. Figs. 5–6; Shi et al. noise vs size).

- ``lu2024.fig5`` — test error vs τ = n/d² for the three architectures of Lu et al. §5 at
  several d; the interpolation peak per (architecture, d) and a fit ``n_peak = c d²``.
- ``lu2024.fig6`` — g_task = e^ICL − e^IDG vs κ for two softmax blocks with MLP, with the
  dMMSE baseline and the (ridgeless, reduced linear-attention) theory curve.
- ``shi2024.fig_transformer_noise`` — transformers of several sizes trained on the same data;
  error vs the variance of label noise added to the in-context labels at test time.

Each unit trains an *ensemble* (all τ or κ values × seeds, or all seeds of one size) as one
tensor program (:mod:`iclab.fit.transformer_training`).

**Peak rule** (spec open point 11, our choice): ``tau_peak`` is the τ on the grid with the
largest mean (over seeds) test error; ``n_peak = tau_peak · d²``; ``c`` is the least-squares
slope through the origin of ``n_peak`` against ``d²``. See ``docs/transformers.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pydantic

from iclab.baselines.bayes import dmmse_predict
from iclab.experiments.base import Experiment, ExperimentSettings, RunContext
from iclab.experiments.registry import register
from iclab.figures import color_cycle, experiment_points, label_axes, legend, subplots, theory_line
from iclab.fit.transformer_training import (
    FixedDataset,
    TrainSettings,
    evaluate_mse,
    single_thread_if_tiny,
    train,
)
from iclab.models.transformer import (
    EnsembleTransformer,
    TransformerConfig,
    lu_linear_attention,
    lu_softmax_block,
    lu_two_softmax_mlp,
)
from iclab.tasks.corruptions import add_label_noise
from iclab.tasks.prompts import Prompts
from iclab.tasks.regression import InContextRegression
from iclab.theory.asymptotic import e_kappa_inf, g_task

ARCHITECTURES = {
    "linear": lu_linear_attention,
    "softmax": lu_softmax_block,
    "softmax2_mlp": lu_two_softmax_mlp,
}
ARCH_LABELS = {"linear": "linear attention", "softmax": "1 softmax block",
               "softmax2_mlp": "2 softmax blocks + MLP"}


class _TrainingFields(ExperimentSettings):
    steps: int = pydantic.Field(20000, ge=1, description="AdamW steps")
    batch: int = pydantic.Field(128, ge=1, description="contexts per member per step")
    lr: float = pydantic.Field(1e-3, gt=0)
    weight_decay: float = pydantic.Field(1e-4, ge=0)
    seeds: int = pydantic.Field(3, ge=1, description="independent models per configuration")
    test_prompts: int = pydantic.Field(4000, ge=1)

    def train_settings(self) -> TrainSettings:
        return TrainSettings(steps=self.steps, batch=self.batch, lr=self.lr,
                             weight_decay=self.weight_decay,
                             log_every=max(1, min(100, self.steps)))


def _float32(p: Prompts) -> Prompts:
    return Prompts(*(None if t is None else t.float() for t in (p.X, p.y, p.x_q, p.y_q, p.w)))


def _fit(cfg: TransformerConfig, datasets: list[Prompts], settings: _TrainingFields,
         ctx: RunContext) -> tuple[EnsembleTransformer, FixedDataset]:
    """Train one member per dataset (float32, on ``ctx.device``)."""
    gen = ctx.generator(1)
    model = EnsembleTransformer(cfg, len(datasets), generator=gen).to(ctx.device)
    data = FixedDataset([_float32(p) for p in datasets], cfg.token_format)
    with single_thread_if_tiny(ctx.device, cfg.width):
        train(model, lambda _: data.minibatch(settings.batch, gen), settings.train_settings())
    return model, data


# ---------------------------------------------------------------------------------------------
class Fig5Settings(_TrainingFields):
    ds: list[int] = pydantic.Field(default_factory=lambda: [20, 40, 80])
    taus: list[float] = pydantic.Field(
        default_factory=lambda: [round(0.25 * i, 2) for i in range(1, 25)])
    architectures: list[str] = pydantic.Field(default_factory=lambda: list(ARCHITECTURES))
    alpha: float = pydantic.Field(1.0, gt=0, description="context length / d")
    rho: float = pydantic.Field(0.01, ge=0, description="label-noise variance")

    @pydantic.field_validator("architectures")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a not in ARCHITECTURES]
        if bad:
            raise ValueError(f"unknown architecture {bad[0]!r}; allowed: {list(ARCHITECTURES)}")
        return v


def peak_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per (architecture, d): ``tau_peak`` (argmax of mean test error over τ), ``n_peak``."""
    mean = results.groupby(["arch", "d", "tau"], as_index=False)["e_icl"].mean()
    rows = []
    for (arch, d), grp in mean.groupby(["arch", "d"]):
        tau = float(grp.loc[grp.e_icl.idxmax(), "tau"])
        rows.append({"arch": arch, "d": int(d), "tau_peak": tau, "n_peak": tau * d * d})
    return pd.DataFrame(rows)


def fit_peak_constant(peaks: pd.DataFrame) -> float:
    """Least-squares ``c`` in ``n_peak = c d²`` (through the origin)."""
    d2 = peaks.d.to_numpy(float) ** 2
    return float((peaks.n_peak.to_numpy(float) * d2).sum() / (d2 * d2).sum())


@register
class LuFigure5(Experiment):
    name = "lu2024.fig5"
    title = "Double descent in transformers: test error vs tau, peak location vs d^2"
    paper = "Lu, Letey, Zavatone-Veth, Maiti & Pehlevan 2024 (arXiv 2405.11751), Fig. 5"
    Settings = Fig5Settings
    needs_gpu_for_full = True
    variants = {
        "quick": {"ds": [4, 8], "taus": [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0],
                  "steps": 1500, "batch": 64, "lr": 3e-3, "seeds": 2, "test_prompts": 2000},
        "full": {},
    }

    def points(self, s: Any) -> list[dict[str, Any]]:
        return [{"arch": a, "d": d} for a in s.architectures for d in s.ds]

    def trials(self, s: Any, point: dict[str, Any]) -> int:
        return 1  # one unit trains every tau x seed as an ensemble

    def run_point(self, s: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        d = point["d"]
        task = InContextRegression(d=d, context_len=max(1, round(s.alpha * d)), rho=s.rho,
                                   k=None, task_norm="gaussian")
        gen = ctx.generator()
        members = [(tau, seed) for tau in s.taus for seed in range(s.seeds)]
        datasets = [task.sample(max(1, round(tau * d * d)), gen, kind="pretrain")
                    for tau, _ in members]
        model, data = _fit(ARCHITECTURES[point["arch"]](d), datasets, s, ctx)
        train_loss = data.full_loss(model).cpu()
        test = _float32(task.sample(s.test_prompts, gen, kind="icl"))
        e_icl = evaluate_mse(model, test).cpu()
        return [{"tau": tau, "trial": seed, "n": round(tau * d * d),
                 "train_loss": float(train_loss[m]), "e_icl": float(e_icl[m])}
                for m, (tau, seed) in enumerate(members)]

    def theory(self, s: Any) -> pd.DataFrame:
        tau = np.linspace(min(s.taus), max(s.taus), 400)
        tau = tau[np.abs(tau - 1) > 1e-3]
        return pd.DataFrame({"tau": tau, "e_icl": e_kappa_inf(tau, s.alpha, s.rho),
                             "curve": "linear theory (ridgeless, kappa=inf)"})

    def plot(self, s: Any, results: pd.DataFrame, theory: pd.DataFrame | None) -> Any:
        archs = [a for a in s.architectures if a in set(results.get("arch", []))]
        fig, axes = subplots(ncols=len(archs) + 1, width=3.2)
        colors = color_cycle(len(s.ds))
        peaks = peak_table(results) if not results.empty else pd.DataFrame()
        for ax, arch in zip(axes[0], archs, strict=False):
            for color, d in zip(colors, s.ds, strict=True):
                sub = results[(results.arch == arch) & (results.d == d)]
                experiment_points(ax, sub, "tau", "e_icl", color=color, label=f"d={d}")
                pk = peaks[(peaks.arch == arch) & (peaks.d == d)]
                if len(pk):
                    ax.axvline(pk.tau_peak.iloc[0], color=color, linestyle="--", alpha=0.5)
            if arch == "linear" and theory is not None:
                theory_line(ax, theory.tau, theory.e_icl, color="k", label="theory")
            ax.set_yscale("log")
            ax.set_title(ARCH_LABELS[arch])
            label_axes(ax, "tau", "test error")
            legend(ax)
        ax = axes[0, -1]
        for arch in archs:
            pk = peaks[peaks.arch == arch]
            if pk.empty:
                continue
            c = fit_peak_constant(pk)
            line = ax.plot(pk.d**2, pk.n_peak, "o", label=f"{ARCH_LABELS[arch]}: c={c:.2f}")
            grid = np.linspace(0, pk.d.max() ** 2 * 1.05, 10)
            ax.plot(grid, c * grid, ":", color=line[0].get_color())
        ax.set_title("interpolation peak")
        label_axes(ax, r"$d^2$", r"$n_{\mathrm{peak}}$")
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.45)  # room for the legend above the data
        legend(ax, loc="upper left", fontsize="small")
        return fig

    def deviations(self, s: Any, results: pd.DataFrame,
                   theory: pd.DataFrame | None) -> pd.DataFrame | None:
        if results.empty:
            return None
        peaks = peak_table(results)
        rows = [{"curve": f"{ARCH_LABELS[a]} peak", "metric": "c in n_peak = c d^2",
                 "value": fit_peak_constant(p), "n_points": len(p)}
                for a, p in peaks.groupby("arch")]
        return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
class Fig6Settings(_TrainingFields):
    d: int = pydantic.Field(20, ge=1)
    kappas: list[float] = pydantic.Field(
        default_factory=lambda: [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
    alpha: float = pydantic.Field(1.0, gt=0)
    tau: float = pydantic.Field(10.0, gt=0)
    rho: float = pydantic.Field(0.01, ge=0)
    architecture: str = pydantic.Field("softmax2_mlp", description="one of " +
                                       ", ".join(ARCHITECTURES))


@register
class LuFigure6(Experiment):
    name = "lu2024.fig6"
    title = "Task-diversity transition in a transformer: g_task vs kappa, with dMMSE and theory"
    paper = "Lu, Letey, Zavatone-Veth, Maiti & Pehlevan 2024 (arXiv 2405.11751), Fig. 6"
    Settings = Fig6Settings
    needs_gpu_for_full = True
    variants = {
        "quick": {"d": 6, "kappas": [0.34, 0.67, 1.0, 2.0, 4.0, 8.0, 16.0], "steps": 2000,
                  "batch": 64, "lr": 3e-3, "seeds": 2, "test_prompts": 2000},
        "full": {"d": 40, "kappas": [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 6.7]},
    }

    def points(self, s: Any) -> list[dict[str, Any]]:
        return [{"d": s.d, "arch": s.architecture}]

    def trials(self, s: Any, point: dict[str, Any]) -> int:
        return 1

    def run_point(self, s: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        d = s.d
        ell = max(1, round(s.alpha * d))
        gen = ctx.generator()
        members = [(kappa, seed) for kappa in s.kappas for seed in range(s.seeds)]
        tasks, pools, datasets = [], [], []
        for kappa, _ in members:
            task = InContextRegression(d=d, context_len=ell, rho=s.rho,
                                       k=max(1, round(kappa * d)), task_norm="gaussian",
                                       balanced=False)
            pool = task.draw_pool(gen)
            tasks.append(task)
            pools.append(pool)
            datasets.append(task.sample(max(1, round(s.tau * d * d)), gen, kind="pretrain",
                                        pool=pool))
        model, _ = _fit(ARCHITECTURES[point["arch"]](d), datasets, s, ctx)
        rows = []
        for m, ((kappa, seed), task, pool) in enumerate(zip(members, tasks, pools,
                                                            strict=True)):
            errs: dict[str, float] = {}
            for kind in ("icl", "idg"):
                test = task.sample(s.test_prompts, gen, kind=kind, pool=pool)
                pred = model.predict(_float32(test))[m].double().detach()
                errs[f"e_{kind}"] = float(((pred - test.y_q) ** 2).mean())
                dm = dmmse_predict(test, pool, s.rho)
                errs[f"dmmse_{kind}"] = float(((dm - test.y_q) ** 2).mean())
            rows.append({"kappa": kappa, "k": pool.shape[0], "trial": seed, "method":
                         "transformer", "e_icl": errs["e_icl"], "e_idg": errs["e_idg"],
                         "g_task": errs["e_icl"] - errs["e_idg"]})
            rows.append({"kappa": kappa, "k": pool.shape[0], "trial": seed, "method": "dmmse",
                         "e_icl": errs["dmmse_icl"], "e_idg": errs["dmmse_idg"],
                         "g_task": errs["dmmse_icl"] - errs["dmmse_idg"]})
        return rows

    def theory(self, s: Any) -> pd.DataFrame:
        kappa = np.geomspace(min(s.kappas), max(s.kappas), 200)
        return pd.DataFrame({"kappa": kappa, "g_task": g_task(s.tau, s.alpha, kappa, s.rho),
                             "curve": "linear attention theory (ridgeless)"})

    def plot(self, s: Any, results: pd.DataFrame, theory: pd.DataFrame | None) -> Any:
        fig, axes = subplots(width=4.0, height=3.0)
        ax = axes[0, 0]
        for method, color, marker in (("transformer", "C0", "o"), ("dmmse", "C3", "s")):
            experiment_points(ax, results[results.method == method], "kappa", "g_task",
                              color=color, label=method, marker=marker)
        if theory is not None:
            theory_line(ax, theory.kappa, theory.g_task, color="k", label="linear theory")
        ax.set_xscale("log")
        ax.set_title(rf"$d={s.d}$, $\alpha={s.alpha:g}$, $\tau={s.tau:g}$")
        label_axes(ax, "kappa", "g_task")
        legend(ax)
        return fig


# ---------------------------------------------------------------------------------------------
class NoiseSettings(_TrainingFields):
    d: int = pydantic.Field(10, ge=1)
    alpha: float = pydantic.Field(2.0, gt=0)
    rho: float = pydantic.Field(0.01, ge=0, description="label-noise variance in training")
    contexts: int = pydantic.Field(100000, ge=1, description="pretraining contexts (shared)")
    sizes: list[list[int]] = pydantic.Field(
        default_factory=lambda: [[1, 16, 1], [2, 32, 2], [4, 64, 4], [6, 128, 8]],
        description="model sizes as [n_layers, width, n_heads]")
    test_noise: list[float] = pydantic.Field(
        default_factory=lambda: [0.0, 0.1, 0.25, 0.5, 1.0, 2.0],
        description="variance of noise added to in-context labels at test")


@register
class ShiTransformerNoise(Experiment):
    name = "shi2024.fig_transformer_noise"
    title = "Transformers of several sizes: error vs in-context label noise at test"
    paper = "Shi, Wei, Xu & Liang 2024 (arXiv 2405.19592), transformer analogue"
    Settings = NoiseSettings
    needs_gpu_for_full = True
    variants = {
        "quick": {"d": 5, "contexts": 4000, "sizes": [[1, 8, 1], [2, 32, 2], [3, 64, 4]],
                  "steps": 1500, "batch": 64, "lr": 2e-3, "seeds": 3, "test_prompts": 2000},
        "full": {},
    }

    def points(self, s: Any) -> list[dict[str, Any]]:
        return [{"n_layers": L, "width": w, "n_heads": h} for L, w, h in s.sizes]

    def trials(self, s: Any, point: dict[str, Any]) -> int:
        return 1

    def run_point(self, s: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        from iclab.seeding import torch_generator

        task = InContextRegression(d=s.d, context_len=max(1, round(s.alpha * s.d)),
                                   rho=s.rho, k=None, task_norm="gaussian")
        # The same data for every size: the data seed ignores the point (model size).
        data_gen = torch_generator(s.seed, ctx.device)
        datasets = [task.sample(s.contexts, data_gen, kind="pretrain")
                    for _ in range(s.seeds)]
        cfg = TransformerConfig(d=s.d, n_layers=point["n_layers"], width=point["width"],
                                n_heads=point["n_heads"])
        model, _ = _fit(cfg, datasets, s, ctx)
        n_params = sum(p[0].numel() for p in model.parameters())
        clean = task.sample(s.test_prompts, data_gen, kind="icl")
        target = (clean.x_q * clean.w).sum(-1)  # noiseless query label
        rows = []
        for sigma2 in s.test_noise:
            noisy = add_label_noise(clean, sigma2, data_gen) if sigma2 > 0 else clean
            err = evaluate_mse(model, _float32(noisy), target.float()).cpu()
            rows += [{"sigma2": sigma2, "trial": seed, "params": n_params,
                      "error": float(err[seed])} for seed in range(s.seeds)]
        return rows

    def plot(self, s: Any, results: pd.DataFrame, theory: pd.DataFrame | None) -> Any:
        fig, axes = subplots(ncols=2, width=3.6)
        sizes = results.drop_duplicates(["n_layers", "width", "n_heads"]).sort_values("params")
        colors = color_cycle(len(sizes), "plasma")
        for color, row in zip(colors, sizes.itertuples(), strict=True):
            sub = results[(results.n_layers == row.n_layers) & (results.width == row.width)]
            label = f"L={row.n_layers}, w={row.width}, h={row.n_heads} ({row.params} params)"
            experiment_points(axes[0, 0], sub, "sigma2", "error", color=color, label=label)
            base = sub[sub.sigma2 == 0].set_index("trial").error
            delta = sub.assign(error=sub.error - sub.trial.map(base))
            experiment_points(axes[0, 1], delta, "sigma2", "error", color=color, label=label)
        label_axes(axes[0, 0], r"test label-noise variance $\sigma^2$", "error")
        label_axes(axes[0, 1], r"test label-noise variance $\sigma^2$",
                   r"error$(\sigma^2)$ − error$(0)$")
        legend(axes[0, 0], fontsize=6)
        axes[0, 0].set_title("error vs in-context noise")
        axes[0, 1].set_title("sensitivity (paired by seed)")
        return fig

"""Nonlinear transformers on in-context regression (Lu et al. Figs. 5–6; Shi et al. noise vs size).

- ``lu2024.fig5`` — test error vs τ = n/d² for the three architectures of Lu et al. (Fig. 5) at
  several d; the interpolation peak per (architecture, d) and a fit ``n_peak = c d²``.
- ``lu2024.fig6`` — g_task = e^ICL − e^IDG vs κ for two softmax blocks with MLP, with the
  dMMSE baseline and the (ridgeless, reduced linear-attention) theory curve.
- ``shi2024.fig_transformer_noise`` — transformers of several sizes trained on the same data;
  error vs the variance of label noise added to the in-context labels at test time.

Each unit trains an *ensemble* (all τ or κ values × seeds, or all seeds of one size) as one
tensor program (:mod:`iclab.fit.transformer_training`).

**Peak rule** (our choice; the paper does not fix it): ``tau_peak`` is the τ on the grid with the
largest mean (over seeds) test error; ``n_peak = tau_peak · d²``; ``c`` is the least-squares
slope through the origin of ``n_peak`` against ``d²``. See ``docs/transformers.md``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd
import pydantic

from iclab.baselines.bayes import dmmse_predict
from iclab.claims import (
    Claim,
    ClaimData,
    Evidence,
    all_of,
    decide,
    reverse_column,
    scale_column,
    slope,
    spearman,
    transform_column,
)
from iclab.contract import Experiment, ExperimentSettings, RunContext
from iclab.errors import ParameterError
from iclab.experiments.registry import register
from iclab.figures import color_cycle, experiment_points, label_axes, legend, subplots, theory_line
from iclab.fit.transformer_training import (
    FixedDataset,
    TrainSettings,
    evaluate_mse,
    single_thread_if_tiny,
    train,
    train_early_stopping,
    train_lbfgs,
)
from iclab.models.transformer import (
    EnsembleTransformer,
    TransformerConfig,
    lu_linear_attention,
    lu_softmax_block,
    lu_two_softmax_mlp,
    prompt_tokens,
)
from iclab.tasks.corruptions import add_label_noise
from iclab.tasks.prompts import Prompts
from iclab.tasks.regression import InContextRegression
from iclab.tasks.spectral_regression import SpectralRegressionTask, random_orthogonal
from iclab.theory.asymptotic import e_kappa_inf, g_task
from iclab.validation import (
    NonEmptyList,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    PositiveOrInf,
)

ARCHITECTURES = {
    "linear": lu_linear_attention,
    "softmax": lu_softmax_block,
    "softmax2_mlp": lu_two_softmax_mlp,
}
ARCH_LABELS = {"linear": "linear attention", "softmax": "1 softmax block",
               "softmax2_mlp": "2 softmax blocks + MLP"}


class _TrainingFields(ExperimentSettings):
    steps: int = pydantic.Field(20000, ge=1, le=10_000_000,
                                description="AdamW steps (the most, with early stopping)")
    batch: int = pydantic.Field(128, ge=1, le=1_000_000,
                                description="contexts per member per step")
    lr: float = pydantic.Field(1e-3, gt=0, le=1.0)
    weight_decay: float = pydantic.Field(1e-4, ge=0, le=1.0)
    schedule: Literal["constant", "cosine"] = pydantic.Field(
        "constant", description="AdamW learning-rate schedule: constant, or warm-up + cosine")
    warmup: float = pydantic.Field(0.0, ge=0, le=1, description="warm-up fraction of steps")
    seeds: int = pydantic.Field(3, ge=1, le=10_000,
                                description="independent models per configuration")
    test_prompts: int = pydantic.Field(4000, ge=1, le=10_000_000)

    def train_settings(self) -> TrainSettings:
        return TrainSettings(steps=self.steps, batch=self.batch, lr=self.lr,
                             weight_decay=self.weight_decay,
                             log_every=max(1, min(100, self.steps)),
                             schedule=self.schedule, warmup=self.warmup)


class _EarlyStoppingFields(_TrainingFields):
    eval_every: int = pydantic.Field(100, ge=1, le=1_000_000,
                                     description="AdamW steps between validation checks")
    patience: int = pydantic.Field(10, ge=1, le=100_000, description=(
        "a member has reached its plateau after this many checks without improvement"))
    min_delta: float = pydantic.Field(0.005, ge=0, lt=1, description=(
        "an improvement is a relative fall of the validation error by more than this"))
    val_prompts: int = pydantic.Field(2000, ge=1, le=1_000_000,
                                      description="held-out validation prompts per member")


def _float32(p: Prompts) -> Prompts:
    return Prompts(*(None if t is None else t.float() for t in (p.X, p.y, p.x_q, p.y_q, p.w)))


def _fit(cfg: TransformerConfig, datasets: list[Prompts], settings: _TrainingFields,
         ctx: RunContext) -> tuple[EnsembleTransformer, FixedDataset]:
    """Train one member per dataset with AdamW (float32, on ``ctx.device``)."""
    gen = ctx.generator(1)
    model = EnsembleTransformer(cfg, len(datasets), generator=gen).to(ctx.device)
    data = FixedDataset([_float32(p) for p in datasets], cfg.token_format)
    with single_thread_if_tiny(ctx.device, cfg.width):
        train(model, lambda _: data.minibatch(settings.batch, gen), settings.train_settings())
    return model, data


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(mean(a) - mean(b), half-width)`` of the 95 % Welch t-interval of the difference."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return float(a.mean() - b.mean()), 0.0
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return float(a.mean() - b.mean()), float(stats.t.ppf(0.975, df) * se)


def _from_quantiles(estimate: float, lo: float, hi: float, low: float, high: float,
                    detail: str) -> Evidence:
    """Evidence that a quantity lies in ``[low, high]`` from its bootstrap interval
    ``[lo, hi]``: holds if inside, fails if disjoint, inconclusive if it straddles an end."""
    verdict: Any = ("holds" if lo >= low and hi <= high else
                    "fails" if hi < low or lo > high else "inconclusive")
    threshold = high if estimate >= (low + high) / 2 else low
    return Evidence(verdict, estimate, (hi - lo) / 2, threshold, detail)


# ---------------------------------------------------------------------------------------------
class Fig5Settings(_TrainingFields):
    ds: NonEmptyList[PositiveInt] = pydantic.Field(default_factory=lambda: [20, 40, 80])
    taus: NonEmptyList[PositiveFloat] = pydantic.Field(
        default_factory=lambda: [round(0.25 * i, 2) for i in range(1, 25)])
    architectures: list[str] = pydantic.Field(default_factory=lambda: list(ARCHITECTURES))
    alpha: float = pydantic.Field(1.0, gt=0, le=1000, description="context length / d")
    rho: float = pydantic.Field(0.01, ge=0, le=100, description="label-noise variance")
    optimizer: Literal["lbfgs", "adamw"] = pydantic.Field(
        "lbfgs", description="full-batch L-BFGS to the criterion, or minibatch AdamW")
    max_iter: int = pydantic.Field(2000, ge=1, le=1_000_000,
                                   description="L-BFGS iterations (the most)")
    loss_tol: float = pydantic.Field(1e-4, gt=0, le=1, description=(
        "criterion: a member has converged when its training MSE is below this ..."))
    grad_tol: float = pydantic.Field(2e-3, gt=0, le=1, description=(
        "... or the norm of its training-loss gradient is below this"))

    @pydantic.field_validator("ds")
    @classmethod
    def _positive_ds(cls, v: list[int]) -> list[int]:
        if not v or any(d < 1 or d > 4096 for d in v):
            raise ValueError("ds must be a non-empty list of integers in [1, 4096]")
        return v

    @pydantic.field_validator("taus")
    @classmethod
    def _positive_taus(cls, v: list[float]) -> list[float]:
        if len(v) < 3 or any(not (0 < t <= 1000) for t in v):
            raise ValueError("taus must list at least 3 values in (0, 1000]")
        return v

    @pydantic.field_validator("architectures")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a not in ARCHITECTURES]
        if bad or not v:
            raise ValueError(f"unknown architecture {bad[0] if bad else None!r}; "
                             f"allowed: {list(ARCHITECTURES)}")
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


def _seed_matrix(results: pd.DataFrame, arch: str, d: int) -> tuple[np.ndarray, np.ndarray]:
    """``(taus [T], errors [T, S])`` of one (architecture, d) panel (NaN where missing)."""
    sub = results[(results.arch == arch) & (results.d == d)]
    table = sub.pivot_table(index="tau", columns="trial", values="e_icl")
    return table.index.to_numpy(float), table.to_numpy(float)


def bootstrap_peaks(results: pd.DataFrame, arch: str, d: int, draws: int = 400,
                    seed: int = 0) -> np.ndarray:
    """``[draws]`` values of ``tau_peak`` with the seeds resampled with replacement (at every τ
    independently: members at different τ are independent models)."""
    taus, err = _seed_matrix(results, arch, d)
    rng = np.random.default_rng(seed)
    S = err.shape[1]
    idx = rng.integers(0, S, size=(draws, err.shape[0], S))
    means = np.nanmean(np.take_along_axis(err[None], idx, axis=2), axis=2)
    return taus[np.nanargmax(means, axis=1)]


def peak_constants(results: pd.DataFrame, draws: int = 400) -> pd.DataFrame:
    """Per architecture: ``c`` (least squares over d) and its 95 % bootstrap interval."""
    rows = []
    for arch, sub in results.groupby("arch"):
        ds = sorted(int(d) for d in sub.d.unique())
        peaks = peak_table(sub)
        boot = np.stack([bootstrap_peaks(sub, arch, d, draws, seed=i)
                         for i, d in enumerate(ds)], axis=1)          # [draws, D]
        d2 = np.asarray(ds, float) ** 2
        cs = (boot * d2**2).sum(1) / (d2**2).sum()
        rows.append({"arch": arch, "c": fit_peak_constant(peaks),
                     "c_lo": float(np.quantile(cs, 0.025)),
                     "c_hi": float(np.quantile(cs, 0.975)), "n_d": len(ds)})
    return pd.DataFrame(rows)


def _check_peak_significant(data: ClaimData) -> Evidence:
    """Per panel: log test error at ``tau_peak`` minus at each end of the grid, Welch 95 %."""
    res = data.results
    evidence = []
    for (arch, d), sub in res.groupby(["arch", "d"]):
        taus, err = _seed_matrix(sub, arch, d)
        k = int(np.nanargmax(np.nanmean(err, axis=1)))
        for end in (0, len(taus) - 1):
            what = f"{arch} d={d}: log e(tau_peak={taus[k]:g}) - log e(tau={taus[end]:g})"
            if k == end:
                evidence.append(Evidence("fails", 0.0, 0.0, 0.0, what + ": peak at the end"))
                continue
            diff, half = _welch(np.log(err[k][np.isfinite(err[k])]),
                                np.log(err[end][np.isfinite(err[end])]))
            evidence.append(decide(diff, half, 0.0, ">", what + ", Welch 95 % interval > 0"))
    return all_of(evidence, "peak above both ends")


def _peak_spread(tau_peaks: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """``max_d |c_d / c - 1|`` per row of ``tau_peaks [draws, D]`` (``c_d = n_peak / d²`` is
    ``tau_peak``; ``c`` the least-squares fit of ``n_peak = c d²``)."""
    c = (tau_peaks * d2**2).sum(1, keepdims=True) / (d2**2).sum()
    return np.abs(tau_peaks / c - 1).max(1)


def _check_peak_constant(data: ClaimData) -> Evidence:
    """Per architecture: max over d of ``|c_d / c - 1|`` < 0.3 (bootstrap 95 % interval)."""
    res = data.results
    evidence = []
    for arch, sub in res.groupby("arch"):
        ds = sorted(int(d) for d in sub.d.unique())
        if len(ds) < 2:
            continue
        d2 = np.asarray(ds, float) ** 2
        observed = np.array([[float(peak_table(sub).set_index("d").tau_peak[d]) for d in ds]])
        boot = np.stack([bootstrap_peaks(sub, arch, d, seed=i) for i, d in enumerate(ds)], 1)

        est = float(_peak_spread(observed, d2)[0])
        lo, hi = np.quantile(_peak_spread(boot, d2), [0.025, 0.975])
        what = (f"{arch}: max_d |c_d/c - 1| over d={ds} (tau_peak={observed[0].tolist()}), "
                f"seed-bootstrap 95 % interval, claim < 0.3")
        verdict: Any = "holds" if hi < 0.3 else "fails" if lo >= 0.3 else "inconclusive"
        evidence.append(Evidence(verdict, est, float(hi - lo) / 2, 0.3, what))
    return all_of(evidence, "n_peak = c d^2")


def _check_linear_peak_range(data: ClaimData) -> Evidence:
    """Linear attention: tau_peak in [0.75, 1.5] at every d (seed-bootstrap 95 % interval)."""
    res = data.results[data.results.arch == "linear"]
    evidence = []
    for d in sorted(res.d.unique()):
        boot = bootstrap_peaks(res, "linear", int(d))
        est = float(peak_table(res[res.d == d]).tau_peak.iloc[0])
        lo, hi = np.quantile(boot, [0.025, 0.975])
        evidence.append(_from_quantiles(est, float(lo), float(hi), 0.75, 1.5,
                                        f"linear d={d}: tau_peak={est:g}, bootstrap 95 % "
                                        f"interval [{lo:g}, {hi:g}], claim in [0.75, 1.5]"))
    return all_of(evidence, "linear-attention peak")


def _fig5_claims() -> tuple[Claim, ...]:
    return (
        Claim(
            id="peak_above_both_ends",
            statement=("For each architecture and d, the seed-mean test error is largest at an "
                       "interior tau_peak and significantly above its values at both ends of "
                       "the tau grid (double descent)."),
            source="Lu et al. 2024, Fig. 5",
            check=_check_peak_significant,
            # the errors made to fall with tau: the maximum moves to the left end
            counterexample=transform_column(
                "e_icl", lambda f: f.groupby(["arch", "d", "trial"]).e_icl.transform("max")
                / f.tau),
            variants=("quick", "medium", "full")),
        Claim(
            id="n_peak_scales_as_d2",
            statement=("n_peak / d^2 is the same across d within +-30 % for each architecture "
                       "(n_peak = c d^2)."),
            source="Lu et al. 2024, Fig. 5D",
            check=_check_peak_constant,
            # tau tripled at the largest d: the peak no longer scales as d^2
            counterexample=transform_column(
                "tau", lambda f: f.tau * np.where(f.d == f.d.max(), 3.0, 1.0)),
            variants=("quick", "medium", "full")),
        Claim(
            id="linear_peak_near_tau_1",
            statement="For linear attention the peak lies at tau in [0.75, 1.5] at every d.",
            source="Lu et al. 2024, Fig. 5A",
            check=_check_linear_peak_range,
            counterexample=transform_column("tau", lambda f: f.tau * 2.0),
            variants=("quick", "medium", "full")),
    )


@register
class LuFigure5(Experiment):
    name = "lu2024.fig5"
    title = "Double descent in transformers: test error vs tau, peak location vs d^2"
    paper = "Lu, Letey, Zavatone-Veth, Maiti & Pehlevan 2024 (arXiv 2405.11751), Fig. 5"
    Settings = Fig5Settings
    needs_gpu_for_full = True
    version = "2"
    variants = {
        "quick": {"architectures": ["linear"], "ds": [8, 12],
                  "taus": [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5], "seeds": 4,
                  "max_iter": 500, "test_prompts": 2000},
        "medium": {"ds": [8, 10, 12],
                   "taus": [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0],
                   "seeds": 3, "max_iter": 500, "test_prompts": 2000},
        "full": {"max_iter": 5000},
    }
    smoke_overrides = {"ds": [3, 4], "taus": [0.5, 1.0, 2.0], "seeds": 2, "max_iter": 20,
                       "test_prompts": 200}
    claims = _fig5_claims()

    def points(self, s: Any) -> list[dict[str, Any]]:
        return [{"arch": a, "d": d} for a in s.architectures for d in s.ds]

    def unit_cost(self, s: Any, point: dict[str, Any]) -> float:
        """Relative cost of a unit for the progress estimate: a training step costs about
        layers × (ℓ w² + ℓ² w) with ℓ ≈ αd tokens and width w ≈ d, i.e. ∝ d³ (plus a fixed
        overhead per step that dominates at small d)."""
        depth = {"linear": 1.0, "softmax": 1.5, "softmax2_mlp": 3.5}.get(point["arch"], 2.0)
        return depth * (1.0 + (point["d"] / 8) ** 3)

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
        cfg = ARCHITECTURES[point["arch"]](d)
        if s.optimizer == "adamw":
            model, data = _fit(cfg, datasets, s, ctx)
            train_loss = data.full_loss(model).cpu()
            report = None
        else:
            model = EnsembleTransformer(cfg, len(members), generator=ctx.generator(1))
            model = model.to(ctx.device)
            data = FixedDataset([_float32(p) for p in datasets], cfg.token_format)
            with single_thread_if_tiny(ctx.device, cfg.width):
                report = train_lbfgs(model, data, max_iter=s.max_iter, loss_tol=s.loss_tol,
                                     grad_tol=s.grad_tol)
            train_loss = report.train_loss
        test = _float32(task.sample(s.test_prompts, gen, kind="icl"))
        e_icl = evaluate_mse(model, test).cpu()
        rows = []
        for m, (tau, seed) in enumerate(members):
            row = {"tau": tau, "trial": seed, "n": round(tau * d * d),
                   "train_loss": float(train_loss[m]), "e_icl": float(e_icl[m])}
            if report is not None:
                row.update(grad_norm=float(report.grad_norm[m]),
                           converged=bool(report.converged[m]), iters=int(report.steps[m]))
            rows.append(row)
        return rows

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
            if len(peaks):
                ax.plot([], [], "--", color="0.4", label=r"measured peak $\tau_{\rm peak}$")
            label_axes(ax, "tau", "test error")
            legend(ax)
        ax = axes[0, -1]
        consts = peak_constants(results) if not results.empty else pd.DataFrame()
        for arch in archs:
            pk = peaks[peaks.arch == arch]
            if pk.empty:
                continue
            row = consts[consts.arch == arch].iloc[0]
            c = row.c
            line = ax.plot(pk.d**2, pk.n_peak, "o",
                           label=f"{ARCH_LABELS[arch]}: c={c:.2f} [{row.c_lo:.2f}, "
                                 f"{row.c_hi:.2f}]")
            grid = np.linspace(0, pk.d.max() ** 2 * 1.05, 10)
            ax.plot(grid, c * grid, ":", color=line[0].get_color())
        ax.set_title("interpolation peak")
        label_axes(ax, r"$d^2$", r"$n_{\mathrm{peak}}$")
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.45)  # room for the legend above the data
        legend(ax, loc="upper left", fontsize="small")
        fig.suptitle(rf"$\alpha = {s.alpha:g}$, $\rho = {s.rho:g}$, $\kappa = \infty$ (a fresh "
                     r"task per context); dashed: the measured peak $\tau_{\rm peak}$")
        return fig

    def deviations(self, s: Any, results: pd.DataFrame,
                   theory: pd.DataFrame | None) -> pd.DataFrame | None:
        if results.empty:
            return None
        rows = [{"curve": f"{ARCH_LABELS[r.arch]} peak",
                 "metric": "c in n_peak = c d^2 (95 % bootstrap interval)",
                 "value": r.c, "lo": r.c_lo, "hi": r.c_hi, "n_points": r.n_d}
                for r in peak_constants(results).itertuples()]
        return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
class Fig6Settings(_EarlyStoppingFields):
    d: int = pydantic.Field(20, ge=1, le=4096)
    kappas: NonEmptyList[PositiveOrInf] = pydantic.Field(
        default_factory=lambda: [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
    alpha: float = pydantic.Field(1.0, gt=0, le=1000)
    tau: float = pydantic.Field(10.0, gt=0, le=1000)
    rho: float = pydantic.Field(0.01, ge=0, le=100)
    architecture: Literal["linear", "softmax", "softmax2_mlp"] = pydantic.Field(
        "softmax2_mlp", description="one of " + ", ".join(ARCHITECTURES))

    @pydantic.field_validator("kappas")
    @classmethod
    def _positive_kappas(cls, v: list[float]) -> list[float]:
        if len(v) < 3 or any(not (0 < k <= 1e6) for k in v):
            raise ValueError("kappas must list at least 3 values in (0, 1e6]")
        return v


def _gtask_means(results: pd.DataFrame, method: str) -> pd.DataFrame:
    """Per kappa: mean, standard error and count of g_task over seeds for ``method``."""
    sub = results[results.method == method]
    out = sub.groupby("kappa").g_task.agg(["mean", "std", "count"]).reset_index()
    out["se"] = out["std"] / np.sqrt(out["count"])
    return out


def _check_gtask_falls(data: ClaimData) -> Evidence:
    """Spearman(kappa, seed-mean g_task) <= -0.8; interval by resampling seeds."""
    sub = data.results[data.results.method == "transformer"]
    table = sub.pivot_table(index="kappa", columns="trial", values="g_task")
    kap, g = table.index.to_numpy(float), table.to_numpy(float)
    est = spearman(kap, np.nanmean(g, axis=1))
    rng = np.random.default_rng(0)
    idx = rng.integers(0, g.shape[1], size=(400, *g.shape))
    boot = [spearman(kap, np.nanmean(np.take_along_axis(g, i, axis=1), axis=1)) for i in idx]
    lo, hi = np.nanquantile(boot, [0.025, 0.975])
    verdict: Any = "holds" if hi <= -0.8 else "fails" if lo > -0.8 else "inconclusive"
    return Evidence(verdict, est, float(hi - lo) / 2, -0.8,
                    f"Spearman of seed-mean g_task vs kappa over {kap.size} kappas, "
                    f"seed-bootstrap 95 % interval [{lo:.3g}, {hi:.3g}], claim <= -0.8")


def _check_memorises_like_dmmse(data: ClaimData) -> Evidence:
    """kappa <= 0.5: transformer g_task >= dMMSE g_task - 2 standard errors of the gap."""
    tr = _gtask_means(data.results, "transformer").set_index("kappa")
    dm = _gtask_means(data.results, "dmmse").set_index("kappa")
    evidence = []
    for kappa in tr.index[tr.index <= 0.5]:
        gap = float(tr.loc[kappa, "mean"] - dm.loc[kappa, "mean"])
        se = float(math.hypot(tr.loc[kappa, "se"], dm.loc[kappa, "se"]))
        verdict: Any = "holds" if gap >= -2 * se else "fails"
        evidence.append(Evidence(verdict, gap, 2 * se, 0.0,
                                 f"kappa={kappa:g}: g_task(transformer) - g_task(dMMSE) = "
                                 f"{gap:.3g}, claim >= -2 SE = {-2 * se:.3g}"))
    return all_of(evidence, "memorisation at kappa <= 0.5")


def _check_generalises(data: ClaimData) -> Evidence:
    """kappa >= 8: transformer g_task < 0.1 x dMMSE g_task (Welch 95 % interval < 0)."""
    res = data.results
    evidence = []
    for kappa in sorted(k for k in res.kappa.unique() if k >= 8):
        at = res[res.kappa == kappa]
        tr = at[at.method == "transformer"].g_task.to_numpy(float)
        dm = at[at.method == "dmmse"].g_task.to_numpy(float)
        diff, half = _welch(tr, 0.1 * dm)
        evidence.append(decide(diff, half, 0.0, "<",
                               f"kappa={kappa:g}: g_task(transformer) - 0.1 g_task(dMMSE), "
                               "Welch 95 % interval < 0"))
    return all_of(evidence, "task generalisation at kappa >= 8")


def _is_transformer(f: pd.DataFrame) -> pd.Series:
    return f.method == "transformer"


def _fig6_claims() -> tuple[Claim, ...]:
    return (
        Claim(id="gtask_falls_with_kappa",
              statement=("The transformer's g_task = e_ICL - e_IDG falls with task diversity "
                         "kappa (Spearman <= -0.8 over seed means)."),
              source="Lu et al. 2024, Fig. 6",
              check=_check_gtask_falls,
              counterexample=transform_column(
                  "g_task", lambda f: np.where(_is_transformer(f), f.kappa, f.g_task)),
              variants=("quick", "full")),
        Claim(id="memorises_at_low_kappa",
              statement=("At kappa <= 0.5 the transformer memorises the task pool: its g_task "
                         "is within two standard errors of dMMSE's or above it."),
              source="Lu et al. 2024, Fig. 6",
              check=_check_memorises_like_dmmse,
              counterexample=transform_column(
                  "g_task", lambda f: np.where(_is_transformer(f), 0.0, f.g_task)),
              variants=("quick", "full")),
        Claim(id="generalises_at_high_kappa",
              statement=("At kappa >= 8 the transformer learns in context: its g_task is below "
                         "0.1 x dMMSE's."),
              source="Lu et al. 2024, Fig. 6",
              check=_check_generalises,
              # the transformer given the largest g_task measured at its kappa
              counterexample=transform_column(
                  "g_task", lambda f: np.where(_is_transformer(f),
                                               f.groupby("kappa").g_task.transform("max"),
                                               f.g_task)),
              variants=("quick", "full")),
    )


@register
class LuFigure6(Experiment):
    name = "lu2024.fig6"
    title = "Task-diversity transition in a transformer: g_task vs kappa, with dMMSE and theory"
    paper = "Lu, Letey, Zavatone-Veth, Maiti & Pehlevan 2024 (arXiv 2405.11751), Fig. 6"
    Settings = Fig6Settings
    needs_gpu_for_full = True
    version = "2"
    variants = {
        "quick": {"d": 6, "kappas": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0], "steps": 4000,
                  "batch": 64, "lr": 3e-3, "schedule": "cosine", "warmup": 0.05,
                  "seeds": 3, "test_prompts": 4000, "eval_every": 100, "patience": 8},
        "full": {"d": 40, "kappas": [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]},
    }
    smoke_overrides = {"d": 3, "kappas": [0.5, 2.0, 8.0], "steps": 30, "seeds": 2,
                       "test_prompts": 200, "val_prompts": 100, "eval_every": 10}
    claims = _fig6_claims()

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
        tasks, pools, datasets, vals = [], [], [], []
        for kappa, _ in members:
            task = InContextRegression(d=d, context_len=ell, rho=s.rho,
                                       k=max(1, round(kappa * d)), task_norm="gaussian",
                                       balanced=False)
            pool = task.draw_pool(gen)
            tasks.append(task)
            pools.append(pool)
            datasets.append(task.sample(max(1, round(s.tau * d * d)), gen, kind="pretrain",
                                        pool=pool))
            # held out, from the pretraining distribution (pool tasks, fresh contexts)
            vals.append(_float32(task.sample(s.val_prompts, gen, kind="pretrain", pool=pool)))
        cfg = ARCHITECTURES[point["arch"]](d)
        model = EnsembleTransformer(cfg, len(members), generator=ctx.generator(1))
        model = model.to(ctx.device)
        data = FixedDataset([_float32(p) for p in datasets], cfg.token_format)
        val_data = FixedDataset(vals, cfg.token_format)
        train_gen = ctx.generator(2)
        with single_thread_if_tiny(ctx.device, cfg.width):
            report = train_early_stopping(
                model, lambda _: data.minibatch(s.batch, train_gen), s.train_settings(),
                (val_data.tokens, val_data.targets), eval_every=s.eval_every,
                patience=s.patience, min_delta=s.min_delta)
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
            common = {"kappa": kappa, "k": pool.shape[0], "trial": seed}
            rows.append({**common, "method": "transformer", "e_icl": errs["e_icl"],
                         "e_idg": errs["e_idg"], "g_task": errs["e_icl"] - errs["e_idg"],
                         "val_error": float(report.val_error[m]),
                         "stop_step": int(report.steps[m]),
                         "converged": bool(report.converged[m])})
            rows.append({**common, "method": "dmmse", "e_icl": errs["dmmse_icl"],
                         "e_idg": errs["dmmse_idg"],
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
class NoiseSettings(_EarlyStoppingFields):
    d: int = pydantic.Field(10, ge=1, le=4096)
    alpha: float = pydantic.Field(2.0, gt=0, le=1000, description="context length / d")
    rho: float = pydantic.Field(0.01, ge=0, le=100,
                                description="variance of the context-label noise in training")
    important: int = pydantic.Field(2, ge=1, le=4096, description=(
        "number of important input directions (large eigenvalue of the input covariance)"))
    lam_important: float = pydantic.Field(1.0, gt=0, le=1e6,
                                          description="input variance along important ones")
    lam_other: float = pydantic.Field(0.2, gt=0, le=1e6,
                                      description="input variance along the other directions")
    sizes: list[list[int]] = pydantic.Field(
        default_factory=lambda: [[1, 4, 1], [1, 8, 2], [2, 32, 2], [4, 64, 4]],
        description="model sizes as [n_layers, width, n_heads], smallest first")
    attention: Literal["softmax", "linear"] = pydantic.Field("softmax", description=(
        "softmax: GPT-2-style blocks (pre-LayerNorm, GELU MLP); linear: linear-attention "
        "layers without MLP or LayerNorm, whose width bounds the key-query rank"))
    optimizer: Literal["adamw", "lbfgs"] = pydantic.Field("adamw", description=(
        "adamw: fresh prompts every step; lbfgs: full batch on a fixed set of `contexts`"))
    contexts: int = pydantic.Field(4000, ge=1, le=10_000_000,
                                   description="training prompts per member (lbfgs)")
    max_iter: int = pydantic.Field(2000, ge=1, le=1_000_000,
                                   description="L-BFGS iterations (the most)")
    test_noise: NonEmptyList[NonNegativeFloat] = pydantic.Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 1.0, 2.0],
        description="variance of noise added to in-context labels at test")

    @pydantic.field_validator("sizes")
    @classmethod
    def _valid_sizes(cls, v: list[list[int]]) -> list[list[int]]:
        for size in v:
            if len(size) != 3 or any(x < 1 or x > 100_000 for x in size) \
                    or size[1] % size[2]:
                raise ValueError(f"size {size} must be [n_layers, width, n_heads] of positive "
                                 "integers with width a multiple of n_heads")
        return v

    @pydantic.field_validator("test_noise")
    @classmethod
    def _valid_noise(cls, v: list[float]) -> list[float]:
        if len(v) < 2 or 0.0 not in v or any(not (0 <= x <= 1e6) for x in v):
            raise ValueError("test_noise must list at least 2 variances in [0, 1e6], one 0")
        return v

    def task(self) -> SpectralRegressionTask:
        """Prompts with ``important`` directions of variance ``lam_important`` and ``d -
        important`` of variance ``lam_other``, in a random basis fixed by ``seed``."""
        from iclab.seeding import torch_generator

        if self.important > self.d:
            raise ParameterError("important", self.important, f"at most d={self.d}")
        lam = [self.lam_important] * self.important + [self.lam_other] * (self.d - self.important)
        basis = random_orthogonal(self.d, torch_generator(self.seed + 7, "cpu")).numpy()
        return SpectralRegressionTask(eigenvalues=tuple(lam), n=max(1, round(self.alpha * self.d)),
                                      basis=basis, label_noise2=self.rho)


def noise_slopes(results: pd.DataFrame) -> pd.DataFrame:
    """Per (size, seed): least-squares slope of error against the test noise variance σ²."""
    rows = []
    for (params, trial), sub in results.groupby(["params", "trial"]):
        rows.append({"params": int(params), "trial": int(trial),
                     "slope": slope(sub.sigma2, sub.error)})
    return pd.DataFrame(rows)


def _check_slope_rises(data: ClaimData) -> Evidence:
    """Each size step: slope(larger) - slope(smaller) > 0 (Welch 95 % interval over seeds)."""
    sl = noise_slopes(data.results)
    params = sorted(sl.params.unique())
    evidence = []
    for small, large in zip(params[:-1], params[1:], strict=True):
        diff, half = _welch(sl[sl.params == large].slope, sl[sl.params == small].slope)
        evidence.append(decide(diff, half, 0.0, ">",
                               f"slope({large} params) - slope({small} params), Welch 95 % "
                               "interval > 0"))
    return all_of(evidence, "noise sensitivity rises with size")


def _check_clean_not_worse(data: ClaimData) -> Evidence:
    """Each size step at σ² = 0: error(larger) - error(smaller) < 5 % of error(smaller)."""
    clean = data.results[data.results.sigma2 == 0]
    params = sorted(clean.params.unique())
    evidence = []
    for small, large in zip(params[:-1], params[1:], strict=True):
        a = clean[clean.params == large].error.to_numpy(float)
        b = clean[clean.params == small].error.to_numpy(float)
        diff, half = _welch(a, b)
        margin = 0.05 * float(b.mean())
        evidence.append(decide(diff, half, margin, "<",
                               f"clean error({large} params) - error({small} params), Welch "
                               f"95 % interval < 5 % of the smaller's error"))
    return all_of(evidence, "larger not worse on clean prompts")


def _shi_claims() -> tuple[Claim, ...]:
    return (
        Claim(id="noise_slope_rises_with_size",
              statement=("The slope of test error in the in-context label-noise variance "
                         "rises with model size: larger models are more sensitive to noise in "
                         "the context."),
              source="Shi et al. 2024 (transformer analogue, ours)",
              check=_check_slope_rises,
              # the sizes' results reversed: the smallest model gets the largest's errors
              counterexample=reverse_column("error", within=("sigma2", "trial")),
              variants=("quick", "full")),
        Claim(id="larger_not_worse_clean",
              statement="Larger models are not worse on clean prompts.",
              source="Shi et al. 2024 (transformer analogue, ours)",
              check=_check_clean_not_worse,
              counterexample=scale_column(
                  "error", 1.5, lambda f: (f.sigma2 == 0) & (f.params == f.params.max())),
              variants=("quick", "full")),
    )


@register
class ShiTransformerNoise(Experiment):
    name = "shi2024.fig_transformer_noise"
    title = "Transformers of several sizes: error vs in-context label noise at test"
    paper = "Shi, Wei, Xu & Liang 2024 (arXiv 2405.19592), transformer analogue"
    Settings = NoiseSettings
    needs_gpu_for_full = True
    version = "2"
    variants = {
        "quick": {"d": 8, "attention": "linear", "sizes": [[1, 3, 1], [1, 5, 1], [1, 9, 1]],
                  "lam_important": 0.3125, "lam_other": 0.0625,
                  "optimizer": "lbfgs", "contexts": 4000, "max_iter": 1000, "patience": 8,
                  "seeds": 4, "test_prompts": 4000},
        "full": {"steps": 100000, "seeds": 5},
    }
    smoke_overrides = {"d": 4, "sizes": [[1, 3, 1], [1, 5, 1]], "contexts": 100,
                       "max_iter": 50, "seeds": 2, "test_prompts": 200, "val_prompts": 100}
    claims = _shi_claims()

    def points(self, s: Any) -> list[dict[str, Any]]:
        return [{"n_layers": L, "width": w, "n_heads": h} for L, w, h in s.sizes]

    def trials(self, s: Any, point: dict[str, Any]) -> int:
        return 1

    def run_point(self, s: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        from iclab.seeding import torch_generator

        task = s.task()
        L, width, heads = point["n_layers"], point["width"], point["n_heads"]
        if s.attention == "linear":
            cfg = TransformerConfig(d=s.d, n_layers=L, width=width, n_heads=heads,
                                    attention="linear", mlp="none", norm="none",
                                    residual=L > 1)
        else:
            cfg = TransformerConfig(d=s.d, n_layers=L, width=width, n_heads=heads)
        # the same validation and test prompts for every size (the seed ignores the point)
        data_gen = torch_generator(s.seed, ctx.device)
        val = task.sample(s.val_prompts, data_gen)
        clean = task.sample(s.test_prompts, data_gen)
        noisy = {sigma2: add_label_noise(clean, sigma2, data_gen) if sigma2 > 0 else clean
                 for sigma2 in s.test_noise}
        gen = ctx.generator(2)
        model = EnsembleTransformer(cfg, s.seeds, generator=ctx.generator(1)).to(ctx.device)

        def batch(_: int) -> tuple[Any, Any]:  # fresh prompts every step (online)
            p = task.sample(s.batch * s.seeds, gen)
            tokens = prompt_tokens(p, cfg.token_format).view(s.seeds, s.batch, -1, s.d + 1)
            return tokens, p.y_q.view(s.seeds, s.batch)

        val_batch = (prompt_tokens(_float32(val), cfg.token_format), val.y_q.float())
        with single_thread_if_tiny(ctx.device, cfg.width):
            if s.optimizer == "lbfgs":
                # the same training prompts for every size; member m gets its own draw
                train_sets = [task.sample(s.contexts, data_gen) for _ in range(s.seeds)]
                data = FixedDataset([_float32(p) for p in train_sets], cfg.token_format)
                report = train_lbfgs(model, data, max_iter=s.max_iter, validation=val_batch,
                                     patience=s.patience, min_delta=s.min_delta)
            else:
                report = train_early_stopping(model, batch, s.train_settings(), val_batch,
                                              eval_every=s.eval_every, patience=s.patience,
                                              min_delta=s.min_delta)
        n_params = sum(p[0].numel() for p in model.parameters())
        rows = []
        for sigma2, prompts in noisy.items():
            err = evaluate_mse(model, prompts, clean.y_q).cpu()
            rows += [{"sigma2": sigma2, "trial": seed, "params": n_params,
                      "error": float(err[seed]), "val_error": float(report.val_error[seed]),
                      "stop_step": int(report.steps[seed]),
                      "converged": bool(report.converged[seed])} for seed in range(s.seeds)]
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

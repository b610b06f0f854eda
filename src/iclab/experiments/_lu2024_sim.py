"""Finite-d simulation pipeline shared by the ``lu2024.*`` experiments (Lu et al. 2024).

One *trial* (Lu et al. 2024's linear-attention simulations; docs/lu2024.md): draw the pool of
:math:`k=\\mathrm{round}(\\kappa d)` pretraining tasks (or none at :math:`\\kappa=\\infty`),
:math:`n=\\tau d^2` pretraining contexts (rounded to a multiple of :math:`k` when task usage
is balanced) with the exact fast feature sampler, fit :math:`\\Gamma^*` in closed form
(:func:`iclab.fit.closed_form.fit_gamma`), and evaluate :math:`e^{ICL}`, :math:`e^{IDG}` with
the exact finite-(d, ℓ) error (:mod:`iclab.theory.finite_d`). The dMMSE baseline is
evaluated by Monte Carlo on token-level test prompts against the same pool.

Also: tidy theory frames and the theory-vs-simulation deviation table.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from iclab.baselines.bayes import dmmse_predict
from iclab.fit.closed_form import fit_gamma, fit_gamma_batched
from iclab.models.reduced import sample_features
from iclab.tasks.regression import InContextRegression, balanced_context_count, sample_prompts
from iclab.theory import asymptotic
from iclab.theory.finite_d import exact_error, isotropic_moments, pool_moments

#: entries per sampling chunk (contexts x (2d+2)) and per dMMSE prompt batch (B x l x d)
_SAMPLE_CHUNK = 4_000_000
_PROMPT_CHUNK = 4_000_000
#: memory for one group of trials solved together by :func:`fit_trials` (bytes)
_BATCH_BYTES = 2**30


@dataclasses.dataclass(frozen=True)
class Trial:
    """A fitted trial: the task family, its pool (``None`` at κ=∞), Γ* and fit details."""

    task: InContextRegression
    pool: torch.Tensor | None
    gamma: torch.Tensor
    n: int
    solver: str
    iterations: int


def sizes(d: int, alpha: float, kappa: float, tau: float, balanced: bool
          ) -> tuple[int, int | None, int]:
    """(ℓ, k, n) for a grid point: ℓ = round(αd), k = max(1, round(κd)) (``None`` if
    κ = ∞), n = round(τd²), rounded to a multiple of k when balanced (authors' rule)."""
    ell = max(1, round(alpha * d))
    k = None if math.isinf(kappa) else max(1, round(kappa * d))
    n = max(1, round(tau * d * d))
    if k is not None and balanced:
        n = balanced_context_count(n, k)
    return ell, k, n


def fit_trial(
    d: int, alpha: float, kappa: float, tau: float, rho: float, lam: float,
    generator: torch.Generator, task_norm: str = "sphere", balanced: bool = True,
    solver: str = "auto",
) -> Trial:
    """Draw one pretraining set and fit Γ* (float64, on the generator's device)."""
    task, pool, (x, h, y), n = draw_sample(d, alpha, kappa, tau, rho, generator, task_norm,
                                     balanced)
    fit = fit_gamma(x, h, y, lam, method=solver)
    return Trial(task, pool, fit.gamma, n, fit.method, fit.iterations)


def draw_sample(d: int, alpha: float, kappa: float, tau: float, rho: float,
          generator: torch.Generator, task_norm: str, balanced: bool
          ) -> tuple[InContextRegression, torch.Tensor | None, tuple[torch.Tensor, ...], int]:
    """One trial's task family, pool and pretraining sample ``(x, h, y)`` (as fit_trial)."""
    ell, k, n = sizes(d, alpha, kappa, tau, balanced)
    task = InContextRegression(d=d, context_len=ell, rho=rho, k=k, task_norm=task_norm,
                               balanced=balanced)  # type: ignore[arg-type]
    pool = task.draw_pool(generator)
    tasks = task.pretraining_tasks(n, pool, generator)
    chunk = max(1, _SAMPLE_CHUNK // (2 * d + 2))
    parts = [sample_features(tasks[s:s + chunk], ell, rho, generator)
             for s in range(0, n, chunk)]
    return task, pool, tuple(torch.cat(p) for p in zip(*parts, strict=True)), n


def fit_trials(
    d: int, alpha: float, kappa: float, tau: float, rho: float, lam: float,
    generators: Sequence[torch.Generator], task_norm: str = "sphere", balanced: bool = True,
    solver: str = "auto",
) -> list[Trial]:
    """The trials of one grid point, one per generator, with their Γ* fits solved together
    (:func:`iclab.fit.closed_form.fit_gamma_batched`: one batched PCG / dense / dual solve).

    Each trial draws exactly what :func:`fit_trial` draws with the same generator, so the
    result equals ``[fit_trial(..., g) for g in generators]`` up to the solver tolerance.
    Trials are solved in groups whose samples and Gram/kernel matrices fit in about
    ``_BATCH_BYTES`` (1 GiB)."""
    n = sizes(d, alpha, kappa, tau, balanced)[2]
    per_problem = 8 * n * (2 * d + 2) + 8 * min(n, d * (d + 1)) ** 2  # sample + Gram/kernel
    group = max(1, _BATCH_BYTES // per_problem)
    out: list[Trial] = []
    for start in range(0, len(generators), group):
        draws = [draw_sample(d, alpha, kappa, tau, rho, g, task_norm, balanced)
                 for g in generators[start:start + group]]
        x, h, y = (torch.stack([dr[2][i] for dr in draws]) for i in range(3))
        fit = fit_gamma_batched(x, h, y, lam, method=solver)
        out += [Trial(task, pool, fit.gamma[i], n_i, fit.method, fit.iterations)
                for i, (task, pool, _, n_i) in enumerate(draws)]
    return out


def exact_errors(trial: Trial) -> dict[str, float]:
    """:math:`e^{ICL}` (fresh task of the pool's normalisation) and :math:`e^{IDG}` (uniform
    over the pool; equal to ICL at κ=∞) by the exact formula, plus ``g_task``."""
    t = trial.task
    device = trial.gamma.device
    e_icl = float(exact_error(trial.gamma,
                              isotropic_moments(t.d, t.context_len, t.rho, t.task_norm, device)))
    if trial.pool is None:
        e_idg = e_icl
    else:
        e_idg = float(exact_error(trial.gamma, pool_moments(trial.pool, t.context_len, t.rho)))
    return {"e_icl": e_icl, "e_idg": e_idg, "g_task": e_icl - e_idg}


def trial_row(trial: Trial) -> dict[str, Any]:
    """The linear-attention result row of a trial."""
    return {"method": "linear_attention", **exact_errors(trial), "n": trial.n,
            "k": trial.task.k, "ell": trial.task.context_len, "solver": trial.solver,
            "cg_iterations": trial.iterations}


def _squared_errors(predict: Callable[[Any], torch.Tensor], tasks: torch.Tensor, ell: int,
                    rho: float, generator: torch.Generator) -> torch.Tensor:
    """Per-prompt squared query error on token-level prompts for ``tasks [N, d]``: ``[N]``."""
    d = tasks.shape[1]
    batch = max(1, _PROMPT_CHUNK // ((ell + 1) * d))
    out = []
    for s in range(0, tasks.shape[0], batch):
        prompts = sample_prompts(tasks[s:s + batch], ell, rho, generator)
        out.append((prompts.y_q - predict(prompts)) ** 2)
    return torch.cat(out)


def dmmse_row(trial: Trial, n_prompts: int, generator: torch.Generator) -> dict[str, Any]:
    """dMMSE on ``n_prompts`` token-level ICL and ``n_prompts`` IDG test prompts with the
    trial's pool (Monte Carlo, one batch for both kinds; docs/theory.md, "Baselines")."""
    t, pool = trial.task, trial.pool
    if pool is None:
        raise ValueError("dMMSE needs a finite pool (kappa < inf)")

    def predict(prompts: Any) -> torch.Tensor:
        return dmmse_predict(prompts, pool, t.rho)

    tasks = torch.cat([t.test_tasks("icl", n_prompts, pool, generator),
                       t.test_tasks("idg", n_prompts, pool, generator)])
    sq = _squared_errors(predict, tasks, t.context_len, t.rho, generator)
    e_icl, e_idg = float(sq[:n_prompts].mean()), float(sq[n_prompts:].mean())
    return {"method": "dmmse", "e_icl": e_icl, "e_idg": e_idg, "g_task": e_icl - e_idg,
            "k": t.k, "ell": t.context_len, "n_prompts": n_prompts}


# ---- theory ---------------------------------------------------------------------------------
_THEORY: dict[str, Callable[..., Any]] = {
    "e_icl": asymptotic.e_icl,
    "e_idg": asymptotic.e_idg,
}


def theory_value(metric: str, tau: Any, alpha: Any, kappa: Any, rho: Any, lam: Any = 0.0
                 ) -> np.ndarray:
    """Asymptotic theory (Lu et al. 2024; docs/theory.md) of ``metric`` ∈ {e_icl, e_idg,
    g_task}; ``inf`` → ``nan``."""
    if metric == "g_task":
        out = np.asarray(asymptotic.g_task(tau, alpha, kappa, rho), dtype=float)
    elif metric == "e_idg" and np.all(np.isinf(np.asarray(kappa, float))):
        out = np.asarray(asymptotic.e_icl(tau, alpha, kappa, rho, lam), dtype=float)
    else:
        args = (tau, alpha, kappa, rho) if metric == "e_idg" else (tau, alpha, kappa, rho, lam)
        out = np.asarray(_THEORY[metric](*args), dtype=float)
    return np.where(np.isfinite(out), out, np.nan)


def deviation_table(results: pd.DataFrame, theory_at: Callable[[pd.Series, str], float],
                    curve_keys: Sequence[str], metrics: Sequence[str],
                    method: str = "linear_attention") -> pd.DataFrame:
    """Per curve and metric: number of points, max |sim mean − theory| and max relative
    deviation, over the points where the theory is finite. ``theory_at(point, metric)``
    gives the theory at a row's grid point."""
    cols = ["curve", "metric", "n_points", "max_abs_dev", "max_rel_dev"]
    if results is None or results.empty:
        return pd.DataFrame(columns=cols)
    frame = results[results["method"] == method] if "method" in results else results
    out = []
    point_cols = [c for c in ("panel", "d", "alpha", "kappa", "tau", "rho", "lam")
                  if c in frame.columns]
    for metric in metrics:
        if metric not in frame:
            continue
        sub = frame.dropna(subset=[metric])
        means = sub.groupby(point_cols, dropna=False)[metric].mean().reset_index()
        means["theory"] = [theory_at(row, metric) for _, row in means.iterrows()]
        means = means[np.isfinite(means["theory"])]
        for key, grp in means.groupby(list(curve_keys), dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            dev = (grp[metric] - grp["theory"]).abs()
            curve = ", ".join(f"{k}={v:g}" if isinstance(v, float | int) else f"{k}={v}"
                              for k, v in zip(curve_keys, key, strict=True))
            out.append({"curve": curve, "metric": metric, "n_points": len(grp),
                        "max_abs_dev": float(dev.max()),
                        "max_rel_dev": float((dev / grp["theory"].abs()).max())})
    return pd.DataFrame(out, columns=cols)

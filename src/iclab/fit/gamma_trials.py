r"""Fitting trials of the Lu et al. 2024 linear-attention simulations (docs/lu2024.md).

One *trial*: draw the pool of :math:`k=\max(1, \mathrm{round}(\kappa d))` pretraining tasks (or
none at :math:`\kappa=\infty`), :math:`n=\mathrm{round}(\tau d^2)` pretraining contexts
(rounded to a multiple of :math:`k` with ``round_n_to_pool``, the authors' rule, which moves
the simulated τ when k is comparable to n) with the exact fast feature
sampler (:func:`iclab.models.reduced.sample_features`), and fit :math:`\Gamma^*` in closed
form (:func:`iclab.fit.closed_form.fit_gamma`). :func:`fit_trials` fits the trials of one grid
point together (:func:`iclab.fit.closed_form.fit_gamma_batched`), after drawing their samples
on parallel threads (:func:`draw_samples`). Their errors are computed by
:mod:`iclab.evaluate.lu_errors`; the PCG fits go on until those errors have settled
(:func:`error_goal`; :mod:`iclab.fit.ridge_pcg`, "Goal-oriented stopping").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from iclab.evaluate.lu_errors import error_moments
from iclab.fit.closed_form import fit_gamma, fit_gamma_batched
from iclab.fit.ridge_pcg import Goal
from iclab.models.reduced import sample_features
from iclab.tasks.regression import (
    InContextRegression,
    TaskNorm,
    balanced_context_count,
)
from iclab.theory.finite_d import exact_error

#: entries per sampling chunk (contexts x (2d+2))
_SAMPLE_CHUNK = 4_000_000
#: memory for one group of trials solved together by :func:`fit_trials` (bytes)
_BATCH_BYTES = 2**30


@dataclasses.dataclass(frozen=True)
class Trial:
    """A fitted trial: the task family, its pool (``None`` at κ=∞), Γ* ``[d, d+1]`` and fit
    details (``n`` pretraining contexts, the solver used, its CG iterations)."""

    task: InContextRegression
    pool: torch.Tensor | None
    gamma: torch.Tensor
    n: int
    solver: str
    iterations: int


def sizes(d: int, alpha: float, kappa: float, tau: float, round_n_to_pool: bool = True
          ) -> tuple[int, int | None, int]:
    """(ℓ, k, n) for a grid point: ℓ = round(αd), k = max(1, round(κd)) (``None`` if
    κ = ∞), n = round(τd²), rounded to a multiple of k with ``round_n_to_pool`` (the
    authors' rule: every task used equally often, but the simulated τ = n/d² moves when k
    is comparable to τd², e.g. n = k at k = 1.25 τd²)."""
    ell = max(1, round(alpha * d))
    k = None if math.isinf(kappa) else max(1, round(kappa * d))
    n = max(1, round(tau * d * d))
    if k is not None and round_n_to_pool:
        n = balanced_context_count(n, k)
    return ell, k, n


def draw_sample(d: int, alpha: float, kappa: float, tau: float, rho: float,
                generator: torch.Generator, task_norm: TaskNorm, balanced: bool,
                round_n_to_pool: bool = True,
                out: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
                ) -> tuple[InContextRegression, torch.Tensor | None, tuple[torch.Tensor, ...],
                           int]:
    """One trial's task family, pool and pretraining sample ``(x [n, d], h [n, d+1],
    y [n])``, and ``n`` (as :func:`fit_trial` draws them). With ``out`` (three float64
    tensors of those shapes on the generator's device) the sample is written into them."""
    ell, k, n = sizes(d, alpha, kappa, tau, balanced and round_n_to_pool)
    task = InContextRegression(d=d, context_len=ell, rho=rho, k=k, task_norm=task_norm,
                               balanced=balanced)
    pool = task.draw_pool(generator)
    tasks = task.pretraining_tasks(n, pool, generator)
    if out is None:
        out = (tasks.new_empty((n, d)), tasks.new_empty((n, d + 1)), tasks.new_empty((n,)))
    chunk = max(1, _SAMPLE_CHUNK // (2 * d + 2))
    for s in range(0, n, chunk):
        sample_features(tasks[s:s + chunk], ell, rho, generator,
                        out=tuple(o[s:s + chunk] for o in out))  # type: ignore[arg-type]
    return task, pool, out, n


def draw_samples(d: int, alpha: float, kappa: float, tau: float, rho: float,
                 generators: Sequence[torch.Generator], task_norm: TaskNorm, balanced: bool,
                 round_n_to_pool: bool = True, threads: int | None = None,
                 ) -> tuple[list[tuple[InContextRegression, torch.Tensor | None, int]],
                            tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """:func:`draw_sample` for each generator, written straight into stacked tensors.

    Returns ``[(task, pool, n)]`` in the generators' order and the stacked sample ``x [B, n,
    d]``, ``h [B, n, d+1]``, ``y [B, n]`` (float64, on the generators' device). On the CPU the
    trials are drawn on up to ``threads`` threads at once (default: ``torch.get_num_threads()``),
    each op then on one thread: a torch generator is serial, so one trial's normals use one
    core whatever the thread setting. Each trial draws only from its own generator, so the
    samples are exactly those of drawing one after the other."""
    n = sizes(d, alpha, kappa, tau, balanced and round_n_to_pool)[2]
    device = generators[0].device
    batch = len(generators)
    stacked = (torch.empty((batch, n, d), dtype=torch.float64, device=device),
               torch.empty((batch, n, d + 1), dtype=torch.float64, device=device),
               torch.empty((batch, n), dtype=torch.float64, device=device))

    def draw(b: int) -> tuple[InContextRegression, torch.Tensor | None, int]:
        task, pool, _, n_b = draw_sample(d, alpha, kappa, tau, rho, generators[b], task_norm,
                                         balanced, round_n_to_pool,
                                         out=(stacked[0][b], stacked[1][b], stacked[2][b]))
        return task, pool, n_b

    workers = min(batch, threads or torch.get_num_threads())
    if workers <= 1 or device.type != "cpu":
        return [draw(b) for b in range(batch)], stacked
    intra_op = torch.get_num_threads()
    torch.set_num_threads(1)  # one core per trial (restored below)
    try:
        with ThreadPoolExecutor(max_workers=workers) as executor:
            return list(executor.map(draw, range(batch))), stacked
    finally:
        torch.set_num_threads(intra_op)


def error_goal(draws: Sequence[tuple[InContextRegression, torch.Tensor | None]]) -> Goal:
    r"""The errors a trial reports, as a goal of the Γ* solve: ``gamma [B, d, d+1] -> [B,
    2]``, :math:`(e^{ICL}, e^{IDG})` of problem ``b`` by the exact formula with the moments of
    ``draws[b] = (task, pool)`` (:func:`iclab.evaluate.lu_errors.error_moments`, as
    :func:`iclab.evaluate.lu_errors.exact_errors` computes them)."""
    moments = [error_moments(task, pool) for task, pool in draws]

    def goal(gamma: torch.Tensor) -> torch.Tensor:
        g = gamma.detach().to(torch.float64).cpu().numpy()
        values = [[exact_error(g[b], icl), exact_error(g[b], idg)]
                  for b, (icl, idg) in enumerate(moments)]
        return torch.from_numpy(np.asarray(values, dtype=np.float64))

    return goal


def fit_trial(
    d: int, alpha: float, kappa: float, tau: float, rho: float, lam: float,
    generator: torch.Generator, task_norm: TaskNorm = "sphere", balanced: bool = True,
    solver: str = "auto", round_n_to_pool: bool = True,
) -> Trial:
    """Draw one pretraining set and fit Γ* (float64, on the generator's device)."""
    task, pool, (x, h, y), n = draw_sample(d, alpha, kappa, tau, rho, generator, task_norm,
                                           balanced, round_n_to_pool)
    fit = fit_gamma(x, h, y, lam, method=solver, goal=error_goal([(task, pool)]))
    return Trial(task, pool, fit.gamma, n, fit.method, fit.iterations)


def fit_trials(
    d: int, alpha: float, kappa: float, tau: float, rho: float, lam: float,
    generators: Sequence[torch.Generator], task_norm: TaskNorm = "sphere",
    balanced: bool = True, solver: str = "auto", round_n_to_pool: bool = True,
) -> list[Trial]:
    """The trials of one grid point, one per generator, with their Γ* fits solved together
    (:func:`iclab.fit.closed_form.fit_gamma_batched`: one batched PCG / dense / dual solve).

    Each trial draws exactly what :func:`fit_trial` draws with the same generator, so the
    result equals ``[fit_trial(..., g) for g in generators]`` up to the solver tolerance.
    Trials are solved in groups whose samples and solver memory (whitened copies or
    Gram/kernel matrices) fit in about ``_BATCH_BYTES`` (1 GiB)."""
    n = sizes(d, alpha, kappa, tau, balanced and round_n_to_pool)[2]
    # float64 sample, its whitened float32 copies (PCG) or the Gram/kernel (direct solves)
    per_problem = 8 * n * (2 * d + 2) + max(4 * n * (3 * d + 2), 8 * min(n, d * (d + 1)) ** 2)
    group = max(1, _BATCH_BYTES // per_problem)
    out: list[Trial] = []
    for start in range(0, len(generators), group):
        draws, (x, h, y) = draw_samples(d, alpha, kappa, tau, rho,
                                        generators[start:start + group], task_norm, balanced,
                                        round_n_to_pool)
        fit = fit_gamma_batched(x, h, y, lam, method=solver,
                                goal=error_goal([(task, pool) for task, pool, _ in draws]))
        out += [Trial(task, pool, fit.gamma[i], n_i, fit.method, fit.iterations)
                for i, (task, pool, n_i) in enumerate(draws)]
    return out

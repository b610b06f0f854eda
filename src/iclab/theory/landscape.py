"""Where is the ridgeless error non-monotone in the context length α? (Figure 3 of Lu et al.)

Lu et al. 2024, Fig. 3 (docs/theory.md, "Limits" and "Figure 3 landscape": a
κ×ρ heat map of the α at the interior local minimum of :math:`e(\\alpha)`, grey where
monotone; α on ``logspace(-2, 3, 500)``).

**Definition of "interior minimum"** (the toolkit's choice: the paper does not give the
authors' rule; see docs/theory.md, "Figure 3 landscape"): on the α grid ``alphas[0..A-1]``
(sorted ascending), index ``i`` with ``0 < i < A-1`` is an interior local minimum when

    e[i] < e[i-1] - tol   and   e[i] < e[i+1] - tol,   tol = rtol * |e[i]|,  rtol = 1e-12,

i.e. strictly below both neighbours by more than float64 round-off (so a numerically flat
tail cannot create spurious minima). If several grid points qualify, the one with the lowest
error (the global minimum among interior minima) is reported. End points never count, so a
curve whose smallest value is at ``alphas[-1]`` is "monotone" (NaN). The grid answer is
accurate to one grid step; :func:`refine_minimum_alpha` polishes it with a bounded scalar
minimisation between the two neighbours.

Speed: float64 NumPy, allocation-free kernels (module ``_landscape_kernels``: the ridgeless
formulas rewritten in :math:`\\mu = q\\mathcal M(q)`, tested against ``e_icl``/``e_idg``) on
blocks of ρ rows × all α (~``chunk_elems`` points, L2-resident), one κ at a time, with the
(ρ, α)-only parts computed once per block; blocks are spread over ``threads`` Python threads
(NumPy ufuncs release the GIL). See ``benchmarks/theory_grid.py`` and ``docs/theory.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from iclab.errors import ParameterError
from iclab.theory._landscape_kernels import MinimumFinder, RowBlock
from iclab.theory.asymptotic import e_icl, e_idg
from iclab.theory.mp import inverse_kappa
from iclab.validation import check_choice, check_int, check_nonnegative, check_positive

__all__ = ["error_grid", "interior_minimum_alpha", "refine_minimum_alpha"]

METRICS = ("icl", "idg")


def _validate(metric: str, tau: float, kappas: Any, rhos: Any, alphas: Any
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    check_choice("metric", metric, METRICS)
    check_positive("tau", tau)
    if float(tau) == 1.0:
        raise ParameterError("tau", tau, "a number > 0 other than 1 (the peak, where e = inf)")
    kappas = np.atleast_1d(np.asarray(check_positive("kappas", kappas, allow_inf=True), float))
    rhos = np.atleast_1d(np.asarray(check_nonnegative("rhos", rhos), float))
    alphas = np.atleast_1d(np.asarray(check_positive("alphas", alphas), float))
    if alphas.ndim != 1 or alphas.size < 3 or np.any(np.diff(alphas) <= 0):
        raise ParameterError("alphas", "the given grid",
                             "a strictly increasing 1-d grid of >= 3 values")
    return kappas.ravel(), rhos.ravel(), alphas


def _blocks(n_kappa: int, n_rho: int, n_alpha: int, chunk_elems: int,
            kappa_split: int) -> list[tuple[slice, slice]]:
    """Work items (kappa slice, rho slice): ρ blocks of about ``chunk_elems`` grid points
    (all α), times ``kappa_split`` κ ranges (load balance across threads)."""
    r_step = max(1, min(n_rho, chunk_elems // n_alpha))
    k_step = max(1, -(-n_kappa // kappa_split))
    return [(slice(k0, min(k0 + k_step, n_kappa)), slice(r0, min(r0 + r_step, n_rho)))
            for r0 in range(0, n_rho, r_step) for k0 in range(0, n_kappa, k_step)]


def _run_blocks(work: Callable[[tuple[slice, slice]], None], blocks: list[tuple[slice, slice]],
                threads: int) -> None:
    if threads == 1:
        for blk in blocks:
            work(blk)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:  # NumPy ufuncs release the GIL
        for _ in pool.map(work, blocks):
            pass


def error_grid(metric: str, tau: float, kappas: Any, rhos: Any, alphas: Any, *,
               threads: int = 1, chunk_elems: int = 12_000) -> np.ndarray:
    """Ridgeless error on the full grid, array [len(kappas), len(rhos), len(alphas)].

    Evaluated by the same kernel as :func:`interior_minimum_alpha`; equals ``e_icl`` /
    ``e_idg`` (docs/theory.md, "Ridgeless limit") to ~1e-12 relative. For plotting/inspection
    and tests.
    """
    kappas, rhos, alphas = _validate(metric, tau, kappas, rhos, alphas)
    check_int("threads", threads, minimum=1)
    ik = inverse_kappa(kappas)
    out = np.empty((kappas.size, rhos.size, alphas.size))

    def work(blk: tuple[slice, slice]) -> None:
        ks, rs = blk
        block = RowBlock(metric, float(tau), rhos[rs], alphas)
        for k in range(ks.start, ks.stop):
            out[k, rs] = block.error(float(ik[k]))

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        _run_blocks(work, _blocks(kappas.size, rhos.size, alphas.size, chunk_elems, threads),
                    threads)
    return out


def interior_minimum_alpha(metric: str, tau: float, kappas: Any, rhos: Any, alphas: Any, *,
                           rtol: float = 1e-12, threads: int = 1,
                           chunk_elems: int = 12_000) -> np.ndarray:
    """α at the interior local minimum of the ridgeless :math:`e(\\alpha)` on the grid.

    Args:
        metric: ``"icl"`` or ``"idg"``.
        tau: :math:`n/d^2 > 0`, not 1.
        kappas: shape [K], ``> 0`` (inf allowed). rhos: shape [R], ``>= 0``.
        alphas: strictly increasing grid, shape [A], ``A >= 3`` (Fig. 3: ``logspace(-2,3,500)``).
        rtol: relative margin of the "strictly below both neighbours" test (module docstring).
        threads: worker threads over blocks of the (κ, ρ) grid (NumPy releases the GIL).
        chunk_elems: grid points per (ρ-block) work array; keep it below ~16 000 so that the
            scratch buffers stay in L2 cache and under glibc's 128 kB mmap threshold.

    Returns:
        float array [K, R]: ``alphas[i*]`` at the lowest interior local minimum, NaN where
        :math:`e(\\alpha)` has none on the grid ("monotone").
    """
    kappas, rhos, alphas = _validate(metric, tau, kappas, rhos, alphas)
    check_nonnegative("rtol", rtol)
    check_int("threads", threads, minimum=1)
    ik = inverse_kappa(kappas)
    out = np.full((kappas.size, rhos.size), np.nan)

    def work(blk: tuple[slice, slice]) -> None:
        ks, rs = blk
        block = RowBlock(metric, float(tau), rhos[rs], alphas)
        finder = MinimumFinder(block.q.shape, alphas, rtol)
        for k in range(ks.start, ks.stop):
            found = finder(block.error(float(ik[k])))
            if found is not None:
                out[k, rs] = found

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        _run_blocks(work, _blocks(kappas.size, rhos.size, alphas.size, chunk_elems,
                                  4 * threads), threads)
    return out


def refine_minimum_alpha(metric: str, tau: float, kappa: float, rho: float,
                         alpha_grid_min: float, alphas: Sequence[float] | np.ndarray) -> float:
    """Polish a grid minimiser: bounded ``scipy.optimize.minimize_scalar`` of the ridgeless
    error over :math:`\\log\\alpha` between the grid neighbours of ``alpha_grid_min``.

    Returns the refined :math:`\\alpha^*` (NaN passes through, for "monotone").
    """
    check_choice("metric", metric, METRICS)
    if math.isnan(alpha_grid_min):
        return math.nan
    alphas = np.asarray(alphas, dtype=float)
    i = int(np.argmin(np.abs(alphas - alpha_grid_min)))
    lo, hi = alphas[max(i - 1, 0)], alphas[min(i + 1, alphas.size - 1)]
    fun = e_icl if metric == "icl" else e_idg
    from scipy.optimize import minimize_scalar  # imported when a minimum is polished

    res = minimize_scalar(lambda la: fun(tau, math.exp(la), kappa, rho),
                          bounds=(math.log(lo), math.log(hi)), method="bounded",
                          options={"xatol": 1e-10})
    return float(math.exp(res.x))

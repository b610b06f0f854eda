"""Benchmark of the Lu et al. theory: the full Figure 3 grid and a finite-λ e_ICL grid.

Run:  .venv/bin/python benchmarks/theory_grid.py [--threads 2] [--quick]

1. Figure 3 (Lu et al. 2024): 401 κ × 300 ρ × 500 α (logspace(-2, 3)) for three maps — ICL
   τ=0.5, IDG τ=0.5, ICL τ=20 — with ``interior_minimum_alpha``. Baselines, run here on a κ
   subsample and extrapolated per grid point:
   (a) the public vectorised ``e_icl``/``e_idg`` on whole [κ-chunk, 300, 500] arrays followed
       by the same minimum detection in plain NumPy ("naive NumPy");
   (b) a per-point Python loop over ``e_icl``/``e_idg`` scalars ("per-point").
2. Finite λ (docs/theory.md, "Ridge (finite λ) ICL error"): 10^5 random (τ, α, κ, ρ, λ)
   points with the vectorised bracketing solver inside ``e_icl``. Baseline: a per-point
   ``scipy.optimize.brentq`` loop on the same equation over 1000 points, extrapolated; both
   answers are compared.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
from scipy.optimize import brentq

from iclab.theory._formulas import icl_ridge_from_eps
from iclab.theory.asymptotic import e_icl, e_idg
from iclab.theory.landscape import interior_minimum_alpha
from iclab.theory.mp import inverse_kappa, mp_transform

MAPS = (("icl", 0.5), ("idg", 0.5), ("icl", 20.0))


def naive_minimum(metric: str, tau: float, kappas, rhos, alphas) -> np.ndarray:
    """Baseline (a): public formulas on big broadcast arrays, argmin over interior minima."""
    f = e_icl if metric == "icl" else e_idg
    e = np.asarray(f(tau, alphas[None, None, :], kappas[:, None, None], rhos[None, :, None]))
    mid = e[..., 1:-1]
    is_min = (mid < e[..., :-2] - 1e-12 * mid) & (mid < e[..., 2:] - 1e-12 * mid)
    best = np.where(is_min, mid, np.inf).argmin(-1)
    return np.where(is_min.any(-1), alphas[1:-1][best], np.nan)


def bench_fig3(threads: int, quick: bool) -> None:
    kappas = np.linspace(0.1, 2.1, 401)
    rhos = np.linspace(0.01, 1.0, 300)
    alphas = np.logspace(-2, 3, 500)
    if quick:
        kappas = kappas[::20]
    n_points = kappas.size * rhos.size * alphas.size
    total = 0.0
    print(f"Figure 3 grid: {kappas.size} kappa x {rhos.size} rho x {alphas.size} alpha "
          f"= {n_points:.3g} points per map, threads={threads}")
    for metric, tau in MAPS:
        t0 = time.perf_counter()
        amap = interior_minimum_alpha(metric, tau, kappas, rhos, alphas, threads=threads)
        dt = time.perf_counter() - t0
        total += dt
        # baseline (a) on 4 kappas, checked to give the same answer
        sub = kappas[:: max(1, kappas.size // 4)][:4]
        t0 = time.perf_counter()
        ref = naive_minimum(metric, tau, sub, rhos, alphas)
        dt_naive = (time.perf_counter() - t0) / (sub.size * rhos.size * alphas.size)
        idx = np.searchsorted(kappas, sub)
        same = np.array_equal(ref, amap[idx], equal_nan=True)
        # baseline (b): per-point scalar calls, 300 points
        f = e_icl if metric == "icl" else e_idg
        t0 = time.perf_counter()
        for a in alphas[:300]:
            f(tau, float(a), 0.5, 0.3)
        dt_loop = (time.perf_counter() - t0) / 300
        naive_x, loop_x = dt_naive * n_points / dt, dt_loop * n_points / dt
        print(f"  {metric.upper()} tau={tau:<4}: {dt:6.2f} s, {n_points / dt:9.3g} points/s, "
              f"monotone fraction {np.isnan(amap).mean():.3f} | naive NumPy x{naive_x:5.1f} "
              f"slower (same answer: {same}) | per-point Python x{loop_x:7.0f} "
              f"slower (extrapolated)")
    print(f"  total for the three maps: {total:.2f} s")


def brentq_e_icl(tau, alpha, kappa, rho, lam) -> float:
    """Baseline: per-point brentq on the finite-λ equation, then the same e_ICL formula."""
    q = (1 + rho) / alpha

    def lhs(eps: float) -> float:
        return 1 - tau + tau * lam / eps - eps * float(mp_transform(q + eps, kappa))

    eps = brentq(lhs, lam, lam + (1 + q) / tau, xtol=1e-300, rtol=4 * np.finfo(float).eps)
    return float(icl_ridge_from_eps(eps, tau, q, rho, float(inverse_kappa(kappa))))


def bench_ridge(quick: bool) -> None:
    rng = np.random.default_rng(0)
    n = 10_000 if quick else 100_000
    tau = 10 ** rng.uniform(-1, 1, n)
    alpha = 10 ** rng.uniform(-1, 2, n)
    kappa = np.where(rng.random(n) < 0.1, math.inf, 10 ** rng.uniform(-1, 1, n))
    rho = rng.uniform(0, 1, n)
    lam = 10 ** rng.uniform(-8, 1, n)
    t0 = time.perf_counter()
    got = e_icl(tau, alpha, kappa, rho, lam)
    dt = time.perf_counter() - t0
    m = 1000
    t0 = time.perf_counter()
    ref = np.array([brentq_e_icl(tau[i], alpha[i], kappa[i], rho[i], lam[i]) for i in range(m)])
    dt_loop = (time.perf_counter() - t0) / m
    err = np.max(np.abs(got[:m] / ref - 1))
    print(f"Finite-lambda e_ICL, {n:.0e} random points: {dt:.2f} s, {n / dt:.3g} points/s | "
          f"per-point brentq loop {1 / dt_loop:.3g} points/s -> x{dt_loop * n / dt:.0f} slower "
          f"(extrapolated from {m}); max rel. difference {err:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1/20 of the kappa grid")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()}")
    bench_fig3(args.threads, args.quick)
    bench_ridge(args.quick)


if __name__ == "__main__":
    main()

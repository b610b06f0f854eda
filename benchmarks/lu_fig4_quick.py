"""Benchmark: the quick Figure 4 setting of Lu et al. (authors' ``quick_and_easy_figure``).

d in {10, 32, 64}, alpha = tau = 10, rho = 0.01, lambda = 1e-6, 12 kappas, 20 Γ* trials and
1000 dMMSE test prompts (per kind) per kappa. Prints, per d: total seconds, seconds in the
Γ* fits and in dMMSE, the solver used, and the achieved GFLOP/s of one Gram accumulation
(the primal path, doubly-symmetric ``addmm``) and of the PCG solve, both against the float64
matrix-multiply peak measured in the same process (a 4096² ``torch.matmul``).

Reference (spec §6): the authors' implementation takes ~22 s at d=10, 310 s at d=32 and
73 min at d=64 on 2 cores.

Usage: ``.venv/bin/python benchmarks/lu_fig4_quick.py [--d 10 32] [--device cpu]``
"""

from __future__ import annotations

import argparse
import time

import torch

from iclab.experiments import _lu2024_sim as sim
from iclab.fit.closed_form import fit_gamma, symmetric_gram
from iclab.models.reduced import sample_features
from iclab.tasks.regression import InContextRegression

KAPPAS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.6, 2.0, 4.0, 8.0, 16.0, 32.0)
ALPHA = TAU = 10.0
RHO, LAM = 0.01, 1e-6


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, size: int = 4096) -> float:
    """GFLOP/s of a float64 ``size × size`` matmul (best of 3)."""
    a = torch.randn(size, size, dtype=torch.float64, device=device)
    best = float("inf")
    for _ in range(3):
        _sync(device)
        t = time.perf_counter()
        a @ a
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2.0 * size**3 / best / 1e9


def gram_rates(d: int, device: torch.device) -> tuple[float, float, float, int]:
    """(GFLOP/s of the symmetric Gram, GFLOP/s of the PCG solve, PCG seconds, iterations) on
    one kappa=1 pretraining set of the benchmark setting."""
    g = torch.Generator(device=device).manual_seed(0)
    ell, k, n = sim.sizes(d, ALPHA, 1.0, TAU, True)
    task = InContextRegression(d=d, context_len=ell, rho=RHO, k=k)
    x, h, y = sample_features(task.pretraining_tasks(n, task.draw_pool(g), g), ell, RHO, g)
    _sync(device)
    t = time.perf_counter()
    symmetric_gram(x, h)
    _sync(device)
    t_gram = time.perf_counter() - t
    gram_flop = 2.0 * n * (d * (d + 1) // 2) * ((d + 1) * (d + 2) // 2)
    t = time.perf_counter()
    fit = fit_gamma(x, h, y, LAM, method="pcg")
    _sync(device)
    t_pcg = time.perf_counter() - t
    pcg_flop = fit.iterations * 4.0 * n * d * (d + 1)
    return gram_flop / t_gram / 1e9, pcg_flop / t_pcg / 1e9, t_pcg, fit.iterations


def run_d(d: int, device: torch.device, trials: int, dmmse_prompts: int) -> dict[str, float]:
    """The whole quick Fig. 4 sweep at one d; returns timings and the mean g_task curve."""
    t_fit = t_dmmse = 0.0
    solvers: set[str] = set()
    g_la: list[float] = []
    for i, kappa in enumerate(KAPPAS):
        gs = []
        for trial in range(trials):
            gen = torch.Generator(device=device).manual_seed(1000 * i + trial)
            t = time.perf_counter()
            fitted = sim.fit_trial(d, ALPHA, kappa, TAU, RHO, LAM, gen)
            gs.append(sim.exact_errors(fitted)["g_task"])
            _sync(device)
            t_fit += time.perf_counter() - t
            solvers.add(fitted.solver)
            t = time.perf_counter()
            sim.dmmse_row(fitted, dmmse_prompts // trials, gen)
            _sync(device)
            t_dmmse += time.perf_counter() - t
        g_la.append(sum(gs) / trials)
    return {"fit_s": t_fit, "dmmse_s": t_dmmse, "solvers": ",".join(sorted(solvers)),
            "g_task": g_la}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, nargs="+", default=[10, 32, 64])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--dmmse-prompts", type=int, default=1000)
    args = parser.parse_args()
    device = torch.device(args.device)
    peak = matmul_peak(device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, "
          f"float64 matmul peak {peak:.1f} GFLOP/s")
    reference = {10: 22.0, 32: 310.0, 64: 73 * 60.0}
    for d in args.d:
        gram_rate, pcg_rate, t_pcg, iters = gram_rates(d, device)
        start = time.perf_counter()
        out = run_d(d, device, args.trials, args.dmmse_prompts)
        total = time.perf_counter() - start
        ref = reference.get(d)
        speedup = f" (authors' code: {ref:.0f} s, x{ref / total:.1f})" if ref else ""
        print(f"d={d:3d}: {total:7.1f} s total{speedup}; fits {out['fit_s']:.1f} s "
              f"[{out['solvers']}], dMMSE {out['dmmse_s']:.1f} s")
        print(f"       Gram accumulation {gram_rate:.1f} GFLOP/s = {gram_rate / peak:.0%} of "
              f"peak; PCG solve {pcg_rate:.1f} GFLOP/s = {pcg_rate / peak:.0%} of peak "
              f"({iters} iterations, {t_pcg:.2f} s per fit)")
        print("       mean LA g_task:", " ".join(f"{g:.4f}" for g in out["g_task"]))


if __name__ == "__main__":
    main()

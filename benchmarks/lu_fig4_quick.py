"""Benchmark: the quick Figure 4 setting of Lu et al. (authors' ``quick_and_easy_figure``).

d in {10, 32, 64}, alpha = tau = 10, rho = 0.01, lambda = 1e-6, 12 kappas, 20 Γ* trials and
1000 dMMSE test prompts (per kind) per kappa. The 20 trials of a kappa are drawn
(``gamma_trials.draw_samples``: the same draws as the experiment's per-trial path, on parallel
threads, written into one stacked tensor) and their Γ* solved together
(``fit_gamma_batched``: one batched PCG, dense or dual solve, with the trials' errors as the
solve's goal, as ``fit_trials`` does). Prints, per d: total seconds,
seconds in sampling, in the batched solves, in the exact errors and in dMMSE, the solver used,
and the achieved GFLOP/s of the solves (PCG: 4np flop per iteration and problem for the
normal operator; direct: the Gram / kernel and Cholesky flop) against the float64
matrix-multiply peak measured in the same process (a 2048² ``torch.matmul``, best of 5).
Also the load average, since the machine may be shared.

Reference: the authors' implementation takes ~22 s at d=10, 310 s at d=32 and 73 min at
d=64 on 2 cores.

With ``--compare-double`` the PCG solves are repeated in float64 (``precision="double"``) on
the same problems and the ratio printed; with ``--compare-no-goal`` they are repeated without
the goal (residual rule only), which shows what the goal costs (neither counted in the total).

Usage: ``.venv/bin/python benchmarks/lu_fig4_quick.py [--d 10 32] [--threads 1]
[--compare-double]``
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import torch

from iclab.evaluate import lu_errors
from iclab.fit import gamma_trials
from iclab.fit.closed_form import choose_method, fit_gamma_batched

KAPPAS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.6, 2.0, 4.0, 8.0, 16.0, 32.0)
ALPHA = TAU = 10.0
RHO, LAM = 0.01, 1e-6


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, size: int = 2048) -> float:
    """GFLOP/s of a float64 ``size × size`` matmul (best of 5)."""
    a = torch.randn(size, size, dtype=torch.float64, device=device)
    best = float("inf")
    for _ in range(5):
        _sync(device)
        t = time.perf_counter()
        a @ a
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2.0 * size**3 / best / 1e9


def solve_flop(method: str, batch: int, n: int, d: int, iterations: int) -> float:
    """Flop of one batched solve (see the module doc)."""
    p = d * (d + 1)
    if method.startswith("pcg"):
        return batch * iterations * 4.0 * n * p
    if method == "dual":
        return batch * (2.0 * n * n * (2 * d + 1) + n**3 / 3.0)
    return batch * (2.0 * n * p * p + p**3 / 3.0)


def run_d(d: int, device: torch.device, trials: int, dmmse_prompts: int,
          compare_double: bool = False, compare_no_goal: bool = False) -> dict[str, Any]:
    """The whole quick Fig. 4 sweep at one d; returns timings and the mean g_task curve
    (and, with ``compare_double`` / ``compare_no_goal``, the time of the same solves in
    float64 PCG / without the goal)."""
    times = dict.fromkeys(("sample", "solve", "errors", "dmmse", "double", "no_goal"), 0.0)
    flop = 0.0
    solvers: set[str] = set()
    g_la: list[float] = []
    no_goal_iterations: list[int] = []
    for i, kappa in enumerate(KAPPAS):
        gens = [torch.Generator(device=device).manual_seed(1000 * i + t) for t in range(trials)]
        t = time.perf_counter()
        draws, (x, h, y) = gamma_trials.draw_samples(d, ALPHA, kappa, TAU, RHO, gens,
                                                     "sphere", True)
        _sync(device)
        times["sample"] += time.perf_counter() - t
        goal = gamma_trials.error_goal([(task, pool) for task, pool, _ in draws])
        t = time.perf_counter()
        fit = fit_gamma_batched(x, h, y, LAM, goal=goal)
        _sync(device)
        times["solve"] += time.perf_counter() - t
        if compare_double and fit.method.startswith("pcg"):
            t = time.perf_counter()
            fit_gamma_batched(x, h, y, LAM, precision="double", goal=goal)
            _sync(device)
            times["double"] += time.perf_counter() - t
        if compare_no_goal and fit.method.startswith("pcg"):
            t = time.perf_counter()
            plain = fit_gamma_batched(x, h, y, LAM)
            _sync(device)
            times["no_goal"] += time.perf_counter() - t
            no_goal_iterations.append(plain.iterations)
        n = x.shape[1]
        flop += solve_flop(fit.method, trials, n, d, fit.iterations)
        solvers.add(f"{fit.method}" + (f"/{fit.iterations} it" if fit.iterations else ""))
        t = time.perf_counter()
        fitted = [gamma_trials.Trial(task, pool, fit.gamma[j], n, fit.method, fit.iterations)
                  for j, (task, pool, _) in enumerate(draws)]
        g_la.append(sum(lu_errors.exact_errors(f)["g_task"] for f in fitted) / trials)
        _sync(device)
        times["errors"] += time.perf_counter() - t
        t = time.perf_counter()
        for f, g in zip(fitted, gens, strict=True):
            lu_errors.dmmse_row(f, dmmse_prompts // trials, g)
        _sync(device)
        times["dmmse"] += time.perf_counter() - t
    return {**times, "flop": flop, "solvers": ", ".join(sorted(solvers)), "g_task": g_la,
            "no_goal_iterations": no_goal_iterations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, nargs="+", default=[10, 32, 64])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own choice)")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--dmmse-prompts", type=int, default=1000)
    parser.add_argument("--compare-double", action="store_true",
                        help="also time the PCG solves in float64 (not counted in the total)")
    parser.add_argument("--compare-no-goal", action="store_true",
                        help="also time the PCG solves without the goal (not counted)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peak = matmul_peak(device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, "
          f"float64 matmul peak {peak:.1f} GFLOP/s, load average {os.getloadavg()}")
    reference = {10: 22.0, 32: 310.0, 64: 73 * 60.0}
    for d in args.d:
        start = time.perf_counter()
        out = run_d(d, device, args.trials, args.dmmse_prompts, args.compare_double,
                    args.compare_no_goal)
        total = time.perf_counter() - start - out["double"] - out["no_goal"]
        ref = reference.get(d)
        speedup = f" (authors' code: {ref:.0f} s, x{ref / total:.1f})" if ref else ""
        rate = out["flop"] / out["solve"] / 1e9
        print(f"d={d:3d}: {total:7.1f} s total{speedup}; sampling {out['sample']:.1f} s, "
              f"batched solves {out['solve']:.1f} s [{out['solvers']}], exact errors "
              f"{out['errors']:.1f} s, dMMSE {out['dmmse']:.1f} s")
        print(f"       solves: {rate:.1f} GFLOP/s = {rate / peak:.0%} of the matmul peak; "
              f"auto choice for one trial: {choose_method(round(TAU * d * d), d, lam=LAM)}; "
              f"load average now {os.getloadavg()[0]:.1f}")
        if out["double"]:
            print(f"       same solves in float64 PCG: {out['double']:.1f} s, mixed precision "
                  f"x{out['double'] / out['solve']:.2f} faster")
        if out["no_goal"]:
            its = ", ".join(str(i) for i in sorted(set(out["no_goal_iterations"])))
            print(f"       same solves without the goal: {out['no_goal']:.1f} s [{its} it]; "
                  f"with it x{out['solve'] / out['no_goal']:.2f} the time")
        print("       mean LA g_task:", " ".join(f"{g:.4f}" for g in out["g_task"]))


if __name__ == "__main__":
    main()

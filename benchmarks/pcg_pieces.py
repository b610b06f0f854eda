"""Benchmark: the pieces of the batched Γ* fit that ``benchmarks/lu_fig4_quick.py`` times as a
whole, each against a baseline run in the same process.

1. **Exact float64 residual** of the mixed-precision PCG (``ridge_pcg._residual``): the
   normal operator on the float64 data in row layout (``_apply_gram_rows``, what the solver
   uses) against the whitened-layout operator ``_apply_gram`` given transposed views of the
   same rows (the residual's former path). Same sum; the relative difference is printed.
2. **Float32 sweep operator**: ``_apply_gram`` on whitened, transposed copies (what the
   sweeps use) against ``_apply_gram_rows`` on row-layout copies, for one problem (the
   per-trial path of ``iclab run``) and for 20.
3. **The sweep operator in bfloat16**: the same ``_apply_gram`` with the whitened data and
   Γ in bfloat16 (matrix products on AMX tiles where the CPU has them) against float32; the
   relative difference of the results is printed. Tried as the sweeps' arithmetic and not
   adopted (``docs/benchmarks.md``).
4. **Sampling the 20 trials of one point** (``gamma_trials.draw_samples``, two threads, straight
   into the stacked tensors) against drawing them one after the other and stacking (the
   former path); the draws are checked to be identical.

Quick Fig. 4 setting: α = τ = 10, κ = 1, ρ = 0.01, random data for 1–3 (the operators'
cost does not depend on the values). Times are the best of ``--repeat`` calls, alternating
with the baseline's, after one warm-up each.

Usage: ``.venv/bin/python benchmarks/pcg_pieces.py [--d 32 64] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch

from iclab.fit import gamma_trials, ridge_pcg


def best_of(first: Callable[[], object], second: Callable[[], object],
            repeat: int) -> tuple[float, float]:
    """Best wall-clock seconds of ``repeat`` calls of each function, the calls alternating
    (so that drifts of the machine affect both alike), after one warm-up call of each."""
    first()
    second()
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, fn in enumerate((first, second)):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best[0], best[1]


def operators(d: int, batch: int, repeat: int) -> None:
    """Parts 1–3 at one d and batch size."""
    n = 10 * d * d
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, n, d, generator=g, dtype=torch.float64)
    h = torch.randn(batch, n, d + 1, generator=g, dtype=torch.float64)
    gamma = torch.randn(batch, d, d + 1, generator=g, dtype=torch.float64)
    rows = ridge_pcg._apply_gram_rows(x, h, gamma)
    views = ridge_pcg._apply_gram(x.transpose(1, 2), h.transpose(1, 2), h, gamma)
    diff = float((rows - views).norm() / views.norm())
    t_rows, t_views = best_of(
        lambda: ridge_pcg._apply_gram_rows(x, h, gamma),
        lambda: ridge_pcg._apply_gram(x.transpose(1, 2), h.transpose(1, 2), h, gamma), repeat)
    print(f"d={d:3d} B={batch:2d} float64 residual operator: rows {t_rows * 1e3:8.2f} ms | "
          f"transposed views {t_views * 1e3:8.2f} ms | x{t_views / t_rows:.2f} | "
          f"rel. diff {diff:.1e}")
    x32, h32, g32 = x.float(), h.float(), gamma.float()
    xt, ht = x32.transpose(1, 2).contiguous(), h32.transpose(1, 2).contiguous()
    t_white, t_rows32 = best_of(lambda: ridge_pcg._apply_gram(xt, ht, h32, g32),
                                lambda: ridge_pcg._apply_gram_rows(x32, h32, g32), repeat)
    print(f"d={d:3d} B={batch:2d} float32 sweep operator:    whitened layout "
          f"{t_white * 1e3:8.2f} ms | rows {t_rows32 * 1e3:8.2f} ms | "
          f"rows/whitened {t_rows32 / t_white:.2f}")
    xb, hb, htb, gb = (t.to(torch.bfloat16) for t in (xt, h32, ht, g32))
    white = ridge_pcg._apply_gram(xt, ht, h32, g32)
    diff_bf = float((ridge_pcg._apply_gram(xb, htb, hb, gb).float() - white).norm()
                    / white.norm())
    t_bf, t_f32 = best_of(lambda: ridge_pcg._apply_gram(xb, htb, hb, gb),
                          lambda: ridge_pcg._apply_gram(xt, ht, h32, g32), repeat)
    print(f"d={d:3d} B={batch:2d} sweep operator, bfloat16 {t_bf * 1e3:8.2f} ms | float32 "
          f"{t_f32 * 1e3:8.2f} ms | x{t_f32 / t_bf:.2f} | rel. diff {diff_bf:.1e}")


def sampling(d: int, trials: int, repeat: int) -> None:
    """Part 4 at one d."""
    args = (d, 10.0, 1.0, 10.0, 0.01)

    def gens() -> list[torch.Generator]:
        return [torch.Generator().manual_seed(s) for s in range(trials)]

    def one_by_one() -> tuple[torch.Tensor, ...]:
        draws = [gamma_trials.draw_sample(*args, g, "sphere", True) for g in gens()]
        return tuple(torch.stack([dr[2][j] for dr in draws]) for j in range(3))

    def threaded() -> tuple[torch.Tensor, ...]:
        return gamma_trials.draw_samples(*args, gens(), "sphere", True)[1]

    same = all(torch.equal(a, b) for a, b in zip(one_by_one(), threaded(), strict=True))
    t_serial, t_threads = best_of(one_by_one, threaded, repeat)
    print(f"d={d:3d} sampling {trials} trials: draw_samples {t_threads:6.2f} s | one by one + "
          f"stack {t_serial:6.2f} s | x{t_serial / t_threads:.2f} | identical draws: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()}")
    for d in args.d:
        for batch in (1, 20):
            operators(d, batch, args.repeat)
        sampling(d, 20, max(1, args.repeat // 2))


if __name__ == "__main__":
    main()

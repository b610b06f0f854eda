"""Benchmark: the public ``e_icl`` / ``e_idg`` / ``g_task`` on the Figure 3 grid against the
same formula written inline in NumPy, in the same process.

Grid (Lu et al. Fig. 3): 401 κ × 300 ρ × 500 α (``logspace(-2, 3)``) broadcast from three
1-d arrays, 6.0·10⁷ points, τ = 0.5 (ICL, IDG) and τ = 20 (ICL). The baseline evaluates the
authors' closed form (code ``ridgeless_icl`` / ``ridgeless_idg``) on the whole broadcast
arrays with plain NumPy expressions. Both answers are compared (max relative difference) and
the peak of NumPy's traced allocations is reported for each (``tracemalloc``).

Usage: ``.venv/bin/python benchmarks/theory_api.py [--kappas 401] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np

from iclab.theory.asymptotic import e_icl, e_idg, g_task


def _mp_inline(q, ik):
    b = q + 1.0 - ik
    s = np.sqrt(b * b + 4.0 * q * ik)
    return np.where(b >= 0, 2.0 / (b + s), (s - b) / (2.0 * q * ik))


def inline_numpy(metric: str, tau: float, alpha, kappa, rho) -> np.ndarray:
    """The authors' ridgeless forms, inline NumPy on full broadcast arrays (the baseline)."""
    q = (1.0 + rho) / alpha
    ik = 1.0 / kappa
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "icl" and tau < 1:
            mu = q * _mp_inline(q, tau * ik)
            br = 1.0 - tau * (1.0 - mu) ** 2 + mu * (rho / q - 1.0)
            return tau * (1.0 + q) / (1.0 - tau) * br - 2.0 * tau * (1.0 - mu) + 1.0 + rho
        if metric == "icl":
            m = _mp_inline(q, ik)
            mp_ = -m * m * (1.0 + m * ik) / (1.0 + q * ik * m * m)
            inner = 1.0 - 2.0 * q * m - q * q * mp_ + m / (tau - 1.0) * (rho + q - q * q * m)
            return (1.0 + q) * inner - 2.0 * (1.0 - q * m) + 1.0 + rho
        if tau < 1:
            xi = (1.0 - tau) / (tau * _mp_inline(q, tau * ik))
            a = xi / (1.0 - tau)
            t = ik / ((ik + a) * (ik + a))
            numer = rho + q - 2.0 * q * (1.0 - tau) * (q / xi + 1.0)
            return tau * ((q + xi) ** 2 / xi + numer / ((1.0 - tau) * (tau - t) / (1.0 - t)))
        return tau / (tau - 1.0) * (rho + q - q * q * _mp_inline(q, ik))


def _timed(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, dt, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kappas", type=int, default=401)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    kappa = np.linspace(0.1, 2.1, args.kappas)[:, None, None]
    rho = np.linspace(0.01, 1.0, 300)[None, :, None]
    alpha = np.logspace(-2, 3, 500)[None, None, :]
    n = kappa.size * rho.size * alpha.size
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()}; grid {args.kappas} kappa "
          f"x 300 rho x 500 alpha = {n:.3g} points")
    cases = [("e_icl", "icl", 0.5, e_icl), ("e_idg", "idg", 0.5, e_idg),
             ("e_icl", "icl", 20.0, e_icl)]
    for name, metric, tau, fun in cases:
        for _ in range(args.repeat):
            ref, t_ref, m_ref = _timed(
                lambda m=metric, t=tau: inline_numpy(m, t, alpha, kappa, rho))
            got, t_got, m_got = _timed(lambda f=fun, t=tau: f(t, alpha, kappa, rho))
            diff = float(np.nanmax(np.abs(got / ref - 1.0)))
            del ref, got
            print(f"  {name}(tau={tau:<4}): public {t_got:6.2f} s (peak {m_got / 2**20:6.0f} MiB)"
                  f" | inline NumPy {t_ref:6.2f} s (peak {m_ref / 2**20:6.0f} MiB) | "
                  f"ratio public/inline {t_got / t_ref:.2f} | max rel. diff {diff:.1e}")
    got, t_got, m_got = _timed(lambda: g_task(0.5, alpha, kappa, rho))
    print(f"  g_task(tau=0.5): public {t_got:6.2f} s (peak {m_got / 2**20:6.0f} MiB)")


if __name__ == "__main__":
    main()

"""Allocation-free NumPy kernels for the ridgeless errors on a (ρ, α) block, one κ at a time.

Private to :mod:`iclab.theory.landscape`. Why a second form of the ridgeless formulas: the
Figure 3 grid has 3 × 60 million points, and NumPy temporaries above glibc's trim/mmap
thresholds (~128 kB) cost page faults on every operation (measured ~40 ns/point instead of
~8 ns/point for the Marchenko–Pastur transform alone). So each block keeps its own scratch
buffers, everything that depends only on (ρ, α) is computed once per block, and each κ costs
~15–25 in-place ufunc calls on arrays of ~12 000 points (L2-resident).

The formulas are the ridgeless ones of Lu et al. 2024 (docs/theory.md, "Ridgeless limit";
authors' code ``ridgeless_icl`` / ``ridgeless_idg``) rewritten in terms of
:math:`\\mu=q\\mathcal M(q)` (derived; algebra in each method's comment). They are tested against
:func:`iclab.theory.asymptotic.e_icl` / ``e_idg`` to ~1e-12 relative
(``tests/theory/test_theory_landscape.py``).
"""

from __future__ import annotations

import numpy as np


class RowBlock:
    """Precomputed (ρ, α) arrays for one block of ρ rows plus scratch buffers.

    Shapes: ``rho`` [r], ``alphas`` [A]; all buffers [r, A]; :meth:`error` fills ``self.e``.
    """

    def __init__(self, metric: str, tau: float, rho: np.ndarray, alphas: np.ndarray) -> None:
        self.metric, self.tau, self.below = metric, float(tau), tau < 1.0
        q = (1.0 + rho[:, None]) / alphas[None, :]
        self.q, self.q2, self.q4, self.qp1 = q, 2.0 * q, 4.0 * q, 1.0 + q
        shape = q.shape
        self.e, self.mu, self.b, self.s, self.t, self.w1, self.w2 = (
            np.empty(shape) for _ in range(7))
        self.mask, self.nmask = np.empty(shape, bool), np.empty(shape, bool)
        tau = self.tau
        r = rho[:, None] + np.zeros_like(q)
        if metric == "icl" and self.below:
            # e = C0 + C1 u + C2 u^2, u = 1 - mu, mu = q M_{kappa/tau}(q):
            # A1 [1 - tau u^2 + (1 - u)(rho/q - 1)] - 2 tau u + 1 + rho, A1 = tau(1+q)/(1-tau).
            a1 = tau * (1.0 + q) / (1.0 - tau)
            self.c0 = a1 * r / q + 1.0 + r
            self.c1 = -(a1 * (r / q - 1.0) + 2.0 * tau)
            self.c2 = -a1 * tau
        elif metric == "icl":
            # e = P0 + mu (P1 + P2 mu) + (1+q) mu^2 (q + ik mu) / (q + ik mu^2), mu = q M(q),
            # using q^2 M' = -mu^2 (q + ik mu) / (q + ik mu^2)  (mp._mp_prime with m = mu/q).
            self.p0 = q + r
            self.p1 = (1.0 + q) * (-2.0 + (r / q + 1.0) / (tau - 1.0)) + 2.0
            self.p2 = -(1.0 + q) / (tau - 1.0)
        elif self.below:
            # m = M_{kappa/tau}(q), c = tau/(1-tau), xi = 1/(c m), t = (tau m)^2 ik/(1+tau ik m)^2:
            # e = tau [q^2 c m + 2q + 1/(c m) + (N0 - 2 q^2 tau m)(1-t)/((1-tau)(tau-t))],
            # N0 = rho + q - 2q(1-tau).
            c = tau / (1.0 - tau)
            self.inv_c, self.inv_q = 1.0 / c, 1.0 / q
            self.k1, self.k3 = q * q * c, 2.0 * q * q * tau
            self.n0 = r + q - 2.0 * q * (1.0 - tau)
        else:
            # e = tau/(tau-1) (rho + q - q mu).
            self.rq = r + q

    def _mu(self, ike: float) -> np.ndarray:
        """``self.mu = q M_{1/ike}(q)`` (same cancellation-free branches as ``mp._mp``)."""
        b, s, t, w1, mu = self.b, self.s, self.t, self.w1, self.mu
        np.subtract(self.qp1, ike, out=b)
        np.multiply(b, b, out=s)
        np.multiply(self.q4, ike, out=w1)
        s += w1
        np.sqrt(s, out=s)
        np.abs(b, out=t)
        t += s
        np.divide(self.q2, t, out=mu)           # b >= 0:  q M = 2q / t
        if ike > 1.0:                            # b < 0 possible: q M = t / (2 ike)
            np.less(b, 0.0, out=self.mask)
            np.multiply(t, 0.5 / ike, out=mu, where=self.mask)
        return mu

    def error(self, ik: float) -> np.ndarray:
        """Fill and return ``self.e`` [r, A], the ridgeless error at ``1/kappa = ik``."""
        tau, e, w1, w2, b = self.tau, self.e, self.w1, self.w2, self.b
        if self.metric == "icl" and self.below:
            mu = self._mu(tau * ik)
            np.subtract(1.0, mu, out=w1)
            np.multiply(self.c2, w1, out=e)
            e += self.c1
            e *= w1
            e += self.c0
        elif self.metric == "icl":
            mu = self._mu(ik)
            np.multiply(self.p2, mu, out=e)
            e += self.p1
            e *= mu
            e += self.p0
            np.multiply(mu, mu, out=w1)
            np.multiply(w1, ik, out=w2)
            w2 += self.q
            np.multiply(mu, ik, out=b)
            b += self.q
            b /= w2
            b *= w1
            b *= self.qp1
            e += b
        elif self.below:
            ike = tau * ik
            m = self._mu(ike)
            m *= self.inv_q                      # m = M_{kappa/tau}(q)
            np.multiply(self.k1, m, out=e)
            e += self.q2
            np.divide(self.inv_c, m, out=w1)
            e += w1
            np.multiply(self.k3, m, out=w1)
            np.subtract(self.n0, w1, out=w1)     # numerator
            np.multiply(m, ike, out=w2)
            w2 += 1.0
            w2 *= w2                             # (1 + tau ik m)^2
            np.multiply(m, m, out=b)
            b *= tau * tau * ik
            b /= w2                              # t
            np.subtract(1.0, b, out=w2)
            np.subtract(tau, b, out=b)
            w2 /= b                              # (1 - t) / (tau - t)
            w1 *= w2
            w1 *= 1.0 / (1.0 - tau)
            e += w1
            e *= tau
        else:
            mu = self._mu(ik)
            np.multiply(self.q, mu, out=e)
            np.subtract(self.rq, e, out=e)
            e *= tau / (tau - 1.0)
        return e


class MinimumFinder:
    """Interior-minimum detection on a [r, A] error block with preallocated buffers."""

    def __init__(self, shape: tuple[int, int], alphas: np.ndarray, rtol: float) -> None:
        r, a = shape
        self.alpha_mid, self.rtol = alphas[1:-1], rtol
        self.step = np.empty((r, a - 1))
        self.marg, self.w = np.empty((r, a - 2)), np.empty((r, a - 2))
        self.m1, self.m2 = np.empty((r, a - 2), bool), np.empty((r, a - 2), bool)

    def __call__(self, e: np.ndarray) -> np.ndarray | None:
        """α* per row [r] (NaN = none), or ``None`` when no row has an interior minimum."""
        step, marg, w, m1, m2 = self.step, self.marg, self.w, self.m1, self.m2
        np.subtract(e[:, 1:], e[:, :-1], out=step)
        np.multiply(e[:, 1:-1], self.rtol, out=marg)     # e >= rho >= 0, so |e| = e
        np.add(step[:, :-1], marg, out=w)
        np.less(w, 0.0, out=m1)                          # e[i] < e[i-1] - margin
        np.subtract(step[:, 1:], marg, out=w)
        np.greater(w, 0.0, out=m2)                       # e[i] < e[i+1] - margin
        m1 &= m2
        if not m1.any():
            return None
        w.fill(np.inf)
        np.copyto(w, e[:, 1:-1], where=m1)
        best = w.argmin(axis=1)
        found = np.isfinite(w[np.arange(w.shape[0]), best])
        return np.where(found, self.alpha_mid[best], np.nan)

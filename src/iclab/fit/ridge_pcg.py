r"""Matrix-free preconditioned conjugate gradients for the Γ* ridge problem, single and
batched (the problem and notation: :mod:`iclab.fit.closed_form`).

CG runs on the normal equations :math:`(G+\lambda'I)\,\mathrm{vec}\,\Gamma = b` at
:math:`O(np)` per iteration (:math:`G` is never formed), until the relative residual
:math:`\|b-(G+\lambda'I)\mathrm{vec}\,\Gamma\|/\|b\|` is below ``tol`` (default
:data:`DEFAULT_TOL`).

**Preconditioner.** The Kronecker approximation :math:`G\approx S_x\otimes S_h`,
:math:`S_x=\frac1n X^\top X = U_x E_x U_x^\top`, :math:`S_h = H^\top H = U_h E_h U_h^\top`
(exact in expectation, since the query :math:`x_\mu` is independent of the context features
:math:`h_\mu`). It is applied by *whitening* the data, :math:`\tilde X = X U_x E_x^{-1/2}`,
:math:`\tilde H = H U_h E_h^{-1/2}`, and solving for :math:`\tilde\Gamma = E_x^{1/2}U_x^\top
\Gamma U_h E_h^{1/2}`: the whitened system is

.. math::
    \sum_\mu \tilde x_\mu\tilde x_\mu^\top\tilde\Gamma\,\tilde h_\mu\tilde h_\mu^\top
    + \Lambda\odot\tilde\Gamma = E_x^{-1/2}U_x^\top B\,U_h E_h^{-1/2},\qquad
    \Lambda_{ia} = \frac{\lambda'}{e_{x,i}\,e_{h,a}},

whose Gram part is close to the identity, and CG on it uses the diagonal preconditioner
:math:`1+\Lambda` (together: exactly :math:`(S_x\otimes S_h+\lambda'I)^{-1}`). The
preconditioned spectrum is close to Marchenko–Pastur with ratio :math:`p/n`, so CG contracts
by about :math:`\sqrt{p/n}` per step (derived; :func:`pcg_rate`, :func:`pcg_iterations`).
Worth it for :math:`n \gg p` (e.g. Fig. 4, :math:`\tau=10`), down to :math:`n\approx1.2p`
(Fig. 4 at :math:`\alpha=6`: about 200 iterations, ten times faster than the dual solve at
:math:`d=100`), and, with a ridge, also near :math:`n=p`.
Since :math:`U_x, U_h` are orthogonal, the original residual's norm is read off the whitened
one: :math:`\|R\|_F = \|E_x^{1/2}\tilde R E_h^{1/2}\|_F`.

**Mixed precision** (``precision="mixed"``, the default). The normal operator costs
:math:`4np` flop per iteration and is bound by memory traffic; in float32 it runs about
twice as fast. The solve is therefore iterative refinement: each *sweep* runs CG with the
whitened float32 operator on the current float64 residual, reducing it by
:data:`SWEEP_REDUCTION`; then :math:`\Gamma` is updated and the residual recomputed exactly in
float64 from the original data. Because the whitened operator is well conditioned, the
float32 error limits a sweep only at about :math:`10^{-6}` relative, so two or three sweeps
reach :data:`DEFAULT_TOL` in about as many iterations as one float64 CG. A sweep that fails
to reduce the float64 residual tenfold switches the rest of the solve to float64
(``precision="double"`` does that from the start). The tolerance is always checked on the
float64 residual.

**Tolerance.** The default target, :data:`DEFAULT_TOL` :math:`=10^{-9}` relative residual, is
a floor, not a guarantee for what is computed from :math:`\Gamma`: the exact test error
:math:`e(\Gamma)` is not stationary at :math:`\Gamma^*` (it is a *test* error), so it moves
linearly with the remaining error, and how much depends on the problem. Measured against a
solve to :math:`10^{-13}` (Lu et al. pipeline, λ = 1e-6; a one-off scan of 6–12 trials per
setting), the relative change of
:math:`e^{ICL}` per unit relative residual is 0.03–1.5 at τ = 10 with d = 24–32 and κ ≥ 0.2,
but up to about 17 with two pretraining tasks (d = 12, κ = 0.2), 130 with one (κd = 1, τ = 20)
and 180 near n = p (τ = 1.2), so a residual of :math:`10^{-9}` can leave :math:`e` off by
:math:`10^{-7}`.

**Goal-oriented stopping.** A caller that knows which quantities it will compute from
:math:`\Gamma` passes them as ``goal`` (``gamma [B, d, d+1] -> [B, m]``; the Lu et al. trials
pass :math:`(e^{ICL}, e^{IDG})`, :func:`iclab.fit.gamma_trials.error_goal`). The goal is
evaluated at every float64 residual (sweeps then also end at :data:`SWEEP_REDUCTION` in
double precision). Between two such checkpoints with relative residuals
:math:`r_{k-1} > r_k` the goal moved by :math:`\Delta_k` (relative, the largest of its ``m``
values); it moves linearly with the remaining error, so its *sensitivity*
:math:`s_k=\Delta_k/(r_{k-1}-r_k)` times :math:`r_k` estimates what is left to move. One
interval alone is not a safe estimate: the remaining error sheds its well-conditioned
components first, so :math:`s_k` grows as CG proceeds (3–10× over a solve near
:math:`n=p`), and an interval in which the goal happens to move little (a float32 sweep that
lowered the residual but not the error in the goal's direction, or two components that
cancel) makes :math:`s_k` small by chance. The estimate is therefore
:math:`r_k\,S_k\max(1, s_k/s_{k-1})` with :math:`S_k=\max_{j\le k}s_j`: the largest
sensitivity seen, times the growth of the last interval as if it went on; after the first
interval, whose growth is unknown, a growth of :data:`FIRST_GROWTH` (100; up to 17 measured
over one interval) is assumed, so every problem whose estimate is not tiny takes a third
checkpoint, 10× below the second, to measure it. A problem stops
when its residual is below ``tol`` *and* this estimate is below ``goal_tol``
(:data:`GOAL_TOL` :math:`=10^{-9}`, ten times below the :math:`10^{-8}` that
``tests/lu2024/test_lu_batched_fits.py`` checks against a solve 100× tighter). Otherwise its
residual target is lowered to where the estimate would fall below ``goal_tol`` (with a
factor 2 to spare) and CG goes on. A problem whose residual no longer halves per float64 sweep
(the float64 floor) stops where it is, with a ``RuntimeWarning`` if its goal has not settled;
a float32 sweep that stalls is no such floor (the solve goes on in float64). The
single-interval estimate :math:`\Delta_k\,q/(1-q)`, :math:`q=r_k/r_{k-1}`, used before, left
:math:`e` up to :math:`5\times10^{-8}` off on a CPU whose float32 kernels round
differently, :math:`5\times10^{-9}` here with PyTorch's ``default`` CPU kernels (one of 40
trials at d = 16, τ = 2), and up to :math:`3.5\times10^{-8}` when the float32 operator is
perturbed by :math:`10^{-2}` relative noise (a test); the present one keeps all of these
below :math:`1.6\times10^{-9}` (docs/benchmarks.md, "Goal-oriented stopping across CPU
kernels"). The third checkpoint costs 2–3 iterations
in the quick Figure 4 setting (22–23 instead of 19–22 at d = 24); near :math:`n=p`
(τ = 1.2) the solve takes up to 7 % more iterations than with the single-interval estimate.
The estimate assumes that the error shrinks with the residual, which fails for
near-singular ridgeless problems (n ≤ p, where ``"auto"`` takes the dual solve).

**Batches.** :func:`solve_pcg_batched` iterates ``B`` independent problems together: the
normal operator becomes batched matrix products (``bmm``), and a converged problem is frozen
while the others continue. :func:`solve_pcg` is the one-problem case.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Literal

import torch

from iclab.fit.pcg_goal import GOAL_TOL, Goal, GoalTracker
from iclab.fit.ridge_direct import rhs_batched
from iclab.validation import check_choice

#: default relative-residual target of PCG (module doc, "Tolerance")
DEFAULT_TOL = 1e-9
#: relative residual reduction asked of one float32 sweep (module doc, "Mixed precision")
SWEEP_REDUCTION = 1e-6
#: contexts per block of the matrix-free normal operator (keeps a block's slices and the
#: intermediate in cache)
_NORMAL_BLOCK = 4096
PRECISIONS = ("mixed", "double")
Precision = Literal["mixed", "double"]


def _apply_gram(xt: torch.Tensor, ht: torch.Tensor, h: torch.Tensor, gamma: torch.Tensor,
                block: int = _NORMAL_BLOCK) -> torch.Tensor:
    r""":math:`\sum_\mu x_\mu x_\mu^\top\Gamma h_\mu h_\mu^\top` without forming :math:`G`:
    ``xt [B, d, n]``, ``ht [B, d+1, n]`` and the same ``h [B, n, d+1]`` in row layout,
    ``gamma [B, d, d+1]`` -> ``[B, d, d+1]`` (dtype of ``xt``).

    Per block of contexts, :math:`q_\mu = x_\mu^\top\Gamma h_\mu` is the column sum of
    :math:`(\Gamma^\top X^\top)\odot H^\top`, and the block adds :math:`X^\top\mathrm{diag}(q)H`
    (with ``h`` in row layout, the fast layout of that product)."""
    out = torch.zeros_like(gamma)
    gt = gamma.transpose(1, 2)
    for start in range(0, xt.shape[-1], block):
        xs, hs = xt[..., start:start + block], ht[..., start:start + block]
        t = torch.bmm(gt, xs).mul_(hs)                      # [B, d+1, c]
        out.baddbmm_(xs * t.sum(1, keepdim=True), h[:, start:start + block])
    return out


def _apply_gram_rows(x: torch.Tensor, h: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    r""":math:`\sum_\mu x_\mu x_\mu^\top\Gamma h_\mu h_\mu^\top` from the data in row layout,
    ``x [B, n, d]``, ``h [B, n, d+1]``, ``gamma [B, d, d+1]`` -> ``[B, d, d+1]``.

    The same sum as :func:`_apply_gram`, for data that are not whitened (the exact float64
    residual): per block of contexts :math:`q_\mu = \langle H\Gamma^\top, X\rangle_\mu`
    (row-wise dot products) and the block adds :math:`X^\top\mathrm{diag}(q)H`. Reading the
    rows directly is 1.1–1.6× as fast as :func:`_apply_gram` on transposed views of them
    (``benchmarks/pcg_pieces.py``). A block holds about 4096 contexts of all problems
    together, at least 256 per problem."""
    out = torch.zeros_like(gamma)
    gt = gamma.transpose(1, 2)
    block = max(256, _NORMAL_BLOCK // x.shape[0])
    for start in range(0, x.shape[1], block):
        xs, hs = x[:, start:start + block], h[:, start:start + block]
        q = torch.linalg.vecdot(torch.bmm(hs, gt), xs)     # [B, c]
        out.baddbmm_(xs.transpose(1, 2), hs * q.unsqueeze(-1))
    return out


def _residual(x: torch.Tensor, h: torch.Tensor, b: torch.Tensor, gamma: torch.Tensor,
              lam_scaled: float) -> torch.Tensor:
    r"""The exact residual :math:`B - (G+\lambda'I)\,\mathrm{vec}\,\Gamma` from the data as
    given (``x [B, n, d]``, ``h [B, n, d+1]``, float64), through :func:`_apply_gram_rows`."""
    return b - _apply_gram_rows(x, h, gamma) - lam_scaled * gamma


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Frobenius inner product per problem, ``[B, d, d+1] × [B, d, d+1] -> [B]``."""
    return (a * b).sum((1, 2))


@dataclasses.dataclass
class _Whitened:
    r"""The whitened problem of the module doc: eigenbases ``ux [B, d, d]``, ``uh [B, d+1,
    d+1]``, square roots of the eigenvalues ``sx [B, d]``, ``sh [B, d+1]``, the diagonal ridge
    ``ridge`` :math:`\Lambda` ``[B, d, d+1]`` and the whitened data ``xt [B, d, n]``, ``ht [B,
    d+1, n]`` (and ``h`` ``[B, n, d+1]``, the same in row layout) in the working dtype."""

    ux: torch.Tensor
    uh: torch.Tensor
    sx: torch.Tensor
    sh: torch.Tensor
    ridge: torch.Tensor
    xt: torch.Tensor
    ht: torch.Tensor
    h: torch.Tensor

    @classmethod
    def build(cls, x: torch.Tensor, h: torch.Tensor, lam_scaled: float,
              dtype: torch.dtype) -> _Whitened:
        """Eigendecompose :math:`S_x, S_h` (from the data in ``dtype``; the bases are float64)
        and whiten the data into ``dtype``."""
        n = x.shape[1]
        xw, hw = x.to(dtype), h.to(dtype)
        sx_gram = torch.bmm(xw.transpose(1, 2), xw).to(x.dtype) / n
        ex, ux = torch.linalg.eigh(sx_gram)
        eh, uh = torch.linalg.eigh(torch.bmm(hw.transpose(1, 2), hw).to(x.dtype))
        ex = ex.clamp_min(1e-30 * ex.amax(-1, keepdim=True).clamp_min(1e-300))
        eh = eh.clamp_min(1e-30 * eh.amax(-1, keepdim=True).clamp_min(1e-300))
        sx, sh = ex.sqrt(), eh.sqrt()
        wx = (ux / sx.unsqueeze(-2)).to(dtype)  # U_x E_x^{-1/2}
        wh = (uh / sh.unsqueeze(-2)).to(dtype)
        xt = torch.bmm(wx.transpose(1, 2), xw.transpose(1, 2))          # [B, d, n]
        h_rows = torch.bmm(hw, wh)                                       # [B, n, d+1]
        ht = torch.bmm(wh.transpose(1, 2), hw.transpose(1, 2))           # [B, d+1, n]
        ridge = lam_scaled / (ex.unsqueeze(-1) * eh.unsqueeze(-2))
        return cls(ux, uh, sx, sh, ridge, xt, ht, h_rows)

    @property
    def mixed(self) -> bool:
        """Whether the operator runs in float32 (the float64 residuals are the reference)."""
        return self.xt.dtype == torch.float32

    def to_white(self, r: torch.Tensor) -> torch.Tensor:
        r""":math:`E_x^{-1/2}U_x^\top R\,U_h E_h^{-1/2}` (a residual into whitened form)."""
        rt = torch.bmm(torch.bmm(self.ux.transpose(1, 2), r), self.uh)
        return rt.div_(self.sx.unsqueeze(-1)).div_(self.sh.unsqueeze(-2))

    def from_white(self, g: torch.Tensor) -> torch.Tensor:
        r""":math:`U_x E_x^{-1/2}\tilde\Gamma E_h^{-1/2}U_h^\top` (a solution back)."""
        g = g / self.sx.unsqueeze(-1) / self.sh.unsqueeze(-2)
        return torch.bmm(torch.bmm(self.ux, g), self.uh.transpose(1, 2))

    def original_norm(self, rt: torch.Tensor) -> torch.Tensor:
        r""":math:`\|R\|_F` of the original residual from the whitened one, ``[B]``."""
        return torch.linalg.matrix_norm(rt * self.sx.unsqueeze(-1) * self.sh.unsqueeze(-2))

    def apply(self, g: torch.Tensor) -> torch.Tensor:
        """The whitened operator (Gram part in the working dtype, ridge in float64)."""
        gram = _apply_gram(self.xt, self.ht, self.h, g.to(self.xt.dtype))
        return gram.to(g.dtype) + self.ridge * g


def _cg_sweep(w: _Whitened, rt: torch.Tensor, target: torch.Tensor, active: torch.Tensor,
              max_iter: int) -> tuple[torch.Tensor, int]:
    r"""CG on the whitened system :math:`\tilde A\tilde\Delta = \tilde R` from zero, with the
    diagonal preconditioner :math:`1+\Lambda`, for the ``active`` problems, each until its
    original-residual norm is below ``target [B]``. Returns ``(delta_white, iterations)``."""
    precond = 1.0 + w.ridge
    r = rt.clone()
    delta = torch.zeros_like(rt)
    active = active & (w.original_norm(r) > target)
    z = r / precond
    p = z.clone()
    rz = _dot(r, z)
    it = 0
    while bool(active.any()) and it < max_iter:
        it += 1
        ap = w.apply(p)
        pap = _dot(p, ap)
        step = torch.where(active & (pap > 0), rz / torch.where(pap > 0, pap, 1.0), 0.0)
        delta.add_(p * step[:, None, None])
        r.sub_(ap * step[:, None, None])
        active &= w.original_norm(r) > target
        z = r / precond
        rz_new = _dot(r, z)
        beta = torch.where(active & (rz > 0), rz_new / torch.where(rz > 0, rz, 1.0), 0.0)
        p = z + beta[:, None, None] * p
        rz = rz_new
    return delta, it


def solve_pcg_batched(
    x: torch.Tensor, h: torch.Tensor, y: torch.Tensor, lam_scaled: float,
    tol: float = DEFAULT_TOL, max_iter: int = 500, precision: Precision = "mixed",
    goal: Goal | None = None, goal_tol: float = GOAL_TOL,
) -> tuple[torch.Tensor, int, torch.Tensor]:
    r"""Kronecker-preconditioned CG on ``B`` independent problems at once (module doc).

    Args: ``x [B, n, d]``, ``h [B, n, d+1]``, ``y [B, n]`` (float64); ``lam_scaled``
    :math:`\lambda'`; ``tol`` relative residual; ``max_iter`` CG iterations in all;
    ``precision`` ``"mixed"`` (float32 sweeps, float64 residuals) or ``"double"``;
    ``goal`` quantities computed from the solution (``gamma [B, d, d+1] -> [B, m]``), solved
    on until they settle to ``goal_tol`` relative (module doc, "Goal-oriented stopping").
    Returns ``(gamma [B, d, d+1], iterations, rel_residual [B])``; the residuals are the
    exact float64 ones of the returned ``gamma``.
    """
    check_choice("precision", precision, PRECISIONS)
    b = rhs_batched(x, h, y)
    b_norm = torch.linalg.matrix_norm(b)
    b_norm = torch.where(b_norm > 0, b_norm, torch.ones_like(b_norm))
    work = torch.float32 if precision == "mixed" else x.dtype
    w = _Whitened.build(x, h, lam_scaled, work)
    tracker = None if goal is None else GoalTracker(goal, goal_tol)
    gamma = torch.zeros_like(b)
    r = b.clone()
    res = torch.ones_like(b_norm)
    target_res = torch.full_like(res, tol)
    done = 0
    while done < max_iter:
        active = res > target_res
        if not bool(active.any()):
            break
        target = target_res * b_norm
        if w.mixed or tracker is not None:
            target = torch.maximum(target, SWEEP_REDUCTION * res * b_norm)
        delta, it = _cg_sweep(w, w.to_white(r), target, active, max_iter - done)
        done += it
        gamma += w.from_white(delta)
        r = _residual(x, h, b, gamma, lam_scaled)
        new_res = torch.linalg.matrix_norm(r) / b_norm
        switched = w.mixed and bool((new_res[active] > 0.1 * res[active]).any())
        if switched:
            w = _Whitened.build(x, h, lam_scaled, x.dtype)  # float32 floor reached
        res = new_res
        if tracker is not None:
            target_res = tracker.update(gamma, res, target_res, switched)
        if it == 0:
            break
    if tracker is not None and tracker.last_remaining is not None:
        left = tracker.last_remaining[res <= tol]
        unsettled = int((left > goal_tol).sum())
        if unsettled:
            warnings.warn(f"PCG stopped before its goal settled for {unsettled} of {len(res)} "
                          f"problems (estimated change still to come up to "
                          f"{float(left.max()):.1e} relative, goal_tol {goal_tol:.0e})",
                          RuntimeWarning, stacklevel=2)
    return gamma, done, res


def solve_pcg(
    x: torch.Tensor, h: torch.Tensor, y: torch.Tensor, lam_scaled: float, tol: float = DEFAULT_TOL,
    max_iter: int = 500, precision: Precision = "mixed", goal: Goal | None = None,
    goal_tol: float = GOAL_TOL,
) -> tuple[torch.Tensor, int, float]:
    """Γ* of one problem (``x [n, d]``, ``h [n, d+1]``, ``y [n]``) by
    :func:`solve_pcg_batched`; ``goal`` maps ``gamma [1, d, d+1]`` to ``[1, m]``. Returns
    ``(gamma [d, d+1], iterations, rel_residual)``."""
    gamma, it, res = solve_pcg_batched(x.unsqueeze(0), h.unsqueeze(0), y.unsqueeze(0),
                                       lam_scaled, tol, max_iter, precision, goal, goal_tol)
    return gamma[0], it, float(res[0])


def pcg_rate(n: int, d: int, lam: float = 0.0) -> float:
    r"""Predicted CG contraction per step of the Kronecker-preconditioned system (derived).

    With :math:`\gamma = p/n` the preconditioned Gram has a Marchenko–Pastur spectrum on
    :math:`[(1-\sqrt\gamma)_+^2, (1+\sqrt\gamma)^2]` in units of its scale
    :math:`n/d`, and the ridge :math:`\lambda' = \frac nd\lambda` adds :math:`\lambda` in
    the same units, so the condition number is
    :math:`c = ((1+\sqrt\gamma)^2+\lambda)/((1-\sqrt\gamma)_+^2+\lambda)` and CG contracts
    by :math:`(\sqrt c-1)/(\sqrt c+1)` (:math:`=\sqrt\gamma` at :math:`\lambda=0`);
    ``inf`` when :math:`c` is infinite (:math:`n\le p` without a ridge)."""
    g = d * (d + 1) / n
    lo = max(0.0, 1.0 - math.sqrt(g)) ** 2 + lam
    if lo <= 0.0:
        return math.inf
    root = math.sqrt(((1.0 + math.sqrt(g)) ** 2 + lam) / lo)
    return (root - 1.0) / (root + 1.0)


def pcg_iterations(n: int, d: int, lam: float = 0.0, tol: float = DEFAULT_TOL) -> float:
    r"""Predicted CG iterations to the relative residual ``tol``: the CG bound
    :math:`2r^k\le\mathrm{tol}` with :math:`r` = :func:`pcg_rate`, times a 1.2 margin, plus
    5; ``inf`` when :math:`r\ge1`."""
    rate = pcg_rate(n, d, lam)
    if not rate < 1.0:
        return math.inf
    if rate <= 0.0:
        return 6.0
    return 1.2 * math.log(tol / 2.0) / math.log(rate) + 5.0

r"""Direct (factorisation) solvers of the Γ* ridge problem: primal Gram + Cholesky, dual
kernel, and their batched forms (the problem and notation: :mod:`iclab.fit.closed_form`).

* **primal** (:func:`solve_primal`) — the Gram :math:`G=\sum_\mu(x_\mu x_\mu^\top)\otimes
  (h_\mu h_\mu^\top)` is accumulated over chunks of contexts (chunk size from a memory
  budget) in its *doubly symmetric* form: :math:`G_{(i,a),(j,b)} = M_{[ij],[ab]}` with
  :math:`M=\sum_\mu \mathrm{vech}(x_\mu x_\mu^\top)\,\mathrm{vech}(h_\mu h_\mu^\top)^\top`
  (one ``addmm`` per chunk). ``M`` holds only the distinct entries of ``G`` (``G`` is
  symmetric under :math:`i\leftrightarrow j` and :math:`a\leftrightarrow b` separately), so it
  costs :math:`\approx np^2/2` flop: half a syrk, a quarter of a full ``Φᵀ Φ``. ``G`` is then
  expanded by one gather. For small :math:`p\le` :data:`DENSE_MAX_P` one dense
  :math:`\Phi^\top\Phi` (:func:`solve_dense_batched`) is faster than the gathers.
* **dual** (:func:`solve_dual`) — kernel form, cheaper when :math:`n\le p`:
  :math:`K = (XX^\top)\odot(HH^\top)`, :math:`c = (K+\lambda' I)^{-1}y`,
  :math:`\Gamma^* = \sum_\mu c_\mu x_\mu h_\mu^\top`.

A Cholesky failure (matrix not numerically positive definite, e.g. ``lam=0`` near
:math:`n=p`) falls back, with a ``RuntimeWarning``, to an eigendecomposition solve with
eigenvalues clipped at ``1e-14 * max`` (:func:`spd_solve`).
"""

from __future__ import annotations

import warnings

import torch

from iclab.validation import check_int

DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes for one chunk of vech features
#: largest p = d(d+1) for which the dense Gram Φ^T Φ is built in one (b)mm
DENSE_MAX_P = 600


def khatri_rao(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    r"""Row-wise :math:`\phi_\mu = x_\mu\otimes h_\mu`: ``[n, d] × [n, d+1] -> [n, d(d+1)]``."""
    return (x.unsqueeze(-1) * h.unsqueeze(-2)).reshape(x.shape[0], -1)


def gram_one_shot(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    r"""Reference Gram :math:`\Phi^\top\Phi` built in one shot, ``[p, p]`` (for tests)."""
    phi = khatri_rao(x, h)
    return phi.T @ phi


def _vech(v: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    return v[:, rows] * v[:, cols]


def chunk_size_for(d: int, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> int:
    """Contexts per chunk so that the chunk's vech features fit in ``memory_budget`` bytes."""
    per_context = 8 * (d * (d + 1) // 2 + (d + 1) * (d + 2) // 2 + 2 * d + 1)
    return max(1, memory_budget // per_context)


def symmetric_gram(
    x: torch.Tensor, h: torch.Tensor, chunk: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> torch.Tensor:
    r""":math:`G=\sum_\mu(x_\mu x_\mu^\top)\otimes(h_\mu h_\mu^\top)`, ``[p, p]``, accumulated
    over chunks of ``chunk`` contexts (default: from ``memory_budget``) through its distinct
    entries :math:`M = \sum_\mu \mathrm{vech}(xx^\top)\mathrm{vech}(hh^\top)^\top` (module doc).
    """
    n, d = x.shape
    e = h.shape[1]
    chunk = check_int("chunk", chunk) if chunk is not None else chunk_size_for(d, memory_budget)
    rx, cx = torch.triu_indices(d, d, device=x.device)
    rh, ch = torch.triu_indices(e, e, device=x.device)
    m = torch.zeros(rx.numel(), rh.numel(), dtype=x.dtype, device=x.device)
    for start in range(0, n, chunk):
        xs, hs = x[start:start + chunk], h[start:start + chunk]
        m.addmm_(_vech(xs, rx, cx).T, _vech(hs, rh, ch))
    pair_x = torch.empty(d, d, dtype=torch.long, device=x.device)
    pair_x[rx, cx] = torch.arange(rx.numel(), device=x.device)
    pair_x[cx, rx] = pair_x[rx, cx]
    pair_h = torch.empty(e, e, dtype=torch.long, device=x.device)
    pair_h[rh, ch] = torch.arange(rh.numel(), device=x.device)
    pair_h[ch, rh] = pair_h[rh, ch]
    g = m[pair_x[:, None, :, None], pair_h[None, :, None, :]]  # [d, e, d, e]
    return g.reshape(d * e, d * e)


def rhs(x: torch.Tensor, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r""":math:`B=\sum_\mu y_\mu x_\mu h_\mu^\top`, ``[d, d+1]``."""
    return (x * y.unsqueeze(-1)).T @ h


def rhs_batched(x: torch.Tensor, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r""":math:`B_b=\sum_\mu y_{b\mu} x_{b\mu} h_{b\mu}^\top`: ``[B, n, d] × [B, n, d+1] ×
    [B, n] -> [B, d, d+1]``."""
    return torch.bmm((x * y.unsqueeze(-1)).transpose(1, 2), h)


def spd_solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solve ``a z = b`` for symmetric PD ``a`` (Cholesky; eigen fallback with a warning)."""
    chol, info = torch.linalg.cholesky_ex(a)
    if int(info) == 0:
        return torch.cholesky_solve(b.unsqueeze(-1), chol).squeeze(-1)
    warnings.warn("ridge system is not numerically positive definite (Cholesky failed); "
                  "falling back to an eigendecomposition solve with clipped eigenvalues",
                  RuntimeWarning, stacklevel=3)
    evals, evecs = torch.linalg.eigh(a)
    floor = 1e-14 * evals.abs().max()
    return evecs @ ((evecs.T @ b) / evals.clamp_min(floor))


def spd_solve_batched(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solve ``a[i] z[i] = b[i]`` (SPD ``a [B, m, m]``, ``b [B, m]``); per-problem fallback."""
    chol, info = torch.linalg.cholesky_ex(a)
    out = torch.cholesky_solve(b.unsqueeze(-1), chol).squeeze(-1)
    for i in torch.nonzero(info).flatten().tolist():
        out[i] = spd_solve(a[i], b[i])
    return out


def solve_dense_batched(x: torch.Tensor, h: torch.Tensor, y: torch.Tensor,
                        lam_scaled: float, memory_budget: int = DEFAULT_MEMORY_BUDGET
                        ) -> torch.Tensor:
    r"""Γ* for a batch via the dense Gram :math:`\Phi_b^\top\Phi_b` (``baddbmm`` over chunks
    of contexts, :math:`2np^2` flop per problem) and a batched Cholesky; ``[B, d, d+1]``.
    For small :math:`p` (:data:`DENSE_MAX_P`), where one large ``bmm`` beats the index
    gathers of the doubly symmetric form."""
    batch, n, d = x.shape
    e = h.shape[-1]
    p = d * e
    chunk = max(1, memory_budget // (8 * batch * p))
    g = torch.zeros(batch, p, p, dtype=x.dtype, device=x.device)
    for s in range(0, n, chunk):
        phi = (x[:, s:s + chunk, :, None] * h[:, s:s + chunk, None, :]).reshape(batch, -1, p)
        g.baddbmm_(phi.transpose(1, 2), phi)
    g.diagonal(dim1=1, dim2=2).add_(lam_scaled)
    b = rhs_batched(x, h, y).reshape(batch, p)
    return spd_solve_batched(g, b).reshape(batch, d, e)


def solve_primal(x: torch.Tensor, h: torch.Tensor, y: torch.Tensor, lam_scaled: float,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET) -> torch.Tensor:
    r"""Γ* via the chunked symmetric Gram and Cholesky; returns ``[d, d+1]``. For small
    :math:`p\le` :data:`DENSE_MAX_P` the dense Gram of :func:`solve_dense_batched` (one
    matrix product instead of index gathers) is used."""
    if x.shape[1] * h.shape[1] <= DENSE_MAX_P:
        return solve_dense_batched(x[None], h[None], y[None], lam_scaled, memory_budget)[0]
    g = symmetric_gram(x, h, memory_budget=memory_budget)
    g.diagonal().add_(lam_scaled)
    return spd_solve(g, rhs(x, h, y).reshape(-1)).reshape(x.shape[1], h.shape[1])


def solve_primal_batched(x: torch.Tensor, h: torch.Tensor, y: torch.Tensor, lam_scaled: float,
                         memory_budget: int = DEFAULT_MEMORY_BUDGET) -> torch.Tensor:
    r"""Γ* for a batch ``[B, d, d+1]`` by the primal route: one batched dense Gram when
    :math:`p\le` :data:`DENSE_MAX_P`, else one chunked doubly symmetric Gram per problem."""
    d = x.shape[-1]
    if d * (d + 1) <= DENSE_MAX_P:
        return solve_dense_batched(x, h, y, lam_scaled, memory_budget)
    return torch.stack([solve_primal(x[i], h[i], y[i], lam_scaled, memory_budget)
                        for i in range(x.shape[0])])


def solve_dual(x: torch.Tensor, h: torch.Tensor, y: torch.Tensor, lam_scaled: float
               ) -> torch.Tensor:
    r"""Γ* via the ``n × n`` kernel :math:`(XX^\top)\odot(HH^\top)+\lambda'I`; ``[d, d+1]``."""
    k = (x @ x.T) * (h @ h.T)
    k.diagonal().add_(lam_scaled)
    c = spd_solve(k, y)
    return rhs(x, h, c)


def solve_dual_batched(x: torch.Tensor, h: torch.Tensor, y: torch.Tensor, lam_scaled: float
                       ) -> torch.Tensor:
    r"""Γ* for a batch via the kernels :math:`(X_bX_b^\top)\odot(H_bH_b^\top)+\lambda'I`;
    ``[B, d, d+1]``."""
    k = torch.bmm(x, x.transpose(1, 2)).mul_(torch.bmm(h, h.transpose(1, 2)))
    k.diagonal(dim1=1, dim2=2).add_(lam_scaled)
    return rhs_batched(x, h, spd_solve_batched(k, y))

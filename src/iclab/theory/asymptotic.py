r"""Asymptotic ICL / IDG errors of linear attention (Lu et al. 2024, "Asymptotic theory of
in-context learning by linear attention").

The mathematics is in docs/theory.md (formulas as implemented in the authors' code
github.com/mletey/incontext-cleanup, ``theory_runs/common.py``). Docstrings cite the section
of docs/theory.md and the authors' function name, not the paper's equation numbers (our
choice). Notation follows the authors' code (see docs/theory.md, "Conventions"):

    q := (1 + rho) / alpha,   alpha = l/d,  kappa = k/d,  tau = n/d^2,  rho = noise variance.

All public functions validate their inputs (``ParameterError`` naming the parameter),
broadcast NumPy arrays over all arguments and return a ``float`` for scalar input, otherwise
an array of the broadcast shape. Errors include the label noise, so ``e >= rho``.

**Valid range.** :math:`0<\tau\le10^{300}`, :math:`0\le\rho\le10^{300}`,
:math:`\kappa\ge10^{-306}` (``inf`` allowed) and :math:`q=(1+\rho)/\alpha\le10^{306}`
(so :math:`\alpha` down to about :math:`10^{-306}`); outside it a ``ParameterError`` is raised.
Inside it the formulas are evaluated in forms that keep their digits (module
``_formulas``): e.g. as :math:`\alpha\to0` both errors tend to :math:`(1+\rho)/(1-\tau)`
(:math:`\tau<1`) and :math:`(1+\rho)\tau/(\tau-1)` (:math:`\tau>1`), which the authors'
forms lose to cancellation already at :math:`\alpha=10^{-16}`. Tested against the authors'
forms in 700-digit arithmetic (``tests/theory/test_theory_extremes.py``).

**Speed and memory.** The ridgeless errors are evaluated block by block over the broadcast
grid (blocks of about 32 768 points, each input sliced without copying), so a grid of
:math:`6\cdot10^7` points costs its output plus a few MB of temporaries, and runs faster
than the same formula written inline in NumPy on the whole arrays (which materialises
full-size temporaries); see ``benchmarks/theory_api.py``. The τ branch is chosen per block
(both branches and a selection only in blocks that hold both).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from iclab.errors import ParameterError
from iclab.theory import _formulas as F
from iclab.theory.mp import _mp, _scalar_or_array, inverse_kappa
from iclab.validation import check_nonnegative, check_positive

__all__ = [
    "e_icl",
    "e_idg",
    "g_task",
    "e_kappa_inf",
    "e_bayes_ridge",
    "optimal_lambda_kappa_inf",
    "solve_ridge_epsilon",
]


#: documented range of valid inputs (module doc): beyond it an intermediate would overflow
Q_MAX = 1e306
TAU_RHO_MAX = 1e300
#: grid points per block of the blocked evaluation (256 kB per temporary array)
_CHUNK = 1 << 15
#: inputs beyond this take the overflow-safe (slower) form of the MP transform
_SAFE_ABOVE = 1e150


def _validate(tau: Any, alpha: Any, kappa: Any, rho: Any, lam: Any = 0.0
              ) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """Check the inputs *as given* (no broadcast copies) and return them as float arrays of
    their own shapes, with the broadcast shape. Raises :class:`ParameterError` outside the
    documented range (module doc)."""
    check_positive("tau", tau)
    check_positive("alpha", alpha)
    check_positive("kappa", kappa, allow_inf=True)
    check_nonnegative("rho", rho)
    check_nonnegative("lam", lam)
    arrays = [np.asarray(v, dtype=float) for v in (tau, alpha, kappa, rho, lam)]
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        raise ParameterError("tau, alpha, kappa, rho, lam", "arrays of shapes "
                             + ", ".join(str(a.shape) for a in arrays),
                             "shapes that broadcast together") from None
    t, a, k, r, _ = arrays
    if t.size and t.max() > TAU_RHO_MAX:
        raise ParameterError("tau", float(t.max()), f"a number in (0, {TAU_RHO_MAX:g}]")
    if r.size and r.max() > TAU_RHO_MAX:
        raise ParameterError("rho", float(r.max()), f"a number in [0, {TAU_RHO_MAX:g}]")
    if k.size and k.min() < 1.0 / Q_MAX:
        raise ParameterError("kappa", float(k.min()), f"a number >= {1.0 / Q_MAX:g}")
    if a.size and r.size and (1.0 + r.max()) / Q_MAX > a.min():
        raise ParameterError("alpha", float(a.min()),
                             f"a number >= (1 + rho) / {Q_MAX:g} (so that q = (1+rho)/alpha "
                             f"<= {Q_MAX:g}, with the largest rho given)")
    return arrays, shape


def _block_indices(shape: tuple[int, ...], chunk: int = _CHUNK) -> Iterator[tuple[slice, ...]]:
    """Slices (one per axis) covering ``shape`` in C-order blocks of about ``chunk`` points:
    whole trailing axes, a range along one axis, single indices along the leading ones."""
    n = len(shape)
    if n == 0:
        yield ()
        return
    axis, tail = n - 1, 1
    while axis > 0 and tail * shape[axis] <= chunk:
        tail *= shape[axis]
        axis -= 1
    if tail * shape[axis] <= chunk:  # everything fits in one block
        yield tuple(slice(None) for _ in shape)
        return
    step = max(1, chunk // tail)
    rest = tuple(slice(None) for _ in shape[axis + 1:])
    for lead in np.ndindex(*shape[:axis]):
        head = tuple(slice(i, i + 1) for i in lead)
        for start in range(0, shape[axis], step):
            yield (*head, slice(start, start + step), *rest)


def _take(arr: np.ndarray, idx: tuple[slice, ...]) -> np.ndarray:
    """The block ``idx`` of an input broadcast against the grid (no copy): size-1 axes are
    kept whole, leading missing axes are added."""
    arr = arr.reshape((1,) * (len(idx) - arr.ndim) + arr.shape)
    return arr[tuple(sl if arr.shape[ax] > 1 else slice(None) for ax, sl in enumerate(idx))]


def _ridgeless_block(metric: str, tau: np.ndarray, q: np.ndarray, rho: np.ndarray,
                     ik: np.ndarray, safe: bool, ik_max: float) -> np.ndarray:
    """One block of the ridgeless error: the τ<1 / τ>1 branch (both and a selection only when
    the block has both), ``inf`` exactly at :math:`\tau=1` (the interpolation peak)."""
    below, above = ((F.icl_ridgeless_below, F.icl_ridgeless_above) if metric == "icl"
                    else (F.idg_ridgeless_below, F.idg_ridgeless_above))
    t_min, t_max = float(tau.min()), float(tau.max())
    if t_max < 1.0:
        return below(tau, q, rho, ik, safe=safe, negative_b=ik_max * t_max > 1.0)
    if t_min > 1.0:
        return above(tau, q, rho, ik, safe=safe, negative_b=ik_max > 1.0)
    lo, hi = tau < 1.0, tau > 1.0
    e_lo = below(np.where(lo, tau, 0.5), q, rho, ik, safe=safe)
    e_hi = above(np.where(hi, tau, 2.0), q, rho, ik, safe=safe)
    return np.where(lo, e_lo, np.where(hi, e_hi, np.inf))


def _ridgeless(metrics: tuple[str, ...], arrays: list[np.ndarray], shape: tuple[int, ...]
               ) -> np.ndarray:
    """Ridgeless error on the broadcast grid, evaluated block by block (module doc).

    ``metrics`` is ``("icl",)``, ``("idg",)`` or ``("icl", "idg")`` (the difference,
    :math:`g_{task}`). Memory: the output plus a few blocks of ``_CHUNK`` points."""
    tau, alpha, kappa, rho = arrays[:4]
    ik = inverse_kappa(kappa)
    ik_max = float(ik.max()) if ik.size else 0.0
    q_max = (1.0 + float(rho.max())) / float(alpha.min()) if alpha.size and rho.size else 0.0
    t_top = max(1.0, float(tau.max())) if tau.size else 1.0
    safe = q_max > _SAFE_ABOVE or ik_max * t_top > _SAFE_ABOVE
    out = np.empty(shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        for idx in _block_indices(shape):
            t, r = _take(tau, idx), _take(rho, idx)
            q = (1.0 + r) / _take(alpha, idx)
            k = _take(ik, idx)
            e = _ridgeless_block(metrics[0], t, q, r, k, safe, ik_max)
            if len(metrics) == 2:
                e = e - _ridgeless_block(metrics[1], t, q, r, k, safe, ik_max)
            out[idx] = e
    return out


def solve_ridge_epsilon(tau: Any, lam: Any, q: Any, kappa: Any) -> np.ndarray:
    """Self-consistent :math:`\\varepsilon>0` of docs/theory.md, "Ridge (finite λ) ICL
    error" (code ``self_consistency``).

    Solves :math:`1-\\tau+\\tau\\lambda/\\varepsilon
    -\\varepsilon\\mathcal M_\\kappa(q+\\varepsilon)=0`
    for all broadcast points at once with SciPy's vectorised bracketing solver
    (``scipy.optimize.elementwise.find_root``, Chandrupatla), applied to the pole-free
    :math:`\\varepsilon\\cdot` LHS. The LHS is strictly decreasing, so the root is unique, and
    the bracket is derived:

    * lower end :math:`\\lambda`: LHS :math:`=1-\\lambda\\mathcal M(q+\\lambda)>0` because
      :math:`x\\mathcal M(q+x)<1`;
    * upper end :math:`\\lambda+(1+q)/\\tau`: by Jensen :math:`\\mathcal M(x)\\ge1/(1+x)`, so
      LHS :math:`\\le-\\tau+(\\tau\\lambda+1+q)/\\varepsilon\\le0` there.

    Args: ``tau > 0``, ``lam > 0``, ``q > 0``, ``kappa > 0`` (inf allowed), broadcastable.
    Returns: :math:`\\varepsilon` of the broadcast shape (relative accuracy ~1e-15).
    """
    tau, lam, q = (np.asarray(v, dtype=float) for v in (tau, lam, q))
    ik = inverse_kappa(kappa)
    tau, lam, q, ik = np.broadcast_arrays(tau, lam, q, ik)
    lo = lam
    hi = lam + (1.0 + q) / tau
    from scipy.optimize import elementwise  # only the ridge root-finder needs it

    res = elementwise.find_root(
        F.ridge_lhs_times_eps, (lo, hi), args=(tau, lam, q, ik),
        tolerances={"xatol": 1e-300, "xrtol": 4 * np.finfo(float).eps, "fatol": 0.0,
                    "frtol": 0.0},
    )
    if not np.all(res.success | (res.f_x == 0)):
        raise RuntimeError("ridge self-consistency solve failed to converge")  # pragma: no cover
    return np.asarray(res.x, dtype=float)


def e_icl(tau: Any, alpha: Any, kappa: Any, rho: Any, lam: Any = 0.0) -> float | np.ndarray:
    """Asymptotic in-context-learning error :math:`e^{ICL}` (fresh test task).

    * ``lam == 0``: ridgeless closed forms, docs/theory.md "Ridgeless limit" (code
      ``ridgeless_icl``), one branch for :math:`\\tau<1` and one for :math:`\\tau>1`; ``inf``
      exactly at :math:`\\tau=1`.
    * ``lam > 0``: docs/theory.md "Ridge (finite λ) ICL error" (code ``ridge_icl``):
      :math:`\\varepsilon` from the scalar self-consistency equation
      (:func:`solve_ridge_epsilon`, bracketing, all points vectorised), then the boxed formula.

    Args (all broadcastable): ``tau = n/d^2 > 0``, ``alpha = l/d > 0``,
    ``kappa = k/d > 0`` (``math.inf`` = infinite task diversity), ``rho >= 0`` noise
    variance, ``lam >= 0`` ridge (normalised as :math:`\\frac n d\\lambda\\|\\Gamma\\|_F^2`,
    docs/theory.md "Conventions").
    """
    arrays, shape = _validate(tau, alpha, kappa, rho, lam)
    out = _ridgeless(("icl",), arrays, shape)
    lam_a = arrays[4]
    if lam_a.size and lam_a.max() > 0:
        ridge = np.broadcast_to(lam_a, shape) > 0
        t, a, k, r, la = (np.broadcast_to(v, shape)[ridge] for v in arrays)
        q = (1.0 + r) / a
        eps = solve_ridge_epsilon(t, la, q, k)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            out[ridge] = F.icl_ridge_from_eps(eps, t, q, r, inverse_kappa(k))
    return _scalar_or_array(out)


def e_idg(tau: Any, alpha: Any, kappa: Any, rho: Any, lam: Any = 0.0) -> float | np.ndarray:
    """Asymptotic in-distribution generalisation error :math:`e^{IDG}` (test task drawn from
    the k pretraining tasks), ridgeless only: docs/theory.md "Ridgeless limit" (code
    ``ridgeless_idg``, notebook
    ``prop_idg``); ``inf`` exactly at :math:`\\tau=1`.

    ``lam > 0`` raises :class:`~iclab.errors.ParameterError`: there is no finite-λ IDG formula
    in the paper's main text or the authors' code, and iclab does not invent one (our choice;
    docs/theory.md, "Finite-λ IDG: refused"). Use the numerical route instead: simulate
    :math:`\\Gamma^*` (ridge solve on sampled :math:`H_Z`, docs/theory.md "The reduced
    linear-attention model") and evaluate the exact finite-d error :math:`e(\\Gamma)` with the
    IDG moments.
    """
    arrays, shape = _validate(tau, alpha, kappa, rho, lam)
    lam = arrays[4]
    if np.any(lam > 0):
        raise ParameterError(
            "lam", float(lam[lam > 0].ravel()[0]),
            "0 (finite-lambda IDG has no closed form, see docs/theory.md; compute it "
            "numerically: simulate Gamma* and apply the exact finite-d error e(Gamma))")
    return _scalar_or_array(_ridgeless(("idg",), arrays, shape))


def g_task(tau: Any, alpha: Any, kappa: Any, rho: Any) -> float | np.ndarray:
    """Task-generalisation gap :math:`g_{task}=e^{ICL}-e^{IDG}` (ridgeless; docs/theory.md
    "Data model", code ``g_task``). ``nan`` at :math:`\\tau=1` (inf - inf)."""
    arrays, shape = _validate(tau, alpha, kappa, rho)
    return _scalar_or_array(_ridgeless(("icl", "idg"), arrays, shape))


def e_kappa_inf(tau: Any, alpha: Any, rho: Any) -> float | np.ndarray:
    """Ridgeless error at infinite task diversity, where :math:`e^{ICL}=e^{IDG}` (docs/theory.md
    "Limits", derived from the ridgeless limit with :math:`\\mathcal M\\to1/(1+q)`):

    :math:`\\tau<1`: :math:`\\frac{(1+\\rho)-\\tau(2-\\tau)/(1+q)}{1-\\tau}`;
    :math:`\\tau>1`: :math:`\\frac{\\tau}{\\tau-1}(\\rho+\\frac q{1+q})`; ``inf`` at
    :math:`\\tau=1`. Independent closed form, used to test :func:`e_icl` at ``kappa=inf``.
    """
    (tau, alpha, _, rho, _), _ = _validate(tau, alpha, 1.0, rho)
    q = (1.0 + rho) / alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        below = ((1.0 + rho) - tau * (2.0 - tau) / (1.0 + q)) / (1.0 - tau)
        above = tau / (tau - 1.0) * (rho + q / (1.0 + q))
    return _scalar_or_array(np.where(tau < 1, below, np.where(tau > 1, above, np.inf)))


def e_bayes_ridge(alpha: Any, rho: Any) -> float | np.ndarray:
    """Asymptotic ICL error of the Bayes-optimal (Gaussian-prior) ridge estimator
    :math:`\\hat w=(X^\\top X+\\rho I)^{-1}X^\\top y` on the context alone (derived; the
    toolkit's baseline, not a curve of the paper; docs/theory.md "Baselines"):

    :math:`e^{Bayes}=\\rho+\\frac\\rho\\alpha\\mathcal M_\\alpha(\\rho/\\alpha)`,

    i.e. :math:`\\mathcal M` with ratio :math:`\\alpha` in place of :math:`\\kappa`. At
    :math:`\\rho=0` its limit :math:`\\max(0,1-\\alpha)` is returned (noiseless
    least-norm interpolation).
    """
    check_positive("alpha", alpha)
    check_nonnegative("rho", rho)
    alpha, rho = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(rho, float))
    x = rho / alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        xm = x * _mp(x, 1.0 / alpha)
    out = np.where(rho > 0, rho + xm, np.maximum(0.0, 1.0 - alpha))
    return _scalar_or_array(out)


def optimal_lambda_kappa_inf(tau: Any, alpha: Any, rho: Any) -> float | np.ndarray:
    """Ridge :math:`\\lambda^*` minimising finite-λ :math:`e^{ICL}` at :math:`\\kappa=\\infty`:

    :math:`\\lambda^*=(1+q)(q+\\rho(1+q))/\\tau`, i.e.
    :math:`\\lambda^*\\tau=(1+q)^2(\\rho+q/(1+q))`.

    A **numerical finding** (ours, found by minimising the finite-λ formulas of docs/theory.md),
    not a stated result of the paper; no finite-κ formula is known. Tested against a direct
    numerical minimisation of :func:`e_icl` over ``lam``.
    """
    (tau, alpha, _, rho, _), _ = _validate(tau, alpha, 1.0, rho)
    q = (1.0 + rho) / alpha
    return _scalar_or_array((1.0 + q) * (q + rho * (1.0 + q)) / tau)

r"""Exact finite-(d, ℓ) test error of the reduced Γ-model (NumPy).

For any :math:`\Gamma\in\mathbb R^{d\times(d+1)}` and a test-task distribution, with the
data model of Lu et al. 2024 (docs/theory.md, "Data model") and :math:`r = \|w\|^2/d`,
:math:`\alpha=\ell/d`:

.. math::
    e(\Gamma) = \rho + \mathbb E r - \tfrac2d\,\mathrm{tr}(\Gamma A)
    + \tfrac1d\,\mathrm{tr}(\Gamma^\top\Gamma M_2),

.. math::
    A = \mathbb E\begin{pmatrix} ww^\top \\ (r+\rho)w^\top\end{pmatrix},\qquad
    M_2 = \mathbb E\,hh^\top = \mathbb E\begin{pmatrix}
    \frac{r+\rho}\alpha I + (1+\frac1\ell)ww^\top & (1+\frac2\ell)(r+\rho)w\\
    (1+\frac2\ell)(r+\rho)w^\top & (1+\frac2\ell)(r+\rho)^2\end{pmatrix}.

Derivation: :math:`x_{\ell+1}` is independent of :math:`h` with covariance :math:`I/d`, so
:math:`e = \rho + \frac1d\mathbb E\|w-\Gamma h\|^2`; the conditional moments
:math:`\mathbb E[h|w] = (w, r+\rho)` and :math:`\mathbb E[hh^\top|w]` follow from the
representation of the context features :math:`h` (:math:`t=\|y\|^2=\sigma^2\chi^2_\ell`,
:math:`\mathbb E\chi^4 = \ell(\ell+2)`; see :mod:`iclab.models.reduced`). When every test
task has :math:`r=1` this is exactly the form of docs/theory.md, "Exact finite-d error"
(authors' ``gen_err_analytical_NEW``: :math:`M_2=(1+\rho)B`); the version here is also exact
for tasks of varying norm (Gaussian tasks, raw pools), whose fourth moments enter through
:math:`\mathbb E r^2`.

Test distributions: ICL (fresh task, :func:`isotropic_moments`) and IDG (uniform over the
pool, :func:`pool_moments`); :func:`assemble_moments` builds the moments from the task
averages :math:`\mathbb E ww^\top`, :math:`\mathbb E(r+\rho)w`, :math:`\mathbb E r` and
:math:`\mathbb E(r+\rho)^2` of any other distribution. A token-level Monte Carlo estimate of
the same error, independent of these formulas, is
:func:`iclab.evaluate.finite_d_mc.monte_carlo_error`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from iclab.validation import check_choice, check_int, check_nonnegative

#: task normalisations of the data model: radius-√d sphere, or raw N(0, I_d)
TASK_NORMS: tuple[str, ...] = ("sphere", "gaussian")


@dataclasses.dataclass(frozen=True)
class TestMoments:
    r"""Moments of the test-task distribution that :func:`exact_error` needs.

    Attributes: ``rho`` noise variance, ``mean_r`` :math:`\mathbb E\|w\|^2/d`,
    ``a`` :math:`A` ``[d+1, d]``, ``m2`` :math:`M_2` ``[d+1, d+1]`` (module doc), float64.
    """

    __test__ = False  # not a pytest test class

    rho: float
    mean_r: float
    a: np.ndarray
    m2: np.ndarray


def assemble_moments(ww: np.ndarray, rw: np.ndarray, mean_r: float, mean_r2: float,
                     ell: int, rho: float) -> TestMoments:
    r""":class:`TestMoments` from ``ww`` :math:`=\mathbb E ww^\top` ``[d, d]``, ``rw``
    :math:`=\mathbb E(r+\rho)w` ``[d]``, ``mean_r`` :math:`=\mathbb E r` and ``mean_r2``
    :math:`=\mathbb E(r+\rho)^2`, for context length ``ell`` (module doc)."""
    check_int("ell", ell)
    check_nonnegative("rho", rho)
    ww = np.asarray(ww, dtype=np.float64)
    rw = np.asarray(rw, dtype=np.float64)
    d = ww.shape[0]
    m2 = np.empty((d + 1, d + 1), dtype=np.float64)
    m2[:d, :d] = (mean_r + rho) * d / ell * np.eye(d) + (1 + 1 / ell) * ww
    m2[:d, d] = (1 + 2 / ell) * rw
    m2[d, :d] = m2[:d, d]
    m2[d, d] = (1 + 2 / ell) * mean_r2
    a = np.concatenate([ww, rw[None, :]], axis=0)
    return TestMoments(rho=float(rho), mean_r=float(mean_r), a=a, m2=m2)


def isotropic_moments(d: int, context_len: int, rho: float, task_norm: str = "sphere"
                      ) -> TestMoments:
    r"""ICL test moments for a fresh task: :math:`\mathbb E ww^\top=I`, :math:`\mathbb E w=0`;
    :math:`\mathrm{Var}\,r = 0` on the sphere (``"sphere"``) and :math:`2/d` for
    :math:`\mathcal N(0,I_d)` (``"gaussian"``)."""
    check_int("d", d)
    check_int("context_len", context_len)
    check_nonnegative("rho", rho)
    check_choice("task_norm", task_norm, TASK_NORMS)
    var_r = 0.0 if task_norm == "sphere" else 2.0 / d
    return assemble_moments(np.eye(d), np.zeros(d), 1.0, (1.0 + rho) ** 2 + var_r,
                            context_len, rho)


def pool_moments(pool: np.ndarray, context_len: int, rho: float) -> TestMoments:
    """IDG test moments: exact averages over the rows of ``pool [k, d]`` (uniform)."""
    check_int("context_len", context_len)
    check_nonnegative("rho", rho)
    w = np.asarray(pool, dtype=np.float64)
    k, d = w.shape
    r = (w**2).sum(-1) / d
    ww = w.T @ w / k
    rw = ((r + rho)[:, None] * w).mean(0)
    return assemble_moments(ww, rw, float(r.mean()), float(((r + rho) ** 2).mean()),
                            context_len, rho)


def exact_error(gamma: np.ndarray, moments: TestMoments) -> np.ndarray:
    r""":math:`e(\Gamma)` of the module doc for ``gamma [..., d, d+1]``; returns ``[...]``
    (a 0-d array for one Γ)."""
    g = np.asarray(gamma, dtype=np.float64)
    d = g.shape[-2]
    if g.shape[-1] != d + 1 or moments.a.shape != (d + 1, d):
        raise ValueError(f"gamma must be [..., d, d+1] with d = {moments.a.shape[1]}; "
                         f"got {g.shape}")
    lin = np.einsum("...ia,ai->...", g, moments.a)
    quad = ((g @ moments.m2) * g).sum(axis=(-2, -1))
    return moments.rho + moments.mean_r - 2.0 / d * lin + quad / d

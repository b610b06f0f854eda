"""Rank-r linear self-attention on in-context linear regression: optimum, risks, noise.

Setting (docs/shi2024.md, "Linear regression: model size is the rank"; the Zhang–Frei–Bartlett
parameterisation that Shi, Wei, Xu & Liang 2024 build on): inputs ``x ~ N(0, Λ)``,
``Λ = V D V^T`` with ``D = diag(λ_1 >= ... >= λ_d > 0)``; pretraining task
``w ~ N(0, I_d)``; the LSA prediction reduces to ``ŷ = x_q^T Γ (1/ρ) Σ_i y_i x_i`` with
``rank Γ <= r``. Every function here works in the eigenbasis: a ``Γ = V diag(g) V^T`` is
given by its eigen-entries ``g`` ``[d]``, and a test task ``w`` by ``s = V^T w`` ``[d]``. Risks
carry **no** factor ½ (the toolkit's choice; see docs/shi2024.md, "Modelling choices"). All
formulas are derived by us (not quoted from the paper) and each has a Monte Carlo test in
``tests/shi2024/test_shi_theory_lsa.py``.

Tie-breaking (our choice): eigenvalues are expected in non-increasing order; the rank-r
optimum keeps the first ``r`` *indices*, so among tied eigenvalues the lower index wins.
"""

from __future__ import annotations

import numpy as np

from iclab.validation import check_int, check_nonnegative, check_positive


def _eigenvalues(eigenvalues: np.ndarray) -> np.ndarray:
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.ndim != 1 or lam.size == 0:
        raise ValueError(f"eigenvalues must be a non-empty 1-D array, got shape {lam.shape}")
    check_positive("eigenvalues", lam)
    if np.any(np.diff(lam) > 0):
        from iclab.errors import ParameterError

        raise ParameterError("eigenvalues", lam.tolist(), "sorted in non-increasing order")
    return lam


def _rank(rank: int, d: int) -> int:
    return check_int("rank", rank, minimum=0, maximum=d)


def optimal_gamma_spectrum(
    eigenvalues: np.ndarray, n: float, rank: int, sigma2_train: float = 0.0
) -> np.ndarray:
    """Eigen-entries ``g`` ``[d]`` of the optimal rank-r ``Γ*_r`` (derived; docs/shi2024.md).

    ``g_i = 1 / ((N+1)/N λ_i + (tr Λ + σ_tr²)/N)`` for ``i <= r`` and ``0`` otherwise.
    ``n = inf`` gives the limit ``g_i = 1/λ_i`` (pseudo-inverse of Λ on the top-r space).
    """
    lam = _eigenvalues(eigenvalues)
    r = _rank(rank, lam.size)
    check_positive("n", n, allow_inf=True)
    check_nonnegative("sigma2_train", sigma2_train)
    shift = 0.0 if np.isinf(n) else (lam.sum() + sigma2_train) / n
    scale = 1.0 if np.isinf(n) else (n + 1.0) / n
    g = 1.0 / (scale * lam + shift)
    g[r:] = 0.0
    return g


def optimal_gamma(
    eigenvalues: np.ndarray, basis: np.ndarray, n: float, rank: int, sigma2_train: float = 0.0
) -> np.ndarray:
    """The matrix ``Γ*_r = V diag(g) V^T`` ``[d, d]`` (``basis`` = V, columns eigenvectors)."""
    g = optimal_gamma_spectrum(eigenvalues, n, rank, sigma2_train)
    v = np.asarray(basis, dtype=float)
    if v.shape != (g.size, g.size):
        raise ValueError(f"basis must have shape [{g.size}, {g.size}], got {v.shape}")
    return (v * g) @ v.T


def pretrain_risk_of_spectrum(
    g: np.ndarray, eigenvalues: np.ndarray, n: float, sigma2_train: float = 0.0
) -> float:
    """Pretraining ICL risk ``L(Γ)`` of ``Γ = V diag(g) V^T`` with ``w ~ N(0, I)`` (derived).

    ``L = Σ_i λ_i (1 - a_i)² + (1/N) Σ_i a_i² (λ_i + tr Λ + σ_tr²)``, ``a_i = λ_i g_i``;
    this is the pretraining risk ``L(Γ)`` of docs/shi2024.md restricted to diagonal ``G``
    (target ``w^T x_q`` is clean).
    """
    lam = _eigenvalues(eigenvalues)
    check_positive("n", n)
    a = lam * np.asarray(g, dtype=float)
    return float(np.sum(lam * (1 - a) ** 2) + np.sum(a**2 * (lam + lam.sum() + sigma2_train)) / n)


def optimal_pretrain_risk(eigenvalues: np.ndarray, n: float, rank: int) -> float:
    """``L*_r = Σ_{i>r} λ_i + Σ_{i<=r} λ_i(λ_i + tr Λ)/((N+1)λ_i + tr Λ)`` (σ_tr = 0)."""
    lam = _eigenvalues(eigenvalues)
    r = _rank(rank, lam.size)
    check_positive("n", n)
    t = lam.sum()
    top = lam[:r]
    return float(lam[r:].sum() + np.sum(top * (top + t) / ((n + 1) * top + t)))


def noisy_prompt_risk(
    g: np.ndarray, eigenvalues: np.ndarray, s: np.ndarray, m: int, sigma2: float = 0.0,
    input_noise2: float = 0.0,
) -> float:
    """Risk ``R`` of ``Γ = V diag(g) V^T`` on a test prompt of ``M`` examples (derived;
    docs/shi2024.md, "Noise in the test context").

    Fixed task ``w = V s``; context ``y_i = w^T x_i + ε_i``, ``ε_i ~ N(0, σ²)``; test-time
    normalisation ``ρ = M``; target the clean ``w^T x_q``. With ``a_i = λ_i g_i``::

        R = Σ λ_i (1-a_i)² s_i² + (1/M) Σ λ_i a_i² s_i² + (‖s‖_D² + σ²)/M Σ a_i²
            + τ² (‖s‖_D² + σ²)/M Σ a_i²/λ_i

    The last term is the toolkit's **input-noise** variant (derived here): the context
    inputs are observed as ``x_i + ξ_i``, ``ξ_i ~ N(0, τ² I)``, while the labels were made from
    the clean ``x_i``; the query is clean. Derivation: ``ĉ`` gains ``(1/M) Σ ξ_i y_i``, mean 0,
    covariance ``τ² E[y²] I / M`` with ``E[y²] = ‖s‖_D² + σ²``, uncorrelated with the rest, so
    ``R`` gains ``τ² E[y²]/M · tr(Γ^T Λ Γ) = τ² E[y²]/M Σ λ_i g_i²``. A direction with small
    ``λ_i`` amplifies input noise by ``1/λ_i`` — the larger rank pays more.

    Args:
        g: eigen-entries of Γ, ``[d]``.  eigenvalues: ``λ`` ``[d]`` (non-increasing).
        s: the test task in the eigenbasis, ``[d]``.  m: test context length ``M``.
        sigma2: test label-noise variance ``σ²``.  input_noise2: input-noise variance ``τ²``.
    """
    lam = _eigenvalues(eigenvalues)
    m = check_int("m", m, minimum=1)
    check_nonnegative("sigma2", sigma2)
    check_nonnegative("input_noise2", input_noise2)
    s = np.asarray(s, dtype=float)
    a = lam * np.asarray(g, dtype=float)
    signal = float(np.sum(lam * s**2))
    label_var = signal + sigma2
    bias = np.sum(lam * (1 - a) ** 2 * s**2)
    finite_m = np.sum(lam * a**2 * s**2) / m
    noise = label_var / m * np.sum(a**2)
    inputs = input_noise2 * label_var / m * np.sum(a**2 / lam)
    return float(bias + finite_m + noise + inputs)


def rank_risk(
    eigenvalues: np.ndarray, s: np.ndarray, m: int, sigma2: float, rank: int, n: float = np.inf,
    input_noise2: float = 0.0,
) -> float:
    """``R_r``: the noisy-prompt risk of the rank-r optimum pretrained with length ``n``.

    ``n = inf`` gives the idealised ``R_r = Σ_{i>r} λ_i s_i² + (1/M) Σ_{i<=r} λ_i s_i²
    + r (‖s‖_D² + σ²)/M``.
    """
    g = optimal_gamma_spectrum(eigenvalues, n, rank)
    return noisy_prompt_risk(g, eigenvalues, s, m, sigma2, input_noise2)


def behaviour_difference(
    eigenvalues: np.ndarray, s: np.ndarray, m: int, sigma2: float, r1: int, r2: int,
    n: float = np.inf, input_noise2: float = 0.0,
) -> float:
    """``R_{r2} - R_{r1}`` for the rank-r optima, ``r1 < r2`` (derived).

    For ``s`` supported on the top-``r1`` directions this equals the closed form
    ``(‖s‖_D² + σ²)/M Σ_{r1<i<=r2} a_i² (1 + τ²/λ_i)``, ``a_i = Nλ_i/((N+1)λ_i + tr Λ)``; as
    ``N → ∞`` it is the poster's ``(r2-r1)/M (‖s‖_D² + σ²)`` (for ``τ = 0``). For a general ``s``
    it also contains the larger rank's bias reduction. See :func:`behaviour_difference_closed_form`.
    """
    lam = _eigenvalues(eigenvalues)
    r1 = _rank(r1, lam.size)
    r2 = _rank(r2, lam.size)
    if r2 <= r1:
        from iclab.errors import ParameterError

        raise ParameterError("r2", r2, f"an integer > r1={r1}")
    return rank_risk(lam, s, m, sigma2, r2, n, input_noise2) - rank_risk(
        lam, s, m, sigma2, r1, n, input_noise2
    )


def behaviour_difference_closed_form(
    eigenvalues: np.ndarray, signal: float, m: int, sigma2: float, r1: int, r2: int,
    n: float = np.inf, input_noise2: float = 0.0,
) -> float:
    """Closed form of ``R_{r2} - R_{r1}`` for a task in the top-``r1`` span (derived;
    docs/shi2024.md).

    ``(‖s‖_D² + σ²)/M Σ_{i=r1+1}^{r2} a_i² (1 + τ²/λ_i)`` with ``a_i = Nλ_i/((N+1)λ_i + tr Λ)``
    (``a_i = 1`` at ``n = inf``, giving ``(r2-r1)/M (‖s‖_D² + σ²)``). ``signal`` is
    ``‖s‖_D² = w^T Λ w``.
    """
    lam = _eigenvalues(eigenvalues)
    r1 = _rank(r1, lam.size)
    r2 = _rank(r2, lam.size)
    m = check_int("m", m, minimum=1)
    check_nonnegative("signal", signal)
    check_nonnegative("sigma2", sigma2)
    check_positive("n", n, allow_inf=True)
    band = lam[r1:r2]
    a = np.ones_like(band) if np.isinf(n) else n * band / ((n + 1) * band + lam.sum())
    return float((signal + sigma2) / m * np.sum(a**2 * (1 + input_noise2 / band)))


def best_test_rank(
    eigenvalues: np.ndarray, m: int, sigma2: float, n: float = np.inf
) -> int:
    """The rank minimising the task-averaged (``w ~ N(0, I)``) noisy-prompt risk.

    Averaging ``R`` over ``s ~ N(0, I)`` replaces ``s_i²`` by 1 and ``‖s‖_D²`` by ``tr Λ``.
    At ``n = inf`` step ``r -> r+1`` helps iff ``λ_{r+1}(1 - 1/M) > (tr Λ + σ²)/M`` (derived
    by us from ``R`` above).
    """
    lam = _eigenvalues(eigenvalues)
    risks = []
    for r in range(lam.size + 1):
        a = lam * optimal_gamma_spectrum(lam, n, r)
        risks.append(np.sum(lam * (1 - a) ** 2) + np.sum(lam * a**2) / m
                     + (lam.sum() + sigma2) / m * np.sum(a**2))
    return int(np.argmin(risks))

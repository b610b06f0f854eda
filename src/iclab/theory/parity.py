"""Idealised theory for the toolkit's in-context sparse-parity construction (**ours**, derived).

The paper's parity theorems (Shi, Wei, Xu & Liang 2024, "Optimal solution for parity" and
"Behavior difference for parity") are stated only informally; their data distribution and
constants are not given. What is implemented here is derived for the toolkit's construction
(:mod:`iclab.tasks.parity`; docs/shi2024.md, "Sparse parity") and the rank-one-head
model (:mod:`iclab.models.parity_heads`); each formula has a Monte Carlo test.

**Pair-aligned solutions.** With clean context labels and ``N -> ∞``, ``ĉ = y^T Φ(X)/N``
equals ``e_p`` for task pair ``p``. Two rank-one heads with ``u = v = e_p`` and ``a = ±κ``
give ``g = κ ĉ_p φ_p(x_q)`` (because ``ReLU(t) - ReLU(-t) = t``), which is ``κ y_q`` on task
``p`` and ``0`` on every other task. A model with ``m`` heads can align ``⌊m/2⌋`` head pairs
(plus one lone head, which serves half the queries of one more pair), so the best pair-aligned
allocation serves the most probable pairs first (:func:`pair_aligned_coverage`). This is the
"small models encode the important features" picture; its global optimality among all
``m``-head models is *not* proven here — the tests check trained models against it.

**Noise.** A fraction ``p`` of the ``N`` context labels flipped (exactly ``k = round(pN)``):
``ĉ_p = 1 - 2k/N`` on the task pair and ``ĉ_{p'}`` has mean 0, variance ``1/N`` on every
other pair, uncorrelated across pairs. A model serving ``K`` pairs with equal weights then has
``y_q g / κ = (1 - 2k/N) + Z``, ``Var Z = (K-1)/N``, so by the CLT
``acc ≈ Φ((1 - 2k/N) √(N/(K-1)))`` on a served task and ``½`` on an unserved task
(:func:`served_accuracy`). More served pairs → more noise → faster loss of accuracy as
``p`` grows: the "behaviour difference for parity" in this construction.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from iclab.validation import check_in_range, check_int


def relu(t: np.ndarray) -> np.ndarray:
    return np.maximum(t, 0.0)


def relu_parity(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """``½[ReLU(x1+x2) + ReLU(-x1-x2) - ReLU(x1-x2) - ReLU(x2-x1)]``.

    Equals ``x1 x2`` on ``{±1}²``: a 2-parity needs a constant number of ReLU units.
    """
    return 0.5 * (relu(x1 + x2) + relu(-x1 - x2) - relu(x1 - x2) - relu(x2 - x1))


def pair_aligned_coverage(pair_probabilities: np.ndarray, heads: int) -> np.ndarray:
    """Served fraction ``[D]`` (1, ½ or 0) of each pair under the best pair-aligned allocation.

    Pairs are taken in decreasing probability (ties: lower index first); each full pair costs
    two heads; an odd head serves one more pair for the half of its queries with one sign.
    """
    probs = np.asarray(pair_probabilities, dtype=float)
    heads = check_int("heads", heads, minimum=0)
    order = np.argsort(-probs, kind="stable")
    served = np.zeros_like(probs)
    full, lone = divmod(heads, 2)
    served[order[:full]] = 1.0
    if lone and full < probs.size:
        served[order[full]] = 0.5
    return served


def noiseless_hinge_risk(pair_probabilities: np.ndarray, heads: int) -> float:
    """Hinge risk ``Σ_p π_p (1 - served_p)`` of the best pair-aligned ``m``-head model, ``N → ∞``.

    A served pair has hinge loss 0 (``κ >= 1``), an unserved one 1 (``g = 0``), a half-served
    one ½ (the lone head gives margin ``κ`` for one sign and ``0`` for the other).
    """
    probs = np.asarray(pair_probabilities, dtype=float)
    return float(np.sum(probs * (1.0 - pair_aligned_coverage(probs, heads))))


def exact_flip_fraction(p: float, n: int) -> float:
    """The fraction ``round(pN)/N`` actually flipped by ``flip_labels(..., mode="exact")``."""
    check_in_range("p", p, 0.0, 1.0)
    n = check_int("n", n)
    return math.floor(p * n + 0.5) / n


def served_accuracy(p: float | np.ndarray, n: int, served_pairs: int) -> np.ndarray:
    """Idealised accuracy on a served task: ``Φ((1 - 2k/N) √(N/(K-1)))`` (CLT, derived).

    Args:
        p: fraction(s) of flipped context labels (exactly ``k = round(pN)`` flipped).
        n: context length ``N``.  served_pairs: ``K >= 1`` pairs served with equal weight.
    ``K = 1`` has no noise: accuracy 1, ½ or 0 as ``1 - 2k/N`` is >, = or < 0.
    """
    n = check_int("n", n)
    k_served = check_int("served_pairs", served_pairs)
    ps = np.atleast_1d(np.asarray(p, dtype=float))
    signal = np.array([1.0 - 2.0 * exact_flip_fraction(float(q), n) for q in ps])
    if k_served == 1:
        return np.where(signal > 0, 1.0, np.where(signal == 0, 0.5, 0.0))
    return norm.cdf(signal * math.sqrt(n / (k_served - 1)))


def idealised_accuracy(
    pair_probabilities: np.ndarray, important: np.ndarray, heads: int, p: float | np.ndarray,
    n: int,
) -> dict[str, np.ndarray]:
    """Accuracy of the best pair-aligned ``m``-head model (equal weights) under flips.

    Returns ``{"important": [P], "other": [P], "all": [P]}``: the mean accuracy over the tasks
    of each group (weighted by the task distribution), for each flip fraction in ``p``. A fully
    served task scores :func:`served_accuracy` with ``K`` = number of fully served pairs
    (a half-served pair counts as half a pair of noise and half its queries), an unserved ½.
    """
    probs = np.asarray(pair_probabilities, dtype=float)
    imp = np.asarray(important, dtype=bool)
    served = pair_aligned_coverage(probs, heads)
    k_eff = max(1, int(round(served.sum())))
    acc_served = served_accuracy(p, n, k_eff)                       # [P]
    per_pair = served[:, None] * acc_served[None, :] + (1 - served[:, None]) * 0.5
    out = {}
    for name, mask in (("important", imp), ("other", ~imp), ("all", np.ones_like(imp))):
        w = probs * mask
        out[name] = (w[:, None] * per_pair).sum(0) / w.sum()
    return out

r"""Risks of trained ensembles and of their theory-optimal references on shared test prompts.

Every model of an ensemble and every reference predictor is scored on the SAME test prompts
(a paired comparison: the test-set noise largely cancels in their ratio). The risk of member
``m`` is the Monte Carlo mean of squared query errors (:mod:`iclab.evaluate.risk`),

.. math::
    \hat R_m = \frac1B\sum_{b<B}\big(\hat y_m(P_b) - y_{q,b}\big)^2 .
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from iclab.evaluate.risk import mc_risk, squared_errors
from iclab.models.base import Predictor
from iclab.models.linear_attention import PGDPredictor
from iclab.tasks.prompts import Prompts


def _rows(prompts: Prompts, sl: slice) -> Prompts:
    return Prompts(prompts.X[sl], prompts.y[sl], prompts.x_q[sl], prompts.y_q[sl],
                   None if prompts.w is None else prompts.w[sl])


@torch.no_grad()
def ensemble_risk(predictor: Predictor, test: Prompts, chunk: int = 4096) -> torch.Tensor:
    """Monte Carlo risk ``[M]`` of every member on ``test``, predicted ``chunk`` prompts at a
    time (memory: ``M x chunk`` token stacks); the squared errors are summed chunk by chunk and
    divided by ``B``."""
    B = test.batch
    total = torch.zeros(predictor.members, dtype=test.y_q.dtype, device=test.y_q.device)
    for s in range(0, B, chunk):
        total += squared_errors(predictor, _rows(test, slice(s, s + chunk))).sum(-1)
    return total / B


@torch.no_grad()
def pgd_risk_mc(W: torch.Tensor, test: Prompts, omega: torch.Tensor | None = None,
                ns: Sequence[int] | None = None) -> torch.Tensor:
    """Monte Carlo risk ``[K]`` of (weighted) PGD ``yhat = x^T W X^T (omega * y)``, ``W [K, d, d]``.

    ``ns`` (length ``K``): predictor ``k`` uses only the last ``ns[k]`` examples
    (:class:`~iclab.models.linear_attention.PGDPredictor`).
    """
    context = None if ns is None else tuple(int(n) for n in ns)
    return mc_risk(PGDPredictor(W, omega, context), test)


def cosine(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Cosine similarity ``<A, B>_F / (|A|_F |B|_F)`` of matrices ``A [M, d, d]``; ``B``
    broadcasts; -> ``[M]``."""
    B = B.to(A.dtype).expand_as(A)
    num = (A * B).sum((-1, -2))
    return num / (A.norm(dim=(-1, -2)) * B.norm(dim=(-1, -2))).clamp_min(1e-30)

r"""Monte Carlo risk of any :class:`~iclab.models.base.Predictor` on test prompts.

.. math::
    \hat R_m = \frac1B\sum_{b<B}\big(\hat y_m(P_b) - y_{q,b}\big)^2 ,

the sample mean of squared query errors, one value per member ``m``.
"""

from __future__ import annotations

import torch

from iclab.models.base import Predictor
from iclab.tasks.prompts import Prompts


def squared_errors(predictor: Predictor, prompts: Prompts, chunk: int | None = None
                   ) -> torch.Tensor:
    """Squared query errors ``[M, B]`` of every member on every prompt.

    ``chunk`` bounds how many prompts are predicted at once (memory), default all.
    """
    B = prompts.batch
    step = B if chunk is None or chunk <= 0 else int(chunk)
    parts = []
    with torch.no_grad():
        for start in range(0, B, step):
            sl = slice(start, min(B, start + step))
            part = Prompts(prompts.X[sl], prompts.y[sl], prompts.x_q[sl], prompts.y_q[sl],
                           None if prompts.w is None else prompts.w[sl])
            parts.append((predictor.predict(part) - part.y_q) ** 2)
    return torch.cat(parts, dim=-1)


def mc_risk(predictor: Predictor, prompts: Prompts, chunk: int | None = None) -> torch.Tensor:
    """Monte Carlo risk ``[M]``: the mean squared query error of each member."""
    return squared_errors(predictor, prompts, chunk).mean(dim=-1)

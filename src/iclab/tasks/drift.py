"""A task that drifts along the prompt (the non-stationary "online" setting; spec §1.2, §3c).

The drift model is OUR CHOICE (spec open point 5 [?]): a stationary AR(1) walk of the task over
the positions ``1..n+1`` (query last)::

    beta_1 ~ N(0, s I),   beta_{i+1} = gamma beta_i + sqrt(1 - gamma^2) g_i,  g_i ~ N(0, s I)

so every ``beta_i ~ N(0, s I)`` and ``Cov(beta_i, beta_j) = gamma^{|i-j|} s I``.
``x_i ~ N(0, I)``, ``y_i = x_i^T beta_i + xi_i``; the query label uses ``beta_{n+1}``.
``gamma = 1`` is the i.i.d. task; smaller ``gamma`` drifts faster, so recent examples are more
informative and position-dependent weights (H3's filter) help. Theory:
:func:`iclab.theory.pgd.ar1_drift_correlation` and the WPGD functions there.
"""

from __future__ import annotations

import dataclasses

import torch

from iclab.tasks.gaussian_design import DEFAULT_N, _normal
from iclab.tasks.prompts import Prompts
from iclab.validation import check_in_range, check_int, check_nonnegative, check_positive


@dataclasses.dataclass(frozen=True)
class DriftTask:
    """AR(1)-drifting task; ``w`` in the prompts is the query's task ``beta_{n+1}``.

    ``n``: the context length of :meth:`sample` when the call does not name one.
    """

    d: int
    gamma: float
    sigma2: float = 0.0
    scale: float = 1.0
    n: int = DEFAULT_N

    def __post_init__(self) -> None:
        check_int("d", self.d)
        check_int("n", self.n, minimum=0)
        check_in_range("gamma", self.gamma, 0.0, 1.0)
        check_nonnegative("sigma2", self.sigma2)
        check_positive("scale", self.scale)

    def sample(self, batch: int, generator: torch.Generator, n: int | None = None,
               dtype: torch.dtype = torch.float32) -> Prompts:
        """``X [B, n, d]``, ``y_i = x_i^T beta_i + xi_i``, query uses ``beta_{n+1}``.

        ``n`` context examples (default: the task's ``n``), drawn with ``generator``.
        """
        batch = check_int("batch", batch)
        n = self.n if n is None else check_int("n", n, minimum=0)
        innov = _normal((batch, n + 1, self.d), generator, dtype) * self.scale**0.5
        coef = (1.0 - self.gamma**2) ** 0.5
        betas = [innov[:, 0]]
        for i in range(1, n + 1):
            betas.append(self.gamma * betas[-1] + coef * innov[:, i])
        beta = torch.stack(betas, dim=1)  # [B, n+1, d]
        feats = _normal((batch, n + 1, self.d), generator, dtype)
        noise = _normal((batch, n + 1), generator, dtype) * self.sigma2**0.5
        labels = (feats * beta).sum(-1) + noise
        return Prompts(X=feats[:, :n], y=labels[:, :n], x_q=feats[:, n], y_q=labels[:, n],
                       w=beta[:, n])

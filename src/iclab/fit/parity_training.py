"""Training of the m-head parity ensemble (:class:`iclab.models.parity_heads.ParityHeadsEnsemble`).

Adam on fresh prompts with the per-model hinge loss::

    L_i = mean_b max(0, 1 - y_{q, s(i), b} g_i(P_{s(i), b})),      s(i) = i mod seeds,

``batch`` prompts per seed per step (models of one seed share its prompts), cosine
learning-rate decay to 1 % of ``lr`` after a linear warm-up of ``min(50, steps // 10)`` steps;
one tensor program via :func:`iclab.fit.ensemble.train_ensemble`.
"""

from __future__ import annotations

import torch

from iclab.fit.ensemble import EnsembleTrainResult, cosine_schedule, train_ensemble
from iclab.models.parity_heads import Params, ParityHeadsEnsemble, parity_statistics
from iclab.tasks.parity import SparseParityTask
from iclab.validation import check_int


def train_parity_heads(
    ensemble: ParityHeadsEnsemble, task: SparseParityTask, generator: torch.Generator,
    steps: int, batch: int, lr: float = 1e-2, init_scale: float = 1.0,
    dtype: torch.dtype = torch.float32, record_every: int = 0,
) -> EnsembleTrainResult:
    """Train ``ensemble`` on ``task``; all randomness comes from ``generator``.

    The initial parameters are drawn first (:meth:`ParityHeadsEnsemble.init_params` with
    ``init_scale``), then each step draws ``seeds * batch`` prompts.

    Returns:
        :class:`~iclab.fit.ensemble.EnsembleTrainResult`: ``params`` (each ``[M, ...]``),
        per-model hinge-loss history ``[R, M]`` recorded every ``record_every`` steps.
    """
    steps = check_int("steps", steps)
    batch = check_int("batch", batch)
    params = ensemble.init_params(generator, init_scale, dtype)
    seeds = ensemble.seeds

    def sample(_: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        prompts = task.sample(seeds * batch, generator, dtype=dtype)
        c, phi_q = parity_statistics(prompts)
        shape = (seeds, batch)
        return c.view(*shape, -1), phi_q.view(*shape, -1), prompts.y_q.view(shape)

    def loss(p: Params, data: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        c, phi_q, y_q = data
        margins = ensemble.margins(ensemble.forward_statistics(p, c, phi_q), y_q)
        return torch.relu(1 - margins).mean(dim=1)

    return train_ensemble(params, loss, sample, steps=steps, lr=lr,
                          lr_schedule=cosine_schedule(steps, warmup=min(50, steps // 10),
                                                      floor=0.01),
                          record_every=record_every)

"""Training of the rank-constrained LSA ensemble (:class:`iclab.models.lsa.LowRankLSAEnsemble`).

Adam on fresh prompts with the per-model mean squared error (no ½: our choice)::

    L_i = mean_b ( ŷ_i(P_{s(i), b}) - y_{q, s(i), b} )²,      s(i) = i mod seeds,

``batch`` prompts per seed per step (models of one seed share its prompts: a paired design
across ranks), ``ρ = N`` (the task's context length), cosine learning-rate decay to 1 % of
``lr`` after a linear warm-up of ``min(50, steps // 10)`` steps. The ensemble is trained as one
tensor program by :func:`iclab.fit.ensemble.train_ensemble`.
"""

from __future__ import annotations

import torch

from iclab.fit.ensemble import EnsembleTrainResult, cosine_schedule, train_ensemble
from iclab.models.lsa import LowRankLSAEnsemble, Params, token_statistics
from iclab.tasks.spectral_regression import SpectralRegressionTask
from iclab.tasks.tokens import per_member_tokens
from iclab.validation import check_int


def train_lsa_ensemble(
    ensemble: LowRankLSAEnsemble, task: SpectralRegressionTask, generator: torch.Generator,
    steps: int, batch: int, lr: float = 1e-2, init_scale: float = 0.3,
    dtype: torch.dtype = torch.float32, record_every: int = 0, params: Params | None = None,
) -> EnsembleTrainResult:
    """Train ``ensemble`` on ``task``; all randomness comes from ``generator``.

    The initial parameters are drawn first (:meth:`LowRankLSAEnsemble.init_params` with
    ``init_scale``) unless ``params`` is given; then each step draws ``seeds * batch`` prompts.

    Returns:
        :class:`~iclab.fit.ensemble.EnsembleTrainResult`: ``params`` (each ``[M, ...]``),
        per-model loss history ``[R, M]`` recorded every ``record_every`` steps.
    """
    steps = check_int("steps", steps)
    batch = check_int("batch", batch)
    if params is None:
        params = ensemble.init_params(generator, init_scale, dtype)
    rho = float(task.n)
    n_ranks, seeds = len(ensemble.ranks), ensemble.seeds

    def sample(_: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        prompts = task.sample(seeds * batch, generator, dtype=dtype)
        gram, query = token_statistics(per_member_tokens(prompts, seeds))
        return gram, query, prompts.y_q.view(seeds, batch)

    def loss(p: Params, data: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        gram, query, y_q = data
        pred = ensemble.predict_from_statistics(p, gram, query, rho)
        err = pred.view(n_ranks, seeds, -1) - y_q.unsqueeze(0)
        return err.pow(2).mean(dim=-1).reshape(ensemble.size)

    return train_ensemble(params, loss, sample, steps=steps, lr=lr,
                          lr_schedule=cosine_schedule(steps, warmup=min(50, steps // 10),
                                                      floor=0.01),
                          record_every=record_every)


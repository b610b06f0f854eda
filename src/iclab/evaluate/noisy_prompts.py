r"""Evaluation of a :class:`~iclab.models.base.Predictor` on corrupted test prompts.

Two measurements of Shi, Wei, Xu & Liang 2024 (docs/shi2024.md, "Noise in the test context"
and "Sparse parity"):

* :func:`noisy_prompt_risks` — the Monte Carlo risk of a regression predictor on test prompts
  whose context labels carry ``N(0, σ²)`` noise, for a fixed task ``w``:

  .. math::
      \hat R_m(\sigma^2) = \frac1B \sum_{b<B} \big(\hat y_m(P_b^{\sigma}) - w^\top x_{q,b}\big)^2 ;

* :func:`accuracy_by_pair` — the accuracy ``P(y_q g > 0)`` (a tie ``g = 0`` counts ½) of a
  ±1-label predictor on prompts of each task pair with a fraction ``p`` of context labels
  flipped (:func:`sign_correct` per prompt).

All models see the same prompts and the same noise (common random numbers).
"""

from __future__ import annotations

import dataclasses

import torch

from iclab.models.base import Predictor
from iclab.tasks.corruptions import add_input_noise, add_label_noise, flip_labels
from iclab.tasks.parity import SparseParityTask
from iclab.tasks.prompts import Prompts
from iclab.tasks.spectral_regression import SpectralRegressionTask
from iclab.validation import check_int


@torch.no_grad()
def noisy_prompt_risks(
    predictor: Predictor, task: SpectralRegressionTask, w: torch.Tensor, sigma2s: list[float],
    generator: torch.Generator, n_test: int, input_std: float = 0.0, chunk: int = 20000,
    antithetic: bool = False, dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Monte Carlo risk ``[len(sigma2s), M]`` on test prompts of length ``task.n`` for task ``w``.

    Context labels get ``N(0, σ²)`` noise, inputs optionally ``N(0, input_std²)`` noise; the
    target is the clean ``w^T x_q``. Common random numbers: every model and every ``σ²`` see
    the same prompts and the same standard-normal noise. Prompts are drawn ``chunk`` at a time
    in ``dtype`` (that of the predictor's parameters) on the generator's device; squared
    errors are accumulated in float64.

    ``antithetic=True`` scores each of the ``n_test`` prompts twice, with label noise ``+σz``
    and ``−σz``, so the cross term between the noise-free error and the label noise (zero in
    expectation, linear in σ) cancels exactly: the estimate is then exactly linear in ``σ²``
    (with ``input_std = 0``), and its slope carries only the Monte Carlo error of the noise
    term itself.
    """
    n_test = check_int("n_test", n_test)
    total = torch.zeros(len(sigma2s), predictor.members, dtype=torch.float64,
                        device=generator.device)
    done = 0
    while done < n_test:
        b = min(chunk, n_test - done)
        base = task.sample(b, generator, w=w, dtype=dtype)
        state = generator.get_state()
        for k, s2 in enumerate(sigma2s):
            generator.set_state(state)
            noisy = add_label_noise(base, s2, generator)
            versions = [noisy]
            if antithetic:
                versions.append(dataclasses.replace(noisy, y=2 * base.y - noisy.y))
            for labelled in versions:
                prompts = add_input_noise(labelled, input_std, generator)
                err = predictor.predict(prompts) - prompts.y_q
                total[k] += err.double().pow(2).sum(dim=1) / len(versions)
        done += b
    return total / n_test


def sign_correct(predictor: Predictor, prompts: Prompts) -> torch.Tensor:
    """Per-prompt correctness ``[M, B]`` for ±1 labels: 1 if ``y_q g > 0``, ½ if ``g = 0``
    (a fair coin), else 0, with ``g`` the predictor's output."""
    margins = predictor.predict(prompts) * prompts.y_q
    return (margins > 0).to(margins.dtype) + 0.5 * (margins == 0).to(margins.dtype)


@torch.no_grad()
def accuracy_by_pair(
    predictor: Predictor, task: SparseParityTask, generator: torch.Generator, per_pair: int,
    p: float = 0.0, mode: str = "exact",
) -> torch.Tensor:
    """Accuracy ``[M, D]`` of every model on every task pair, ``per_pair`` prompts each.

    A fraction ``p`` of the context labels is flipped (:func:`iclab.tasks.corruptions.flip_labels`);
    all models see the same prompts (a paired comparison across models).
    """
    per_pair = check_int("per_pair", per_pair)
    out = []
    for pair in range(task.n_pairs):
        prompts = flip_labels(task.sample(per_pair, generator, pair=pair), p, generator, mode)
        out.append(sign_correct(predictor, prompts).mean(dim=1))
    return torch.stack(out, dim=1)

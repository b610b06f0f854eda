"""One cell of the noise-sensitivity study: (model, task, noise kind, p, k, seed) → accuracy.

For seed ``s`` the episodes (queries and their demonstrations, :func:`sample_episodes`) come
from a generator seeded by ``(base_seed, task, k, s)`` and the corruption draws from one seeded
by ``(base_seed, task, k, s, noise kind)`` — neither depends on the model or on ``p``. So every
model and every noise level sees the same prompts, and the corrupted demonstrations at a smaller
``p`` are a subset of those at a larger ``p`` (paired design: differences between models and
between levels are not sampling noise of the prompts).

Metrics over the ``n_queries`` queries, with ``S[i, j]`` the score of label ``j`` on query ``i``
(:func:`iclab.llm.scoring.score_label_words`) and ``y_i`` the true class:

* ``accuracy    = mean_i 1[argmax_j S[i, j] = y_i]`` (ties broken towards the lower index);
* ``mean_margin = mean_i (S[i, y_i] − max_{j≠y_i} S[i, j])`` in nats (> 0 means correct).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from iclab.llm.loading import LoadedModel
from iclab.llm.noise import corrupt_demonstrations
from iclab.llm.prompts import encode_prompts
from iclab.llm.scoring import score_label_words
from iclab.llm.tasks import TextTask, sample_episodes
from iclab.seeding import derive_seed, torch_generator


@dataclass(frozen=True)
class PromptSet:
    """Prompts of one cell: ``prompts[i]`` for query ``i`` with true class ``targets[i]``;
    ``n_corrupted`` sums flipped labels / replaced inputs / replaced words over all prompts."""

    prompts: list[str]
    targets: torch.Tensor
    n_corrupted: int


def build_prompts(task: TextTask, noise: str, p: float, k: int, seed: int, n_queries: int,
                  base_seed: int = 0) -> PromptSet:
    """The ``n_queries`` prompts of one cell (seeding rule in the module docstring)."""
    episode_gen = torch_generator(derive_seed(base_seed, "llm.episode", task.name, k, seed))
    noise_gen = torch_generator(derive_seed(base_seed, "llm.noise", task.name, k, seed, noise))
    queries, demos = sample_episodes(task, k, n_queries, episode_gen)
    prompts, total = [], 0
    all_targets = torch.as_tensor(task.targets, dtype=torch.long)
    for q, demo_idx in zip(queries.tolist(), demos, strict=True):
        texts = [task.texts[i] for i in demo_idx.tolist()]
        texts, labels, count = corrupt_demonstrations(texts, all_targets[demo_idx], noise, p,
                                                      task.n_classes, noise_gen)
        total += count
        pairs = [(t, task.labels[y]) for t, y in zip(texts, labels.tolist(), strict=True)]
        prompts.append(task.template.prompt(pairs, task.texts[q]))
    return PromptSet(prompts, all_targets[queries], total)


def classification_metrics(scores: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """``accuracy`` and ``mean_margin`` of ``scores [n, C]`` against ``targets [n]``."""
    correct = scores.gather(1, targets[:, None])[:, 0]
    others = scores.clone()
    others.scatter_(1, targets[:, None], float("-inf"))
    margin = correct - others.max(dim=1).values
    accuracy = (scores.argmax(dim=1) == targets).float().mean()
    return {"accuracy": float(accuracy), "mean_margin": float(margin.mean())}


def evaluate_cell(lm: LoadedModel, task: TextTask, noise: str, p: float, k: int, seed: int,
                  n_queries: int, *, batch_size: int = 8, padding_side: str = "left",
                  base_seed: int = 0) -> dict[str, float]:
    """Score one cell: returns ``accuracy``, ``mean_margin``, ``n_queries``, ``n_corrupted``."""
    prompt_set = build_prompts(task, noise, p, k, seed, n_queries, base_seed)
    prompt_ids, conts = encode_prompts(lm.tokenizer, task.template, prompt_set.prompts,
                                       task.labels)
    pad_id = lm.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = lm.tokenizer.eos_token_id or 0  # masked out; any valid id works
    scores = score_label_words(lm.model, prompt_ids, conts, batch_size=batch_size,
                               padding_side=padding_side, device=lm.device, pad_id=pad_id)
    metrics = classification_metrics(scores, prompt_set.targets)
    return {**metrics, "n_queries": float(len(prompt_set.prompts)),
            "n_corrupted": float(prompt_set.n_corrupted)}

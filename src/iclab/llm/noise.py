"""Text corruptions of the demonstrations (never of the query).

Noise kinds, each at a level ``p ∈ [0, 1]`` (the x-axis of the study's figure):

* ``label``          — exactly ``n = ⌊p·k + ½⌋`` (round half up) of the ``k`` demonstration
  labels are flipped, each to a *different* class drawn uniformly from the other classes.
* ``input_replace``  — exactly ``⌊p·k + ½⌋`` demonstration inputs are replaced by irrelevant
  text of the same word count (words drawn uniformly from :data:`~iclab.llm.tasks.NEUTRAL`);
  their labels are kept.
* ``input_perturb``  — every word of every demonstration input is replaced, independently with
  probability ``q = p``, by a uniformly drawn neutral word.

Which demonstrations are corrupted comes from an explicit ``torch.Generator``. The draws do not
depend on ``p`` (a permutation of the ``k`` positions and one candidate replacement per
position are drawn first, the first ``n`` positions are used), so with the same generator seed
the corrupted set at a smaller ``p`` is a subset of the one at a larger ``p`` (nested noise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from iclab.llm.tasks import NEUTRAL
from iclab.validation import check_choice, check_in_range, check_int

NOISE_KINDS = ("label", "input_replace", "input_perturb")


def n_corrupted(p: float, k: int) -> int:
    """``⌊p·k + ½⌋``: the number of corrupted demonstrations (round half up, not banker's)."""
    check_in_range("p", p, 0.0, 1.0)
    return int(math.floor(p * k + 0.5 + 1e-9))


def flip_labels(labels: torch.Tensor, p: float, n_classes: int, generator: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip exactly :func:`n_corrupted` ``(p, k)`` of ``labels [k]`` to another class.

    Returns ``(noisy labels [k], flipped mask [k] bool)``. A flipped label ``y`` becomes
    ``(y + s) mod C`` with ``s`` uniform on ``{1, …, C-1}`` — uniform over the other classes.
    """
    n_classes = check_int("n_classes", n_classes, minimum=2)
    k = labels.shape[0]
    order = torch.randperm(k, generator=generator)
    shift = torch.randint(1, n_classes, (k,), generator=generator)
    mask = torch.zeros(k, dtype=torch.bool)
    mask[order[:n_corrupted(p, k)]] = True
    noisy = torch.where(mask, (labels + shift) % n_classes, labels)
    return noisy, mask


def irrelevant_text(n_words: int, generator: torch.Generator,
                    vocabulary: Sequence[str] = NEUTRAL) -> str:
    """``n_words`` words drawn uniformly (with replacement) from ``vocabulary``."""
    idx = torch.randint(len(vocabulary), (max(1, n_words),), generator=generator)
    return " ".join(vocabulary[i] for i in idx.tolist())


def replace_inputs(texts: Sequence[str], p: float, generator: torch.Generator,
                   vocabulary: Sequence[str] = NEUTRAL) -> tuple[list[str], torch.Tensor]:
    """Replace exactly :func:`n_corrupted` ``(p, k)`` of ``texts`` by same-length irrelevant
    text. Returns ``(new texts, replaced mask [k] bool)``."""
    k = len(texts)
    order = torch.randperm(k, generator=generator)
    candidates = [irrelevant_text(len(t.split()), generator, vocabulary) for t in texts]
    mask = torch.zeros(k, dtype=torch.bool)
    mask[order[:n_corrupted(p, k)]] = True
    return [c if m else t for t, c, m in zip(texts, candidates, mask.tolist(), strict=True)], mask


def perturb_words(texts: Sequence[str], q: float, generator: torch.Generator,
                  vocabulary: Sequence[str] = NEUTRAL) -> tuple[list[str], int]:
    """Replace each whitespace-separated word with probability ``q`` by a uniform draw from
    ``vocabulary``. Returns ``(new texts, number of words replaced)``."""
    check_in_range("q", q, 0.0, 1.0)
    out, n_replaced = [], 0
    for text in texts:
        words = text.split()
        u = torch.rand(len(words), generator=generator)
        repl = torch.randint(len(vocabulary), (len(words),), generator=generator)
        hit = (u < q).tolist()
        n_replaced += sum(hit)
        out.append(" ".join(vocabulary[r] if h else w
                            for w, h, r in zip(words, hit, repl.tolist(), strict=True)))
    return out, n_replaced


def corrupt_demonstrations(texts: Sequence[str], labels: torch.Tensor, kind: str, p: float,
                           n_classes: int, generator: torch.Generator
                           ) -> tuple[list[str], torch.Tensor, int]:
    """Apply noise ``kind`` at level ``p`` to demonstrations ``(texts [k], labels [k])``.

    Returns ``(texts, labels, n_corrupted_units)`` where the count is flipped labels, replaced
    inputs, or replaced words, for ``label`` / ``input_replace`` / ``input_perturb``.
    """
    check_choice("noise", kind, NOISE_KINDS)
    check_in_range("p", p, 0.0, 1.0)
    if kind == "label":
        noisy, mask = flip_labels(labels, p, n_classes, generator)
        return list(texts), noisy, int(mask.sum())
    if kind == "input_replace":
        new, mask = replace_inputs(texts, p, generator)
        return new, labels.clone(), int(mask.sum())
    new, count = perturb_words(texts, p, generator)
    return new, labels.clone(), count

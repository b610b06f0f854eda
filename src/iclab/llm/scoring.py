"""Label-word scoring by log-likelihood, batched with padding handled exactly.

For prompt ids ``x_1..x_c`` and the continuation ids ``c_1..c_m`` of a label word, the score is
``Σ_j log softmax(f(x, c_<j))[c_j]`` (rule in :mod:`iclab.llm.prompts`). Sequences of different
lengths are padded into a batch ``[B, T]``:

* left padding: sequence ``b`` of length ``L_b`` occupies columns ``T-L_b .. T-1``;
* right padding: columns ``0 .. L_b-1``;

with ``attention_mask`` 1 on real tokens and ``position_ids = cumsum(mask) - 1`` (clamped at 0
on pads), so every real token sees exactly the positions and keys it would see unbatched —
batched scores equal unbatched ones up to floating-point reduction order (tested in fp32).
Log-softmax is taken in float32 whatever the model dtype. With left padding, and a model whose
``forward`` accepts ``logits_to_keep`` (transformers >= 4.50), only the last few positions'
logits are materialised — important for 100k+ vocabularies.

When every label continuation is a single token, one forward pass per prompt scores all labels
(read at the prompt's last position); otherwise each (prompt, label) pair is its own sequence.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch

from iclab.validation import check_choice, check_int


def _supports_logits_to_keep(model: Any) -> bool:
    try:
        return "logits_to_keep" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - exotic wrappers
        return False


def pad_batch(seqs: Sequence[Sequence[int]], padding_side: str, pad_id: int = 0
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """Pad ``seqs`` → ``(input_ids [B,T], attention_mask [B,T], position_ids [B,T], offsets)``,
    where ``offsets[b]`` is the column of sequence ``b``'s first token."""
    check_choice("padding_side", padding_side, ["left", "right"])
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), int(pad_id), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    offsets = []
    for b, seq in enumerate(seqs):
        start = width - len(seq) if padding_side == "left" else 0
        ids[b, start:start + len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[b, start:start + len(seq)] = 1
        offsets.append(start)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions, offsets


@torch.inference_mode()
def gather_logprobs(model: Any, seqs: Sequence[Sequence[int]],
                    reads: Sequence[tuple[Sequence[int], Sequence[int]]], *,
                    device: torch.device | str = "cpu", padding_side: str = "left",
                    pad_id: int = 0) -> list[torch.Tensor]:
    """One forward pass over ``seqs``; for each sequence ``b`` with ``reads[b] = (positions,
    targets)`` return ``log p(targets[j] | seq[:positions[j]+1])`` as a float32 CPU tensor.

    Shapes: ``seqs`` B lists of ids; ``positions``/``targets`` equal-length lists per sequence.
    """
    ids, mask, positions, offsets = pad_batch(seqs, padding_side, pad_id)
    width = ids.shape[1]
    kwargs: dict[str, Any] = {}
    first_col = 0
    if padding_side == "left" and _supports_logits_to_keep(model):
        keep = max(len(s) - min(p) for s, (p, _) in zip(seqs, reads, strict=True))
        kwargs["logits_to_keep"] = keep
        first_col = width - keep
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                position_ids=positions.to(device), use_cache=False, **kwargs)
    logits = out.logits[:, -(width - first_col):] if first_col else out.logits
    results = []
    for b, (pos, tgt) in enumerate(reads):
        cols = torch.as_tensor([offsets[b] + p - first_col for p in pos], device=logits.device)
        logp = torch.log_softmax(logits[b, cols].float(), dim=-1)
        idx = torch.as_tensor(list(tgt), device=logits.device)
        results.append(logp.gather(-1, idx[:, None])[:, 0].cpu())
    return results


def score_label_words(model: Any, prompt_ids: Sequence[Sequence[int]],
                      continuations: Sequence[Sequence[int]], *, batch_size: int = 8,
                      padding_side: str = "left", device: torch.device | str = "cpu",
                      pad_id: int = 0) -> torch.Tensor:
    """Scores ``[n_prompts, n_labels]`` (float32, CPU): log-likelihood of each label's full
    continuation ids after each prompt (see module docstring)."""
    batch_size = check_int("batch_size", batch_size, minimum=1)
    check_choice("padding_side", padding_side, ["left", "right"])
    n, n_labels = len(prompt_ids), len(continuations)
    scores = torch.empty(n, n_labels, dtype=torch.float32)
    single = all(len(c) == 1 for c in continuations)
    if single:
        targets = [c[0] for c in continuations]
        items = [(i, None, list(p), ([len(p) - 1] * n_labels, targets))
                 for i, p in enumerate(prompt_ids)]
    else:
        items = [(i, j, list(p) + list(c), (list(range(len(p) - 1, len(p) + len(c) - 1)),
                                            list(c)))
                 for i, p in enumerate(prompt_ids) for j, c in enumerate(continuations)]
    # Longest first: batches of similar length waste less padding (results do not depend on it).
    items.sort(key=lambda it: -len(it[2]))
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        logps = gather_logprobs(model, [it[2] for it in chunk], [it[3] for it in chunk],
                                device=device, padding_side=padding_side, pad_id=pad_id)
        for (i, j, _, _), lp in zip(chunk, logps, strict=True):
            if single:
                scores[i] = lp
            else:
                scores[i, j] = lp.sum()
    return scores

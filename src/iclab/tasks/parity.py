"""Sparse 2-parity in context with important and less-important coordinates (**ours**).

This is the toolkit's own construction (docs/shi2024.md, "Sparse parity"), chosen to
realise the description of Shi, Wei, Xu & Liang 2024 ("random pick 2 dimensions as XOR
input", "important and less-important feature dimensions"). It is **not** the paper's data
distribution, which the paper does not fully specify (our choice; see docs/shi2024.md,
"Modelling choices").

* Inputs ``x ∈ {±1}^d`` uniform; hidden features ``φ(x) = (x_a x_b)_{a<b} ∈ {±1}^D``,
  ``D = d(d-1)/2`` (pairs in lexicographic order, see :func:`pair_list`).
* A task is a pair ``(a, b)``: with probability ``p_imp`` uniform over the pairs inside the
  important block ``{1..d_imp}``, otherwise uniform over the other pairs.
* Labels ``y = x_a x_b``. Pretraining flips each *context* label independently with
  probability ``p_train`` (the query label is never flipped: our choice).
* ``Prompts.w`` holds the task as the indicator ``e_a + e_b`` ``[B, d]``;
  :func:`pair_ids` turns it back into pair indices.
"""

from __future__ import annotations

import dataclasses

import torch

from iclab.errors import ParameterError
from iclab.tasks.prompts import Prompts
from iclab.validation import check_in_range, check_int


def pair_list(d: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """All pairs ``(a, b)``, ``a < b``, 0-based, lexicographic: ``[D, 2]`` (long)."""
    d = check_int("d", d, minimum=2)
    return torch.triu_indices(d, d, offset=1, device=device).T.contiguous()


def pair_features(x: torch.Tensor) -> torch.Tensor:
    """``φ(x) = (x_a x_b)_{a<b}``: ``[..., d]`` -> ``[..., D]`` (order of :func:`pair_list`)."""
    pairs = pair_list(x.shape[-1], x.device)
    return x[..., pairs[:, 0]] * x[..., pairs[:, 1]]


def pair_ids(w: torch.Tensor) -> torch.Tensor:
    """Pair index ``[B]`` of tasks given as indicators ``w = e_a + e_b`` ``[B, d]``."""
    d = w.shape[-1]
    idx = torch.topk(w, 2, dim=-1).indices.sort(dim=-1).values
    a, b = idx[..., 0], idx[..., 1]
    return a * d - a * (a + 1) // 2 + (b - a - 1)


@dataclasses.dataclass(frozen=True)
class SparseParityTask:
    """In-context 2-parity over pairs of coordinates (the toolkit's construction, not the paper's).

    Attributes:
        d: input dimension (``D = d(d-1)/2`` pairs).
        d_imp: size of the important block (its ``d_imp(d_imp-1)/2`` pairs are important).
        p_imp: probability that a task is an important pair.
        n: context length ``N``.
        p_train: probability of flipping each context label in pretraining.
    """

    d: int
    d_imp: int
    p_imp: float
    n: int
    p_train: float = 0.0

    def __post_init__(self) -> None:
        check_int("d", self.d, minimum=3)
        check_int("d_imp", self.d_imp, minimum=2, maximum=self.d - 1)
        check_in_range("p_imp", self.p_imp, 0.0, 1.0)
        check_int("n", self.n)
        check_in_range("p_train", self.p_train, 0.0, 0.5, high_open=True)

    @property
    def n_pairs(self) -> int:
        return self.d * (self.d - 1) // 2

    def important(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Boolean ``[D]``: the pair lies inside the important block."""
        return pair_list(self.d, device)[:, 1] < self.d_imp

    def pair_probabilities(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Task distribution over pairs ``[D]`` (float64, sums to 1)."""
        imp = self.important(device)
        n_imp = int(imp.sum())
        probs = torch.where(imp, self.p_imp / n_imp, (1 - self.p_imp) / (self.n_pairs - n_imp))
        return probs.to(torch.float64)

    def sample(
        self, batch: int, generator: torch.Generator, device: torch.device | str | None = None,
        pair: int | torch.Tensor | None = None, dtype: torch.dtype = torch.float32,
    ) -> Prompts:
        """Draw ``batch`` prompts; ``pair`` fixes the task (an index ``< D`` or ``[batch]``).

        Returns :class:`Prompts` with ``X [B, n, d]`` and ``x_q [B, d]`` in ``{±1}``,
        ``y [B, n]``, ``y_q [B]`` in ``{±1}``, ``w [B, d]`` the task indicator.
        """
        batch = check_int("batch", batch)
        dev = generator.device if device is None else torch.device(device)
        pairs = pair_list(self.d, dev)
        if pair is None:
            ids = torch.multinomial(self.pair_probabilities(dev), batch, replacement=True,
                                    generator=generator)
        else:
            ids = torch.as_tensor(pair, device=dev).expand(batch)
            if int(ids.min()) < 0 or int(ids.max()) >= self.n_pairs:
                raise ParameterError("pair", pair, f"an index in [0, {self.n_pairs - 1}]")
        bits = torch.randint(0, 2, (batch, self.n + 1, self.d), generator=generator, device=dev)
        x = (2 * bits - 1).to(dtype)
        ab = pairs[ids]                                                  # [B, 2]
        rows = torch.arange(batch, device=dev)
        labels = x[rows, :, ab[:, 0]] * x[rows, :, ab[:, 1]]             # [B, n+1]
        y = labels[:, : self.n]
        if self.p_train > 0:
            flip = torch.rand(batch, self.n, generator=generator, device=dev) < self.p_train
            y = torch.where(flip, -y, y)
        w = torch.zeros(batch, self.d, dtype=dtype, device=dev)
        w.scatter_(1, ab, 1.0)
        return Prompts(X=x[:, : self.n], y=y, x_q=x[:, self.n], y_q=labels[:, self.n], w=w)

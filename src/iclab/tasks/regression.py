r"""In-context linear regression with a finite or infinite pool of tasks (Lu et al. 2024).

Data model (Lu et al. 2024; docs/theory.md, "Data model"):

* tokens :math:`x_i \sim \mathcal N(0, I_d/d)` for :math:`i = 1..\ell+1`;
* labels :math:`y_i = x_i^\top w + \epsilon_i`, :math:`\epsilon_i \sim \mathcal N(0, \rho)`;
* pretraining: a fixed pool of :math:`k` task vectors; each context uses one of them;
* ICL test: a fresh task; IDG test: a task drawn uniformly from the pool;
* :math:`\kappa=\infty` (``k=None``): every pretraining context has its own fresh task.

Task normalisation (the toolkit's choice: the paper does not fix it; see docs/lu2024.md,
"Modelling choices"), ``task_norm``:

* ``"sphere"`` — each task is :math:`\sqrt d\, g/\|g\|` with :math:`g\sim\mathcal N(0,I_d)`,
  i.e. uniform on the sphere of radius :math:`\sqrt d` (the authors' linear-attention
  simulations, ``errors_from_DATA``). Fresh ICL test tasks are then drawn the same way,
  which is what the authors' exact error (``R = I, mu = 0``) evaluates.
* ``"gaussian"`` — raw :math:`w\sim\mathcal N(0, I_d)` (the authors' dMMSE and Transformer
  code), for the pool and for fresh tasks.

Balanced usage (``balanced=True``, the authors' linear simulations): with :math:`n` a
multiple of :math:`k` each task is used exactly :math:`n/k` times; otherwise the remainder
goes to distinct tasks chosen at random. ``balanced=False`` draws each context's task
uniformly (multinomial counts). :func:`balanced_context_count` rounds :math:`n` to
:math:`k\cdot\mathrm{round}(n/k)` as the authors do.

Everything is drawn on the generator's device with the given ``torch.Generator``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch

from iclab.seeding import standard_normal
from iclab.tasks.prompts import Prompts
from iclab.validation import check_choice, check_int, check_nonnegative

TaskNorm = Literal["sphere", "gaussian"]
TASK_NORMS: tuple[str, ...] = ("sphere", "gaussian")
TEST_KINDS: tuple[str, ...] = ("icl", "idg")


def _device(generator: torch.Generator) -> torch.device:
    return torch.device(generator.device)


def draw_tasks(
    count: int, d: int, task_norm: TaskNorm, generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    r"""``count`` i.i.d. task vectors, shape ``[count, d]``: :math:`\mathcal N(0, I_d)`
    (``"gaussian"``) or uniform on the sphere of radius :math:`\sqrt d` (``"sphere"``)."""
    check_int("count", count, minimum=0)
    check_int("d", d)
    check_choice("task_norm", task_norm, TASK_NORMS)
    w = torch.randn(count, d, generator=generator, device=_device(generator), dtype=dtype)
    if task_norm == "sphere":
        w = w * (d**0.5 / torch.linalg.vector_norm(w, dim=-1, keepdim=True))
    return w


def balanced_context_count(n: int, k: int) -> int:
    r""":math:`k\cdot\mathrm{round}(n/k)` (at least :math:`k`): the authors' choice of
    :math:`n` so that every pretraining task is used equally often (as in the
    authors' linear simulations)."""
    check_int("n", n)
    check_int("k", k)
    return k * max(1, round(n / k))


def assign_tasks(n: int, k: int, balanced: bool, generator: torch.Generator) -> torch.Tensor:
    """Pool index of each of ``n`` contexts, shape ``[n]`` (int64, on the generator's device).

    Balanced: every task ``n // k`` times, the remaining ``n % k`` contexts to distinct
    random tasks; contexts in random order. Otherwise uniform i.i.d. draws.
    """
    check_int("n", n)
    check_int("k", k)
    dev = _device(generator)
    if not balanced:
        return torch.randint(k, (n,), generator=generator, device=dev)
    base = torch.arange(k, device=dev).repeat(n // k)
    extra = torch.randperm(k, generator=generator, device=dev)[: n % k]
    idx = torch.cat([base, extra])
    return idx[torch.randperm(n, generator=generator, device=dev)]


def sample_prompts(
    tasks: torch.Tensor, context_len: int, rho: float, generator: torch.Generator
) -> Prompts:
    r"""Token-level prompts for given task vectors (the reference construction of docs/theory.md,
    "Data model").

    Args:
        tasks: ``[B, d]`` task vector of each prompt (on the generator's device).
        context_len: :math:`\ell`, labelled examples per prompt.
        rho: label-noise variance :math:`\rho \ge 0`.
        generator: source of randomness.

    Returns:
        ``Prompts(X [B, l, d], y [B, l], x_q [B, d], y_q [B], w [B, d])`` with
        :math:`x\sim\mathcal N(0, I/d)` and :math:`y = x^\top w + \mathcal N(0,\rho)`.
    """
    check_int("context_len", context_len)
    check_nonnegative("rho", rho)
    batch, d = tasks.shape
    dev, dtype = tasks.device, tasks.dtype
    x_all = standard_normal((batch, context_len + 1, d), generator, dev, dtype) / d**0.5
    noise = standard_normal((batch, context_len + 1), generator, dev, dtype) * rho**0.5
    y_all = torch.einsum("bld,bd->bl", x_all, tasks) + noise
    return Prompts(X=x_all[:, :-1], y=y_all[:, :-1], x_q=x_all[:, -1], y_q=y_all[:, -1],
                   w=tasks)


@dataclasses.dataclass(frozen=True)
class InContextRegression:
    r"""The in-context regression task family of Lu et al. 2024 (docs/theory.md, "Data model").

    Attributes:
        d: token dimension.
        context_len: :math:`\ell = \alpha d`.
        rho: label-noise variance.
        k: size of the pretraining task pool; ``None`` = infinite diversity (fresh task
            per pretraining context, :math:`\kappa = \infty`).
        task_norm: ``"sphere"`` (norm :math:`\sqrt d`) or ``"gaussian"`` (see module doc).
        balanced: use every pool task equally often in pretraining.
    """

    d: int
    context_len: int
    rho: float
    k: int | None = None
    task_norm: TaskNorm = "sphere"
    balanced: bool = True

    def __post_init__(self) -> None:
        check_int("d", self.d)
        check_int("context_len", self.context_len)
        check_nonnegative("rho", self.rho)
        if self.k is not None:
            check_int("k", self.k)
        check_choice("task_norm", self.task_norm, TASK_NORMS)

    def draw_pool(self, generator: torch.Generator) -> torch.Tensor | None:
        """The pretraining pool ``[k, d]``, or ``None`` at infinite diversity."""
        if self.k is None:
            return None
        return draw_tasks(self.k, self.d, self.task_norm, generator)

    def pretraining_tasks(
        self, n: int, pool: torch.Tensor | None, generator: torch.Generator
    ) -> torch.Tensor:
        """Task vector of each of ``n`` pretraining contexts, ``[n, d]``."""
        if pool is None:
            return draw_tasks(n, self.d, self.task_norm, generator)
        return pool[assign_tasks(n, pool.shape[0], self.balanced, generator)]

    def test_tasks(
        self, kind: str, batch: int, pool: torch.Tensor | None, generator: torch.Generator
    ) -> torch.Tensor:
        """Test task vectors ``[batch, d]``: ``"icl"`` fresh, ``"idg"`` uniform from the pool
        (at infinite diversity IDG and ICL coincide: a fresh task)."""
        check_choice("kind", kind, TEST_KINDS)
        if kind == "icl" or pool is None:
            return draw_tasks(batch, self.d, self.task_norm, generator)
        idx = torch.randint(pool.shape[0], (batch,), generator=generator, device=pool.device)
        return pool[idx]

    def sample(
        self, batch: int, generator: torch.Generator, kind: str = "icl",
        pool: torch.Tensor | None = None,
    ) -> Prompts:
        """``batch`` token-level prompts whose tasks follow ``kind`` (``"icl"``, ``"idg"``,
        or ``"pretrain"`` = the pretraining distribution over ``pool``)."""
        check_int("batch", batch)
        if kind == "pretrain":
            tasks = self.pretraining_tasks(batch, pool, generator)
        else:
            tasks = self.test_tasks(kind, batch, pool, generator)
        return sample_prompts(tasks, self.context_len, self.rho, generator)

"""The experiment contract: a declarative grid, a per-point computation, theory, a figure.

This module is the only thing the engine knows about experiments: the engine imports it and
nothing from :mod:`iclab.experiments`. An experiment is a subclass of
``Experiment[MySettings]`` registered with
:func:`iclab.experiments.registry.register`. The engine calls, in order:

1. ``settings = exp.make_settings(variant, overrides)`` — validated pydantic settings;
2. ``exp.points(settings)`` — the grid, a list of JSON-serialisable dicts whose keys are
   the papers' symbols (``d``, ``alpha``, ``kappa``, ``tau``, ``rho``, ``lam`` …);
3. ``exp.run_point(settings, point, trial, ctx)`` for every point and
   ``trial in range(exp.trials(settings, point))`` — returns rows (dicts of metrics,
   e.g. ``{"method": "linear_attention", "e_icl": 0.81}``). The engine adds the point's
   keys and ``trial`` to each row unless the row sets them (a point that trains an
   ensemble of seeds in one tensor program may return one row per seed with its own
   ``trial``/``seed`` column);
4. ``exp.theory(settings)`` — a DataFrame of theory curves on the same axes (or ``None``);
5. ``exp.plot(settings, results, theory)`` — a matplotlib ``Figure``;
6. ``exp.claims`` — the :class:`~iclab.claims.Claim` s the figure tests, each checked over
   the results and theory by ``iclab check`` (see :mod:`iclab.claims`).

Randomness must come only from ``ctx.seed`` (via ``ctx.generator()`` / ``ctx.rng()``),
so a point's result is the same in any executor and in any order.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, TypeVar, cast

import numpy as np
import pandas as pd
import pydantic
import torch

from iclab.claims import Claim
from iclab.errors import ParameterError
from iclab.seeding import numpy_rng, torch_generator


class ExperimentSettings(pydantic.BaseModel):
    """Base class of an experiment's settings: frozen, unknown keys are an error."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    seed: int = pydantic.Field(0, description="experiment seed; every point derives its own")


@dataclasses.dataclass(frozen=True)
class RunContext:
    """What a point's computation may use besides its parameters.

    Attributes:
        seed: the point's seed, derived from (experiment seed, name, point, trial).
        device: where tensors should live.
    """

    seed: int
    device: torch.device

    def generator(self, offset: int = 0) -> torch.Generator:
        """A torch generator on ``self.device`` seeded with ``seed + offset``."""
        return torch_generator(self.seed + offset, self.device)

    def cpu_generator(self, offset: int = 0) -> torch.Generator:
        """A CPU torch generator (for samplers that draw on the host)."""
        return torch_generator(self.seed + offset, "cpu")

    def rng(self, offset: int = 0) -> np.random.Generator:
        """A NumPy generator seeded with ``seed + offset``."""
        return numpy_rng(self.seed + offset)


Row = dict[str, Any]


def allowed_from_pydantic(err: Any) -> str:
    """What is allowed, in words, from one pydantic error (``must be <this>``).

    >>> allowed_from_pydantic({"type": "greater_than_equal", "msg": "x", "ctx": {"ge": 1}})
    'a number >= 1'
    """
    ctx = err.get("ctx") or {}
    kind = err.get("type", "")
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}
    if kind in bounds:
        key = {">": "gt", ">=": "ge", "<": "lt", "<=": "le"}[bounds[kind]]
        return f"a number {bounds[kind]} {ctx.get(key)}"
    if kind == "too_short":
        return f"a list of at least {ctx.get('min_length', 1)} item(s)"
    if kind == "too_long":
        return f"a list of at most {ctx.get('max_length')} item(s)"
    msg = str(err.get("msg", "valid"))
    for prefix in ("Input should be ", "Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg[:1].lower() + msg[1:]


S = TypeVar("S", bound=ExperimentSettings)

#: The columns of every theory-vs-experiment deviation table (:meth:`Experiment.deviations`).
DEVIATION_COLUMNS: tuple[str, ...] = ("curve", "metric", "n_points", "max_abs_dev",
                                      "max_rel_dev")


class Experiment(ABC, Generic[S]):
    """Base class of a registered experiment (one paper figure, or one study).

    Class attributes to set in a subclass:
        name: registry name, ``"<paper>.<figure>"`` e.g. ``"lu2024.fig1"``.
        title: one line shown by ``iclab list``.
        paper: citation shown by ``iclab show`` and the report (authors, year, arXiv id).
        Settings: the pydantic settings class (subclass of :class:`ExperimentSettings`); the
            class is generic in it, ``class Fig(Experiment[FigSettings])``, so every method
            receives the experiment's own settings type.
        variants: ``{"quick": {...}, "full": {...}, "paper": {...}}`` — overrides of the
            settings' defaults. ``paper`` holds the authors' settings where they are known.
        variant_notes: ``{variant: one line}``: for ``paper`` (and ``paper_*``, the authors'
            other runs), where its settings come from and what is not known; for every other
            variant, how it differs from ``paper`` and why (shown by ``iclab show``,
            ``iclab check`` and the report).
        version: bump when ``run_point`` changes its results, so stored rows are recomputed.
        needs_gpu_for_full: informational flag shown by ``iclab list``.
        in_demo: whether ``make demo`` runs the quick variant (False for studies that need
            user-provided resources, e.g. local LLM checkpoints).
        claims: the claims the experiment tests (at least one; see :mod:`iclab.claims`).
            Each names the variants in which it is expected to hold; its threshold is fixed
            here, in code; a change to it needs an entry in the claims ledger
            (:mod:`iclab.claims_ledger`).
        no_claims: why an experiment with no claims states none (e.g. a theory-only figure,
            whose correctness is a software test, not a claim about the world); required when
            ``claims`` is empty, shown by ``iclab check``.
        unclaimed_variants: ``{variant: why}`` for variants in which an experiment with
            claims states none (its claims are stated for larger variants, e.g. a quick
            variant whose seeds cannot decide them); shown by ``iclab check``. An experiment
            with claims has a quick claim or says here why not.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    paper: ClassVar[str]
    Settings: type[S]
    variants: ClassVar[dict[str, dict[str, Any]]] = {"quick": {}, "full": {}}
    variant_notes: ClassVar[dict[str, str]] = {}
    version: ClassVar[str] = "1"
    needs_gpu_for_full: ClassVar[bool] = False
    in_demo: ClassVar[bool] = True
    claims: ClassVar[tuple[Claim, ...]] = ()
    no_claims: ClassVar[str] = ""
    unclaimed_variants: ClassVar[dict[str, str]] = {}
    #: Overrides of the quick variant that make it run in seconds: the contract tests run
    #: this configuration to show every claim's check can fail (for experiments whose quick
    #: variant is too long for the test suite).
    smoke_overrides: ClassVar[dict[str, Any]] = {}

    # ---- settings ---------------------------------------------------------------------------
    def make_settings(
        self, variant: str = "quick", overrides: dict[str, Any] | None = None
    ) -> S:
        """Validated settings for ``variant`` with ``overrides`` applied on top.

        Raises :class:`ParameterError` naming the offending key on unknown keys or bad values.
        """
        if variant not in self.variants:
            raise ParameterError("variant", variant, "one of " + ", ".join(self.variants))
        values = {**self.variants[variant], **(overrides or {})}
        allowed = sorted(self.Settings.model_fields)
        for key in values:
            if key not in self.Settings.model_fields:
                raise ParameterError(key, values[key], f"a known setting ({', '.join(allowed)})")
        try:
            return cast(S, self.Settings(**values))
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            loc = [str(p) for p in err["loc"]]
            key = loc[0] if loc else "settings"
            if len(loc) > 1 and loc[1].isdigit():  # an element of a grid: name the grid
                key = f"{loc[0]}[{loc[1]}]"
            raise ParameterError(key, err.get("input"), allowed_from_pydantic(err)) from None

    def variant_line(self, variant: str) -> str:
        """One labelled line on ``variant``: how it differs from ``paper`` and why (for
        ``paper``: where its settings come from); empty when the experiment gives none."""
        note = self.variant_notes.get(variant, "")
        if not note:
            return ""
        label = ("the paper's settings" if variant.startswith("paper")
                 else "against the paper's settings")
        return f"{variant} variant, {label}: {note}"

    # ---- the grid ---------------------------------------------------------------------------
    @abstractmethod
    def points(self, settings: S) -> list[dict[str, Any]]:
        """The parameter grid: JSON-serialisable dicts keyed by the papers' symbols."""

    def trials(self, settings: S, point: dict[str, Any]) -> int:
        """Number of independent trials at ``point`` (default: ``settings.trials`` or 1)."""
        return int(getattr(settings, "trials", 1))

    @abstractmethod
    def run_point(
        self, settings: S, point: dict[str, Any], trial: int, ctx: RunContext
    ) -> list[Row]:
        """Compute the rows of one (point, trial). Must be deterministic given ``ctx.seed``."""

    # ---- theory and figure ------------------------------------------------------------------
    def theory(self, settings: S) -> pd.DataFrame | None:
        """Theory curves on the same axes as the results, or ``None`` if there is no theory."""
        return None

    @abstractmethod
    def plot(
        self, settings: S, results: pd.DataFrame, theory: pd.DataFrame | None
    ) -> Any:
        """Draw the figure; returns a ``matplotlib.figure.Figure``."""

    def unit_cost(self, settings: S, point: dict[str, Any]) -> float:
        """Expected relative cost of one unit at ``point`` (default 1).

        Weights the progress bar's time-left estimate and, with several workers, orders the
        units (longest first, so that the workers finish together); override where units
        differ a lot (e.g. the work of a closed-form fit grows with n = τd²).
        """
        return 1.0

    def deviations(
        self, settings: S, results: pd.DataFrame, theory: pd.DataFrame | None
    ) -> pd.DataFrame | None:
        """Theory-vs-experiment deviation per curve (for the report), or ``None``.

        Columns: exactly :data:`DEVIATION_COLUMNS` (``curve``, ``metric``, ``n_points``,
        ``max_abs_dev``, ``max_rel_dev``); build it with
        :func:`iclab.evaluate.deviation.deviation_table` or
        :func:`iclab.evaluate.deviation.deviation_frame`, which enforce them.
        """
        return None

"""``llm.noise_sensitivity``: in-context noise sensitivity of real language models.

Shi, Wei, Xu, Liang, "Why Larger Language Models Do In-context Learning Differently?"
(ICML 2024, arXiv 2405.19592) report that larger models do better on clean demonstrations but
are hurt more by noisy ones. This study measures it on the user's own local checkpoints:
models × noise kind × p × k × seeds, accuracy and mean margin of label-word log-likelihood
classification (:mod:`iclab.llm`). It needs user checkpoints, so it is not part of ``make demo``.

    iclab llm run --model ~/models/Llama-2-7b-hf --model ~/models/Llama-2-13b-hf \\
        --task sentiment --p 0,0.25,0.5 --k 8,16 --seeds 3 --device cuda --dtype bfloat16

Row columns: model (path as given), name, size, n_params, kind (base/chat), task, n_classes,
noise, p, k, seed, accuracy, mean_margin, n_queries, n_corrupted.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import pandas as pd
import pydantic

from iclab.claims import (
    Claim,
    ClaimData,
    Evidence,
    all_of,
    compare_interval,
    fraction_of_gain_lost,
)
from iclab.contract import Experiment, ExperimentSettings, Row, RunContext
from iclab.devices import resolve_device
from iclab.errors import ParameterError
from iclab.experiments.registry import register
from iclab.validation import (
    NonEmptyList,
    NonNegativeInt,
    PositiveInt,
    UnitFloat,
    check_choice,
    check_in_range,
    check_int,
)

_CHAT_PATTERN = re.compile(r"chat|instruct|(^|[-_.])(it|sft|rlhf|dpo)($|[-_.])", re.IGNORECASE)


def guess_kind(path: str) -> str:
    """``"chat"`` if the checkpoint's folder name contains ``chat`` or ``instruct``, or has
    ``it``/``sft``/``rlhf``/``dpo`` as a ``-``/``_``/``.``-separated part; else ``"base"``
    (pass ``kind`` explicitly to override)."""
    return "chat" if _CHAT_PATTERN.search(Path(path).name or path) else "base"


class ModelSpec(pydantic.BaseModel):
    """One checkpoint: local path (or cached hub name), optional display size and kind."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    path: str
    size: str | None = None
    kind: Literal["base", "chat"] | None = None


class NoiseSensitivitySettings(ExperimentSettings):
    """Settings of ``llm.noise_sensitivity`` (``models`` may be given as plain path strings)."""

    models: list[ModelSpec] = pydantic.Field([],
        description="local checkpoints (paths, or {path, size, kind}); nothing is downloaded")
    task: str = pydantic.Field("sentiment",
        description="built-in task name (used when data is not given)")
    data: str | None = pydantic.Field(None,
        description=("your own labelled texts: a .jsonl/.json/.csv/.tsv file or a saved "
                     "dataset (replaces task)"))
    text_column: str = pydantic.Field("text", description="column of the texts in data")
    label_column: str = pydantic.Field("label", description="column of the labels in data")
    labels: list[str] | None = pydantic.Field(None,
        description="label words, in class order (default: from data)")
    template: str | None = pydantic.Field(None,
        description="prompt template (default: the task's own)")
    noise: list[str] = pydantic.Field(["label"],
        description="kinds of noise in the demonstrations: label, input_replace, input_perturb")
    p: NonEmptyList[UnitFloat] = pydantic.Field([0.0, 0.25, 0.5],
        description="noise levels in [0, 1] (the x-axis)")
    k: NonEmptyList[NonNegativeInt] = pydantic.Field([8],
        description="numbers of demonstrations per prompt")
    seeds: PositiveInt = pydantic.Field(3,
        description="independent draws of queries and demonstrations")
    n_queries: PositiveInt = pydantic.Field(32, description="test queries per (noise, k, p, seed)")
    device: str = pydantic.Field("cpu", description="cpu or cuda[:N]")
    dtype: str = pydantic.Field("float32", description="float32, float16 or bfloat16")
    batch_size: PositiveInt = pydantic.Field(8, description="prompts per forward pass")
    padding_side: Literal["left", "right"] = pydantic.Field("left",
        description="left (default) or right padding of batched prompts")

    @pydantic.field_validator("models", mode="before")
    @classmethod
    def _paths_to_specs(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        return [{"path": v} if isinstance(v, str) else v for v in value]


@functools.lru_cache(maxsize=4)
def _task_cached(task: str, data: str | None, text_column: str, label_column: str,
                 labels: tuple[str, ...] | None, template: str | None) -> Any:
    from iclab.llm.datasets import load_text_dataset
    from iclab.llm.prompts import Template
    from iclab.llm.tasks import builtin_task

    if data is None:
        base = builtin_task(task)
        if template is None:
            return base
        return type(base)(base.name, base.description, Template(template), base.labels,
                          base.texts, base.targets)
    return load_text_dataset(data, text_column, label_column, labels,
                             Template(template) if template else None)


def settings_task(s: NoiseSensitivitySettings) -> Any:
    """The :class:`~iclab.llm.tasks.TextTask` the settings describe (built-in or file)."""
    return _task_cached(s.task, s.data, s.text_column, s.label_column,
                        tuple(s.labels) if s.labels else None, s.template)


def validate_settings(s: NoiseSensitivitySettings) -> None:
    """Everything that can be checked before a model is run (paths, grid, dtype on device,
    dataset columns, label words against each model's tokenizer); raises one-line errors, so a
    bad sweep fails before anything is written to the store."""
    from iclab.llm.loading import load_tokenizer, resolve_dtype, resolve_model_source
    from iclab.llm.noise import NOISE_KINDS
    from iclab.llm.prompts import label_continuations

    if not s.models:
        raise ParameterError("models", [], "at least one local checkpoint (--model PATH)")
    paths = [m.path for m in s.models]
    if len(set(paths)) != len(paths):
        raise ParameterError("models", paths, "distinct paths")
    for m in s.models:
        resolve_model_source(m.path)
    for kind in s.noise:
        check_choice("noise", kind, NOISE_KINDS)
    for p in s.p:
        check_in_range("p", p, 0.0, 1.0)
    check_int("seeds", s.seeds, minimum=1)
    check_int("batch_size", s.batch_size, minimum=1)
    resolve_dtype(s.dtype, resolve_device(s.device))
    task = settings_task(s)
    for k in s.k:
        check_int("k", k, minimum=0, maximum=len(task) - 1)
    check_int("n_queries", s.n_queries, minimum=1, maximum=len(task))
    for m in s.models:  # label words must be unambiguous for every model's tokenizer
        label_continuations(load_tokenizer(m.path), task.template, task.labels,
                            probe_text=task.texts[0])


#: a model whose clean accuracy is less than this above chance does no in-context learning
#: to lose: its relative drop is left out
MIN_ABOVE_CHANCE = 0.05


def _accuracy_drops(cell: pd.DataFrame) -> pd.DataFrame:
    """Per seed (rows) and model size (columns, ``n_params``): the relative accuracy drop
    ``(acc(p=0) - acc(p_max)) / (acc(p=0) - 1/n_classes)`` from clean prompts to the noisiest
    ones of the cell, as a fraction of what the model gains over chance on clean prompts (a
    more accurate model has more to lose; models of equal size are averaged). NaN where the
    clean accuracy is less than ``MIN_ABOVE_CHANCE`` above chance."""
    p_hi = float(cell["p"].max())
    chance = 1.0 / float(cell["n_classes"].iloc[0])
    wide = cell.pivot_table(index="seed", columns=["n_params", "p"], values="accuracy")
    clean = wide.xs(0.0, axis=1, level="p")
    noisy = wide.xs(p_hi, axis=1, level="p")
    return fraction_of_gain_lost(clean, noisy, chance, MIN_ABOVE_CHANCE)


def sensitivity_grows_with_size(data: ClaimData) -> Evidence:
    """Within each (noise kind, k, base/chat kind), per seed, the relative clean-to-noisy
    accuracy drop (:func:`_accuracy_drops`) of each model size minus that of the next smaller
    size is > 0 (95 % t-interval over
    seeds; ``all_of`` over panels and size pairs). Inconclusive without rows, without a clean
    ``p = 0`` and a noisy level, or with fewer than 2 model sizes."""
    frame = data.results
    if frame is None or frame.empty:
        return Evidence("inconclusive", math.nan, math.nan, 0.0, "no result rows")
    evidence = []
    for (noise, k, kind), cell in frame.groupby(["noise", "k", "kind"]):
        ps = sorted(cell["p"].unique())
        if len(ps) < 2 or ps[0] != 0.0 or cell["n_params"].nunique() < 2:
            continue
        drops = _accuracy_drops(cell)
        sizes = sorted(drops.columns)
        for lo, hi in zip(sizes, sizes[1:], strict=False):
            evidence.append(compare_interval(
                (drops[hi] - drops[lo]).dropna(), 0.0, ">",
                f"{noise}, k={k}, {kind}: relative drop p=0->{ps[-1]:g} of {hi:.3g} params "
                f"minus {lo:.3g} params"))
    if not evidence:
        return Evidence("inconclusive", math.nan, math.nan, 0.0,
                        "fewer than 2 model sizes (or no p = 0 and noisy level) in any panel")
    return all_of(evidence, "larger models lose more accuracy to noisy demonstrations")


def _smaller_models_more_sensitive(data: ClaimData) -> ClaimData:
    """Counterexample: accuracy ``0.9 − 1000 p / n_params`` (the drop shrinks with size)."""
    frame = data.results
    if frame is None or frame.empty:
        return data
    frame = frame.copy()
    frame["accuracy"] = 0.9 - frame["p"] * 1e3 / frame["n_params"]
    return data.replace(results=frame)


@register
class NoiseSensitivity(Experiment[NoiseSensitivitySettings]):
    """Accuracy of label-word ICL vs demonstration noise, for several local LLMs."""

    name = "llm.noise_sensitivity"
    title = "LLM in-context accuracy vs demonstration noise (user checkpoints)"
    paper = "Shi, Wei, Xu & Liang 2024 (arXiv 2405.19592)"
    Settings = NoiseSensitivitySettings
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": {"p": [0.0, 0.25, 0.5], "k": [8], "seeds": 2, "n_queries": 32},
        "full": {"p": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], "k": [4, 8, 16], "seeds": 5,
                 "n_queries": 200, "noise": ["label", "input_replace"]},
        # the paper gives no task, grid or seeds: the full variant's, with every noise kind
        "paper": {"task": "sentiment", "noise": ["label", "input_replace", "input_perturb"],
                  "p": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], "k": [4, 8, 16], "seeds": 5,
                  "n_queries": 200},
    }
    variant_notes: ClassVar[dict[str, str]] = {
        "quick": ("label noise only, p ∈ {0, 0.25, 0.5}, k = 8, 2 seeds, 32 queries instead of "
                  "3 noise kinds, p = 0 to 0.5 by 0.1, k ∈ {4, 8, 16}, 5 seeds, 200 queries: a "
                  "first look at 1/280 of paper's scoring cost per model"),
        "full": ("no input_perturb noise (label and input_replace only), otherwise as paper: "
                 "the harness's default study, a third fewer forward passes"),
        "paper": ("the paper names LLaMA base and chat models, label and input noise, nothing "
                  "more: task, p, k, seeds and queries are ours (full's), both input kinds run; "
                  "models: your local checkpoints"),
    }
    version = "1"
    needs_gpu_for_full = True
    in_demo = False
    claims = (
        Claim("larger_models_more_sensitive",
              "Larger language models are more sensitive to noisy demonstrations: the drop in "
              "in-context accuracy from clean (p = 0) to the noisiest prompts, as a fraction "
              "of the clean accuracy above chance, grows with model size.",
              "Shi et al. 2024, LLM experiments (and Wei et al. 2023)",
              sensitivity_grows_with_size,
              _smaller_models_more_sensitive,
              no_control="the study runs the user's own checkpoints, which the toolkit cannot "
              "name in a control; a real one (two checkpoints of the same size, or a noise "
              "kind the models ignore) needs them and is a null, on which the check can at "
              "best be inconclusive"),
    )

    def points(self, settings: NoiseSensitivitySettings) -> list[dict[str, Any]]:
        """The (model, noise, k, p) grid; empty when no checkpoint is given (nothing to run,
        and ``iclab check`` then reports the claim as inconclusive)."""
        if not settings.models:
            return []
        validate_settings(settings)
        return [{"model": m.path, "noise": noise, "k": int(k), "p": float(p)}
                for m in settings.models for noise in settings.noise for k in settings.k
                for p in settings.p]

    def trials(self, settings: NoiseSensitivitySettings, point: dict[str, Any]) -> int:
        return settings.seeds

    def run_point(self, settings: NoiseSensitivitySettings, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[Row]:
        from iclab.llm.loading import cached_model, format_size
        from iclab.llm.study import evaluate_cell

        spec = next(m for m in settings.models if m.path == point["model"])
        lm = cached_model(spec.path, settings.device, settings.dtype)
        task = settings_task(settings)
        metrics = evaluate_cell(lm, task, point["noise"], point["p"], point["k"], trial,
                                settings.n_queries, batch_size=settings.batch_size,
                                padding_side=settings.padding_side, base_seed=settings.seed)
        return [{"name": Path(spec.path).name or spec.path,
                 "size": spec.size or format_size(lm.n_params), "n_params": lm.n_params,
                 "kind": spec.kind or guess_kind(spec.path), "task": task.name,
                 "n_classes": task.n_classes, "seed": trial, **metrics}]

    def plot(self, settings: NoiseSensitivitySettings, results: pd.DataFrame,
             theory: pd.DataFrame | None) -> Any:
        from iclab.llm.plotting import plot_noise_sensitivity

        return plot_noise_sensitivity(results)

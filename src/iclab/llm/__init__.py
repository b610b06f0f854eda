"""In-context noise sensitivity of real language models (Shi et al. 2024's LLM study).

Needs the optional extra ``pip install 'iclab[llm]'`` (transformers, safetensors) only to load
models; prompts, tasks and noise work without it. Nothing is ever downloaded: models load with
``local_files_only=True`` from a local directory or the user's Hugging Face cache.

>>> from iclab.llm import load_model, builtin_task, evaluate_cell
>>> lm = load_model("~/models/Llama-3.2-1B", device="cuda", dtype="bfloat16")  # doctest: +SKIP
>>> evaluate_cell(lm, builtin_task("sentiment"), "label", p=0.25, k=8, seed=0,
...               n_queries=64)                                                # doctest: +SKIP
{'accuracy': ..., 'mean_margin': ..., 'n_queries': 64.0, 'n_corrupted': 128.0}

The study as an experiment: ``iclab llm run`` or
``run_experiment("llm.noise_sensitivity", overrides={"models": [...], ...})``.
"""

from iclab.llm.datasets import load_text_dataset
from iclab.llm.errors import (
    DatasetColumnError,
    LabelWordError,
    LLMError,
    MissingDependencyError,
    ModelNotFoundError,
)
from iclab.llm.loading import LoadedModel, load_model
from iclab.llm.noise import (
    NOISE_KINDS,
    corrupt_demonstrations,
    flip_labels,
    n_corrupted,
    perturb_words,
    replace_inputs,
)
from iclab.llm.prompts import Template, encode_prompts, label_continuations
from iclab.llm.scoring import score_label_words
from iclab.llm.study import build_prompts, classification_metrics, evaluate_cell
from iclab.llm.tasks import BUILTIN_TASKS, TextTask, builtin_task, sample_episodes

__all__ = [
    "BUILTIN_TASKS",
    "NOISE_KINDS",
    "DatasetColumnError",
    "LLMError",
    "LabelWordError",
    "LoadedModel",
    "MissingDependencyError",
    "ModelNotFoundError",
    "Template",
    "TextTask",
    "build_prompts",
    "builtin_task",
    "classification_metrics",
    "corrupt_demonstrations",
    "encode_prompts",
    "evaluate_cell",
    "flip_labels",
    "label_continuations",
    "load_model",
    "load_text_dataset",
    "n_corrupted",
    "perturb_words",
    "replace_inputs",
    "sample_episodes",
    "score_label_words",
]

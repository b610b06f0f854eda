"""User datasets for the LLM study: local JSONL / CSV files, or a Hugging Face ``datasets``
dataset saved with ``save_to_disk`` (needs the optional ``datasets`` package).

Label rule: with ``labels=[w_0, …, w_{C-1}]`` given, an integer label column maps value ``i``
to ``w_i``; a string label column must only contain the given words. Without ``labels`` the
label words are the sorted distinct values of the column (as strings).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from iclab.errors import ParameterError
from iclab.llm.errors import DatasetColumnError, LLMError, MissingDependencyError
from iclab.llm.prompts import Template
from iclab.llm.tasks import TextTask


def _read_table(path: Path, split: str | None) -> pd.DataFrame:
    if path.is_dir():
        try:
            datasets = importlib.import_module("datasets")
        except ImportError:
            raise MissingDependencyError("datasets", f"reading the saved dataset {path}"
                                         ) from None
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            names = list(ds)
            split = split or ("test" if "test" in names else names[0])
            if split not in names:
                raise ParameterError("split", split, "one of " + ", ".join(names))
            ds = ds[split]
        return ds.to_pandas()
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return pd.read_json(path, lines=suffix == ".jsonl")
    if suffix in (".csv", ".tsv"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    raise ParameterError("data", str(path), "a .jsonl/.json/.csv/.tsv file or a saved dataset "
                                            "directory")


def load_text_dataset(path: str | Path, text_column: str = "text", label_column: str = "label",
                      labels: Sequence[str] | None = None, template: Template | None = None,
                      split: str | None = None) -> TextTask:
    """Read ``path`` into a :class:`TextTask` (label rule in the module docstring).

    Raises:
        ParameterError: the path does not exist or has an unknown format.
        DatasetColumnError: ``text_column`` or ``label_column`` is missing (message names it and
            the columns that exist).
        LLMError: label values that are not among ``labels`` / out of range.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ParameterError("data", str(path), "an existing file or directory")
    frame = _read_table(p, split)
    for role, col in (("label", label_column), ("text", text_column)):
        if col not in frame.columns:
            raise DatasetColumnError(role, col, str(path), [str(c) for c in frame.columns])
    frame = frame.dropna(subset=[text_column, label_column])
    values = frame[label_column].tolist()
    is_int = pd.api.types.is_integer_dtype(frame[label_column])
    if labels is None:
        words = tuple(sorted({str(v) for v in values}))
        targets = [words.index(str(v)) for v in values]
    else:
        words = tuple(str(w) for w in labels)
        if is_int:
            bad = [v for v in values if not 0 <= int(v) < len(words)]
            if bad:
                raise LLMError(f"label value {bad[0]!r} in column {label_column!r} has no label "
                               f"word: {len(words)} words given ({', '.join(words)})")
            targets = [int(v) for v in values]
        else:
            bad = sorted({str(v) for v in values} - set(words))
            if bad:
                raise LLMError(f"label values {bad[:5]} in column {label_column!r} are not among "
                               f"the label words ({', '.join(words)})")
            targets = [words.index(str(v)) for v in values]
    texts = tuple(" ".join(str(t).split()) for t in frame[text_column].tolist())
    return TextTask(p.stem, f"user dataset {path}", template or Template(), words, texts,
                    tuple(targets))

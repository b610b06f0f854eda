"""User datasets from local JSONL / CSV files (and the optional `datasets` directory format)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from iclab.errors import ICLabError, ParameterError
from iclab.llm.datasets import load_text_dataset
from iclab.llm.errors import DatasetColumnError, LLMError, MissingDependencyError
from iclab.llm.prompts import Template


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_llm_jsonl_integer_labels_map_to_words(tmp_path) -> None:
    f = tmp_path / "reviews.jsonl"
    write_jsonl(f, [{"review": "great  soup\n", "stars": 1}, {"review": "bad tea", "stars": 0}])
    task = load_text_dataset(f, "review", "stars", ["negative", "positive"],
                             Template("Review: {text}\nSentiment: {label}"))
    assert task.name == "reviews" and task.labels == ("negative", "positive")
    assert task.texts == ("great soup", "bad tea")  # whitespace normalised (one line per input)
    assert task.targets == (1, 0)


def test_llm_csv_string_labels(tmp_path) -> None:
    f = tmp_path / "animals.csv"
    f.write_text("text,label\ntiger,animal\ncar,vehicle\nowl,animal\n")
    task = load_text_dataset(f)
    assert task.labels == ("animal", "vehicle") and task.targets == (0, 1, 0)
    with pytest.raises(LLMError, match="not among the label words"):
        load_text_dataset(f, labels=["animal", "plant"])


def test_llm_integer_label_out_of_range(tmp_path) -> None:
    f = tmp_path / "d.jsonl"
    write_jsonl(f, [{"text": "a", "label": 2}])
    with pytest.raises(LLMError, match="no label word"):
        load_text_dataset(f, labels=["x", "y"])


@pytest.mark.parametrize(("text_col", "label_col", "missing"), [
    ("text", "sentiment", "sentiment"), ("body", "label", "body")])
def test_llm_missing_column_one_line_error(tmp_path, text_col, label_col, missing) -> None:
    f = tmp_path / "d.jsonl"
    write_jsonl(f, [{"text": "a", "label": 0, "id": 3}])
    with pytest.raises(DatasetColumnError) as info:
        load_text_dataset(f, text_col, label_col)
    msg = str(info.value)
    assert isinstance(info.value, ICLabError) and "\n" not in msg
    assert repr(missing) in msg and "text, label, id" in msg


def test_llm_missing_file_and_bad_format(tmp_path) -> None:
    with pytest.raises(ParameterError, match="data="):
        load_text_dataset(tmp_path / "nope.jsonl")
    bad = tmp_path / "d.parquet"
    bad.write_text("x")
    with pytest.raises(ParameterError, match="jsonl"):
        load_text_dataset(bad)


@pytest.mark.skipif(importlib.util.find_spec("datasets") is not None,
                    reason="`datasets` is installed; the missing-dependency path cannot run")
def test_llm_saved_dataset_without_datasets_package(tmp_path) -> None:
    folder = tmp_path / "saved"
    folder.mkdir()
    with pytest.raises(MissingDependencyError, match="datasets"):
        load_text_dataset(folder)


@pytest.mark.skipif(importlib.util.find_spec("datasets") is None,
                    reason="optional `datasets` package not installed")
def test_llm_saved_dataset_roundtrip(tmp_path) -> None:  # pragma: no cover - optional
    import datasets

    ds = datasets.Dataset.from_dict({"sentence": ["a b", "c"], "label": [0, 1]})
    ds.save_to_disk(str(tmp_path / "saved"))
    task = load_text_dataset(tmp_path / "saved", "sentence", "label", ["no", "yes"])
    assert task.texts == ("a b", "c") and task.targets == (0, 1)


@pytest.mark.parametrize(("path", "kind"), [
    ("/m/Llama-2-7b-chat-hf", "chat"), ("/m/Meta-Llama-3-8B-Instruct", "chat"),
    ("google/gemma-2-9b-it", "chat"), ("/m/zephyr-7b-dpo", "chat"), ("/m/Llama-2-7b-hf", "base"),
    ("/m/Mistral-7B-v0.1", "base"), ("/m/split-endpoint-model", "base"),
])
def test_llm_guess_kind(path: str, kind: str) -> None:
    from iclab.experiments.llm.noise_sensitivity import guess_kind

    assert guess_kind(path) == kind


def test_llm_missing_transformers_is_one_line(monkeypatch) -> None:
    import sys

    from iclab.llm.loading import import_transformers

    monkeypatch.setitem(sys.modules, "transformers", None)  # import now raises ImportError
    with pytest.raises(MissingDependencyError) as info:
        import_transformers()
    assert "iclab[llm]" in str(info.value) and "\n" not in str(info.value)

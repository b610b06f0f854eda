"""End-to-end: ``iclab llm run`` on two tiny local models writes store rows, a CSV, a figure;
errors are one line ``error: ...`` with exit status 2."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from iclab.cli.llm import llm_app
from iclab.engine import Store
from iclab.llm.loading import clear_model_cache

runner = CliRunner()


def run_cli(*args: str):
    clear_model_cache()
    return runner.invoke(llm_app, list(args))


def assert_one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_llm_cli_end_to_end_two_models(tiny_models, tmp_path) -> None:
    small, large = str(tiny_models["gpt2"]), str(tiny_models["gpt2-large"])
    store, out = tmp_path / "r.sqlite", tmp_path / "fig"
    args = ["run", "--model", small, "--model", large, "--task", "sentiment",
            "--p", "0,0.5", "--k", "2,4", "--seeds", "2", "--n-queries", "6",
            "--batch-size", "4", "--store", str(store), "--out", str(out)]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output + str(result.exception)
    # 2 models x 2 p x 2 k x 2 seeds = 16 units, one row each, in the store.
    with Store(store) as db:
        units = db.units("llm.noise_sensitivity")
    assert len(units) == 16
    rows = pd.DataFrame([r for u in units for r in u.rows])
    assert set(rows["seed"]) == {0, 1} and rows["accuracy"].between(0, 1).all()
    frame = pd.read_csv(out / "llm_noise_sensitivity.csv")
    expected = {"model", "size", "kind", "task", "p", "k", "seed", "accuracy", "mean_margin"}
    assert expected <= set(frame.columns) and len(frame) == 16
    sizes = frame.groupby("model")["n_params"].first()
    assert sizes[small] < sizes[large]  # two models of different sizes
    kinds = frame.groupby("model")["kind"].first()
    assert kinds[small] == "base" and kinds[large] == "chat"  # guessed from "...-chat"
    assert frame.loc[frame["p"] == 0.5, "n_corrupted"].gt(0).all()
    assert frame.loc[frame["p"] == 0.0, "n_corrupted"].eq(0).all()
    for ext in ("png", "pdf"):
        assert (out / f"llm_noise_sensitivity.{ext}").stat().st_size > 1000
    # A repeated command resumes from the store: nothing is recomputed.
    again = run_cli(*args)
    assert again.exit_code == 0 and "0 of 16 units computed" in again.stdout


def test_llm_cli_tasks_lists_builtins() -> None:
    result = run_cli("tasks")
    assert result.exit_code == 0
    for name in ("sentiment", "animal_vehicle", "number_parity", "linear_rule"):
        assert name in result.stdout


def test_llm_cli_missing_model_path(tmp_path) -> None:
    missing = str(tmp_path / "nowhere" / "llama-7b")
    result = run_cli("run", "--model", missing, "--store", str(tmp_path / "s.sqlite"))
    assert_one_line_error(result, missing, "not found")
    assert not (tmp_path / "s.sqlite").exists()  # nothing written


def test_llm_cli_dataset_without_label_column(tiny_models, tmp_path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": f"tiger {i}", "y": i % 2}) + "\n"
                            for i in range(20)))
    result = run_cli("run", "--model", str(tiny_models["gpt2"]), "--data", str(data),
                     "--labels", "animal,vehicle", "--store", str(tmp_path / "s.sqlite"))
    assert_one_line_error(result, "'label'", "text, y")


def test_llm_cli_ambiguous_label_word(tiny_models, tmp_path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"the table {i},{i % 2}\n" for i in range(40)))
    result = run_cli("run", "--model", str(tiny_models["gpt2"]), "--data", str(data),
                     "--labels", "very,very good", "--store", str(tmp_path / "s.sqlite"))
    assert_one_line_error(result, "'very'", "prefix")


@pytest.mark.parametrize(("extra", "needle"), [
    (["--dtype", "float16"], "float16 needs CUDA"),
    (["--p", "0,1.5"], "p[1]=1.5"),
    (["--noise", "shuffle"], "noise="),
    (["--k", "a,b"], "k="),
])
def test_llm_cli_bad_parameters(tiny_models, tmp_path, extra, needle) -> None:
    result = run_cli("run", "--model", str(tiny_models["gpt2"]), *extra,
                     "--store", str(tmp_path / "s.sqlite"))
    assert_one_line_error(result, needle)

"""Errors found late used to write a settings row and an ``interrupted`` run first; now
everything is validated before the store is opened.

Environment variables, executor options and availability, the store's schema, the LLM
study's checkpoints and output paths: each probe exits non-zero with one line naming the
parameter or variable and what is allowed, and writes nothing (no store appears).
"""

from __future__ import annotations

import importlib.util
import sqlite3
from contextlib import closing
from pathlib import Path
from types import ModuleType

import pytest
from test_bad_input_probes import invoke, probe

from iclab.environment import debug_enabled, env_flag, experiment_modules, unit_threads
from iclab.errors import ParameterError

RUN = ["run", "toy.rel", "--quick", "--store", "s.sqlite", "--out", "out"]


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5", "二"])
def test_bad_unit_threads_is_refused_before_writing(tmp_path: Path, value: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICLAB_UNIT_THREADS", value)
    out = probe(RUN, tmp_path, names="ICLAB_UNIT_THREADS")
    assert "integer >= 1" in out and "internal error" not in out


@pytest.mark.parametrize("value", ["maybe", "2", "debug"])
def test_bad_debug_flag_is_refused(tmp_path: Path, value: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICLAB_DEBUG", value)
    probe(["list"], tmp_path, names="ICLAB_DEBUG")


@pytest.mark.parametrize(("value", "on"), [("0", False), ("false", False), ("off", False),
                                           ("", False), ("1", True), ("TRUE", True),
                                           ("yes", True), (" on ", True)])
def test_debug_flag_values(value: str, on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICLAB_DEBUG", value)
    assert env_flag("ICLAB_DEBUG") is on and debug_enabled() is on


def test_debug_zero_keeps_errors_on_one_line(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``ICLAB_DEBUG=0`` means off: an internal error is one line, not a traceback."""
    import iclab.experiments.registry as registry

    def broken(name: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(registry, "get_experiment", broken)
    monkeypatch.setattr("iclab.experiments.get_experiment", broken)
    monkeypatch.setenv("ICLAB_DEBUG", "0")
    out = probe(["show", "toy.rel"], tmp_path, names="internal error RuntimeError: boom")
    assert "Traceback" not in out
    monkeypatch.setenv("ICLAB_DEBUG", "1")
    code, _ = invoke(["show", "toy.rel"], tmp_path)
    assert code != 0  # with debugging on the exception is raised (CliRunner catches it)


def test_unknown_experiment_module_names_the_variable(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICLAB_EXPERIMENT_MODULES", "reliability_toys,nosuch.module")
    out = probe(RUN, tmp_path, names="ICLAB_EXPERIMENT_MODULES")
    assert "nosuch.module" in out
    with pytest.raises(ParameterError, match="ICLAB_EXPERIMENT_MODULES"):
        experiment_modules()


def test_unit_threads_default_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ICLAB_UNIT_THREADS", raising=False)
    assert unit_threads() == 1
    monkeypatch.setenv("ICLAB_UNIT_THREADS", " 3 ")
    assert unit_threads() == 3


def test_ray_executor_without_ray_is_refused_before_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    probe([*RUN, "--executor", "ray"], tmp_path, names="Ray")


EXECUTOR_PROBES = [
    (["--workers", "1000"], "workers"),
    (["--workers", "-1"], "workers"),
    (["--gpu-fraction", "-1"], "gpu_fraction"),
    (["--gpu-fraction", "0.5"], "gpu_fraction"),
    (["--workers", "2", "--address", "auto"], "address"),
    (["--executor", "local", "--workers", "2"], "workers"),
    (["--executor", "ray", "--gpu-fraction", "0"], "gpu_fraction"),
    (["--executor", "ray", "--gpu-fraction", "1.5"], "gpu_fraction"),
    (["--executor", "dask"], "executor"),
]


@pytest.mark.parametrize(("extra", "name"), EXECUTOR_PROBES,
                         ids=[" ".join(e) for e, _ in EXECUTOR_PROBES])
def test_executor_options_are_refused_before_writing(tmp_path: Path, extra: list[str],
                                                     name: str) -> None:
    probe([*RUN, *extra], tmp_path, names=name)


def test_check_caps_workers_too(tmp_path: Path) -> None:
    probe(["check", "toy.rel", "--store", "s.sqlite", "--workers", "1000"], tmp_path,
          names="workers")


def test_tau_inf_says_finite(tmp_path: Path) -> None:
    out = probe(["theory", "e-icl", "--tau", "inf", "--alpha", "1", "--kappa", "1", "--rho",
                 "0.1"], tmp_path, names="tau")
    assert "finite" in out


# ---- the LLM study ---------------------------------------------------------------------------
def _llm_fixtures() -> ModuleType:
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    path = Path(__file__).resolve().parents[1] / "llm" / "conftest.py"
    spec = importlib.util.spec_from_file_location("llm_fixture_builders", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("llm")
    return _llm_fixtures().save_tiny_model(root / "tiny-gpt2", "gpt2", 8, seed=0)


LLM = ["llm", "run", "--task", "sentiment", "--p", "0,0.5", "--k", "2", "--seeds", "1",
       "--n-queries", "2", "--store", "s.sqlite"]


def test_llm_out_that_is_a_file_is_refused_before_loading(tmp_path: Path,
                                                          tiny_gpt2: Path) -> None:
    (tmp_path / "afile").write_text("x")
    probe([*LLM, "--model", str(tiny_gpt2), "--out", "afile"], tmp_path, names="out")
    assert not (tmp_path / "s.sqlite").exists()


def test_llm_out_onto_the_store_is_refused(tmp_path: Path, tiny_gpt2: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "other.sqlite")) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "llm_noise_sensitivity.csv").symlink_to(tmp_path / "other.sqlite")
    probe([*LLM, "--model", str(tiny_gpt2), "--out", "o"], tmp_path, names="out")


def test_pickle_only_checkpoint_is_refused_before_writing(tmp_path: Path,
                                                          tiny_gpt2: Path) -> None:
    import torch
    from safetensors.torch import load_file

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for f in tiny_gpt2.iterdir():
        if f.suffix != ".safetensors":
            (pickled / f.name).write_bytes(f.read_bytes())
    torch.save(load_file(tiny_gpt2 / "model.safetensors"), pickled / "pytorch_model.bin")
    out = probe([*LLM, "--model", "pickled", "--out", "o"], tmp_path, names="pickle")
    assert "pytorch_model.bin" in out and "safetensors" in out

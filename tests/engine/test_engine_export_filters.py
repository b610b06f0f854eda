"""Exports that carry their settings: ``iclab export --variant/--hash/--set``, one
``settings.<key>`` column per setting, ``iclab.stored_results`` with the same filters, and a
filter that matches nothing is a one-line error listing the stored sweeps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

import iclab
from iclab import run_experiment
from iclab.cli import app
from iclab.engine.export import SweepFilter


def _store(tmp_path: Path) -> Path:
    path = tmp_path / "s.sqlite"
    run_experiment("toy.mc", "quick", store=path)
    run_experiment("toy.mc", "quick", overrides={"samples": 7}, store=path)
    run_experiment("toy.mc", "full", overrides={"xs": [5.0], "trials": 1}, store=path)
    return path


def _export(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["export", "toy.mc", *args], env={"COLUMNS": "200"})
    return done.exit_code, done.output


def test_filters_keep_the_chosen_sweeps_and_settings_are_columns(tmp_path: Path) -> None:
    store = _store(tmp_path)
    everything = iclab.stored_results("toy.mc", store)
    assert everything.settings_hash.nunique() == 3
    assert {"settings.samples", "settings.xs", "settings.trials"} <= set(everything.columns)
    assert set(everything["settings.samples"]) == {100, 7}
    code, out = _export("--set", "samples=7", "--store", str(store), "--out",
                        str(tmp_path / "s7.csv"))
    assert code == 0, out
    s7 = pd.read_csv(tmp_path / "s7.csv")
    assert set(s7["settings.samples"]) == {7} and len(s7) == 3 * 2 * 2
    code, out = _export("--variant", "full", "--store", str(store), "--out",
                        str(tmp_path / "full.csv"))
    full = pd.read_csv(tmp_path / "full.csv")
    assert code == 0 and set(full.variant) == {"full"} and set(full.x) == {5.0}
    assert set(full["settings.xs"]) == {"[5.0]"}  # lists as JSON text
    one = everything.settings_hash.iloc[0]
    code, out = _export("--hash", one[:8], "--store", str(store), "--out",
                        str(tmp_path / "h.csv"), "--no-settings")
    hashed = pd.read_csv(tmp_path / "h.csv")
    assert code == 0 and set(hashed.settings_hash) == {one}
    assert not any(c.startswith("settings.") for c in hashed.columns)
    assert len(iclab.stored_results("toy.mc", store, settings={"xs": [5.0]})) == 2
    by_hash = iclab.stored_results("toy.mc", store, hash=one[:8])
    assert set(by_hash.settings_hash) == {one}
    assert len(by_hash) == (everything.settings_hash == one).sum()


def test_a_filter_that_matches_nothing_names_the_stored_sweeps(tmp_path: Path) -> None:
    store = _store(tmp_path)
    code, out = _export("--set", "samples=3", "--store", str(store), "--out",
                        str(tmp_path / "none.csv"))
    assert code != 0 and "no stored sweep of toy.mc matches" in out and "[quick]" in out
    assert not (tmp_path / "none.csv").exists()


def test_sweep_filter_compares_numbers_and_lists() -> None:
    keeps = SweepFilter(settings={"xs": [1, 2], "samples": 7.0}).keeps
    assert keeps("quick", "abc", {"xs": [1.0, 2.0], "samples": 7})
    assert not keeps("quick", "abc", {"xs": [1.0], "samples": 7})
    assert not SweepFilter(variant="full").keeps("quick", "abc", {})
    assert SweepFilter(hash="ab").keeps("quick", "abc", {})

"""``iclab check --controls`` and ``--replicate``: negative controls and fresh-seed counts."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import check_modes_toys
import pytest

from iclab.engine.check import check_controls
from iclab.engine.replication import replicate_claims, replication_seeds

HERE = Path(__file__).resolve().parent


def test_controls_run_the_overrides_and_must_fail(tmp_path: Path) -> None:
    exp = check_modes_toys.ToyTrend()
    results, missing = check_controls([exp], "quick", store=tmp_path / "s.sqlite")
    assert [(r.claim, r.role, r.verdict) for r in results] == [
        ("slope_above_half", "control", "fails")]
    assert "slope=0.0" in results[0].control
    assert [(m.claim, m.reason) for m in missing] == [
        ("uncontrolled", "a test claim without a control")]


def test_controls_run_at_the_given_seed(tmp_path: Path) -> None:
    """``--set seed=S`` with ``--controls``: each control runs at seed S (its own overrides on
    top), not at the variant's seed."""
    exp = check_modes_toys.ToyTrend()
    store = tmp_path / "s.sqlite"
    results, _ = check_controls([exp], "quick", store=store, overrides={"seed": 12345})
    again, _ = check_controls([exp], "quick", store=store)
    assert results[0].verdict == again[0].verdict == "fails"
    assert results[0].statistic != again[0].statistic  # another draw of the noise
    with sqlite3.connect(store) as con:
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


def test_replication_counts_holds_per_seed_and_keeps_its_seeds(tmp_path: Path) -> None:
    seeds_file = tmp_path / "s.sqlite.replication.json"
    seeds = replication_seeds(seeds_file, ["toy.trend"], "quick", 3)
    assert len(set(seeds)) == 3 and all(s > 0 for s in seeds)
    assert replication_seeds(seeds_file, ["toy.trend"], "quick", 3) == seeds  # kept
    more = replication_seeds(seeds_file, ["toy.trend"], "quick", 4)
    assert more[:3] == seeds and len(more) == 4
    assert replication_seeds(seeds_file, ["toy.trend"], "quick", 3, fresh=True) != seeds
    exp = check_modes_toys.ToyTrend()
    reps = replicate_claims([exp], seeds, "quick", store=tmp_path / "s.sqlite")
    assert {r.claim: r.n_holds for r in reps} == {"slope_above_half": 3, "uncontrolled": 3}
    assert reps[0].seeds == seeds
    assert all(m > 1 for r in reps for m in r.margins)  # margins: > 1 half-width where it holds
    # a configuration without the effect fails on every seed
    flat = replicate_claims([exp], seeds, "quick", {"slope": 0.0}, store=tmp_path / "s.sqlite")
    assert all(r.n_holds == 0 and set(r.verdicts) == {"fails"} for r in flat)
    assert all(m <= -1 for r in flat for m in r.margins)


@pytest.mark.parametrize("mode", ["--controls", "--replicate"])
def test_cli_modes(tmp_path: Path, mode: str) -> None:
    env = {**os.environ, "ICLAB_EXPERIMENT_MODULES": "check_modes_toys",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, "-m", "iclab", "check", "toy.trend", "--quick", "--json",
            "--store", str(tmp_path / "s.sqlite"), mode]
    if mode == "--replicate":
        args.append("2")
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    payload = json.loads(out.stdout)
    if mode == "--controls":
        assert out.returncode == 0, out.stderr
        assert payload["controls"][0]["verdict"] == "fails"
        assert payload["without_control"][0]["claim"] == "uncontrolled"
    else:
        assert out.returncode == 0, out.stderr
        assert {r["claim"]: (r["holds"], r["n"]) for r in payload} == {
            "slope_above_half": (2, 2), "uncontrolled": (2, 2)}
        kept = json.loads((tmp_path / "s.sqlite.replication.json").read_text())
        assert list(kept.values())[0] == payload[0]["seeds"]

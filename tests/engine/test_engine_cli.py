"""The CLI: one-line errors that write nothing, listing, running, plotting and exporting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iclab.cli import app, parse_overrides
from iclab.errors import ParameterError

runner = CliRunner()


def _iclab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "iclab.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_theory_bad_rho_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    res = _iclab("theory", "e-icl", "--rho", "-1", "--tau", "2", "--alpha", "1", "--kappa",
                 "0.5", cwd=tmp_path)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "rho" in lines[0] and lines[0].startswith("error:")
    assert list(tmp_path.iterdir()) == []


def test_run_unknown_lists_experiments_and_writes_nothing(tmp_path: Path) -> None:
    res = _iclab("run", "nosuch", "--store", str(tmp_path / "s.sqlite"), cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "nosuch" in lines[0] and "toy.mc" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_run_bad_setting_writes_nothing(tmp_path: Path) -> None:
    res = _iclab("run", "toy.mc", "--set", "trials=-3", "--store", str(tmp_path / "s.sqlite"),
                 cwd=tmp_path)
    assert res.returncode == 2 and "trials" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_run_plot_export_roundtrip(tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    out = str(tmp_path / "out")
    res = runner.invoke(app, ["run", "toy.mc", "--quick", "--store", store, "--out", out])
    assert res.exit_code == 0, res.output
    assert "6 computed" in res.output
    assert (tmp_path / "out" / "figures" / "toy.mc_quick.png").exists()
    again = runner.invoke(app, ["run", "toy.mc", "--store", store, "--no-plot"])
    assert "0 computed" in again.output
    res = runner.invoke(app, ["plot", "toy.mc", "--store", store, "--out", out])
    assert res.exit_code == 0, res.output
    target = tmp_path / "t.parquet"
    res = runner.invoke(app, ["export", "toy.mc", "--format", "parquet", "--out", str(target),
                              "--store", store])
    assert res.exit_code == 0 and target.exists()
    res = runner.invoke(app, ["export", "toy.mc", "--format", "xlsx", "--store", store])
    assert res.exit_code == 2


def test_plot_without_results_is_an_error(tmp_path: Path) -> None:
    res = runner.invoke(app, ["plot", "toy.mc", "--store", str(tmp_path / "none.sqlite")])
    assert res.exit_code == 2
    assert not (tmp_path / "none.sqlite").exists()


def test_list_and_show() -> None:
    res = runner.invoke(app, ["list"])
    assert res.exit_code == 0 and "toy.mc" in res.output
    res = runner.invoke(app, ["show", "toy.mc"])
    assert res.exit_code == 0 and "samples" in res.output


def test_parse_overrides() -> None:
    assert parse_overrides(["d=20", "xs=[1,2]", "kappa=inf", "name=abc"]) == {
        "d": 20, "xs": [1, 2], "kappa": float("inf"), "name": "abc"}
    with pytest.raises(ParameterError, match="--set"):
        parse_overrides(["novalue"])


def test_theory_json_output(tmp_path: Path) -> None:
    res = _iclab("theory", "e-icl", "--tau", "2", "--alpha", "1", "--kappa", "0.5", "--rho",
                 "0.01", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert set(payload) >= {"e_icl", "tau", "alpha", "kappa", "rho"}
    # The value itself is checked against reference values in tests/theory.
    assert payload["e_icl"] > payload["rho"]
    res = _iclab("theory", "e-icl", "--tau", "2", "--alpha", "10", "--kappa", "inf", "--rho",
                 "0.01", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["kappa"] == "inf"


def test_check_at_the_paper_variant_says_where_its_claims_are_stated(tmp_path: Path) -> None:
    """``iclab check NAME --variant paper`` prints the variant's line and, as no claim is
    stated for it yet, the variants its claims are stated for (at a seconds-long size)."""
    res = runner.invoke(app, ["check", "lu2024.fig1", "--variant", "paper", "--set", "d=6",
                              "--set", "trials=2", "--store", str(tmp_path / "s.sqlite")])
    text = " ".join(res.output.split())
    assert res.exit_code == 1, text  # nothing was checked: not "every claim holds"
    assert "paper variant, the paper's settings: the authors' grids, d = 100" in text, text
    assert "lu2024.fig1 states no claims at paper yet; its claims are stated for full, quick" \
        in text, text

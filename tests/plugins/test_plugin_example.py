"""The experiment package outside iclab (docs/examples/plugin) registered by entry point and by
file path: ``iclab list``, ``run``, ``check``, ``export``, ``plot`` and ``report`` see it;
``export``, ``plot`` and ``report`` read its stored rows also without its code loaded; its
inherited claims are marked as stated for other settings. Every command runs in a fresh
process, so the plug-in never enters this test session's registry.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "docs" / "examples" / "plugin"
MODULE_FILE = PLUGIN / "src" / "iclab_mine" / "fig1_rho05.py"
NAME = "mine.fig1_rho05"
SMALL = ["--set", "d=8", "--set", "trials=2", "--set", "taus=[0.5,2.0]",
         "--set", "taus_c=[0.5,2.0]", "--set", "alphas=[1.0]"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ICLAB_EXPERIMENT_MODULES"}
    env.update({"COLUMNS": "100", "MPLBACKEND": "Agg", **extra})
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, extra.get("PYTHONPATH", "").split(os.pathsep))])
    return env


def _iclab(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "iclab", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, env=env)


def _entry_point_dir(tmp: Path) -> Path:
    """The example's installed metadata (what ``pip install`` writes), built by hand in a
    folder that goes on ``PYTHONPATH`` together with the example's sources."""
    site = tmp / "site"
    info = site / "iclab_mine-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: iclab-mine\nVersion: 0.1.0\n")
    declared = tomllib.loads((PLUGIN / "pyproject.toml").read_text())
    group = declared["project"]["entry-points"]["iclab.experiments"]
    lines = "".join(f"{name} = {target}\n" for name, target in group.items())
    (info / "entry_points.txt").write_text(f"[iclab.experiments]\n{lines}")
    return site


def test_example_package_declares_the_entry_point() -> None:
    text = (PLUGIN / "pyproject.toml").read_text()
    assert '[project.entry-points."iclab.experiments"]' in text
    assert 'mine = "iclab_mine.fig1_rho05"' in text


def test_registered_by_entry_point(tmp_path: Path) -> None:
    site = _entry_point_dir(tmp_path)
    env = _env(PYTHONPATH=os.pathsep.join([str(site), str(PLUGIN / "src")]))
    listed = _iclab("list", "--plain", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert NAME in listed.stdout
    bare = _iclab("list", "--plain", cwd=tmp_path, env=_env())
    assert NAME not in bare.stdout


@pytest.mark.slow
def test_registered_by_file_path_then_read_without_its_code(tmp_path: Path) -> None:
    env = _env(ICLAB_EXPERIMENT_MODULES=str(MODULE_FILE))
    listed = _iclab("list", "--plain", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and NAME in listed.stdout, listed.stderr
    run = _iclab("run", NAME, *SMALL, "--workers", "2", "--store", "s.sqlite", "--out", "o",
                 cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert list((tmp_path / "o" / "figures").glob("mine.fig1_rho05_quick*.png"))
    check = _iclab("check", NAME, *SMALL, "--store", "s.sqlite", "--json", cwd=tmp_path,
                   env=env)
    verdicts = json.loads(check.stdout)
    assert verdicts and all("rho 0.01 → 0.5" in v["settings_differ"] for v in verdicts)
    table = _iclab("check", NAME, *SMALL, "--store", "s.sqlite", "--plain", cwd=tmp_path,
                   env=env)
    assert re.search(r"verdict: (holds|fails|inconclusive) \(other settings\)", table.stdout)
    assert "settings: differ: rho 0.01 → 0.5" in table.stdout
    assert "stated for other settings" in table.stdout
    done = _iclab("export", NAME, "--store", "s.sqlite", "--out", "a.csv", cwd=tmp_path,
                  env=env)
    assert done.returncode == 0, done.stderr
    loaded = pd.read_csv(tmp_path / "a.csv")
    assert (loaded["settings.rho"] == 0.5).all()
    theory = _iclab("export", NAME, "--theory", "--store", "s.sqlite", "--out", "t.csv",
                    cwd=tmp_path, env=env)
    assert theory.returncode == 0, theory.stderr
    assert {"metric", "value", "settings_hash"} <= set(pd.read_csv(tmp_path / "t.csv").columns)

    # Without the plug-in: the stored rows are still read.
    bare = _env()
    again = _iclab("export", NAME, "--store", "s.sqlite", "--out", "b.csv", cwd=tmp_path,
                   env=bare)
    assert again.returncode == 0, again.stderr
    unloaded = pd.read_csv(tmp_path / "b.csv")
    assert len(unloaded) == len(loaded)
    assert sorted(unloaded.e_icl) == sorted(loaded.e_icl)
    plotted = _iclab("plot", NAME, "--store", "s.sqlite", "--out", "p", cwd=tmp_path, env=bare)
    assert plotted.returncode == 0, plotted.stderr
    assert list((tmp_path / "p" / "figures").glob("mine.fig1_rho05_*.png"))
    report = _iclab("report", "--store", "s.sqlite", "--out", "r", cwd=tmp_path, env=bare)
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "r" / "report.html").read_text()
    assert NAME in html and "code is not loaded" in html
    nope = _iclab("export", "mine.unknown", "--store", "s.sqlite", cwd=tmp_path, env=bare)
    assert nope.returncode == 2 and "no experiment named 'mine.unknown'" in nope.stderr


@pytest.mark.parametrize(("value", "says"), [
    ("no_such_module_xyz", "not found on the Python path"),
    ("/nonexistent/mine.py", "is not a file"),
])
def test_a_plugin_that_cannot_load_is_one_line(tmp_path: Path, value: str, says: str) -> None:
    done = _iclab("list", cwd=tmp_path, env=_env(ICLAB_EXPERIMENT_MODULES=value))
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ICLAB_EXPERIMENT_MODULES" in lines[0] and says in lines[0]

"""docs/examples/new_figure.py — the worked example of docs/architecture.md — runs as a
script: its formula agrees with Monte Carlo (its claim holds), its predictor satisfies the
protocol, and it writes its figure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "new_figure.py"


def test_worked_example_runs(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "risk_matches_theory: holds" in done.stdout
    assert (tmp_path / "new_figure_results" / "one_step_gd.png").is_file()


def test_worked_example_formula_is_not_the_monte_carlo_by_construction() -> None:
    """The formula's Wishart term matters: dropping it misses the Monte Carlo risk."""
    source = EXAMPLE.read_text().split("# %%\nrun =")[0]
    scope: dict = {}
    exec(compile(source, str(EXAMPLE), "exec"), scope)  # noqa: S102 - our own example
    g = torch.Generator().manual_seed(3)
    prompts = scope["gaussian_prompts"](40_000, 10, 10, 0.25, g)
    eta = torch.tensor([0.5])
    measured = float(scope["mc_risk"](scope["OneStepGD"](eta), prompts)[0])
    exact = float(scope["one_step_gd_risk"](0.5, 10, 10, 0.25))
    without_wishart = 0.25 * (1 + 0.25 * 10 / 10) - 1.0 + 1.0 + 0.25
    assert abs(measured - exact) / exact < 0.02
    assert abs(measured - without_wishart) / without_wishart > 0.1

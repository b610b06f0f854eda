"""Figure files keyed by settings; ``iclab plot`` finds what is stored; figures in symbols."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import iclab
from iclab.experiments import get_experiment
from iclab.figures import (
    figure_stem,
    format_number,
    legend,
    polish,
    pretty,
    save_figure,
    subplots,
    theory_line,
)


def _iclab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "iclab", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600,
                          env={**os.environ, "COLUMNS": "200", "MPLBACKEND": "Agg"})


def test_two_runs_with_different_settings_leave_two_figures(tmp_path: Path) -> None:
    for d in ("6", "8"):
        done = _iclab("run", "lu2024.fig1", "--quick", "--set", f"d={d}", "--set", "trials=1",
                      "--store", "s.sqlite", "--out", "out", cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
    pngs = sorted(p.name for p in (tmp_path / "out" / "figures").glob("*.png"))
    assert pngs == ["lu2024.fig1_quick_d6_trials1.png", "lu2024.fig1_quick_d8_trials1.png"]
    # Two stored settings of the variant and neither is the variant's own: plot asks.
    ask = _iclab("plot", "lu2024.fig1", "--quick", "--store", "s.sqlite", "--out", "p",
                 cwd=tmp_path)
    assert ask.returncode == 2
    assert "2 settings of lu2024.fig1 [quick] are stored" in ask.stderr
    assert "--set d=6 --set trials=1" in ask.stderr and "--hash" in ask.stderr
    assert not (tmp_path / "p").exists()
    # --set picks one; --hash (a prefix) picks one.
    by_set = _iclab("plot", "lu2024.fig1", "--quick", "--set", "d=8", "--set", "trials=1",
                    "--store", "s.sqlite", "--out", "p", cwd=tmp_path)
    assert by_set.returncode == 0, by_set.stderr
    stored = iclab.stored_results("lu2024.fig1", tmp_path / "s.sqlite")
    d6 = stored[stored.d == 6].settings_hash.iloc[0]
    by_hash = _iclab("plot", "lu2024.fig1", "--hash", d6[:8], "--store", "s.sqlite", "--out",
                     "h", cwd=tmp_path)
    assert by_hash.returncode == 0, by_hash.stderr
    assert [p.name for p in (tmp_path / "h" / "figures").glob("*.png")] == [
        "lu2024.fig1_quick_d6_trials1.png"]


def test_plot_finds_the_only_stored_settings(tmp_path: Path) -> None:
    """One stored sweep with other settings than the variant's: plot draws it (not 'nothing
    stored', which export would contradict)."""
    done = _iclab("run", "lu2024.fig1", "--quick", "--set", "d=6", "--set", "trials=1",
                  "--store", "s.sqlite", "--no-plot", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    drawn = _iclab("plot", "lu2024.fig1", "--quick", "--store", "s.sqlite", "--out", "o",
                   cwd=tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    assert (tmp_path / "o" / "figures" / "lu2024.fig1_quick_d6_trials1.png").exists()


def test_figure_stem_short_for_the_variant_and_bounded_otherwise() -> None:
    exp = get_experiment("lu2024.fig1")
    assert figure_stem(exp, exp.make_settings("quick"), "quick") == "lu2024.fig1_quick"
    assert figure_stem(exp, exp.make_settings("full"), "full") == "lu2024.fig1_full"
    long = exp.make_settings("quick", {"taus": [0.1 * i for i in range(1, 30)], "seed": 7,
                                       "kappa": 0.25, "rho": 0.5, "alphas": [2.0, 3.0, 4.0]})
    stem = figure_stem(exp, long, "quick")
    assert stem.startswith("lu2024.fig1_quick_") and len(stem) <= len("lu2024.fig1_quick_") + 40
    other = exp.make_settings("quick", {"taus": [0.1 * i for i in range(1, 30)], "seed": 8,
                                        "kappa": 0.25, "rho": 0.5, "alphas": [2.0, 3.0, 4.0]})
    assert figure_stem(exp, other, "quick") != stem


def test_numbers_and_code_names_in_the_papers_words() -> None:
    assert format_number(1e-5) == "$10^{-5}$"
    assert format_number(2.5e-3) == "0.0025"
    assert format_number(2.5e-4) == r"$2.5\times10^{-4}$"
    assert format_number(np.inf) == r"$\infty$"
    assert pretty(r"$\rho=1e-05$") == r"$\rho=10^{-5}$"
    assert pretty("ridge 1e-05") == "ridge $10^{-5}$"
    assert pretty(r"LA $\alpha=10$") == r"linear attention $\alpha=10$"
    assert pretty("linear_attention") == "linear attention"
    assert pretty("kappa=0.5") == r"$\kappa = 0.5$"
    assert pretty("LARGE") == "LARGE"  # words that merely contain a code name stay
    assert pretty("r=4 - r=2") == "$r = 4$ - $r = 2$"
    assert pretty("lam=1e-05") == r"$\lambda = 10^{-5}$"
    assert pretty("kappa=inf") == r"$\kappa = \infty$"
    assert pretty("random=3") == "random=3"


def test_legend_gets_a_theory_entry_and_readable_type(tmp_path: Path) -> None:
    fig, axes = subplots(2)
    ax, other = axes[0]
    theory_line(ax, [0, 1], [0, 1])
    ax.plot([0, 1], [1, 0], "o", label="linear_attention")
    leg = legend(ax, fontsize=5)
    assert [t.get_text() for t in leg.get_texts()] == ["linear attention", "theory"]
    assert leg.get_texts()[0].get_fontsize() >= 7.5
    # A legend drawn by plain matplotlib gets the entry when the figure is polished.
    theory_line(other, [0, 1], [0, 1], color="k")
    other.plot([0, 1], [1, 0], "o", label="dmmse")
    other.legend(fontsize=4)
    other.set_title(r"$\rho=1e-05$")
    polish(fig)
    assert [t.get_text() for t in other.get_legend().get_texts()] == ["dMMSE", "theory"]
    assert other.get_title() == r"$\rho=10^{-5}$"
    save_figure(fig, tmp_path, "f")
    assert (tmp_path / "f.png").exists() and (tmp_path / "f.pdf").exists()


def test_stored_results_is_exported_and_documented(tmp_path: Path) -> None:
    assert "stored_results" in iclab.__all__
    assert iclab.stored_results("lu2024.fig1", tmp_path / "none.sqlite").empty
    iclab.run_experiment("lu2024.fig1", "quick", overrides={"d": 6, "trials": 1},
                         store=tmp_path / "s.sqlite")
    frame = iclab.stored_results("lu2024.fig1", tmp_path / "s.sqlite")
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0
    assert {"tau", "alpha", "e_icl", "variant", "settings_hash"} <= set(frame.columns)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "engine.md").read_text()
    assert "iclab.stored_results" in docs

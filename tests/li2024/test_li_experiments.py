"""Every li2024 experiment runs end to end (tiny overrides), returns one row per model, plots."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from iclab.engine import run_experiment
from iclab.errors import ParameterError
from iclab.experiments.registry import get_experiment

NAMES = ["li2024.fig_iid", "li2024.fig_rag", "li2024.fig_alignment", "li2024.fig_lowrank",
         "li2024.fig_lora", "li2024.fig_h3_drift"]
TINY = {"steps": 10, "seeds": 2, "ns": [3, 5], "test_size": 200, "batch": 8}


@pytest.mark.parametrize("name", NAMES)
def test_experiment_runs_and_plots(name: str, tmp_path) -> None:
    res = run_experiment(get_experiment(name), "quick", overrides=TINY,
                         store=str(tmp_path / "s.sqlite"))
    df = res.results
    exp = res.experiment
    n_points = len(exp.points(res.settings))
    n_methods = df["method"].nunique()
    assert len(df) == n_points * n_methods * 2 * 2  # points x methods x seeds x ns
    for col in ("method", "n", "seed", "trial", "risk", "risk_pgd_mc", "risk_theory", "cos_W"):
        assert col in df and df[col].notna().all(), col
    theory = res.theory
    assert theory is not None and not theory.empty
    fig = exp.plot(res.settings, df, theory)
    plt.close(fig)
    assert exp.deviations(res.settings, df, theory) is not None


def test_bad_setting_is_a_parameter_error() -> None:
    exp = get_experiment("li2024.fig_iid")
    with pytest.raises(ParameterError, match="seeds"):
        exp.make_settings("quick", {"seeds": 0})

"""Smoke test: the four registered experiments run end to end (tiny overrides) and plot."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from iclab import run_experiment
from iclab.errors import ParameterError
from iclab.experiments.registry import get_experiment

TINY = {
    "shi2024.fig_rank_noise": {"steps": 20, "seeds": 2, "batch": 64, "n_test": 500},
    "shi2024.fig_rank_subspace": {"steps_grid": [10, 20], "seeds": 2, "batch": 64},
    "shi2024.fig_parity_coverage": {"steps": 20, "seeds": 2, "batch": 64, "per_pair": 20},
    "shi2024.fig_parity_noise": {"steps": 20, "seeds": 2, "batch": 64, "per_pair": 20},
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_shi_experiment_runs_and_plots(name: str, tmp_path) -> None:
    res = run_experiment(name, "quick", overrides=TINY[name], store=tmp_path / "s.sqlite")
    assert len(res.results) > 0 and "trial" in res.results
    exp = get_experiment(name)
    fig = exp.plot(res.settings, res.results, res.theory)
    plt.close(fig)
    again = run_experiment(name, "quick", overrides=TINY[name], store=tmp_path / "s.sqlite")
    assert again.n_computed == 0                     # stored: nothing recomputed


def test_shi_experiment_bad_settings() -> None:
    with pytest.raises(ParameterError):
        get_experiment("shi2024.fig_rank_noise").make_settings("quick", {"ranks": [9]})
    with pytest.raises(ParameterError):
        get_experiment("shi2024.fig_parity_noise").make_settings("quick", {"d_imp": 6})

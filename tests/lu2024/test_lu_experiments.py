"""The registered lu2024.* experiments run end to end (tiny overrides) and give sane output."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iclab.engine import run_experiment
from iclab.experiments.registry import get_experiment

TINY = {
    "lu2024.fig1": {"d": 6, "trials": 1, "alphas": (1.0,), "taus": (0.5, 2.0),
                    "lams_c": (0.1,), "taus_c": (0.5, 2.0), "theory_points": 30},
    "lu2024.fig2": {"d": 6, "trials": 1, "panels": ("A", "C"), "theory_points": 30},
    "lu2024.fig4": {"d": 6, "trials": 2, "alphas_a": (10.0,), "alphas_b": (),
                    "tau_factor": 1.0, "kappas": (0.5, 4.0), "dmmse_prompts": 20,
                    "theory_points": 30},
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_lu_experiment_runs_end_to_end(name: str, tmp_path) -> None:  # noqa: ANN001
    res = run_experiment(name, "quick", overrides=TINY[name], store=tmp_path / "s.sqlite")
    frame = res.results
    assert res.n_computed == res.n_units > 0
    assert {"e_icl", "e_idg", "g_task", "method", "trial"} <= set(frame.columns)
    assert np.all(frame["e_icl"] >= frame["rho"] * 0.5)
    theory = res.theory
    assert {"metric", "value"} <= set(theory.columns) and theory["value"].notna().any()
    dev = res.experiment.deviations(res.settings, frame, theory)
    assert list(dev.columns) == ["curve", "metric", "n_points", "max_abs_dev", "max_rel_dev"]
    assert len(dev) > 0 and dev["n_points"].min() >= 1
    fig = res.experiment.plot(res.settings, frame, theory)
    assert len(fig.axes) >= 1
    again = run_experiment(name, "quick", overrides=TINY[name], store=tmp_path / "s.sqlite")
    assert again.n_computed == 0  # resumed from the store (kappa = inf survives the JSON)


def test_lu_fig1_theory_wiring() -> None:
    """Fig. 1 theory frame reproduces spec §8 items 4 and 5 at the simulated taus (checks the
    wiring of panel/metric/lambda to the theory functions; tolerance 1e-3 absolute)."""
    exp = get_experiment("lu2024.fig1")
    s = exp.make_settings("full", {"theory_points": 56})  # grid includes the simulated taus
    th = exp.theory(s)

    def at(panel: str, metric: str, tau: float, **kw: float) -> float:
        sub = th[(th.panel == panel) & (th.metric == metric)]
        for k, v in kw.items():
            sub = sub[sub[k] == v]
        return float(sub.iloc[(sub.tau - tau).abs().argmin()]["value"])

    assert at("AB", "e_icl", 0.2, alpha=1.0) == pytest.approx(1.0385, abs=1e-3)
    assert at("AB", "e_idg", 2.0, alpha=10.0) == pytest.approx(0.1124, abs=1e-3)
    assert at("C", "e_icl", 2.0, lam=1.0) == pytest.approx(0.4109, abs=1e-3)
    assert math.isinf(exp.points(s)[-1]["kappa"])

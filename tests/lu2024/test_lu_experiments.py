"""The registered lu2024.* experiments run end to end (tiny overrides) and give sane output."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iclab.api import run_experiment
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
    """Fig. 1 theory frame reproduces the Fig. 1 theory values (reference
    values from an independent re-implementation) at the simulated taus (checks the
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


def test_lu_finite_d_tolerance_scaling() -> None:
    """The claims' tolerance C (1 + 1/|1 - tau|) / min(d, k, l): O(1/d) at fixed alpha, kappa,
    tau; set by the smallest size; widened near tau = 1."""
    from iclab.experiments.lu2024.claims import FINITE_D_C, finite_d_tolerance

    assert finite_d_tolerance(100, 2.0) == pytest.approx(2 * FINITE_D_C / 100)
    assert finite_d_tolerance(24, 2.0) / finite_d_tolerance(96, 2.0) == pytest.approx(4.0)
    assert finite_d_tolerance(32, 10.0, k=6, ell=320) == pytest.approx(
        finite_d_tolerance(6, 10.0))
    assert finite_d_tolerance(32, 1.5) > finite_d_tolerance(32, 3.0)


def test_lu_fig1_claims_on_a_synthetic_sweep() -> None:
    """The peak checks on hand-made rows: a curve peaking at tau ~ 1 passes the ridgeless
    check; a decreasing one passes the ridge check; each fails the other."""
    import pandas as pd

    from iclab.claims import ClaimData
    from iclab.experiments.lu2024.claims import fig1_ridge_removes_peak, fig1_ridgeless_peak

    taus = (0.2, 0.5, 0.85, 1.0, 1.15, 1.5, 2.0)
    rows = []
    for trial in range(4):
        for tau in taus:
            bump = 1.0 + 0.01 * trial
            rows.append({"panel": "C", "method": "linear_attention", "trial": trial,
                         "alpha": 10.0, "kappa": math.inf, "tau": tau, "lam": 1e-5,
                         "e_icl": bump * (1 + 1 / (abs(1 - tau) + 0.1))})
            rows.append({"panel": "C", "method": "linear_attention", "trial": trial,
                         "alpha": 10.0, "kappa": math.inf, "tau": tau, "lam": 0.1,
                         "e_icl": bump * (1 - 0.3 * tau)})
    data = ClaimData(None, pd.DataFrame(rows), None, "quick")
    assert fig1_ridgeless_peak(data).verdict == "holds"
    assert fig1_ridge_removes_peak(data).verdict == "holds"
    swapped = pd.DataFrame(rows).assign(lam=lambda f: f["lam"].map({1e-5: 0.1, 0.1: 1e-5}))
    data = ClaimData(None, swapped, None, "quick")
    assert fig1_ridgeless_peak(data).verdict == "fails"
    assert fig1_ridge_removes_peak(data).verdict == "fails"

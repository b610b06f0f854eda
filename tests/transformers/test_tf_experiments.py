"""The transformer experiments: settings, smoke runs, and their claims' checks on results built
with a known answer (a check must say "holds" where the claim is true by construction and
must not where it is false)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iclab.claims import ClaimData
from iclab.errors import ParameterError
from iclab.experiments import all_experiments
from iclab.experiments.lu2024.fig5 import LuFigure5
from iclab.experiments.lu2024.fig6 import LuFigure6
from iclab.experiments.lu2024.transformer_claims import (
    bootstrap_peaks,
    peak_constants,
    peak_exponents,
)
from iclab.experiments.shi2024.fig_transformer_noise import ShiTransformerNoise, noise_slopes


def _claim(cls: type, claim_id: str):  # noqa: ANN202
    return next(c for c in cls.claims if c.id == claim_id)


def _fig5_results(peaks: dict[int, float], seeds: int = 5, seed: int = 0) -> pd.DataFrame:
    """Double descent by construction: e = 1 + 6 exp(-(tau - peak)^2 / 0.08), times seed noise."""
    rng = np.random.default_rng(seed)
    taus = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5]
    rows = [{"arch": "linear", "d": d, "tau": t, "trial": s,
             "e_icl": (1 + 6 * np.exp(-((t - p) ** 2) / 0.08)) * rng.lognormal(0, 0.1)}
            for d, p in peaks.items() for t in taus for s in range(seeds)]
    return pd.DataFrame(rows)


def _data(results: pd.DataFrame, variant: str = "quick") -> ClaimData:
    return ClaimData(settings=None, results=results, theory=None, variant=variant)


def test_fig5_checks_on_a_known_double_descent() -> None:
    good = _data(_fig5_results({8: 1.25, 12: 1.25}))
    for cid in ("peak_above_both_ends", "linear_peak_near_tau_1"):
        assert _claim(LuFigure5, cid).check(good).verdict == "holds", cid
    # peak at 2.0 for d = 12: outside [0.75, 1.5]
    moved = _data(_fig5_results({8: 1.25, 12: 2.0}))
    assert _claim(LuFigure5, "linear_peak_near_tau_1").check(moved).verdict == "fails"
    # monotone errors: no interior peak
    flat = _fig5_results({8: 0.25, 12: 0.25})
    assert _claim(LuFigure5, "peak_above_both_ends").check(_data(flat)).verdict == "fails"


def test_fig5_exponent_tells_d2_from_d3() -> None:
    """n_peak = d² (tau_peak constant) holds; n_peak = d³ / 10 (tau_peak = d / 10) fails; two
    values of d cannot decide; a peak at the grid's end (no peak) fails."""
    claim = _claim(LuFigure5, "n_peak_scales_as_d2")
    assert claim.variants == ("medium", "full")
    d2 = _data(_fig5_results({10: 1.0, 15: 1.0, 20: 1.0}), "medium")
    assert claim.check(d2).verdict == "holds"
    d3 = _data(_fig5_results({10: 1.0, 15: 1.5, 20: 2.0}), "medium")
    found = claim.check(d3)
    assert found.verdict == "fails" and found.statistic == pytest.approx(3.0)
    two = _data(_fig5_results({10: 1.0, 20: 1.0}), "medium")
    assert claim.check(two).verdict == "inconclusive"
    flat = _data(_fig5_results({10: 0.25, 15: 0.25, 20: 0.25}), "medium")
    assert claim.check(flat).verdict == "fails"
    assert claim.check(claim.counterexample(d2)).verdict == "fails"


def test_peak_exponent_is_the_log_log_slope() -> None:
    ds = np.array([10, 15, 20])
    taus = np.array([[1.0, 1.0, 1.0], [1.0, 1.5, 2.0], [2.0, 2.0 * 10 / 15, 1.0]])
    assert peak_exponents(taus, ds) == pytest.approx([2.0, 3.0, 1.0])


def test_peak_bootstrap_and_constant() -> None:
    res = _fig5_results({8: 1.25, 12: 1.25})
    boot = bootstrap_peaks(res, "linear", 8, draws=200)
    assert boot.shape == (200,) and set(np.unique(boot)) <= {1.0, 1.25, 1.5}
    consts = peak_constants(res).iloc[0]
    assert consts.c == pytest.approx(1.25) and consts.c_lo <= 1.25 <= consts.c_hi


def _fig6_results(memorise: float, generalise: float, seeds: int = 4,
                  e_icl: float = 0.6) -> pd.DataFrame:
    """g_task of dMMSE ``1.5 / (1 + 0.2 kappa)``; the transformer's is ``memorise`` times it at
    kappa <= 0.5 and ``generalise / kappa`` times it above; its e_ICL ``e_icl`` times
    dMMSE's."""
    rng = np.random.default_rng(1)
    rows = []
    for kappa in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0):
        dm = 1.5 / (1 + 0.2 * kappa)
        tr = memorise * dm if kappa <= 0.5 else generalise * dm / kappa
        for s in range(seeds):
            rows.append({"kappa": kappa, "trial": s, "method": "dmmse",
                         "g_task": dm + rng.normal(0, 0.01),
                         "e_icl": 0.5 + dm / 2 + rng.normal(0, 0.01)})
            rows.append({"kappa": kappa, "trial": s, "method": "transformer",
                         "g_task": tr + rng.normal(0, 0.01),
                         "e_icl": e_icl * (0.5 + dm / 2) + rng.normal(0, 0.01)})
    return pd.DataFrame(rows)


def test_fig6_checks_on_known_transitions() -> None:
    good = _data(_fig6_results(memorise=1.0, generalise=0.2))
    for claim in LuFigure6.claims:
        assert claim.check(good).verdict == "holds", claim.id
    no_memory = _data(_fig6_results(memorise=0.3, generalise=0.2))
    assert _claim(LuFigure6, "memorises_at_low_kappa").check(no_memory).verdict == "fails"
    stays = _data(_fig6_results(memorise=1.0, generalise=8.0))  # 8/kappa: 1 x dMMSE at 8
    assert _claim(LuFigure6, "generalises_at_high_kappa").check(stays).verdict == "fails"
    # no memorisation gap but no in-context learning either: e_ICL at twice dMMSE's
    blank = _data(_fig6_results(memorise=1.0, generalise=0.2, e_icl=2.0))
    assert _claim(LuFigure6, "generalises_at_high_kappa").check(blank).verdict == "fails"


def _shi_results(slopes: list[float], clean: list[float], seeds: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    rows = []
    for params, (b, e0) in enumerate(zip(slopes, clean, strict=True)):
        for s in range(seeds):
            for sigma2 in (0.0, 0.5, 1.0, 2.0):
                rows.append({"params": 100 * (params + 1), "trial": s, "sigma2": sigma2,
                             "error": e0 + b * sigma2 + rng.normal(0, 0.005)})
    return pd.DataFrame(rows)


def test_shi_checks_on_known_sensitivities() -> None:
    good = _data(_shi_results([0.1, 0.2, 0.3], [0.6, 0.4, 0.3]))
    for claim in ShiTransformerNoise.claims:
        assert claim.check(good).verdict == "holds", claim.id
    sl = noise_slopes(good.results)
    assert np.allclose(sl.groupby("params").slope.mean(), [0.1, 0.2, 0.3], atol=0.01)
    flat = _data(_shi_results([0.2, 0.2, 0.1], [0.6, 0.4, 0.5]))
    assert _claim(ShiTransformerNoise, "noise_slope_rises_with_size").check(flat).verdict \
        == "fails"
    assert _claim(ShiTransformerNoise, "larger_not_worse_clean").check(flat).verdict == "fails"


@pytest.mark.parametrize("name, bad", [
    ("lu2024.fig5", {"architectures": ["cosine"]}),
    ("lu2024.fig5", {"taus": [1.0]}),
    ("lu2024.fig5", {"optimizer": "sgd"}),
    ("lu2024.fig6", {"kappas": [0.0, 1.0, 2.0]}),
    ("lu2024.fig6", {"schedule": "linear"}),
    ("lu2024.fig6", {"width": 0}),
    ("shi2024.fig_transformer_noise", {"sizes": [[1, 6, 4]]}),
    ("shi2024.fig_transformer_noise", {"test_noise": [0.5, 1.0]}),
    ("shi2024.fig_transformer_noise", {"patience": 0}),
    ("shi2024.fig_transformer_noise", {"restarts": 0}),
    # the quick variant screens 4 restarts, which only L-BFGS does
    ("shi2024.fig_transformer_noise", {"restarts": 4, "optimizer": "adamw"}),
])
def test_bad_settings_are_parameter_errors(name: str, bad: dict) -> None:
    key = next(iter(bad))
    with pytest.raises(ParameterError, match=key):
        all_experiments()[name]().make_settings("quick", bad)


@pytest.mark.parametrize("width, expected", [(None, 3), (20, 20)])
def test_fig6_width_sets_the_transformer_width(width: int | None, expected: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from iclab.contract import RunContext
    from iclab.experiments.lu2024 import fig6

    class Stop(Exception):
        pass

    def capture(cfg, *args, **kwargs):
        raise Stop(cfg)

    monkeypatch.setattr(fig6, "fit_transformer_ensemble", capture)
    exp = LuFigure6()
    s = exp.make_settings("quick", {**exp.smoke_overrides, "width": width})
    with pytest.raises(Stop) as stopped:
        exp.run_point(s, exp.points(s)[0], 0, RunContext(0, torch.device("cpu")))
    cfg = stopped.value.args[0]
    assert (cfg.d, cfg.width, cfg.n_layers, cfg.mlp) == (3, expected, 2, "linear")


def test_important_directions_at_most_d() -> None:
    s = ShiTransformerNoise().make_settings("quick", {"d": 3, "important": 4})
    with pytest.raises(ParameterError, match="important"):
        s.task()


def test_spiked_task_has_the_stated_covariance() -> None:
    import torch

    task = ShiTransformerNoise().make_settings(
        "quick", {"d": 5, "important": 2, "lam_important": 1.0, "lam_other": 0.2}).task()
    x = task.sample(20000, torch.Generator().manual_seed(0), dtype=torch.float64).X
    cov = torch.einsum("bnd,bne->de", x, x) / (x.shape[0] * x.shape[1])
    eig = torch.linalg.eigvalsh(cov).flip(0).numpy()
    assert np.allclose(eig, [1.0, 1.0, 0.2, 0.2, 0.2], atol=0.03)


@pytest.mark.parametrize("name", ["lu2024.fig5", "lu2024.fig6",
                                  "shi2024.fig_transformer_noise"])
def test_smoke_run_records_training_diagnostics(name: str, tmp_path) -> None:
    from iclab.engine import run_experiment

    exp = all_experiments()[name]()
    run = run_experiment(exp, "quick", exp.smoke_overrides, store=tmp_path / "s.sqlite")
    res = run.results
    # dMMSE rows have no training diagnostics
    trained = res[res.method == "transformer"] if "method" in res else res
    assert len(trained) and np.isfinite(trained.select_dtypes("number").to_numpy(float)).all()
    wanted = {"lu2024.fig5": {"train_loss", "grad_norm", "converged"},
              "lu2024.fig6": {"val_error", "stop_step", "converged"},
              "shi2024.fig_transformer_noise": {"val_error", "stop_step", "converged",
                                                "restart"}}[name]
    assert wanted <= set(res.columns)
    exp.plot(run.settings, res, run.theory)


def test_check_of_fig6_quick_says_why_it_states_no_claim(tmp_path) -> None:  # noqa: ANN001
    """``lu2024.fig6`` states its claims for the medium and full variants: ``iclab check`` of
    the quick variant (here at a seconds-long size) prints the reason and no claims table."""
    import json
    import subprocess
    import sys

    sets = [a for k, v in LuFigure6.smoke_overrides.items()
            for a in ("--set", f"{k}={json.dumps(v)}")]
    out = subprocess.run([sys.executable, "-m", "iclab", "check", "lu2024.fig6", "--quick",
                          *sets, "--store", str(tmp_path / "s.sqlite")],
                         capture_output=True, text=True, timeout=600)
    text = " ".join((out.stdout + out.stderr).split())
    assert "lu2024.fig6 states no claims at quick: 4 seeds cannot decide" in text, text
    assert "no claims to check" in text and "claims [quick]" not in text
    assert "quick variant, against the paper's settings: d = 6, alpha = 4" in text, text
    assert not any("quick" in c.variants for c in LuFigure6.claims)
    assert all(c.controls and all(k.variants == ("medium",) for k in c.controls)
               for c in LuFigure6.claims)


def test_show_fig6_lists_the_authors_settings() -> None:
    """``iclab show lu2024.fig6`` has the authors' runs as variants (d = 20, 40, 80; α = 1,
    τ = 10, AdamW lr 1e-4 for 1.1 M updates of d² contexts, no early stop) with their notes."""
    from typer.testing import CliRunner

    from iclab.cli import app

    res = CliRunner().invoke(app, ["show", "lu2024.fig6", "--plain"], terminal_width=400)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    for variant in ("paper", "paper_d40", "paper_d80"):
        assert f"{variant} variant, the paper's settings" in text, text
    exp = LuFigure6()
    for variant, d, n_k in (("paper", 20, 20), ("paper_d40", 40, 35), ("paper_d80", 80, 24)):
        s = exp.make_settings(variant)
        assert (s.d, len(s.kappas), s.alpha, s.tau, s.width) == (d, n_k, 1.0, 10.0, None)
        assert (s.lr, s.weight_decay, s.schedule, s.steps, s.batch) == (
            1e-4, 1e-4, "constant", 1_100_000, d * d)
        assert s.patience * s.eval_every > s.steps  # no early stop
        assert round(s.kappas[0] * d) == 2

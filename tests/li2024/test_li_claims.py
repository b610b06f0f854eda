"""The Li et al. claim checks on synthetic results whose verdict is known in advance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iclab.claims import ClaimData
from iclab.experiments.li2024.claims import (
    equal_at_reference,
    equal_methods,
    monotone_in,
    near_reference,
    within_interval,
)
from iclab.experiments.li2024.fig_h3_drift import LiFigH3Drift
from iclab.experiments.li2024.fig_lora import LiFigLoRA
from iclab.experiments.li2024.fig_rag import LiFigRAG, rag_neff_ratio
from iclab.experiments.registry import get_experiment
from iclab.theory import rag


def _data(frame: pd.DataFrame, settings=None) -> ClaimData:
    return ClaimData(settings, frame, None, "quick")


def _frame(excess: list[float], method: str = "linear_attention", panel: str = "p") -> pd.DataFrame:
    return pd.DataFrame({"panel": panel, "method": method, "n": 4, "seed": range(len(excess)),
                         "risk": [1 + e for e in excess], "risk_pgd_mc": 1.0})


def test_near_reference_counts_models() -> None:
    """The rate of models within ``tol`` is decided on its 95 % Wilson interval."""
    check = near_reference(["panel", "method"], tol=0.01, frac=0.75)
    # 40 of 40: Wilson lower bound 0.91 > 0.75
    assert check(_data(_frame([0.001] * 40))).verdict == "holds"
    # 8 of 10: the interval (0.49, 0.94) straddles 0.75
    assert check(_data(_frame([0.001] * 8 + [0.02] * 2))).verdict == "inconclusive"
    # 4 of 20: Wilson upper bound 0.42 < 0.75
    assert check(_data(_frame([0.001] * 4 + [0.02] * 16))).verdict == "fails"


def test_near_reference_fails_on_one_demonstrably_worse_group() -> None:
    good = [_frame([0.001] * 30, panel=p) for p in ("a", "b", "c")]
    bad = _frame([0.02] * 10, panel="d")
    check = near_reference(["panel", "method"], tol=0.01, frac=0.75)
    assert check(_data(pd.concat(good + [bad]))).verdict == "fails"


def test_within_interval_two_sided() -> None:
    assert within_interval([0.001, -0.002, 0.0, 0.001], 0.01, "x").verdict == "holds"
    assert within_interval([0.05, 0.051, 0.049, 0.05], 0.01, "x").verdict == "fails"
    assert within_interval([-0.05, -0.051, -0.049, -0.05], 0.01, "x").verdict == "fails"
    assert within_interval([0.0, 0.02, -0.02, 0.01], 0.01, "x").verdict == "inconclusive"


def test_equal_methods_and_monotone() -> None:
    a = _frame([0.001, 0.002, 0.0, 0.001])
    b = _frame([0.002, 0.001, 0.001, 0.0], method="h3")
    check = equal_methods("panel", "linear_attention", "h3", 0.01)
    assert check(_data(pd.concat([a, b]))).verdict == "holds"
    assert check(_data(pd.concat([a, b.assign(risk=b["risk"] * 1.05)]))).verdict == "fails"
    rows = pd.DataFrame([{"level": lv, "seed": s, "y": lv + 0.01 * s} for lv in (1, 2, 3)
                         for s in range(4)])
    up = monotone_in("level", "y", (1, 2, 3))
    down = monotone_in("level", "y", (1, 2, 3), direction="decreasing")
    assert up(_data(rows)).verdict == "holds" and down(_data(rows)).verdict == "fails"


def test_equal_at_reference_needs_both_at_the_optimum() -> None:
    """Equal risks far above the PGD optimum (early-stopped models) fail; equal risks at it
    hold; one architecture 3 % above it fails."""
    check = equal_at_reference("panel", "linear_attention", "h3", 0.01)
    at = [0.001, 0.002, 0.0, 0.001, 0.003, 0.002]
    both_at = pd.concat([_frame(at), _frame(at[::-1], method="h3")])
    assert check(_data(both_at)).verdict == "holds"
    far = [0.30, 0.31, 0.29, 0.30, 0.32, 0.28]
    both_far = pd.concat([_frame(far), _frame([e + 0.001 for e in far], method="h3")])
    assert equal_methods("panel", "linear_attention", "h3", 0.01)(
        _data(both_far)).verdict == "holds"  # the differences alone cannot tell
    assert check(_data(both_far)).verdict == "fails"
    one_off = pd.concat([_frame(at), _frame([e + 0.03 for e in at], method="h3")])
    assert check(_data(one_off)).verdict == "fails"


def test_rag_neff_ratio_of_the_law_and_of_the_exact_risk() -> None:
    """The law's own risk has n_eff / (kappa n) = (d+1)/d; the exact risk at alpha = 0 gives 1."""
    d, n = 16, 16
    alphas = np.array([0.0, 0.25, 0.9])
    frame = pd.DataFrame({"alpha": alphas, "n": n,
                          "risk": rag.rag_optimal_risk_large_d(alphas, n, d)})
    np.testing.assert_allclose(rag_neff_ratio(frame, d, 0.0), (d + 1) / d, rtol=1e-12)
    exact = frame.assign(risk=rag.rag_optimal_risk(alphas, n, d))
    ratio = rag_neff_ratio(exact, d, 0.0).to_numpy()
    assert ratio[0] == pytest.approx(1.0, abs=1e-12)
    assert abs(ratio[1] - 1) < 0.05 and ratio[2] < 0.7  # the law holds at 1/sqrt(d), not at .9


def _rag_exact_rows(d: int, n: int, seeds: int, noise: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    exp = LiFigRAG()
    st = exp.make_settings("quick", {"d": d, "ns": [n]})
    rows = []
    for p in exp.points(st):
        exact = float(rag.rag_optimal_risk(p["alpha"], n, d))
        for s in range(seeds):
            risk = exact * (1 + noise * rng.standard_normal())
            rows.append({"alpha": p["alpha"], "n": n, "seed": s, "method": "linear_attention",
                         "risk": risk, "risk_pgd_mc": exact})
    return st, pd.DataFrame(rows)


def test_rag_claims_on_theory_like_results() -> None:
    """Results equal to the exact theory (+0.2 % noise): all RAG claims hold; the law fails."""
    st, frame = _rag_exact_rows(16, 16, 4, 0.002)
    data = ClaimData(st, frame, None, "quick")
    for claim in LiFigRAG.claims:
        assert claim.check(data).verdict == "holds", claim.id
        assert claim.check(claim.counterexample(data)).verdict != "holds", claim.id


def _overstates(st, frame: pd.DataFrame) -> str:
    claim = next(c for c in LiFigRAG.claims if c.id == "neff_law_overstates_beyond")
    return claim.check(ClaimData(st, frame, None, "quick")).verdict


def test_rag_overstatement_fails_on_undertrained_models() -> None:
    """Trained risks 10 % above the exact optimum at alpha >= 0.75: their n_eff is about 12 %
    below it (further below the law), yet the claim fails: they are not at the optimum."""
    st, frame = _rag_exact_rows(8, 8, 4, 0.002)
    beyond = frame["alpha"] >= 0.75
    assert _overstates(st, frame) == "holds"
    slow = frame.assign(risk=np.where(beyond, frame["risk"] * 1.10, frame["risk"]))
    assert (rag_neff_ratio(slow[beyond], 8, 0.0) < rag_neff_ratio(frame[beyond], 8, 0.0)).all()
    assert _overstates(st, slow) == "fails"
    # 1 % above the optimum (the reach tolerance): n_eff about 1.3 % below it, within ±5 %
    close = frame.assign(risk=frame["risk"] * 1.01)
    assert _overstates(st, close) == "holds"


def test_rag_overstatement_fails_where_the_law_understates() -> None:
    """Two examples per context: the exact n_eff / (kappa n) is 1.45 and 1.90 at alpha =
    0.75, 0.9 (d = 8), so the claim fails even with models at the optimum."""
    st, frame = _rag_exact_rows(8, 2, 4, 0.002)
    beyond = frame[frame["alpha"] >= 0.75]
    np.testing.assert_allclose(
        rag_neff_ratio(beyond.assign(risk=beyond["risk_pgd_mc"]), 8, 0.0).unique(),
        [1.451, 1.901], atol=1e-3)
    assert _overstates(st, frame) == "fails"


def test_lora_fraction_theory_limits() -> None:
    exp = LiFigLoRA()
    st = exp.make_settings("quick")
    assert exp.fraction_theory(st, 8, st.d) == pytest.approx(1.0)
    fr = [exp.fraction_theory(st, 8, r) for r in (1, 2, 4)]
    assert 0 < fr[0] < fr[1] < fr[2] < 1


def test_drift_claims_are_registered() -> None:
    assert get_experiment("li2024.fig_h3_drift").claims == LiFigH3Drift.claims
    ids = {c.id for c in LiFigH3Drift.claims}
    assert {"filter_matches_optimal_weights", "advantage_grows_with_drift"} <= ids

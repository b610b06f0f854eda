"""``li2024.fig_h3_drift``: a task drifting along the prompt (AR(1) over positions).

H3 against linear attention: linear attention can only weight the examples uniformly (PGD), while
H3's convolution filter can learn position-dependent sample weights (weighted PGD, WPGD). The
drift model and the jointly optimal WPGD weights ``omega*`` are ours
(:class:`iclab.tasks.drift.DriftTask`, :func:`iclab.theory.pgd.wpgd_joint_optimum`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pydantic
import torch
from matplotlib.figure import Figure

from iclab.claims import (
    Check,
    Claim,
    ClaimData,
    Control,
    Evidence,
    all_of,
    compare_interval,
    scale_column,
)
from iclab.contract import Row
from iclab.evaluate.paired_risk import pgd_risk_mc
from iclab.experiments.li2024.claims import REACH_RATE, early_stopped, monotone_in, near_reference
from iclab.experiments.li2024.common import (
    QUICK_SGD,
    SGD_RECIPE,
    LiExperiment,
    LiSettings,
    UnitFloat,
    theory_and_trained,
)
from iclab.experiments.registry import register
from iclab.figures import color_cycle, label_axes, legend, subplots, theory_line
from iclab.tasks.drift import DriftTask
from iclab.tasks.prompts import Prompts
from iclab.theory import pgd


class DriftSettings(LiSettings):
    """Settings of the drift figure: ``gammas``, the AR(1) correlations of the grid."""

    gammas: list[UnitFloat] = pydantic.Field(default_factory=lambda: [1.0, 0.95, 0.9, 0.8],
                                             min_length=2, description="AR(1) task correlation "
                                             "between neighbouring positions (1: no drift)")


def drift_advantage(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (gamma, n, seed): H3's advantage ``(risk_ATT - risk_H3) / risk_ATT*``.

    ``risk_ATT*`` is the best linear-attention (uniform PGD) risk on the same prompts; the two
    architectures' models with the same seed index are paired (independent draws).
    """
    keys = ["gamma", "n", "seed"]
    la = frame[frame["method"] == "linear_attention"].set_index(keys)
    h3 = frame[frame["method"] == "h3"].set_index(keys)
    adv = ((la["risk"] - h3["risk"]) / la["risk_pgd_mc"]).dropna()
    return adv.rename("adv").reset_index()


#: The claim's range: the theory's advantage rises steeply down to gamma = 0.9 (0, 5.1, 8.4 % at
#: gamma = 1, .95, .9 for d = 4, n = 12) and then saturates (9.2 % at .8, 9.4 % at .85) and falls.
ADVANTAGE_GAMMA_MIN = 0.9


def advantage_grows(data: ClaimData) -> Evidence:
    """H3's advantage rises along the grid's gammas from 1 down to :data:`ADVANTAGE_GAMMA_MIN`."""
    order = sorted((g for g in data.settings.gammas if g >= ADVANTAGE_GAMMA_MIN - 1e-9),
                   reverse=True)
    return monotone_in("gamma", "adv", order, by=["n"], frame=drift_advantage)(data)


def omega_close(tol: float) -> Check:
    """At every (gamma, n): H3's ``omega_err`` below ``tol`` (interval over seeds)."""

    def check(data: ClaimData) -> Evidence:
        h3 = data.results[data.results["method"] == "h3"]
        return all_of([compare_interval(g["omega_err"], tol, "<",
                                        f"gamma={gm:g}, n={n}: |omega - omega*| / |omega*|")
                       for (gm, n), g in h3.groupby(["gamma", "n"])], "every gamma and n")

    return check


def uniform_filter(data: ClaimData) -> ClaimData:
    """Counterexample: H3's learned weights replaced by uniform ones (no sample weighting)."""
    frame = data.results.copy()
    h3 = frame["method"] == "h3"
    for (g, n), idx in frame[h3].groupby(["gamma", "n"]).groups.items():
        K = pgd.ar1_drift_correlation(int(n), float(g))
        omega = pgd.wpgd_joint_optimum(np.eye(data.settings.d), K, data.settings.sigma2)[1]
        frame.loc[idx, "omega_err"] = float(np.linalg.norm(1 - omega) / np.linalg.norm(omega))
    return data.replace(results=frame)


@register
class LiFigH3Drift(LiExperiment[DriftSettings]):
    """Drifting task (AR(1) over positions): H3's filter learns the optimal sample weights.

    Rows add ``risk_wpgd_mc`` (the jointly optimal weighted PGD on the same prompts, H3's
    reference; ``risk_ref`` is each architecture's own optimum), ``risk_theory_h3`` and, for H3,
    ``omega_1..omega_n`` and ``omega_err = |omega - omega*| / |omega*|`` (both mean 1).
    """

    name = "li2024.fig_h3_drift"
    title = "H3 vs linear attention on a drifting task; learned filter vs optimal WPGD weights"
    version = "2"
    Settings = DriftSettings
    curve_key = "gamma"
    store_omega = True
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        # 8 models per gamma: on 20 random pilot seeds with 4, reach_own_optimum held on 18
        # (15 of 16 H3 models within 1 % gives the Wilson interval [0.72, 0.99] against 0.75:
        # one slow model at gamma = 0.8, 1.27 % above its optimum, decides) and
        # filter_matches_optimal_weights on 19 (lowest margin 0.99). 2 of 320 H3 models
        # missed 1 %; with 32 models three misses still hold, and the filter's t-interval
        # shrinks to 0.34 of its width. Judged on 20 other seeds: all three claims 20 of 20.
        "quick": {**QUICK_SGD, "ns": [12], "sigma2": 0.25, "seeds": 8},
        "full": {**SGD_RECIPE, "ns": [40], "sigma2": 0.25, "seeds": 8},
        # The paper's drift model and numbers are not known here: our AR(1) drift at the
        # full variant's sizes, spelled out.
        "paper": {**SGD_RECIPE, "d": 20, "ns": [40], "sigma2": 0.25, "seeds": 8,
                  "steps": 20000, "batch": 512, "gammas": [1.0, 0.95, 0.9, 0.8]}}
    variant_notes: ClassVar[dict[str, str]] = {
        "paper": "H3 beating attention on a non-stationary task is the paper's; our AR(1) "
                 "drift, gamma in {1, .95, .9, .8}, sigma2 = 0.25, d = 20, n = 40, 8 seeds, "
                 "20 000 SGD steps, batch 512: our choices.",
        "quick": "d = 4, n = 12, 2400 steps, batch 128: the CPU budget of make demo; 8 models "
                 "per gamma as in paper, so that one slow H3 model does not decide "
                 "reach_own_optimum.",
        "full": "The same settings as paper (full sets only what differs from the defaults); "
                "the claims are stated for quick and full. Not run yet: it needs a GPU.",
    }
    claims = (
        Claim("reach_own_optimum",
              "Each architecture reaches its own optimum on the drifting task: the rate at which "
              "linear-attention models end within 1 % of the best uniform-weight PGD risk, and "
              "H3 models within 1 % of the best weighted PGD risk (same test prompts), is above "
              "75 % (95 % Wilson interval, pooled over gamma and seeds, per architecture), and at "
              "no gamma is it demonstrably below (Holm over the gammas).",
              "Li et al. 2024 (ATT = PGD, H3 = weighted PGD); drift model and WPGD optimum: ours",
              near_reference(["gamma", "method"], tol=0.01, frac=REACH_RATE, ref="risk_ref"),
              scale_column("risk", 1.03),
              controls=(early_stopped(2400),)),
        Claim("filter_matches_optimal_weights",
              "H3's learned convolution filter implements the optimal sample weights: at every "
              "gamma the relative error |omega - omega*| / |omega*| of the learned weights "
              "(both normalised to mean 1) is below 0.15.",
              "Li et al. 2024 (H3's filter acts as sample weighting); omega*: ours (WPGD "
              "optimum under the AR(1) drift)",
              omega_close(0.15),
              uniform_filter,
              controls=(early_stopped(2400, "the filter has not learnt the weights"),)),
        Claim("advantage_grows_with_drift",
              "H3's advantage over linear attention, (risk_ATT - risk_H3) / risk_ATT*, grows as "
              "the task drifts faster, from gamma = 1 (no drift, no advantage) to each smaller "
              "gamma of the grid down to gamma = 0.9.",
              "Li et al. 2024 (H3 better on temporally heterogeneous data); the trend: ours",
              advantage_grows,
              scale_column("risk", 0.0, lambda f: f["method"] == "h3"),
              controls=(Control(
                  {"ns": [40]},
                  "with long contexts (n = 40) the advantage peaks before gamma = 0.9 and "
                  "falls: theory 26.4 % at gamma = 0.95, 23.6 % at 0.9"),)),
    )

    def points(self, settings: DriftSettings) -> list[dict[str, Any]]:
        return [{"gamma": g} for g in settings.gammas]

    def task(self, settings: DriftSettings, point: dict[str, Any]) -> DriftTask:
        return DriftTask(settings.d, point["gamma"], settings.sigma2, n=max(settings.ns))

    def optimum(self, settings: DriftSettings, point: dict[str, Any],
                n: int) -> tuple[np.ndarray, float]:
        """Linear-attention (uniform-weight PGD) optimum; H3's is in :meth:`h3_optimum`."""
        K = pgd.ar1_drift_correlation(int(n), point["gamma"])
        S = np.eye(settings.d)
        W = pgd.wpgd_optimal_preconditioner(np.ones(int(n)), S, K, settings.sigma2)
        return W, pgd.pgd_optimal_risk_drift(S, K, settings.sigma2)

    def h3_optimum(self, settings: DriftSettings, gamma: float, n: int
                   ) -> tuple[np.ndarray, float, np.ndarray]:
        """``(omega*, L*_WPGD, W*)`` of the jointly optimal weighted PGD."""
        K = pgd.ar1_drift_correlation(int(n), gamma)
        W, omega, risk = pgd.wpgd_joint_optimum(np.eye(settings.d), K, settings.sigma2)
        return omega, risk, W

    def references(self, settings: DriftSettings, point: dict[str, Any], test: Prompts,
                   ns: list[int]) -> dict[str, np.ndarray]:
        n_max = max(ns)
        out = np.zeros(len(ns))
        for n in sorted(set(ns)):
            omega, _, W = self.h3_optimum(settings, point["gamma"], n)
            padded = np.concatenate([np.zeros(n_max - n), omega])  # drop the older examples
            Wt = torch.tensor(W, dtype=test.X.dtype, device=test.X.device)[None]
            risk = float(pgd_risk_mc(Wt, test, torch.tensor(padded, device=test.X.device))[0])
            out[[m for m, v in enumerate(ns) if v == n]] = risk
        return {"risk_wpgd_mc": out}

    def finish_rows(self, settings: DriftSettings, point: dict[str, Any],
                    rows: list[Row]) -> list[Row]:
        for row in rows:
            omega, risk, _ = self.h3_optimum(settings, point["gamma"], row["n"])
            row["risk_theory_h3"] = float(risk)
            row["risk_ref"] = row["risk_pgd_mc"]
            if row["method"] == "h3":
                row["risk_theory"] = float(risk)
                row["risk_ref"] = row["risk_wpgd_mc"]
                learned = np.array([row[f"omega_{i + 1}"] for i in range(row["n"])])
                row["omega_err"] = float(np.linalg.norm(learned - omega) / np.linalg.norm(omega))
        return rows

    def theory(self, settings: DriftSettings) -> pd.DataFrame | None:
        rows = []
        grid = np.union1d(np.linspace(min(settings.gammas), 1.0, 41), settings.gammas)
        for g in grid:
            for n in settings.ns:
                la = self.optimum(settings, {"gamma": g}, n)[1]
                h3 = self.h3_optimum(settings, g, n)[1]
                rows.append({"gamma": float(g), "n": n, "method": "linear_attention", "risk": la,
                             "adv": (la - h3) / la})
                rows.append({"gamma": float(g), "n": n, "method": "h3", "risk": h3,
                             "adv": (la - h3) / la})
        return pd.DataFrame(rows)

    def plot(self, settings: DriftSettings, results: pd.DataFrame,
             theory: pd.DataFrame | None) -> Figure:
        fig, axes = subplots(ncols=3, width=3.5)
        n = settings.ns[-1]
        ax = axes[0, 0]
        names = {"linear_attention": "linear attention", "h3": "H3"}
        for (method, marker), col in zip((("linear_attention", "o"), ("h3", "s")),
                                         color_cycle(2), strict=True):
            th = None if theory is None else theory[(theory.method == method) & (theory.n == n)]
            sel = results if results.empty else results[
                (results.method == method) & (results.n == n)]
            theory_and_trained(ax, "gamma", "risk", th, sel, color=col,
                               theory_label=f"{names[method]}: theory", marker=marker,
                               label=lambda m: f"{names[m]}: trained")
        label_axes(ax, r"drift correlation $\gamma$", r"risk $\mathcal{L}$")
        ax.set_title(f"drifting task, d = {settings.d}, n = {n}")
        legend(ax)
        ax = axes[0, 1]
        th = None if theory is None else theory[(theory.method == "h3") & (theory.n == n)]
        adv = None
        if not results.empty:
            adv = drift_advantage(results)
            adv = adv[adv["n"] == n].assign(method="h3")
        theory_and_trained(ax, "gamma", "adv", th, adv, theory_label="theory (WPGD vs PGD)",
                           marker="s", label=lambda m: "trained H3 vs trained attention")
        label_axes(ax, r"drift correlation $\gamma$",
                   r"H3 advantage $(\mathcal{L}_{\rm ATT}-\mathcal{L}_{\rm H3})/"
                   r"\mathcal{L}^\star_{\rm ATT}$")
        ax.invert_xaxis()
        ax.set_title("faster drift to the right")
        legend(ax)
        ax = axes[0, 2]
        for g, col in zip(settings.gammas, color_cycle(len(settings.gammas)), strict=True):
            omega = self.h3_optimum(settings, g, n)[0]
            theory_line(ax, np.arange(1, n + 1), omega, color=col,
                        label=rf"$\omega^\star$, $\gamma$={g}")
            sel = results[(results.get("gamma") == g) & (results.get("method") == "h3")
                          & (results.get("n") == n)] if not results.empty else results
            cols = [f"omega_{i}" for i in range(1, n + 1)]
            if not sel.empty and all(c in sel for c in cols):
                learned = sel[cols].to_numpy(dtype=float)
                ax.errorbar(np.arange(1, n + 1), learned.mean(0), yerr=learned.std(0), fmt="s-",
                            color=col, markersize=3, linewidth=0.8, capsize=2)
        ax.plot([], [], "s-", color="grey", markersize=3, linewidth=0.8,
                label="learned H3 filter")
        ax.set_xlabel("context position $i$ (query at $n+1$)")
        ax.set_ylabel(r"sample weight $\omega_i$ (mean 1)")
        ax.set_title("learned vs optimal weights")
        legend(ax)
        return fig

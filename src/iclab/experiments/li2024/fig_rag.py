"""``li2024.fig_rag``: RAG (retrieved examples correlated with the query through ``alpha``).

Trained models against the exact finite-d optimal PGD risk and the effective-sample-size law
``n_eff = (alpha^2 d + 1) n`` of Li et al. (2024).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pydantic
from matplotlib.figure import Figure

from iclab.claims import (
    Check,
    Claim,
    ClaimData,
    Control,
    Evidence,
    all_of,
    decide,
    scale_column,
)
from iclab.contract import Row
from iclab.experiments.li2024.claims import (
    REACH_RATE,
    early_stopped,
    near_reference,
    within_interval,
)
from iclab.experiments.li2024.common import (
    QUICK,
    SGD_RECIPE,
    LiExperiment,
    LiSettings,
    UnitFloat,
    theory_and_trained,
)
from iclab.experiments.registry import register
from iclab.figures import color_cycle, label_axes, legend, subplots
from iclab.tasks.correlated import RAGTask
from iclab.theory import rag


class RAGSettings(LiSettings):
    """RAG settings: ``alphas`` (default: ``{0, .5, 1, 1.5} / sqrt(d)`` and ``{0.75, 0.9}``)."""

    alphas: list[UnitFloat] | None = pydantic.Field(
        None, min_length=2, description="query-example correlations; default: multiples of "
        "1/sqrt(d) and 0.75, 0.9")


def rag_alphas(settings: RAGSettings) -> list[float]:
    """The RAG grid: where ``alpha^2 d = O(1)`` (multiples of ``1/sqrt d``) and beyond it."""
    if settings.alphas is not None:
        return sorted({float(a) for a in settings.alphas})
    scaled = [m / np.sqrt(settings.d) for m in (0.0, 0.5, 1.0, 1.5)]
    return sorted({round(float(a), 4) for a in [*scaled, 0.75, 0.9] if a <= 1.0})


def rag_neff_ratio(frame: pd.DataFrame, d: int, sigma2: float,
                   column: str = "risk") -> pd.Series:
    """``n_eff / ((alpha^2 d + 1) n)``: the effective sample size of ``column`` over the law's."""
    n_eff = rag.effective_sample_size(frame[column].to_numpy(), d, sigma2)
    kappa = frame["alpha"].to_numpy() ** 2 * d + 1
    return pd.Series(n_eff / (kappa * frame["n"].to_numpy()), index=frame.index)


def rag_law_check(tol: float) -> Check:
    """Where ``alpha^2 d <= 1``: ``|n_eff / ((alpha^2 d + 1) n) - 1| < tol`` (95 % t-interval
    over seeds, at every alpha and n of that regime; one family, :func:`iclab.claims.all_of`).

    Beyond that regime the trained models' ratio alone would pass more easily for a model short
    of the optimum; ``neff_law_overstates_beyond`` uses :func:`rag_overstatement_check`."""

    def check(data: ClaimData) -> Evidence:
        st = data.settings
        res = data.results.assign(ratio=rag_neff_ratio(data.results, st.d, st.sigma2))
        sel = res[res["alpha"] ** 2 * st.d <= 1 + 1e-3]
        ev = [within_interval(g["ratio"] - 1, tol,
                              f"alpha={a:g}, n={n}: n_eff / ((alpha^2 d + 1) n) - 1")
              for (a, n), g in sel.groupby(["alpha", "n"])]
        return all_of(ev, "alpha^2 d <= 1")

    return check


#: the law "holds" within ±10 % (``neff_law_where_alpha2d_small``); it overstates the gain
#: where the exact optimum's ``n_eff / ((alpha^2 d + 1) n)`` lies below that band: < 0.90
LAW_BAND_LOW = 0.90
#: the trained models' n_eff must match the exact optimum's within ±5 %, half the law's band,
#: so that their own shortfall cannot stand in for the law's: at alpha >= 0.75 (d = 8, 20)
#: ``d ln n_eff / d ln L = L d / (G (d - G))`` is 1.1-1.3 (``G = d + sigma2 - L``), so 5 % of
#: n_eff is about 4 % of risk, four times the 1 % within which every trained model must reach
#: its optimum (``reach_exact_optimum``), and a model stopped far from it fails
NEFF_AGREEMENT = 0.05


def rag_overstatement_check(law_max: float, tol: float) -> Check:
    """Where ``alpha >= 0.75``, per ``(alpha, n)``, both of:

    * the exact optimum: ``n_eff(L*) / ((alpha^2 d + 1) n) < law_max``, with the exact
      finite-d ``L* = d + sigma2 - A^2 / B`` (:func:`iclab.theory.rag.rag_optimal_risk`) and
      ``n_eff`` the inverse of the i.i.d. risk (:func:`~iclab.theory.rag.effective_sample_size`);
      a number, no interval;
    * the trained models: ``n_eff(risk) / n_eff(risk_pgd_mc) - 1`` within ``±tol`` (95 %
      t-interval over seeds), ``risk_pgd_mc`` the exact optimum's predictor ``W* = c* I`` on
      the same test prompts (paired).

    One family over the grid (:func:`iclab.claims.all_of`): an under-trained model (smaller
    n_eff) fails the second part instead of passing the first more easily.
    """

    def check(data: ClaimData) -> Evidence:
        st = data.settings
        res = data.results[data.results["alpha"] >= 0.75 - 1e-9]
        ev = []
        for (a, n), g in res.groupby(["alpha", "n"]):
            exact = float(rag.rag_optimal_risk(a, n, st.d, st.sigma2))
            law = float(rag.effective_sample_size(exact, st.d, st.sigma2)) / ((a**2 * st.d + 1) * n)
            ev.append(decide(law, 0.0, law_max, "<",
                             f"alpha={a:g}, n={n}: exact optimum's n_eff / ((alpha^2 d + 1) n) "
                             f"(theory), claim < {law_max:g}"))
            trained = rag.effective_sample_size(g["risk"].to_numpy(), st.d, st.sigma2)
            optimum = rag.effective_sample_size(g["risk_pgd_mc"].to_numpy(), st.d, st.sigma2)
            ev.append(within_interval(trained / optimum - 1, tol,
                                      f"alpha={a:g}, n={n}: trained n_eff / exact optimum's - 1"))
        return all_of(ev, "alpha >= 0.75: the exact optimum below the law, trained at it")

    return check


def risk_from_law(data: ClaimData) -> ClaimData:
    """Counterexample: every trained risk replaced by the law's ``L_iid((alpha^2 d + 1) n)``."""
    st, frame = data.settings, data.results.copy()
    frame["risk"] = rag.rag_optimal_risk_large_d(frame["alpha"].to_numpy(),
                                                 frame["n"].to_numpy(), st.d, st.sigma2)
    return data.replace(results=frame)


@register
class LiFigRAG(LiExperiment[RAGSettings]):
    """RAG over alpha: trained, the exact finite-d theory and the law n_eff = kappa n."""

    name = "li2024.fig_rag"
    title = "RAG (query-example correlation alpha): trained vs exact theory vs n_eff law"
    version = "2"
    Settings = RAGSettings
    curve_key = "alpha"
    variants: ClassVar[dict[str, dict[str, Any]]] = {
        # Adam with batch 512: at alpha = 0.9 the gradient noise of batch 128 left the models
        # 1-2.5 % above the optimum (SGD or Adam, 2400-4800 steps); batch 512: 0.2-0.35 %
        "quick": {**QUICK, "d": 8, "ns": [8], "seeds": 4, "methods": ["linear_attention"],
                  "optimizer": "adam", "batch": 512, "steps": 2400},
        "full": {**SGD_RECIPE, "d": 20, "ns": [20, 40], "methods": ["linear_attention", "h3"]},
        # The paper's RAG parameterisation and numbers are not known here: the full variant's
        # sizes, spelled out (the alpha grid is the default, multiples of 1/sqrt(d), .75, .9).
        "paper": {**SGD_RECIPE, "d": 20, "ns": [20, 40], "seeds": 5, "steps": 20000,
                  "batch": 512, "methods": ["linear_attention", "h3"]}}
    variant_notes: ClassVar[dict[str, str]] = {
        "paper": "The alpha sweep and n_eff = (alpha^2 d + 1) n are the paper's; our RAG model "
                 "x_i = alpha x + sqrt(1 - alpha^2) g_i, d = 20, n in {20, 40}, alpha in "
                 "{0, .5, 1, 1.5}/sqrt(d) and {.75, .9}, 5 seeds, 20 000 SGD steps, batch 512: "
                 "our choices.",
        "quick": "d = 8, n = 8, 4 seeds, attention only, Adam with batch 512 for 2400 steps: CPU "
                 "budget; with batch 128 the models ended 1-2.5 % above the optimum at "
                 "alpha = 0.9.",
        "full": "The same settings as paper (full sets only what differs from the defaults); "
                "the claims are stated for quick and full. Not run yet: it needs a GPU.",
    }
    claims = (
        Claim("reach_exact_optimum",
              "Under RAG correlation alpha, trained linear attention reaches the optimal PGD risk: "
              "the rate at which trained models end within 1 % of the exact optimum's risk on the "
              "same test prompts is above 75 % (95 % Wilson interval, pooled over alpha and "
              "seeds), and at no alpha is it demonstrably below (Holm over the alphas).",
              "Li et al. 2024 (PGD optimality under correlated designs); exact finite-d risk: "
              "ours",
              near_reference(["alpha", "method"], tol=0.01, frac=REACH_RATE),
              scale_column("risk", 1.03),
              controls=(early_stopped(2400),)),
        Claim("neff_law_where_alpha2d_small",
              "Where alpha^2 d <= 1 (alpha of order 1/sqrt(d)) the trained models' effective "
              "sample size follows the law n_eff = (alpha^2 d + 1) n within ±10 %.",
              "Li et al. 2024, RAG result (effective sample size kappa n, kappa = alpha^2 d + 1)",
              rag_law_check(0.10),
              scale_column("risk", 1.15),
              controls=(Control(
                  {"d": 2},
                  "at d = 2 (n = 4d) alpha^2 d <= 1 allows alpha up to 0.71, where the law "
                  "no longer holds: exact n_eff / ((alpha^2 d + 1) n) = 0.83 at alpha = 0.35, "
                  "0.43 at 0.71"),)),
        Claim("neff_law_overstates_beyond",
              "Beyond alpha ~ 1/sqrt(d) the law overstates the gain: for alpha of order 1 "
              "(alpha >= 0.75) the exact optimum's n_eff (the i.i.d. sample size with its "
              "finite-d risk) is below 90 % of (alpha^2 d + 1) n, the lower edge of the law's "
              "±10 % band, and the trained models' n_eff matches the exact optimum's within "
              "±5 %.",
              "ours (exact finite-d RAG risk); the paper states the law as an approximation",
              rag_overstatement_check(LAW_BAND_LOW, NEFF_AGREEMENT),
              risk_from_law,
              controls=(
                  Control({"ns": [2]},
                          "with two examples per context the law understates the gain: exact "
                          "n_eff / ((alpha^2 d + 1) n) = 1.45 at alpha = 0.75, 1.90 at 0.9"),
                  early_stopped(2400, "their n_eff is far below the exact optimum's"))),
    )

    def points(self, settings: RAGSettings) -> list[dict[str, Any]]:
        return [{"alpha": a} for a in rag_alphas(settings)]

    def task(self, settings: RAGSettings, point: dict[str, Any]) -> RAGTask:
        return RAGTask(settings.d, point["alpha"], settings.sigma2, n=max(settings.ns))

    def optimum(self, settings: RAGSettings, point: dict[str, Any],
                n: int) -> tuple[np.ndarray, float]:
        a, d, s2 = point["alpha"], settings.d, settings.sigma2
        return (float(rag.rag_optimal_scale(a, n, d, s2)) * np.eye(d),
                float(rag.rag_optimal_risk(a, n, d, s2)))

    def finish_rows(self, settings: RAGSettings, point: dict[str, Any],
                    rows: list[Row]) -> list[Row]:
        a, d, s2 = point["alpha"], settings.d, settings.sigma2
        for row in rows:
            row["kappa"] = a**2 * d + 1
            row["risk_law"] = float(rag.rag_optimal_risk_large_d(a, row["n"], d, s2))
            row["n_eff"] = float(rag.effective_sample_size(row["risk"], d, s2))
        return rows

    def theory(self, settings: RAGSettings) -> pd.DataFrame | None:
        d, s2 = settings.d, settings.sigma2
        alphas = np.union1d(np.linspace(0.0, max(rag_alphas(settings)), 91), rag_alphas(settings))
        rows = []
        for n in settings.ns:
            exact = rag.rag_optimal_risk(alphas, n, d, s2)
            law = rag.rag_optimal_risk_large_d(alphas, n, d, s2)
            kappa = alphas**2 * d + 1
            for a, e, lw, k in zip(alphas, exact, law, kappa, strict=True):
                rows.append({"alpha": float(a), "n": int(n), "risk": float(e),
                             "risk_law": float(lw), "kappa": float(k),
                             "n_eff_ratio": float(rag.effective_sample_size(e, d, s2)) / n})
        return pd.DataFrame(rows)

    def plot(self, settings: RAGSettings, results: pd.DataFrame,
             theory: pd.DataFrame | None) -> Figure:
        fig, axes = subplots(ncols=2, width=3.8)
        d = settings.d
        cols = color_cycle(max(len(settings.ns), 2))
        for n, col in zip(settings.ns, cols, strict=False):
            th = theory[theory["n"] == n] if theory is not None else None
            sel = results[results["n"] == n] if not results.empty else results
            if not sel.empty:
                sel = sel.assign(n_eff_ratio=sel["n_eff"] / sel["n"])
            tag = f" (n={n})" if len(settings.ns) > 1 else ""
            for ax, y, law, law_label in (
                    (axes[0, 0], "risk", "risk_law",
                     r"law: i.i.d. risk at $n_{\rm eff}=(\alpha^2d+1)n$"),
                    (axes[0, 1], "n_eff_ratio", "kappa", r"law: $\alpha^2 d + 1$")):
                theory_and_trained(ax, "alpha", y, th, sel, color=col,
                                   theory_label="exact PGD theory" + tag, law=law,
                                   law_label=law_label + tag, marker="o",
                                   label=lambda method, tag=tag: f"trained {method}" + tag)
        for ax in axes[0]:
            ax.axvline(1 / np.sqrt(d), color="grey", linewidth=0.8, linestyle="-.")
            ax.text(1 / np.sqrt(d), ax.get_ylim()[1], r" $\alpha=1/\sqrt{d}$", fontsize=8,
                    va="top", ha="left", color="grey")
        label_axes(axes[0, 0], r"query-example correlation $\alpha$", r"risk $\mathcal{L}$")
        ns = ", ".join(str(n) for n in settings.ns)
        axes[0, 0].set_title(f"RAG, d = {d}, n = {ns}")
        label_axes(axes[0, 1], r"query-example correlation $\alpha$",
                   r"effective sample size $n_{\rm eff}/n$")
        axes[0, 1].set_title(r"$n_{\rm eff}$: i.i.d. $n$ with the same risk")
        legend(axes[0, 0], loc="lower left")
        legend(axes[0, 1], loc="lower right")
        return fig

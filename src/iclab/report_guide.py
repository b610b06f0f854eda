"""What each registered figure reproduces and what to look for (used by the HTML report).

One :class:`FigureGuide` per experiment: the paper figure it reproduces, one sentence saying
what to look for, and the context of its theory-vs-experiment deviations (where and why a
finite-size experiment departs from the asymptotic theory). Experiments without an entry get
a neutral caption built from their title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Paper order of the report: Lu et al., Li et al., Shi et al., then the studies.
PAPER_ORDER: dict[str, tuple[int, str]] = {
    "lu2024": (0, "Lu, Letey, Zavatone-Veth, Maiti & Pehlevan — linear attention, asymptotic"),
    "li2024": (1, "Li, Rawat & Oymak — fine-grained in-context linear estimation"),
    "shi2024": (2, "Shi, Wei, Xu & Liang — larger models and in-context noise"),
}
STUDIES = (3, "Studies")


@dataclass(frozen=True)
class FigureGuide:
    """Caption material of one experiment's figure."""

    paper_figure: str
    look_for: str
    deviation_context: str = ""
    #: Whether the theory is a d → ∞ limit compared with finite-d runs (the report then
    #: states the finite-size scale 1/√d of each sweep).
    finite_d: bool = False


_FINITE_D = ("The theory is the d → ∞ limit; at finite d the experiment differs by corrections "
             "of relative size about 1/√d, and the deviation should shrink as d grows.")

GUIDES: dict[str, FigureGuide] = {
    "lu2024.fig1": FigureGuide(
        "Lu et al. Fig. 1",
        "The ICL and IDG errors peak at τ = 1 (n = d² pretraining contexts) without ridge, and "
        "a ridge λ > 0 removes the peak.",
        "The largest relative deviation sits next to τ = 1, where the ridgeless theory "
        "diverges: at finite d the peak is finite and slightly shifted, so points beside it "
        "differ by O(1) in relative terms. " + _FINITE_D, finite_d=True),
    "lu2024.fig2": FigureGuide(
        "Lu et al. Fig. 2",
        "At small task diversity κ the error is not monotone in the context length α: longer "
        "contexts can hurt before they help.",
        _FINITE_D, finite_d=True),
    "lu2024.fig3": FigureGuide(
        "Lu et al. Fig. 3",
        "Coloured where e(α) has an interior minimum (its α is the colour); grey where the "
        "error falls monotonically with α.",
        "Theory only: no experiment to compare."),
    "lu2024.fig4": FigureGuide(
        "Lu et al. Fig. 4",
        "g_task drops from memorisation (large) to in-context learning (near 0) around κ = 1 "
        "for linear attention, while dMMSE keeps memorising the finite task set.",
        "The transition at κ ≈ 1 is sharp only as d → ∞; at finite d it is smoothed, so the "
        "deviation is largest around κ = 1 and falls with d. " + _FINITE_D, finite_d=True),
    "lu2024.fig5": FigureGuide(
        "Lu et al. Fig. 5",
        "Trained transformers show the same double descent in τ as linear attention, with the "
        "interpolation peak at n_peak = c d².",
        "Trained networks are compared with the linear-attention theory, which they need not "
        "match exactly away from the peak."),
    "lu2024.fig6": FigureGuide(
        "Lu et al. Fig. 6",
        "g_task of a trained transformer falls with task diversity κ like the linear theory, "
        "while dMMSE keeps memorising.",
        "A small trained transformer against the d → ∞ linear theory: expect the trend, not "
        "the values."),
    "li2024.fig_iid": FigureGuide(
        "Li et al., Fig. 1 (iid tasks)",
        "Trained linear attention and H3 reach the optimal one-step preconditioned-GD risk at "
        "every context length n.",
        "Training error and Monte-Carlo test noise; the deviation should be a few percent."),
    "li2024.fig_rag": FigureGuide(
        "Li et al., RAG",
        "Trained models follow the exact PGD theory in the query–example correlation α; the "
        "law n_eff = (α²d + 1)n holds for α²d ≲ 1 (left of the α = 1/√d line) and overstates "
        "the gain beyond.",
        "Training error and Monte-Carlo test noise."),
    "li2024.fig_alignment": FigureGuide(
        "Li et al., task–feature alignment",
        "In our alignment model the risk normalised by E[y²] falls as task and features align, "
        "as the PGD theory predicts.",
        "Training error and Monte-Carlo test noise."),
    "li2024.fig_lowrank": FigureGuide(
        "Li et al., low-rank attention",
        "Rank-r linear attention reaches the optimal rank-r PGD risk; the risk falls with r.",
        "Training error and Monte-Carlo test noise."),
    "li2024.fig_lora": FigureGuide(
        "Li et al., LoRA",
        "A rank-r LoRA update recovers a fraction of the frozen → optimum gap that rises with r "
        "and matches the theory's.",
        "Training error and Monte-Carlo test noise."),
    "li2024.fig_h3_drift": FigureGuide(
        "Li et al., H3 on drifting tasks",
        "On a drifting task H3's learned filter matches the optimal weighted-PGD weights, and "
        "its advantage over linear attention grows with the drift.",
        "Training error and Monte-Carlo test noise."),
    "shi2024.fig_rank_noise": FigureGuide(
        "Shi et al., Fig. 2 (rank vs noise)",
        "Higher-rank (larger) models have lower clean risk but their risk rises faster with "
        "test label noise σ².",
        "Training error and Monte-Carlo test noise."),
    "shi2024.fig_rank_subspace": FigureGuide(
        "Shi et al., rank-r subspace",
        "A rank-r model keeps the top-r eigen-directions of the data covariance (principal "
        "angles near 0).",
        ""),
    "shi2024.fig_parity_coverage": FigureGuide(
        "Shi et al., sparse parity (coverage)",
        "Few heads serve only the most important feature pairs; more heads cover more pairs.",
        ""),
    "shi2024.fig_parity_noise": FigureGuide(
        "Shi et al., sparse parity (noise)",
        "Models with more heads lose more accuracy as context labels are flipped.",
        ""),
    "shi2024.fig_transformer_noise": FigureGuide(
        "Shi et al., transformer analogue",
        "Larger transformers start lower on clean prompts but their error rises faster with "
        "the in-context label noise σ² (right panel: steeper lines for more parameters).",
        "No theory curve: the error is Monte-Carlo over test prompts; each seed keeps the best "
        "of 4 initialisations on the validation set."),
    "llm.noise_sensitivity": FigureGuide(
        "Shi et al., language models",
        "Larger language models lose more accuracy as demonstration labels are flipped.",
        ""),
}


def guide(name: str, title: str = "") -> FigureGuide:
    """The guide of ``name`` (a neutral one built from ``title`` when none is written)."""
    return GUIDES.get(name, FigureGuide(title or name, title or ""))


def paper_key(name: str) -> tuple[int, str, tuple[object, ...]]:
    """Sort key: paper order, then natural order of the figure (fig2 before fig10)."""
    prefix = name.split(".", 1)[0]
    order, _ = PAPER_ORDER.get(prefix, STUDIES)
    parts = tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))
    return order, prefix, parts


def paper_heading(name: str) -> str:
    """The table-of-contents heading an experiment falls under."""
    return PAPER_ORDER.get(name.split(".", 1)[0], STUDIES)[1]

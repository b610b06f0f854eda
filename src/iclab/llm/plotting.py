"""Figure of the LLM noise-sensitivity study: accuracy vs noise level ``p`` per model.

One panel per (noise kind, k); one line per model, coloured by parameter count (small → dark),
labelled ``name (size, kind)``; base models solid, chat models dashed; markers are the mean over
seeds with ± std error bars; the grey dash-dotted line is chance level ``1/C``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from iclab.figures import color_cycle, label_axes, mean_std, subplots

LINESTYLES = {"base": "-", "chat": "--"}


def plot_noise_sensitivity(results: pd.DataFrame, metric: str = "accuracy") -> Any:
    """Draw the study's figure from its result rows (columns as in
    :class:`iclab.experiments.llm.noise_sensitivity.NoiseSensitivity`); returns a matplotlib
    ``Figure``."""
    if results.empty:
        fig, axes = subplots()
        axes[0, 0].set_title("no results")
        return fig
    noises = list(dict.fromkeys(results["noise"]))
    ks = sorted(results["k"].unique())
    fig, axes = subplots(ncols=len(ks), nrows=len(noises), width=3.6, height=3.0)
    models = (results.groupby("model")["n_params"].first().sort_values().index.tolist())
    colors = dict(zip(models, color_cycle(len(models)), strict=True))
    for r, noise in enumerate(noises):
        for c, k in enumerate(ks):
            ax = axes[r, c]
            cell = results[(results["noise"] == noise) & (results["k"] == k)]
            for model in models:
                rows = cell[cell["model"] == model]
                if rows.empty:
                    continue
                first = rows.iloc[0]
                stats = mean_std(rows, "p", metric).sort_values("p")
                ax.errorbar(stats["p"], stats["mean"], yerr=stats["std"], marker="o",
                            markersize=4, capsize=2, linewidth=1.2, color=colors[model],
                            linestyle=LINESTYLES.get(str(first["kind"]), "-"),
                            label=f"{first['name']} ({first['size']}, {first['kind']})")
            if "n_classes" in cell and not cell.empty and metric == "accuracy":
                ax.axhline(1.0 / float(cell["n_classes"].iloc[0]), color="0.5",
                           linestyle="-.", linewidth=0.8, label="chance")
            label_axes(ax, f"p ({noise} noise)", metric)
            task = cell["task"].iloc[0] if not cell.empty else ""
            ax.set_title(f"{task}, k = {k}")
    axes[0, 0].legend(loc="best")
    return fig

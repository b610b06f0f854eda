"""Shared figure helpers: paper-style axes, theory lines, experiment markers, PNG+PDF output.

Convention (DESIGN.md): theory is a dotted line, experiment is markers with ± std error
bars joined by a thin solid line; axes are labelled with the papers' symbols.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

STYLE: dict[str, Any] = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "lines.linewidth": 1.5,
}

#: Axis labels in the papers' notation.
LABELS: dict[str, str] = {
    "tau": r"$\tau = n/d^2$",
    "alpha": r"$\alpha = \ell/d$",
    "kappa": r"$\kappa = k/d$",
    "rho": r"$\rho$",
    "lam": r"$\lambda$",
    "e_icl": r"$e^{\mathrm{ICL}}$",
    "e_idg": r"$e^{\mathrm{IDG}}$",
    "g_task": r"$g_{\mathrm{task}} = e^{\mathrm{ICL}} - e^{\mathrm{IDG}}$",
}


def legend(ax: plt.Axes, **kw: Any) -> Any:
    """``ax.legend`` in the paper style (small type, translucent frame) unless ``kw`` overrides.

    Matplotlib reads legend rcParams when the legend is drawn, after :func:`subplots` has left
    its style context, so the style is passed explicitly here.
    """
    kw.setdefault("fontsize", STYLE["legend.fontsize"])
    kw.setdefault("framealpha", 0.7)
    return ax.legend(**kw)


def subplots(ncols: int = 1, nrows: int = 1, width: float = 3.4, height: float = 2.8,
             **kw: Any) -> tuple[plt.Figure, np.ndarray]:
    """A figure of ``nrows × ncols`` panels in the paper style; axes always a 2-D array."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                                 squeeze=False, **kw)
    for ax in axes.ravel():
        _apply_style(ax)
    return fig, axes


def _apply_style(ax: plt.Axes) -> None:
    for key in ("top", "right"):
        ax.spines[key].set_visible(False)
    ax.grid(True, alpha=0.25)


def label_axes(ax: plt.Axes, x: str, y: str) -> None:
    """Label axes with the papers' symbols (falls back to the raw column name)."""
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))


def theory_line(ax: plt.Axes, x: Any, y: Any, color: Any = None, label: str | None = None,
                **kw: Any) -> None:
    """A theory curve: dotted line."""
    ax.plot(np.asarray(x), np.asarray(y), linestyle=kw.pop("linestyle", ":"), color=color,
            label=label, linewidth=kw.pop("linewidth", 1.8), **kw)


def mean_std(frame: pd.DataFrame, by: str | Sequence[str], metric: str) -> pd.DataFrame:
    """Mean, std and count of ``metric`` over trials, grouped by ``by``."""
    keys = [by] if isinstance(by, str) else list(by)
    out = frame.groupby(keys, dropna=False)[metric].agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def experiment_points(ax: plt.Axes, frame: pd.DataFrame, x: str, metric: str, color: Any = None,
                      label: str | None = None, marker: str = "o", line: bool = True,
                      **kw: Any) -> None:
    """Experiment markers: mean ± std over trials at each ``x``, joined by a thin solid line."""
    if frame.empty:
        return
    stats = mean_std(frame, x, metric).sort_values(x)
    ax.errorbar(stats[x], stats["mean"], yerr=stats["std"], fmt=marker + ("-" if line else ""),
                color=color, label=label, markersize=kw.pop("markersize", 4),
                linewidth=kw.pop("linewidth", 0.8), capsize=kw.pop("capsize", 2), **kw)


def save_figure(fig: plt.Figure, out_dir: str | Path, stem: str) -> list[Path]:
    """Write ``<out_dir>/<stem>.png`` and ``.pdf``; closes the figure; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    if fig.get_layout_engine() is None:
        with warnings.catch_warnings():  # some artists are not tight_layout-compatible
            warnings.simplefilter("ignore", UserWarning)
            fig.tight_layout()
    for p in paths:
        fig.savefig(p, bbox_inches="tight")
    plt.close(fig)
    return paths


def color_cycle(n: int, cmap: str = "viridis") -> list[Any]:
    """``n`` distinct colours from ``cmap`` (avoiding its brightest end)."""
    return [plt.get_cmap(cmap)(v) for v in np.linspace(0.0, 0.85, max(n, 1))]

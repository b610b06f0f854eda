"""Shared figure helpers: paper-style axes, theory lines, experiment markers, PNG+PDF output.

Convention: theory is a dotted line, experiment is markers with ± std error bars joined by a
thin solid line; axes and legends speak the papers' notation (symbols, not code names).

Figures are plain :class:`matplotlib.figure.Figure` objects, made without :mod:`pyplot`:
importing iclab never changes the matplotlib backend and never touches a notebook's
``plt`` state. A figure returned by an experiment's ``plot`` displays in Jupyter as the value
of a cell and is written to disk with :func:`save_figure` (PNG via Agg, PDF via the PDF
backend, chosen per file format).

The helpers the experiment modules call (:func:`label_axes`, :func:`legend`,
:func:`fixed_params`, :func:`theory_line`) and :func:`polish` (run by :func:`save_figure`)
put every figure into the same words: ``1e-05`` becomes :math:`10^{-5}`, ``linear_attention``
becomes "linear attention", a legend gains a "theory" entry when its panel has a theory
curve, and no text is smaller than :data:`MIN_FONT` points.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D

from iclab.figure_names import figure_stem, settings_diff  # noqa: F401  (re-exported)

STYLE: dict[str, Any] = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 11,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "lines.linewidth": 1.5,
    "axes.formatter.use_mathtext": True,  # offsets read ×10⁻⁵, not 1e−05
    "axes.formatter.limits": (-3, 4),
}

#: No text in a saved figure is smaller than this (points, at the figure's own size).
MIN_FONT = 7.5

#: Axis labels in the papers' notation (keys are the tidy tables' column names).
LABELS: dict[str, str] = {
    "tau": r"$\tau = n/d^2$",
    "alpha": r"$\alpha = \ell/d$",
    "kappa": r"$\kappa = k/d$",
    "rho": r"$\rho$ (label noise)",
    "lam": r"$\lambda$ (ridge)",
    "e_icl": r"ICL error $e^{\mathrm{ICL}}$",
    "e_idg": r"IDG error $e^{\mathrm{IDG}}$",
    "g_task": r"$g_{\mathrm{task}} = e^{\mathrm{ICL}} - e^{\mathrm{IDG}}$",
    "n": r"context length $n$",
    "risk": r"test risk $\mathcal{R}$",
    "test error": r"test error $e^{\mathrm{ICL}}$",
    "error": r"test error",
    "sigma2": r"test label noise $\sigma^2$",
    "gamma": r"drift correlation $\gamma$",
    "d": r"dimension $d$",
    "r": r"rank $r$",
    "m": r"heads $m$",
    "p": r"flipped-label fraction $p$",
    "steps": "training steps",
}

#: Code names that appear in tables and their words in figures.
NAMES: dict[str, str] = {
    "linear_attention": "linear attention",
    "linear attention": "linear attention",
    "LA": "linear attention",
    "dmmse": "dMMSE",
    "h3": "H3",
    "H3": "H3",
    "pgd": "PGD",
    "lora": "LoRA",
    "low_rank": "low rank",
    "lowrank": "low rank",
    "bayes_ridge": "Bayes ridge",
    "ridge": "ridge",
    "lsa": "LSA",
    "transformer": "transformer",
}

#: Greek/keyword parameter names and their symbols (for :func:`fixed_params`).
SYMBOLS: dict[str, str] = {
    "alpha": r"\alpha", "tau": r"\tau", "kappa": r"\kappa", "rho": r"\rho", "lam": r"\lambda",
    "gamma": r"\gamma", "sigma2": r"\sigma^2", "d": "d", "n": "n", "m": "m", "r": "r",
    "M": "M", "N": "N", "k": "k", "p": "p", "l": r"\ell",
}

_THEORY_GID = "iclab-theory"
_ASSIGN = re.compile(r"(?<![\w\\$])(alpha|tau|kappa|rho|gamma|sigma2|lam|d|r|m|n|k|M|N)"
                     r"\s*=\s*(-?\d+(?:\.\d+)?(?:[eE][+\-−]?\d+)?|inf|∞)(?![\w.])")


def _value(text: str) -> str:
    """A number for mathtext: ``inf`` → ``\\infty``, ``1e-05`` → ``10^{-5}``."""
    if text in ("inf", "∞"):
        return r"\infty"
    return _SCI.sub(lambda m: _sci_to_math(m, True), text)
_SCI = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)[eE]([+\-−]?\d+)(?![\w.])")
_WORD = re.compile(r"\b(linear_attention|low_rank|bayes_ridge|dmmse|lowrank|lora|pgd|h3|lsa|LA)\b")


def format_number(value: float, digits: int = 3) -> str:
    """A number in mathtext: ``1e-05`` → ``$10^{-5}$``, ``2.5e-3`` → ``$2.5\\times10^{-3}$``.

    Numbers between 10⁻³ and 10⁴ are printed plainly (``%g`` with ``digits`` significant
    digits); ``inf`` prints as ``$\\infty$``.
    """
    v = float(value)
    if np.isinf(v):
        return r"$\infty$" if v > 0 else r"$-\infty$"
    if v == 0 or 1e-3 <= abs(v) < 1e4:
        return f"{v:.{digits}g}"
    exp = int(np.floor(np.log10(abs(v))))
    mant = v / 10.0**exp
    if abs(round(mant, digits - 1) - 1.0) < 1e-9:
        return rf"$10^{{{exp}}}$" if v > 0 else rf"$-10^{{{exp}}}$"
    return rf"${mant:.{digits - 1}g}\times10^{{{exp}}}$"


def _sci_to_math(match: re.Match[str], inside_math: bool) -> str:
    mant, exp = float(match.group(1)), int(match.group(2).replace("−", "-"))
    body = rf"10^{{{exp}}}" if mant == 1 else rf"{mant:g}\times10^{{{exp}}}"
    return body if inside_math else f"${body}$"


def pretty(text: str) -> str:
    """Rewrite a figure text into the papers' words.

    * ``1e-05`` → :math:`10^{-5}` (inside or outside ``$…$``);
    * code names → words (``linear_attention``/``LA`` → "linear attention", ``h3`` → "H3");
    * ``kappa=0.5`` → :math:`\\kappa = 0.5` for a bare ``name=value`` label.
    """
    if not text or text.startswith("_"):
        return text
    pieces = re.split(r"(\$[^$]*\$)", text)
    out = []
    for piece in pieces:
        in_math = piece.startswith("$") and piece.endswith("$") and len(piece) > 1
        if in_math:
            out.append(_SCI.sub(lambda m: _sci_to_math(m, True), piece))
            continue
        # Plain text: name=value first (its number goes into the same $…$), then numbers.
        parts = re.split(r"(\$[^$]*\$)", _ASSIGN.sub(
            lambda m: f"${SYMBOLS[m.group(1)]} = {_value(m.group(2))}$", piece))
        for part in parts:
            if not (part.startswith("$") and part.endswith("$") and len(part) > 1):
                part = _SCI.sub(lambda m: _sci_to_math(m, False), part)
                part = _WORD.sub(lambda m: NAMES.get(m.group(1), m.group(1)), part)
            out.append(part)
    return "".join(out)


def legend(ax: Axes, theory: bool | None = None, **kw: Any) -> Legend | None:
    """The panel's legend in the papers' words, with a "theory" entry when theory is drawn.

    Labels pass through :func:`pretty`. ``theory=None`` (default) adds a black dotted
    "theory" entry when the panel holds a theory curve (:func:`theory_line`) and no legend
    entry already says "theory"; ``True``/``False`` force it on/off. Font sizes below
    :data:`MIN_FONT` are raised to it. Returns ``None`` when there is nothing to show.
    """
    handles, labels = ax.get_legend_handles_labels()
    labels = [pretty(lab) for lab in labels]
    has_theory = any(line.get_gid() == _THEORY_GID for line in ax.get_lines())
    if theory is None:
        theory = has_theory and not any("theory" in lab.lower() for lab in labels)
    if theory:
        handles.append(Line2D([], [], color="0.2", linestyle=":", linewidth=1.8))
        labels.append("theory")
    if not handles:
        return None
    size = kw.pop("fontsize", STYLE["legend.fontsize"])
    if isinstance(size, int | float):
        size = max(float(size), MIN_FONT)
    kw.setdefault("framealpha", 0.75)
    return ax.legend(handles, labels, fontsize=size, **kw)


def subplots(ncols: int = 1, nrows: int = 1, width: float = 3.4, height: float = 2.8,
             **kw: Any) -> tuple[Figure, np.ndarray]:
    """A figure of ``nrows × ncols`` panels in the paper style; axes always a 2-D array.

    The figure is a :class:`matplotlib.figure.Figure` made without :mod:`pyplot` (so no
    backend is chosen and no global figure list grows).
    """
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(width * ncols, height * nrows))
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
        for ax in axes.ravel():
            _apply_style(ax)
    return fig, axes


def _apply_style(ax: Axes) -> None:
    for key in ("top", "right"):
        ax.spines[key].set_visible(False)
    ax.grid(True, alpha=0.25)


def label_axes(ax: Axes, x: str, y: str) -> None:
    """Label axes with the papers' symbols (falls back to :func:`pretty` of the text)."""
    ax.set_xlabel(LABELS.get(x, pretty(x)))
    ax.set_ylabel(LABELS.get(y, pretty(y)))


def fixed_params(ax: Axes, loc: str = "title", **params: Any) -> str:
    """State a panel's fixed parameters in symbols: ``fixed_params(ax, kappa=0.5, rho=1e-5)``.

    Writes ``κ = 0.5, ρ = 10⁻⁵`` into the panel's title (appended after any existing title,
    ``loc="title"``) or as a small note in the upper-right corner (``loc="corner"``).
    Returns the text.
    """
    parts = []
    for key, value in params.items():
        sym = SYMBOLS.get(key, key)
        val = format_number(value) if isinstance(value, int | float) and not isinstance(
            value, bool) else str(value)
        parts.append(f"${sym} = {val.strip('$')}$")
    text = ", ".join(parts)
    if loc == "title":
        old = ax.get_title()
        ax.set_title(f"{old}: {text}" if old else text)
    else:
        ax.text(0.98, 0.97, text, transform=ax.transAxes, ha="right", va="top",
                fontsize=MIN_FONT + 0.5, color="0.25")
    return text


def theory_line(ax: Axes, x: Any, y: Any, color: Any = None, label: str | None = None,
                **kw: Any) -> None:
    """A theory curve: dotted line (tagged, so :func:`legend` can add a "theory" entry)."""
    (line,) = ax.plot(np.asarray(x), np.asarray(y), linestyle=kw.pop("linestyle", ":"),
                      color=color, label=label, linewidth=kw.pop("linewidth", 1.8), **kw)
    line.set_gid(_THEORY_GID)


def mean_std(frame: pd.DataFrame, by: str | Sequence[str], metric: str) -> pd.DataFrame:
    """Mean, std and count of ``metric`` over trials, grouped by ``by``."""
    keys = [by] if isinstance(by, str) else list(by)
    out = frame.groupby(keys, dropna=False)[metric].agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def experiment_points(ax: Axes, frame: pd.DataFrame, x: str, metric: str, color: Any = None,
                      label: str | None = None, marker: str = "o", line: bool = True,
                      **kw: Any) -> None:
    """Experiment markers: mean ± std over trials at each ``x``, joined by a thin solid line."""
    if frame.empty:
        return
    stats = mean_std(frame, x, metric).sort_values(x)
    ax.errorbar(stats[x], stats["mean"], yerr=stats["std"], fmt=marker + ("-" if line else ""),
                color=color, label=label, markersize=kw.pop("markersize", 4),
                linewidth=kw.pop("linewidth", 0.8), capsize=kw.pop("capsize", 2), **kw)


def polish(fig: Figure) -> Figure:
    """Put a finished figure into the papers' words (idempotent; run by :func:`save_figure`).

    Titles, axis labels and legend texts pass through :func:`pretty`; a legend whose panel
    has a theory curve but no "theory" entry gets one; no text stays below :data:`MIN_FONT`.
    """
    for ax in fig.axes:
        for text in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label):
            text.set_text(pretty(text.get_text()))
        old = ax.get_legend()
        if old is not None:
            has_theory = any(line.get_gid() == _THEORY_GID for line in ax.get_lines())
            labels = [t.get_text() for t in old.get_texts()]
            if has_theory and not any("theory" in lab.lower() for lab in labels):
                handles = list(old.legend_handles) + [
                    Line2D([], [], color="0.2", linestyle=":", linewidth=1.8)]
                size = max(old.get_texts()[0].get_fontsize() if labels else MIN_FONT, MIN_FONT)
                ax.legend(handles, [pretty(lab) for lab in labels] + ["theory"],
                          loc=old._loc, fontsize=size, framealpha=0.75)
            else:
                for t in old.get_texts():
                    t.set_text(pretty(t.get_text()))
        for text in ax.texts:
            text.set_text(pretty(text.get_text()))
    for text in [fig._suptitle, fig._supxlabel, fig._supylabel, *fig.texts]:
        if text is not None:
            text.set_text(pretty(text.get_text()))
    for text in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "set_fontsize")):
        if text.get_fontsize() < MIN_FONT:
            text.set_fontsize(MIN_FONT)
    return fig


def save_figure(fig: Figure, out_dir: str | Path, stem: str) -> list[Path]:
    """Write ``<out_dir>/<stem>.png`` and ``.pdf`` (after :func:`polish`); returns the paths.

    The one place iclab writes a figure file: the CLI, the demo, the report and the LLM
    study all come here (through :func:`write_experiment_figure` for a sweep's figure).

    Works for figures made by :func:`subplots` (no pyplot) and for pyplot figures (which
    are closed afterwards so they do not accumulate).
    """
    from iclab.safe_output import atomic_write, check_not_store

    out = Path(out_dir)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for p in paths:  # never over a store or any SQLite file, checked before either is written
        check_not_store("out", p)
    out.mkdir(parents=True, exist_ok=True)
    polish(fig)
    if fig.get_layout_engine() is None:
        with warnings.catch_warnings():  # some artists are not tight_layout-compatible
            warnings.simplefilter("ignore", UserWarning)
            fig.tight_layout()
    for p in paths:
        with atomic_write(p) as tmp:
            fig.savefig(tmp, bbox_inches="tight", format=p.suffix[1:])
    import sys

    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None and fig in map(pyplot.figure, pyplot.get_fignums()):
        pyplot.close(fig)
    return paths


def color_cycle(n: int, cmap: str = "viridis") -> list[Any]:
    """``n`` distinct colours from ``cmap`` (avoiding its brightest end)."""
    colormap = mpl.colormaps[cmap]
    return [colormap(v) for v in np.linspace(0.0, 0.85, max(n, 1))]


def write_experiment_figure(exp: Any, settings: Any, variant: str | None, results: pd.DataFrame,
                            out: str | Path, theory: Any = None,
                            stem: str | None = None) -> list[Path]:
    """Draw a sweep's figure (``exp.plot``) and write it to ``<out>/figures/<stem>.{png,pdf}``.

    ``theory`` defaults to ``exp.theory(settings)``; ``stem`` to :func:`figure_stem` of the
    settings and variant. Returns the written paths (PNG first).
    """
    if theory is None:
        theory = exp.theory(settings)
    stem = stem or figure_stem(exp, settings, variant)
    return save_figure(exp.plot(settings, results, theory), Path(out) / "figures", stem)

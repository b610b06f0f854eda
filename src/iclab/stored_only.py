"""Stored sweeps of experiments whose code is not loaded.

``iclab export``, ``plot`` and ``report`` read the store; an experiment registered from
outside the package (an entry point or ``ICLAB_EXPERIMENT_MODULES``) may not be loaded when
they run. Its rows and settings are in the store all the same: :func:`find_experiment`
tells the commands whether the code is there, and :func:`generic_figure` draws the stored
rows without it (each numeric result against the first numeric grid parameter, mean ± std
over trials, one line per value of the other parameters).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from iclab.contract import Experiment
from iclab.engine.store import Store
from iclab.errors import UnknownExperimentError

#: columns that describe a row rather than measure something
_META = {"trial", "seed", "variant", "settings_hash"}


def find_experiment(name: str, store: Store | None = None) -> Experiment | None:
    """The registered experiment ``name``, or ``None`` when its code is not loaded but
    ``store`` holds rows of it. Raises :class:`UnknownExperimentError` when neither."""
    from iclab.experiments import get_experiment

    try:
        return get_experiment(name)
    except UnknownExperimentError:
        if store is not None and store.exists() and name in store.experiments():
            return None
        raise


def _parameters_and_metrics(frame: pd.DataFrame, point_keys: list[str]
                            ) -> tuple[list[str], list[str]]:
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    params = [k for k in point_keys if k in numeric and frame[k].nunique() > 1]
    metrics = [c for c in numeric if c not in point_keys and c not in _META
               and not c.startswith("settings.") and frame[c].nunique() > 1]
    floats = [c for c in metrics if pd.api.types.is_float_dtype(frame[c])]
    return params, floats + [c for c in metrics if c not in floats]


def generic_figure(frame: pd.DataFrame, point_keys: list[str], title: str) -> Figure:
    """A plain figure of stored rows: one panel per metric (at most four), the metric's mean
    ± std over trials against the first varying numeric parameter, one line per combination
    of the other varying parameters (and of text columns such as ``method``)."""
    from iclab import figures

    params, metrics = _parameters_and_metrics(frame, point_keys)
    metrics = metrics[:4] or ["trial"]
    fig, axes = figures.subplots(ncols=len(metrics))
    axes = list(getattr(axes, "flat", [axes]))
    x = params[0] if params else "trial"
    text = [c for c in frame.columns if c not in _META and frame[c].dtype == object
            and c not in point_keys and frame[c].map(lambda v: isinstance(v, str)).all()]
    groups = [k for k in [*params[1:], *text] if k in frame.columns]
    for ax, metric in zip(axes, metrics, strict=False):
        parts = frame.groupby(groups, dropna=False) if groups else [((), frame)]
        for key, part in parts:
            stats = part.groupby(x)[metric].agg(["mean", "std"]).reset_index()
            label = ", ".join(f"{g}={v}" for g, v in zip(groups, key if isinstance(key, tuple)
                                                         else (key,), strict=False))
            ax.errorbar(stats[x], stats["mean"], yerr=stats["std"].fillna(0), marker="o",
                        ms=3, lw=0.8, capsize=2, label=label or None)
        figures.label_axes(ax, x, metric)
        if groups and len(ax.get_lines()) <= 12:
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def point_keys_of(store: Store, name: str, settings_hash: str) -> list[str]:
    """The grid parameters of a stored sweep (the keys of its stored points)."""
    keys: list[str] = []
    for unit in store.units(name, settings_hash)[:200]:
        keys += [k for k in unit.point if k not in keys]
    return keys


def stored_sweep_frame(store: Store, name: str, settings_hash: str) -> tuple[pd.DataFrame,
                                                                             list[str]]:
    """The rows of one stored sweep (store order) and its grid parameters."""
    from iclab.engine.store import records_to_frame

    return records_to_frame(store.units(name, settings_hash)), point_keys_of(
        store, name, settings_hash)


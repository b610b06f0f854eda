r"""Theory-vs-experiment deviation tables, with the columns the report expects.

For each curve (a group of grid points) and metric, over the points where the theory is
finite:

.. math::
    \text{max\_abs\_dev} = \max_p |\bar m_p - t_p|, \qquad
    \text{max\_rel\_dev} = \max_p |\bar m_p - t_p| / |t_p| ,

with :math:`\bar m_p` the mean over trials of the measured metric at point :math:`p` and
:math:`t_p` the theory there. Every table has exactly the columns of
:data:`iclab.contract.DEVIATION_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from iclab.contract import DEVIATION_COLUMNS

#: Grid columns a point is identified by, when present in the results.
POINT_COLUMNS: tuple[str, ...] = ("panel", "arch", "d", "alpha", "kappa", "tau", "rho",
                                  "lam", "n", "sigma2", "rank")


def deviation_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A deviation table from row dicts; raises ``ValueError`` if a row lacks a column or
    has an extra one (so every experiment's table reads the same in the report)."""
    rows = list(rows)
    for row in rows:
        if set(row) != set(DEVIATION_COLUMNS):
            raise ValueError(f"deviation row must have exactly the columns "
                             f"{list(DEVIATION_COLUMNS)}; got {sorted(row)}")
    return pd.DataFrame(rows, columns=list(DEVIATION_COLUMNS))


def _curve_label(keys: Sequence[str], values: tuple[Any, ...]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float | int) else f"{k}={v}"
                     for k, v in zip(keys, values, strict=True))


def deviation_table(results: pd.DataFrame | None,
                    theory_at: Callable[[pd.Series, str], float],
                    curve_keys: Sequence[str], metrics: Sequence[str],
                    point_columns: Sequence[str] = POINT_COLUMNS) -> pd.DataFrame:
    """Per curve and metric: points compared, max absolute and relative deviation.

    Args:
        results: measured rows (already filtered to the method compared with the theory).
        theory_at: ``theory_at(point_row, metric)`` — the theory at a grid point (NaN or
            inf where it is undefined; those points are skipped).
        curve_keys: the columns that name a curve (e.g. ``["panel", "kappa"]``).
        metrics: the measured columns compared with the theory.
        point_columns: candidate columns identifying a grid point (those present are used).
    """
    if results is None or results.empty:
        return deviation_frame([])
    point_cols = [c for c in point_columns if c in results.columns]
    out = []
    for metric in metrics:
        if metric not in results:
            continue
        sub = results.dropna(subset=[metric])
        means = sub.groupby(point_cols, dropna=False)[metric].mean().reset_index()
        means["theory"] = [theory_at(row, metric) for _, row in means.iterrows()]
        means = means[np.isfinite(means["theory"].astype(float))]
        for key, grp in means.groupby(list(curve_keys), dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            dev = (grp[metric] - grp["theory"]).abs()
            out.append({"curve": _curve_label(curve_keys, key), "metric": metric,
                        "n_points": len(grp), "max_abs_dev": float(dev.max()),
                        "max_rel_dev": float((dev / grp["theory"].abs()).max())})
    return deviation_frame(out)

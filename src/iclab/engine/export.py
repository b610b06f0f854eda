"""Export stored results as tidy CSV / Parquet tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from iclab.engine.store import Store, records_to_frame
from iclab.errors import ICLabError


def stored_frame(store: Store, experiment: str) -> pd.DataFrame:
    """Every stored row of ``experiment``, with ``variant`` and ``settings_hash`` columns."""
    frames = []
    for row in store.settings_of(experiment).itertuples():
        frame = records_to_frame(store.units(experiment, row.settings_hash))
        if frame.empty:
            continue
        frame["variant"] = row.variant
        frame["settings_hash"] = row.settings_hash
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def export_experiment(store: str | Path | Store, experiment: str, fmt: str, target: Path) -> int:
    """Write every stored row of ``experiment`` to ``target`` (``csv`` or ``parquet``).

    Returns the number of rows. Raises :class:`ICLabError` if nothing is stored.
    """
    db = store if isinstance(store, Store) else Store(store)
    frame = stored_frame(db, experiment) if db.exists() else pd.DataFrame()
    if frame.empty:
        raise ICLabError(f"nothing stored for {experiment} in {db.path}; "
                         f"run `iclab run {experiment}` first")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frame.to_csv(target, index=False)
    else:
        # Parquet needs one type per column: JSON-encode columns holding lists/dicts.
        for col in frame.columns:
            if frame[col].map(lambda v: isinstance(v, list | dict)).any():
                frame[col] = frame[col].map(json.dumps)
        frame.to_parquet(target, index=False)
    return len(frame)

"""Export stored results as tidy CSV / Parquet tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pydantic

from iclab.engine.store import Store, UnitRecord, records_to_frame
from iclab.errors import ICLabError, UnknownExperimentError


def _sweep_order(records: list[UnitRecord], experiment: str, version: str,
                 settings_json: str, stored_hash: str) -> list[UnitRecord]:
    """``records`` of one stored sweep in the sweep's order (point by point, trial by trial,
    as :func:`iclab.engine.runner.load_results` returns them), rebuilt from the stored
    settings; in the store's order when the sweep cannot be rebuilt here (the experiment is
    not registered, its version changed, or its settings no longer validate)."""
    from iclab.engine.runner import in_sweep_order, settings_hash
    from iclab.experiments.registry import get_experiment

    try:
        exp = get_experiment(experiment)
    except UnknownExperimentError:
        return records
    if str(exp.version) != str(version):
        return records
    try:
        settings = exp.Settings.model_validate_json(settings_json)
    except pydantic.ValidationError:
        return records
    if settings_hash(exp, settings) != stored_hash:
        return records
    return in_sweep_order(records, exp, settings)


def stored_frame(store: Store, experiment: str) -> pd.DataFrame:
    """Every stored row of ``experiment``, with ``variant`` and ``settings_hash`` columns;
    each sweep's rows in the sweep's order (whatever order its units finished in)."""
    frames = []
    for row in store.settings_of(experiment).itertuples():
        records = _sweep_order(store.units(experiment, row.settings_hash), experiment,
                               row.version, row.settings_json, row.settings_hash)
        frame = records_to_frame(records)
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

"""Export stored results as tidy CSV / Parquet tables."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pydantic

from iclab.contract import Experiment
from iclab.engine.runner import in_sweep_order, settings_hash
from iclab.engine.store import Store, UnitRecord, records_to_frame
from iclab.errors import ICLabError, UnknownExperimentError
from iclab.safe_output import atomic_write, check_not_store

#: resolves an experiment name to an instance (the registry's ``get_experiment``; the engine
#: does not import the experiments, so the caller passes it)
ExperimentLookup = Callable[[str], Experiment]


def _sweep_order(records: list[UnitRecord], experiment: str, version: str,
                 settings_json: str, stored_hash: str, lookup: ExperimentLookup | None
                 ) -> list[UnitRecord]:
    """``records`` of one stored sweep in the sweep's order (point by point, trial by trial,
    as :func:`iclab.engine.runner.load_results` returns them), rebuilt from the stored
    settings; in the store's order when the sweep cannot be rebuilt (no ``lookup``, the
    experiment is unknown to it, its version changed, or its settings no longer validate)."""
    if lookup is None:
        return records
    try:
        exp = lookup(experiment)
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


def stored_frame(store: Store, experiment: str, lookup: ExperimentLookup | None = None
                 ) -> pd.DataFrame:
    """Every stored row of ``experiment``, with ``variant`` and ``settings_hash`` columns.

    With ``lookup`` (name -> experiment, e.g. :func:`iclab.experiments.get_experiment`) each
    sweep's rows come in the sweep's order, whatever order its units finished in; without it,
    in the order they were stored."""
    frames = []
    for row in store.settings_of(experiment).itertuples():
        records = _sweep_order(store.units(experiment, row.settings_hash), experiment,
                               row.version, row.settings_json, row.settings_hash, lookup)
        frame = records_to_frame(records)
        if frame.empty:
            continue
        frame["variant"] = row.variant
        frame["settings_hash"] = row.settings_hash
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def export_experiment(store: str | Path | Store, experiment: str, fmt: str, target: Path,
                      lookup: ExperimentLookup | None = None) -> int:
    """Write every stored row of ``experiment`` to ``target`` (``csv`` or ``parquet``), each
    sweep in its order when ``lookup`` is given (:func:`stored_frame`).

    Returns the number of rows. Raises :class:`ICLabError` if nothing is stored. The store
    is opened read-only; ``target`` may not be the store or any SQLite file, and is written
    through a temporary file renamed into place (:func:`iclab.safe_output.atomic_write`).
    """
    db = store if isinstance(store, Store) else Store(store, read_only=True)
    check_not_store("out", target, [db.path])
    frame = stored_frame(db, experiment, lookup) if db.exists() else pd.DataFrame()
    if frame.empty:
        raise ICLabError(f"nothing stored for {experiment} in {db.path}; "
                         f"run `iclab run {experiment}` first")
    if fmt != "csv":  # Parquet needs one type per column: JSON-encode lists/dicts
        for col in frame.columns:
            if frame[col].map(lambda v: isinstance(v, list | dict)).any():
                frame[col] = frame[col].map(json.dumps)
    with atomic_write(target, [db.path]) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return len(frame)

"""Export stored results as tidy CSV / Parquet tables.

Every row carries its sweep: ``variant``, ``settings_hash`` and, with ``settings_columns``,
one ``settings.<key>`` column per setting (lists and dicts as JSON text), so an export that
mixes several settings stays readable on its own. :class:`SweepFilter` keeps some sweeps
(``iclab export --variant/--hash/--set``); :func:`theory_frame` is the theory table of the
same sweeps (``iclab export --theory``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


@dataclasses.dataclass(frozen=True)
class SweepFilter:
    """Which stored sweeps to keep (every one by default).

    Attributes:
        variant: the variant the sweep was run as (``quick``, ``full``, ...).
        hash: a prefix of the sweep's settings hash.
        settings: ``{key: value}`` the sweep's stored settings must equal (lists compare as
            lists: ``{"alphas": [1, 10]}``).
    """

    variant: str | None = None
    hash: str | None = None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)

    def keeps(self, variant: Any, settings_hash: str, settings: dict[str, Any]) -> bool:
        """Whether a stored sweep passes the filter."""
        if self.variant is not None and str(variant) != self.variant:
            return False
        if self.hash is not None and not settings_hash.startswith(self.hash):
            return False
        return all(key in settings and _same(settings[key], value)
                   for key, value in self.settings.items())


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, list | tuple) and isinstance(wanted, list | tuple):
        return len(stored) == len(wanted) and all(map(_same, stored, wanted))
    if isinstance(stored, int | float) and isinstance(wanted, int | float):
        return float(stored) == float(wanted)
    return bool(stored == wanted)


def settings_columns(settings: dict[str, Any]) -> dict[str, Any]:
    """``{"settings.<key>": value}``, lists and dicts as JSON text (one type per column)."""
    return {f"settings.{k}": json.dumps(v) if isinstance(v, list | dict) else v
            for k, v in settings.items()}


def stored_sweeps(store: Store, experiment: str, where: SweepFilter | None = None
                  ) -> list[Any]:
    """The stored sweeps of ``experiment`` the filter keeps (rows of ``Store.settings_of``)."""
    where = where or SweepFilter()
    return [row for row in store.settings_of(experiment).itertuples()
            if where.keeps(row.variant, row.settings_hash, json.loads(row.settings_json))]


def stored_frame(store: Store, experiment: str, lookup: ExperimentLookup | None = None,
                 where: SweepFilter | None = None, with_settings: bool = False
                 ) -> pd.DataFrame:
    """Every stored row of ``experiment``, with ``variant`` and ``settings_hash`` columns.

    With ``lookup`` (name -> experiment, e.g. :func:`iclab.experiments.get_experiment`) each
    sweep's rows come in the sweep's order, whatever order its units finished in; without it
    (or when the experiment's code is not loaded), in the order they were stored. ``where``
    keeps some sweeps; ``with_settings`` adds a ``settings.<key>`` column per setting."""
    frames = []
    for row in stored_sweeps(store, experiment, where):
        records = _sweep_order(store.units(experiment, row.settings_hash), experiment,
                               row.version, row.settings_json, row.settings_hash, lookup)
        frame = records_to_frame(records)
        if frame.empty:
            continue
        frame["variant"] = row.variant
        frame["settings_hash"] = row.settings_hash
        if with_settings:
            for key, value in settings_columns(json.loads(row.settings_json)).items():
                frame[key] = value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def theory_frame(store: Store, experiment: Experiment, where: SweepFilter | None = None
                 ) -> pd.DataFrame:
    """The theory curves of every stored sweep the filter keeps, computed afresh from its
    stored settings, with ``variant`` and ``settings_hash`` columns (sweeps whose experiment
    has no theory add nothing)."""
    frames = []
    for row in stored_sweeps(store, experiment.name, where):
        try:
            settings = experiment.Settings.model_validate_json(row.settings_json)
        except pydantic.ValidationError:
            continue
        theory = experiment.theory(settings)
        if theory is None or theory.empty:
            continue
        frames.append(theory.assign(variant=row.variant, settings_hash=row.settings_hash))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def export_experiment(store: str | Path | Store, experiment: str, fmt: str, target: Path,
                      lookup: ExperimentLookup | None = None, where: SweepFilter | None = None,
                      with_settings: bool = True, theory: bool = False) -> int:
    """Write every stored row of ``experiment`` to ``target`` (``csv`` or ``parquet``), each
    sweep in its order when ``lookup`` is given (:func:`stored_frame`), with its settings as
    ``settings.<key>`` columns unless ``with_settings`` is false. ``where`` keeps some sweeps;
    ``theory`` writes the theory table of those sweeps instead (needs ``lookup``).

    Returns the number of rows. Raises :class:`ICLabError` if nothing is stored (or matches).
    The store is opened read-only; ``target`` may not be the store or any SQLite file, and is
    written through a temporary file renamed into place
    (:func:`iclab.safe_output.atomic_write`).
    """
    db = store if isinstance(store, Store) else Store(store, read_only=True)
    check_not_store("out", target, [db.path])
    if theory:
        if lookup is None:
            raise ICLabError(f"the theory of {experiment} needs its code: load the experiment")
        frame = theory_frame(db, lookup(experiment), where) if db.exists() else pd.DataFrame()
    else:
        frame = (stored_frame(db, experiment, lookup, where, with_settings) if db.exists()
                 else pd.DataFrame())
    if frame.empty:
        stored = stored_sweeps(db, experiment) if db.exists() else []
        if stored and where is not None and where != SweepFilter():
            known = "; ".join(f"{r.settings_hash[:10]} [{r.variant}]" for r in stored)
            raise ICLabError(f"no stored sweep of {experiment} matches --variant/--hash/--set; "
                             f"stored: {known}")
        what = "theory" if theory and stored else "rows"
        raise ICLabError(f"no stored {what} for {experiment} in {db.path}; "
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

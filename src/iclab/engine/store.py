"""Embedded SQLite result store (WAL), keyed by a content hash of each unit of work.

A *unit* is one (experiment, settings, point, trial). Its key is
``content_hash(experiment, version, settings, point, trial)``; its rows are stored as JSON
in one transaction, so a unit is either fully stored or absent — a sweep killed at any
moment resumes by skipping the keys already present, and ``INSERT OR IGNORE`` makes a
repeated write a no-op (nothing is duplicated).

Only the driver process writes; executors return rows to it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from iclab.seeding import canonical_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    settings_hash TEXT PRIMARY KEY,
    experiment    TEXT NOT NULL,
    variant       TEXT,
    version       TEXT NOT NULL,
    settings_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS units (
    key           TEXT PRIMARY KEY,
    experiment    TEXT NOT NULL,
    settings_hash TEXT NOT NULL,
    point_json    TEXT NOT NULL,
    trial         INTEGER NOT NULL,
    rows_json     TEXT NOT NULL,
    seconds       REAL NOT NULL,
    device        TEXT,
    created       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS units_by_settings ON units(experiment, settings_hash);
CREATE TABLE IF NOT EXISTS runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment    TEXT NOT NULL,
    variant       TEXT,
    settings_hash TEXT NOT NULL,
    started       REAL NOT NULL,
    finished      REAL,
    n_units       INTEGER NOT NULL,
    n_computed    INTEGER,
    seconds       REAL,
    executor      TEXT,
    device        TEXT,
    code_version  TEXT,
    status        TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class UnitRecord:
    """One finished unit of work, as written to the store."""

    key: str
    experiment: str
    settings_hash: str
    point: dict[str, Any]
    trial: int
    rows: list[dict[str, Any]]
    seconds: float
    device: str


class Store:
    """A results database at ``path`` (created with its parent folder on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    # ---- connection ---------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def exists(self) -> bool:
        """Whether the database file exists (reading never creates it)."""
        return self.path.exists()

    # ---- writes -------------------------------------------------------------------------
    def register_settings(
        self, experiment: str, variant: str | None, version: str, settings_hash: str,
        settings: dict[str, Any],
    ) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO settings VALUES (?, ?, ?, ?, ?)",
            (settings_hash, experiment, variant, version, canonical_json(settings)),
        )

    def put(self, record: UnitRecord) -> bool:
        """Store one unit atomically; returns False if the key was already present."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO units VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.key, record.experiment, record.settings_hash,
                canonical_json(record.point), record.trial, canonical_json(record.rows),
                record.seconds, record.device, time.time(),
            ),
        )
        return cur.rowcount == 1

    def start_run(
        self, experiment: str, variant: str | None, settings_hash: str, n_units: int,
        executor: str, device: str, code_version: str,
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO runs (experiment, variant, settings_hash, started, n_units, executor,"
            " device, code_version, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running')",
            (experiment, variant, settings_hash, time.time(), n_units, executor, device,
             code_version),
        )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, n_computed: int, seconds: float, status: str) -> None:
        self.conn.execute(
            "UPDATE runs SET finished=?, n_computed=?, seconds=?, status=? WHERE id=?",
            (time.time(), n_computed, seconds, status, run_id),
        )

    # ---- reads --------------------------------------------------------------------------
    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        """The subset of ``keys`` already stored."""
        if not self.exists():
            return set()
        found: set[str] = set()
        for i in range(0, len(keys), 900):  # SQLite's parameter limit
            chunk = list(keys[i : i + 900])
            marks = ",".join("?" * len(chunk))
            found.update(
                r[0] for r in self.conn.execute(f"SELECT key FROM units WHERE key IN ({marks})",
                                                chunk)
            )
        return found

    def units(self, experiment: str, settings_hash: str | None = None) -> list[UnitRecord]:
        """Stored units of ``experiment`` (optionally of one settings hash), in insertion order."""
        if not self.exists():
            return []
        sql = ("SELECT key, experiment, settings_hash, point_json, trial, rows_json, seconds,"
               " device FROM units WHERE experiment=?")
        args: list[Any] = [experiment]
        if settings_hash is not None:
            sql += " AND settings_hash=?"
            args.append(settings_hash)
        return [
            UnitRecord(k, e, h, json.loads(p), t, json.loads(r), s, dev)
            for k, e, h, p, t, r, s, dev in self.conn.execute(sql + " ORDER BY rowid", args)
        ]

    def settings_of(self, experiment: str) -> pd.DataFrame:
        """The settings registered for ``experiment`` (one row per settings hash)."""
        if not self.exists():
            return pd.DataFrame(columns=["settings_hash", "variant", "version", "settings_json"])
        return pd.read_sql_query(
            "SELECT settings_hash, variant, version, settings_json FROM settings"
            " WHERE experiment=?", self.conn, params=(experiment,),
        )

    def runs(self, experiment: str | None = None) -> pd.DataFrame:
        """The run log (one row per ``iclab run``), newest last."""
        if not self.exists():
            return pd.DataFrame()
        sql, args = "SELECT * FROM runs", ()
        if experiment is not None:
            sql, args = sql + " WHERE experiment=?", (experiment,)
        return pd.read_sql_query(sql + " ORDER BY id", self.conn, params=args)

    def experiments(self) -> list[str]:
        """Names of experiments with at least one stored unit."""
        if not self.exists():
            return []
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT experiment FROM units ORDER BY experiment")]


def records_to_frame(records: Iterable[UnitRecord]) -> pd.DataFrame:
    """Tidy table: one row per stored row, with the point's keys and ``trial`` first."""
    out: list[dict[str, Any]] = []
    point_keys: list[str] = []
    for rec in records:
        for k in rec.point:
            if k not in point_keys:
                point_keys.append(k)
        for row in rec.rows:
            out.append({**rec.point, "trial": rec.trial, **row})
    frame = pd.DataFrame(out)
    if frame.empty:
        return frame
    first = [c for c in [*point_keys, "trial"] if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]

"""Embedded SQLite result store (WAL), keyed by a content hash of each unit of work.

A *unit* is one (experiment, settings, point, trial). Its key is
``content_hash(experiment, version, settings, point, trial)``; its rows are stored as JSON
in one transaction, so a unit is either fully stored or absent — a sweep killed at any
moment resumes by skipping the keys already present, and ``INSERT OR IGNORE`` makes a
repeated write a no-op (nothing is duplicated).

Only the driver process writes; executors return rows to it.

The store carries a schema version (SQLite's ``user_version``, :data:`SCHEMA_VERSION`); a
store of another version, or an SQLite file that is not an iclab store, is refused before
anything is written. A store opened ``read_only`` (what ``export``, ``plot`` and ``report``
do) is opened with ``mode=ro`` (and ``immutable`` when no other process has it open), so
reading never creates tables, ``-wal``/``-shm`` files or a journal.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from iclab.engine.defaults import DEFAULT_STORE_PATH
from iclab.engine.store_schema import SCHEMA_VERSION, check_schema, read_only_uri
from iclab.errors import ParameterError, StoreError
from iclab.seeding import canonical_json
from iclab.validation import check_writable_file

__all__ = ["DEFAULT_STORE_PATH", "SCHEMA", "SCHEMA_VERSION", "Store", "UnitRecord",
           "records_to_frame"]

F = TypeVar("F", bound=Callable[..., Any])
_QUICK_CHECK_BYTES = 64 * 2**20


def _hint(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    low = text.lower()
    if "not a database" in low or "malformed" in low:
        return f"{text} (not an intact iclab store: give another --store or move the file away)"
    if "readonly" in low or "read-only" in low or "permission" in low:
        return f"{text} (the store or its folder is not writable: give another --store)"
    if "disk is full" in low or "no space" in low:
        return f"{text} (free some disk space, then rerun: stored units are kept)"
    if "locked" in low:
        return f"{text} (another process holds the store; retry when it has finished)"
    return text


def _store_errors(method: F) -> F:
    """Turn SQLite and OS errors of a store method into a one-line :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, pd.errors.DatabaseError, OSError) as exc:
            if self._conn is not None and isinstance(exc, sqlite3.DatabaseError):
                self.close()
            raise StoreError(f"store {self.path}: {_hint(exc)}") from None

    return wrapper  # type: ignore[return-value]

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
    """A results database at ``path`` (created with its parent folder on first use).

    With ``read_only=True`` nothing is ever created or written: the file is opened with
    ``mode=ro`` (see :func:`read_only_uri`), a missing store or an empty database reads as
    empty, and a write method raises :class:`StoreError`.
    """

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        if isinstance(path, bool) or not isinstance(path, str | Path) or not str(path).strip():
            raise ParameterError("store", path, "a file path (str or pathlib.Path) or a Store")
        self.path = Path(path)
        self.read_only = bool(read_only)
        self._conn: sqlite3.Connection | None = None
        self._has_tables = False

    # ---- connection ---------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    @_store_errors
    def _connect(self) -> sqlite3.Connection:
        if self.path.exists() and self.path.is_dir():
            raise StoreError(f"store {self.path}: is a folder; give a file path to --store")
        if self.read_only:
            conn = sqlite3.connect(read_only_uri(self.path), uri=True, timeout=60.0)
            try:
                self._has_tables = check_schema(conn, self.path)
            except BaseException:
                conn.close()
                raise
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            check_schema(conn, self.path)  # before anything is written to the file
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("SELECT count(*) FROM settings").fetchone()  # reads the file header
        except BaseException:
            conn.close()
            raise
        self._has_tables = True
        return conn

    def _ready(self) -> bool:
        """Whether there is anything to read: the file exists and (opened) holds iclab's
        tables. A read-only store never creates them."""
        if not self.exists():
            return False
        self.conn  # noqa: B018 - opens and checks the file
        return self._has_tables

    def check_writable(self) -> None:
        """Raise a one-line error unless the store can be created or written; writes nothing.

        An existing file must also be an intact SQLite database (its header and schema are
        read, nothing is changed).
        """
        check_writable_file("store", self.path)
        self.check_readable()

    def check_readable(self) -> None:
        """Raise a one-line error if the store exists but is not an intact database (or is a
        folder); a missing store is not an error here. Writes nothing."""
        if self.path.is_dir():
            raise StoreError(f"store {self.path}: is a folder; give a file path to --store")
        if self.path.exists() and self.path.stat().st_size > 0:
            self._check_intact()

    @_store_errors
    def _check_intact(self) -> None:
        # A store not in use (no -wal file) is opened immutable, so checking creates no
        # -wal/-shm files next to it; one in use is read through its WAL as usual.
        conn = sqlite3.connect(read_only_uri(self.path), uri=True, timeout=60.0)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            check_schema(conn, self.path)
            if self.path.stat().st_size <= _QUICK_CHECK_BYTES:  # O(size): only small stores
                (verdict,) = conn.execute("PRAGMA quick_check(1)").fetchone()
                if verdict != "ok":
                    raise sqlite3.DatabaseError(f"database disk image is malformed ({verdict})")
        finally:
            conn.close()

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
    @_store_errors
    def register_settings(
        self, experiment: str, variant: str | None, version: str, settings_hash: str,
        settings: dict[str, Any],
    ) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO settings VALUES (?, ?, ?, ?, ?)",
            (settings_hash, experiment, variant, version, canonical_json(settings)),
        )

    @_store_errors
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

    @_store_errors
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

    @_store_errors
    def finish_run(self, run_id: int, n_computed: int, seconds: float, status: str) -> None:
        self.conn.execute(
            "UPDATE runs SET finished=?, n_computed=?, seconds=?, status=? WHERE id=?",
            (time.time(), n_computed, seconds, status, run_id),
        )

    # ---- reads --------------------------------------------------------------------------
    @_store_errors
    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        """The subset of ``keys`` already stored."""
        if not self._ready():
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

    @_store_errors
    def units(self, experiment: str, settings_hash: str | None = None) -> list[UnitRecord]:
        """Stored units of ``experiment`` (optionally of one settings hash), in insertion order."""
        if not self._ready():
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

    @_store_errors
    def settings_of(self, experiment: str) -> pd.DataFrame:
        """The settings registered for ``experiment`` (one row per settings hash)."""
        if not self._ready():
            return pd.DataFrame(columns=["settings_hash", "variant", "version", "settings_json"])
        return pd.read_sql_query(
            "SELECT settings_hash, variant, version, settings_json FROM settings"
            " WHERE experiment=?", self.conn, params=(experiment,),
        )

    @_store_errors
    def runs(self, experiment: str | None = None) -> pd.DataFrame:
        """The run log (one row per ``iclab run``), newest last."""
        if not self._ready():
            return pd.DataFrame()
        sql, args = "SELECT * FROM runs", ()
        if experiment is not None:
            sql, args = sql + " WHERE experiment=?", (experiment,)
        return pd.read_sql_query(sql + " ORDER BY id", self.conn, params=args)

    @_store_errors
    def last_unit_time(self, settings_hash: str) -> float | None:
        """When the newest unit of a sweep was stored (epoch seconds); ``None`` if none is."""
        if not self._ready():
            return None
        (newest,) = self.conn.execute(
            "SELECT MAX(created) FROM units WHERE settings_hash=?", (settings_hash,)).fetchone()
        return None if newest is None else float(newest)

    @_store_errors
    def experiments(self) -> list[str]:
        """Names of experiments with at least one stored unit."""
        if not self._ready():
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

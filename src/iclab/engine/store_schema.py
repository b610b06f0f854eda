"""The store's schema version and the checks that keep iclab out of other databases.

:func:`check_schema` tells an iclab store of this version (or an empty database) from a store
of another version or a foreign SQLite file, by reading only (``PRAGMA user_version`` and
``PRAGMA table_info``); :func:`read_only_uri` opens a file so that reading creates nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from iclab.errors import StoreError

__all__ = ["SCHEMA_VERSION", "TABLE_COLUMNS", "check_schema", "read_only_uri"]

SCHEMA_VERSION = 1
"""Written to the store's ``PRAGMA user_version``; a store of 0 (from before the version was
recorded) with exactly these tables is version 1 and gets the number on its next write."""

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "settings": ("settings_hash", "experiment", "variant", "version", "settings_json"),
    "units": ("key", "experiment", "settings_hash", "point_json", "trial", "rows_json",
              "seconds", "device", "created"),
    "runs": ("id", "experiment", "variant", "settings_hash", "started", "finished", "n_units",
             "n_computed", "seconds", "executor", "device", "code_version", "status"),
}
"""The columns of each table of :data:`SCHEMA`, in order."""


def check_schema(conn: sqlite3.Connection, path: Path) -> bool:
    """Raise a one-line :class:`StoreError` unless ``conn`` holds an iclab store of this
    schema version or an empty database; returns whether iclab's tables are present."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    tables = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
    if version > SCHEMA_VERSION:
        raise StoreError(f"store {path}: schema version {version} is newer than this iclab's "
                         f"({SCHEMA_VERSION}); upgrade iclab or give another --store")
    if not tables:
        return False
    ours = [t for t in TABLE_COLUMNS if t in tables]
    if not ours:
        shown = ", ".join(sorted(tables)[:5])
        raise StoreError(f"store {path}: an SQLite database but not an iclab store (its "
                         f"tables: {shown}); give another --store")
    for table, expected in TABLE_COLUMNS.items():
        found = tuple(r[1] for r in conn.execute(f"PRAGMA table_info({table})"))
        if found != expected:
            have = f"has columns ({', '.join(found)})" if found else "is missing"
            raise StoreError(f"store {path}: table {table} {have}, but schema version "
                             f"{SCHEMA_VERSION} has ({', '.join(expected)}): a store of "
                             "another iclab version; give another --store")
    return True


def read_only_uri(path: Path) -> str:
    """SQLite URI opening ``path`` read-only: ``immutable`` unless another process has it open
    (a ``-wal`` file exists), so reading creates no ``-wal``/``-shm`` files next to it."""
    in_use = Path(f"{path}-wal").exists()
    return f"{path.resolve().as_uri()}?mode=ro" + ("" if in_use else "&immutable=1")

"""The store is never overwritten, and read commands never write.

* an output (``export --out``, the report, a figure) that resolves to the store, its
  journal, or any SQLite file is refused with one line and the store stays byte-identical;
* outputs are written to a temporary file and renamed into place: a failing writer leaves
  the old file and no temporary file;
* ``export``, ``plot`` and ``report`` open the store read-only: a foreign SQLite file gets no
  tables, an idle store gets no ``-wal``/``-shm`` files;
* a store of another schema version, or a foreign SQLite file, is refused by ``run`` before
  anything is written.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from test_bad_input_probes import invoke, probe, snapshot

from iclab.engine.store import SCHEMA_VERSION, Store
from iclab.errors import ParameterError, StoreError
from iclab.safe_output import atomic_write, check_not_store, is_sqlite_file


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one toy.rel sweep (made once; each test works on a copy)."""
    root = tmp_path_factory.mktemp("stored")
    code, output = invoke(["run", "toy.rel", "--quick", "--store", "s.sqlite", "--no-plot"],
                          root)
    assert code == 0, output
    with closing(sqlite3.connect(root / "s.sqlite")) as conn:  # fold the WAL into the file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return root / "s.sqlite"


@pytest.fixture
def store(stored: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "s.sqlite"
    copy.write_bytes(stored.read_bytes())
    return copy


# ---- outputs never land on a store -----------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_onto_the_store_is_refused(store: Path, fmt: str) -> None:
    before = digest(store)
    out = probe(["export", "toy.rel", "--store", "s.sqlite", "--out", "s.sqlite",
                 "--format", fmt], store.parent, names="out")
    assert "store" in out
    assert digest(store) == before


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_through_a_symlink_to_the_store_is_refused(store: Path, fmt: str) -> None:
    (store.parent / "link.csv").symlink_to(store)
    (store.parent / "sub").mkdir()
    (store.parent / "sub" / "deep.csv").symlink_to(Path("..") / "link.csv")
    before = digest(store)
    for target in ("link.csv", "sub/deep.csv", "./sub/../s.sqlite"):
        probe(["export", "toy.rel", "--store", "s.sqlite", "--out", target, "--format", fmt],
              store.parent, names="out")
    assert digest(store) == before
    assert (store.parent / "link.csv").is_symlink()


def test_export_onto_the_stores_journal_or_another_database_is_refused(store: Path) -> None:
    other = store.parent / "other.db"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    before = digest(other)
    probe(["export", "toy.rel", "--store", "s.sqlite", "--out", "other.db"], store.parent,
          names="SQLite")
    probe(["export", "toy.rel", "--store", "s.sqlite", "--out", "s.sqlite-wal"], store.parent,
          names="store")
    assert digest(other) == before


def test_report_into_the_store_is_refused(store: Path) -> None:
    folder = store.parent / "r"
    folder.mkdir()
    report_store = folder / "report.html"
    report_store.write_bytes(store.read_bytes())
    before = digest(report_store)
    probe(["report", "--store", "r/report.html", "--out", "r"], store.parent, names="out")
    assert digest(report_store) == before


def test_export_still_writes_and_replaces(store: Path) -> None:
    target = store.parent / "t.csv"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    code, output = invoke(["export", "toy.rel", "--store", "s.sqlite", "--out", "t.csv"],
                          store.parent)
    assert code == 0, output
    text = target.read_text()
    assert text.startswith("x,trial,") and text.count("\n") == 5  # header + 2 points x 2 trials
    assert target.stat().st_mode & 0o777 == 0o640  # the file's mode is kept
    assert sorted(p.name for p in store.parent.iterdir()) == ["s.sqlite", "t.csv"]


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "t.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # no temporary file left


def test_check_not_store_and_is_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "a.bin"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    assert is_sqlite_file(db)
    assert not is_sqlite_file(tmp_path / "missing")
    (tmp_path / "text").write_text("SQLite format 2")
    assert not is_sqlite_file(tmp_path / "text")
    with pytest.raises(ParameterError, match="not an SQLite database"):
        check_not_store("out", db)
    with pytest.raises(ParameterError, match="other than the store"):
        check_not_store("out", tmp_path / "new.sqlite-shm", [tmp_path / "new.sqlite"])
    assert check_not_store("out", tmp_path / "x.csv", [db]) == tmp_path / "x.csv"


# ---- read commands never write -----------------------------------------------------------------
def _foreign(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
        conn.execute("INSERT INTO customers VALUES (1, 'a')")
        conn.commit()


READ_COMMANDS = {
    "export": ["export", "toy.rel", "--out", "o.csv"],
    "plot": ["plot", "toy.rel", "--out", "o"],
    "report": ["report", "--out", "o"],
}


@pytest.mark.parametrize("command", list(READ_COMMANDS))
def test_read_commands_leave_a_foreign_database_alone(tmp_path: Path, command: str) -> None:
    _foreign(tmp_path / "f.sqlite")
    before = digest(tmp_path / "f.sqlite")
    probe([*READ_COMMANDS[command], "--store", "f.sqlite"], tmp_path, names="not an iclab store")
    assert digest(tmp_path / "f.sqlite") == before


@pytest.mark.parametrize("command", list(READ_COMMANDS))
def test_read_commands_leave_an_empty_file_empty(tmp_path: Path, command: str) -> None:
    (tmp_path / "e.sqlite").touch()
    if command == "report":  # a report of an empty store is a page with no sweeps
        code, output = invoke([*READ_COMMANDS[command], "--store", "e.sqlite"], tmp_path)
        assert code == 0 and "0 sweeps" in (tmp_path / "o" / "report.html").read_text()
    else:  # nothing stored: one line, nothing written
        says = {"export": "no stored rows for toy.rel", "plot": "nothing stored for toy.rel"}
        probe([*READ_COMMANDS[command], "--store", "e.sqlite"], tmp_path, names=says[command])
    assert (tmp_path / "e.sqlite").stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("e."))  == [
        "e.sqlite"]


@pytest.mark.parametrize("command", list(READ_COMMANDS))
def test_reading_an_idle_store_creates_no_journal(store: Path, command: str) -> None:
    os.chmod(store, 0o444)
    try:
        code, output = invoke([*READ_COMMANDS[command], "--store", "s.sqlite"], store.parent)
    finally:
        os.chmod(store, 0o644)
    assert code == 0, output
    names = {p.name for p in store.parent.iterdir()}
    assert not {"s.sqlite-wal", "s.sqlite-shm", "s.sqlite-journal"} & names, names


def test_read_only_store_reads_rows_and_refuses_writes(store: Path) -> None:
    db = Store(store, read_only=True)
    assert db.experiments() == ["toy.rel"]
    assert len(db.units("toy.rel")) == 4
    with pytest.raises(StoreError):
        db.start_run("toy.rel", "quick", "h", 1, "local", "cpu", "v")
    db.close()
    assert Store(store.parent / "missing.sqlite", read_only=True).units("toy.rel") == []
    assert not (store.parent / "missing.sqlite").exists()


# ---- the schema version ------------------------------------------------------------------------
def test_new_store_records_its_schema_version(store: Path) -> None:
    with closing(sqlite3.connect(store)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def _old_schema(path: Path) -> None:
    """A store whose units table has one column fewer (as a store of another version)."""
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript("""
            CREATE TABLE settings (settings_hash TEXT PRIMARY KEY, experiment TEXT,
                variant TEXT, version TEXT, settings_json TEXT);
            CREATE TABLE units (key TEXT PRIMARY KEY, experiment TEXT, settings_hash TEXT,
                point_json TEXT, trial INTEGER, rows_json TEXT, seconds REAL, device TEXT);
            CREATE TABLE runs (id INTEGER PRIMARY KEY, experiment TEXT);
        """)


@pytest.mark.parametrize("kind", ["old_columns", "newer_version", "foreign"])
@pytest.mark.parametrize("command", ["run", *READ_COMMANDS])
def test_store_of_another_schema_is_refused_before_writing(tmp_path: Path, kind: str,
                                                          command: str) -> None:
    path = tmp_path / "v.sqlite"
    if kind == "old_columns":
        _old_schema(path)
    elif kind == "foreign":
        _foreign(path)
    else:
        with closing(sqlite3.connect(path)) as conn:
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
            conn.execute("CREATE TABLE units (key TEXT)")
            conn.commit()
    before = digest(path)
    args = (["run", "toy.rel", "--quick", "--no-plot"] if command == "run"
            else READ_COMMANDS[command])
    expected = {"old_columns": "another iclab version", "newer_version": "newer",
                "foreign": "not an iclab store"}[kind]
    probe([*args, "--store", "v.sqlite"], tmp_path, names=expected)
    assert digest(path) == before


def test_store_without_a_version_but_with_the_schema_is_upgraded(store: Path) -> None:
    with closing(sqlite3.connect(store)) as conn:
        conn.execute("PRAGMA user_version=0")
        conn.commit()
    code, output = invoke(["run", "toy.rel", "--quick", "--store", "s.sqlite", "--no-plot"],
                          store.parent)
    assert code == 0 and "0 computed" in output, output  # read, not recomputed, not written
    with closing(sqlite3.connect(store)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (0,)
    code, output = invoke(["run", "toy.rel", "--quick", "--set", "trials=1", "--store",
                           "s.sqlite", "--no-plot"], store.parent)  # a new sweep: writes
    assert code == 0 and "2 computed" in output, output
    with closing(sqlite3.connect(store)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT count(*) FROM units").fetchone() == (6,)  # 4 kept + 2


def test_snapshot_helper_sees_a_change(tmp_path: Path) -> None:
    """The probes' "nothing written" check can fail: a new file changes the snapshot."""
    before = snapshot(tmp_path)
    (tmp_path / "new").write_text("x")
    assert snapshot(tmp_path) != before


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_rerun_that_computes_nothing_writes_nothing(store: Path, command: str) -> None:
    before = digest(store)
    args = [command, "toy.rel", "--quick", "--store", "s.sqlite"]
    code, output = invoke([*args, "--no-plot"] if command == "run" else args, store.parent)
    assert code in (0, 1), output  # check: 1 when a claim does not hold (the toy states none)
    assert "error" not in output and ("0 computed" in output), output
    assert digest(store) == before
    assert sorted(p.name for p in store.parent.iterdir()) == ["s.sqlite"]

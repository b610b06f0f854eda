"""Faults in the middle of a command (disk full, an unexpected exception) are one line too,
and a run counts only the units it stored itself."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from iclab import run_experiment
from iclab._cli_errors import error_line
from iclab.cli import app
from iclab.engine import LocalExecutor, Store
from iclab.engine.store import UnitRecord, _store_errors
from iclab.errors import StoreError

RUNNER = CliRunner()


def _one_line(result: Any) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


def test_disk_full_while_storing_is_one_line(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    @_store_errors
    def full(self: Store, record: UnitRecord) -> bool:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Store, "put", full)
    result = RUNNER.invoke(app, ["run", "toy.rel", "--quick", "--no-plot", "--store",
                                 str(tmp_path / "s.sqlite")])
    line = _one_line(result)
    assert "disk is full" in line and "free some disk space" in line
    assert result.exit_code == 2


def test_disk_full_while_writing_the_figure_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "f.png"))

    monkeypatch.setattr("iclab.figures.save_figure", no_space)
    result = RUNNER.invoke(app, ["run", "toy.rel", "--quick", "--store",
                                 str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "out")])
    line = _one_line(result)
    assert "No space left on device" in line and "f.png" in line and "disk is full" in line


def test_unexpected_exception_is_one_line(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("something odd\nsecond line")

    monkeypatch.setattr("iclab.engine.runner._run_plans", broken)
    result = RUNNER.invoke(app, ["run", "toy.rel", "--quick", "--store",
                                 str(tmp_path / "s.sqlite")])
    line = _one_line(result)
    assert "RuntimeError: something odd" in line and "ICLAB_DEBUG" in line
    assert result.exit_code == 1


@pytest.mark.parametrize(("exc", "needle"), [
    (PermissionError(errno.EACCES, "Permission denied", "/x/y"), "Permission denied: /x/y"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/x"), "No such file"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/f/x"), "is a file, not a folder"),
    (sqlite3.DatabaseError("file is not a database"), "store: file is not a database"),
    (MemoryError(), "out of memory"),
    (KeyboardInterrupt(), "rerun the same command to resume"),
])
def test_error_lines(exc: BaseException, needle: str) -> None:
    message, code = error_line(exc)
    assert needle in message and "\n" not in message and code != 0


class _OtherRunStoresFirst(LocalExecutor):
    """Stores every unit itself (as a concurrent run would) just before yielding it."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def map(self, jobs: Any) -> Any:
        for job, rows, seconds in super().map(jobs):
            u = job.unit
            from iclab.engine.runner import settings_hash

            exp = job.experiment()
            s_hash = settings_hash(exp, exp.Settings(**job.settings))
            self.store.put(UnitRecord(u.key, exp.name, s_hash, u.point, u.trial, rows,
                                      seconds, "cpu"))
            yield job, rows, seconds


def test_units_stored_by_another_run_are_not_counted(tmp_path: Path) -> None:
    other = Store(tmp_path / "s.sqlite")
    res = run_experiment("toy.rel", "quick", store=tmp_path / "s.sqlite",
                         executor=_OtherRunStoresFirst(other))
    other.close()
    assert res.n_units == 4 and res.n_computed == 0 and len(res.results) == 4


def test_store_error_is_an_iclab_error(tmp_path: Path) -> None:
    (tmp_path / "x.sqlite").write_text("garbage " * 100)
    with pytest.raises(StoreError, match="not a database"):
        Store(tmp_path / "x.sqlite").check_writable()

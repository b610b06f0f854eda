"""Writing output files without ever touching a result store.

Every file iclab writes besides the store itself (exported tables, figures, the HTML report,
the LLM study's CSV) goes through :func:`atomic_write`:

* a target that resolves (symlinks followed) to an SQLite database, to a given store, or to
  a store's ``-wal``/``-shm``/``-journal`` companion is refused with a one-line
  :class:`~iclab.errors.ParameterError` before anything is written, so a typo such as
  ``iclab export NAME --store s.sqlite --out s.sqlite`` cannot destroy the results;
* the content is written to a temporary file in the target's folder and renamed into place
  (:func:`os.replace`), so a failure or a kill leaves either the old file or the new one,
  never half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from iclab.errors import ParameterError

SQLITE_MAGIC = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""

_COMPANIONS = ("", "-wal", "-shm", "-journal")


def is_sqlite_file(path: str | Path) -> bool:
    """Whether ``path`` (symlinks followed) is a regular file starting with SQLite's header."""
    p = Path(path)
    try:
        if not p.is_file():
            return False
        with p.open("rb") as fh:
            return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _resolved(path: str | Path) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def check_not_store(name: str, target: str | Path, stores: Iterable[str | Path] = ()) -> Path:
    """Refuse an output ``target`` that is (or links to) a store or any SQLite file.

    ``stores`` are the stores the command uses (they need not exist yet); their journal
    files count as the store. Returns ``target`` unchanged. Writes nothing.
    """
    real = _resolved(target)
    for store in stores:
        base = _resolved(store)
        if any(real == Path(f"{base}{suffix}") for suffix in _COMPANIONS):
            raise ParameterError(name, str(target), f"a path other than the store {store} "
                                                    "(writing there would destroy it)")
    if is_sqlite_file(real):
        raise ParameterError(name, str(target), "a path that is not an SQLite database "
                                                "(iclab never overwrites one)")
    return Path(target)


def _file_mode(path: Path) -> int:
    """The mode of the existing ``path``, else that of a new file under the current umask."""
    with contextlib.suppress(OSError):
        return path.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(target: str | Path, stores: Iterable[str | Path] = (),
                 name: str = "out") -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it onto ``target``.

    The target is checked with :func:`check_not_store` first (``name`` is the option named in
    the error). The folder is created if missing; on an exception the temporary file is
    removed and ``target`` is left as it was. The temporary name ends with the target's
    suffix (``.png``, ``.csv``), so writers that infer the format from it still work.
    """
    target = check_not_store(name, target, stores)
    final = _resolved(target) if target.is_symlink() else target  # a link keeps pointing
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{final.suffix}",
                                    dir=final.parent)  # same folder: the rename is atomic
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, _file_mode(final))  # mkstemp makes 0600; keep what a plain write gives
    try:
        yield tmp
        check_not_store(name, target, stores)  # still not a store at the moment of renaming
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()

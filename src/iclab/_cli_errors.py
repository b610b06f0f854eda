"""What every ``iclab`` command shares: one-line errors on stderr and a non-zero exit.

* :class:`~iclab.errors.ICLabError` (bad input, a store that cannot be used, Ctrl-C):
  ``error: <message>``, exit 2 (130 for Ctrl-C);
* SQLite and OS errors (permission, missing folder, not a directory, disk full) and
  ``MemoryError``: ``error: <what>: <path>``, exit 2;
* typer/click usage errors (``--tau abc``, a missing option, an unknown command):
  ``error: <message> (see iclab <command> --help)``, exit 2, via :class:`OneLineErrorsGroup`;
* any other exception: one line naming its type, exit 1; set ``ICLAB_DEBUG=1`` to see the
  traceback instead.
"""

from __future__ import annotations

import errno
import functools
import importlib
import json
import math
import sqlite3
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
import typer.core
from rich.console import Console

from iclab.environment import debug_enabled
from iclab.errors import ICLabError, RunInterrupted

err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
DEBUG_ENV = "ICLAB_DEBUG"


def _classes(name: str) -> tuple[type[BaseException], ...]:
    """``name`` from click and from the click that typer vendors (their classes differ)."""
    found: list[type[BaseException]] = []
    for module in ("click.exceptions", "typer._click.exceptions", "typer.exceptions"):
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if isinstance(cls, type) and cls not in found:
            found.append(cls)
    return tuple(found)


_NO_ARGS = _classes("NoArgsIsHelpError")
_USAGE = _classes("UsageError")
_CLICK = _classes("ClickException")
_ABORT = _classes("Abort")
_EXIT = (*_classes("Exit"), typer.Exit)


def _first_line(text: object) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def describe_os_error(exc: OSError) -> str:
    """``OSError`` → one line: what failed, on which path, and what to do."""
    path = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or _first_line(exc) or type(exc).__name__
    hints = {
        errno.EACCES: "choose a folder you can write to",
        errno.EPERM: "choose a folder you can write to",
        errno.EROFS: "the file system is read-only; choose another folder",
        errno.ENOSPC: "the disk is full; free some space and rerun (stored units are kept)",
        errno.ENOENT: "check the path",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EISDIR: "give a file path, not a folder",
    }
    hint = hints.get(exc.errno or -1)
    where = f": {path}" if path else ""
    return f"{reason}{where}" + (f" ({hint})" if hint else "")


def error_line(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit status for an exception raised by a command."""
    if isinstance(exc, RunInterrupted):
        return str(exc), 130
    if isinstance(exc, ICLabError):
        return str(exc).strip() or type(exc).__name__, 2
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (rerun the same command to resume: stored units are kept)", 130
    if isinstance(exc, sqlite3.Error):
        return f"store: {_first_line(exc)}", 2
    if isinstance(exc, OSError):
        return describe_os_error(exc), 2
    if isinstance(exc, MemoryError):
        return "out of memory: lower the sizes (e.g. d, batch) or use a larger machine", 2
    detail = _first_line(exc)
    return (f"internal error {type(exc).__name__}" + (f": {detail}" if detail else "")
            + f" (set {DEBUG_ENV}=1 for the traceback)"), 1


def print_error(message: str) -> None:
    """``error: <message>`` on stderr, on one line (never wrapped)."""
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)


def one_line_errors(func: F) -> F:
    """Print any error of the command as ``error: <message>`` (one line) and exit non-zero."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            from iclab.environment import check_environment

            check_environment()  # a bad ICLAB_* variable is refused before anything is read
            return func(*args, **kwargs)
        except (*_EXIT, *_CLICK, *_ABORT):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            if debug_enabled() and not isinstance(exc, ICLabError | KeyboardInterrupt):
                raise
            message, code = error_line(exc)
            print_error(message)
            raise typer.Exit(code) from None

    return wrapper  # type: ignore[return-value]


class OneLineErrorsGroup(typer.core.TyperGroup):
    """The root command group: click/typer usage errors become one line on stderr, exit 2."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False,
                                  **extra)
        except _NO_ARGS as exc:
            exc.show()  # type: ignore[attr-defined]
            code = 2
        except _USAGE as exc:
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "iclab"
            print_error(f"{_first_line(exc.format_message())} (see {where} --help)")  # type: ignore[attr-defined]
            code = 2
        except _CLICK as exc:
            print_error(_first_line(exc.format_message()))  # type: ignore[attr-defined]
            code = getattr(exc, "exit_code", 1) or 1
        except _ABORT:
            print_error("interrupted (rerun the same command to resume: stored units are kept)")
            code = 130
        else:
            code = result if isinstance(result, int) and not isinstance(result, bool) else 0
            if not standalone_mode:
                return result
        if not standalone_mode:
            raise SystemExit(code)
        sys.exit(code)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (JSON ``null``): strict JSON
    has no ``NaN`` or ``Infinity``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON text (``allow_nan=False``) of :func:`json_safe` ``(value)``."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)

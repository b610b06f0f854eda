"""The environment variables iclab reads, each parsed in one place with a one-line error.

* ``ICLAB_DEBUG``: show tracebacks instead of one-line errors; ``1``/``true``/``yes``/``on``
  switch it on, ``0``/``false``/``no``/``off`` or unset leave it off;
* ``ICLAB_UNIT_THREADS``: torch threads per unit (:func:`iclab.engine.units.unit_threads`);
* ``ICLAB_EXPERIMENT_MODULES``: extra modules that register experiments (comma-separated
  importable module names).

:func:`check_environment` validates all of them; every command calls it before it reads or
writes anything, so a bad value is refused up front, naming the variable.
"""

from __future__ import annotations

import importlib.util
import os

from iclab.errors import ParameterError

DEBUG_ENV = "ICLAB_DEBUG"
UNIT_THREADS_ENV = "ICLAB_UNIT_THREADS"
MODULES_ENV = "ICLAB_EXPERIMENT_MODULES"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def env_flag(name: str) -> bool:
    """A boolean environment variable; a value other than the accepted words is refused."""
    raw = os.environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ParameterError(name, os.environ[name], "one of 1, true, yes, on, 0, false, no, off "
                                                 "(or unset)")


def debug_enabled() -> bool:
    """Whether ``ICLAB_DEBUG`` asks for tracebacks (a bad value counts as off here: it is
    reported by :func:`check_environment`)."""
    try:
        return env_flag(DEBUG_ENV)
    except ParameterError:
        return False


def experiment_modules() -> list[str]:
    """The entries of ``ICLAB_EXPERIMENT_MODULES``: module names, each importable, or paths
    of ``.py`` files, each an existing file."""
    from pathlib import Path

    from iclab._plugin_paths import is_path

    names = [m.strip() for m in os.environ.get(MODULES_ENV, "").split(",") if m.strip()]
    for name in names:
        if is_path(name):
            if not Path(name).expanduser().is_file():
                raise ParameterError(MODULES_ENV, os.environ[MODULES_ENV],
                                     f"comma-separated module names or .py files ({name!r} "
                                     "is not a file)")
            continue
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ParameterError(MODULES_ENV, os.environ[MODULES_ENV],
                                 f"comma-separated importable modules ({name!r} is not "
                                 "found on the Python path)")
    return names


def unit_threads() -> int:
    """Torch intra-op threads of every unit: ``$ICLAB_UNIT_THREADS`` (an integer >= 1) or 1.

    The same number in every executor and process makes a unit's arithmetic, and so its
    rows, identical wherever it runs; parallelism comes from running units side by side
    (``--workers``). A larger value speeds a lone large unit but keeps the agreement only
    between runs with the same value.
    """
    raw = os.environ.get(UNIT_THREADS_ENV, "").strip()
    if not raw:
        return 1
    try:
        value = int(raw)
    except ValueError:
        raise ParameterError(UNIT_THREADS_ENV, raw, "an integer >= 1 (or unset for 1)") from None
    if value < 1:
        raise ParameterError(UNIT_THREADS_ENV, raw, "an integer >= 1 (or unset for 1)")
    return value


def check_environment() -> None:
    """Validate every iclab environment variable; raises a one-line ParameterError."""
    env_flag(DEBUG_ENV)
    unit_threads()
    experiment_modules()

"""Errors raised by iclab.

Every user-facing error is a one-line message naming what was wrong and what is
allowed; the CLI prints ``error: <message>`` and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class ICLabError(Exception):
    """Base class of every error iclab raises on purpose."""


class ParameterError(ICLabError, ValueError):
    """A parameter has a value outside its allowed range.

    >>> str(ParameterError("rho", -1, "a number >= 0"))
    'rho=-1 is invalid: must be a number >= 0'
    """

    def __init__(self, name: str, value: Any, allowed: str) -> None:
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"{name}={value!r} is invalid: must be {allowed}")

    def __reduce__(self) -> tuple[type, tuple[str, Any, str]]:  # survive process boundaries
        return (type(self), (self.name, self.value, self.allowed))


class UnknownExperimentError(ICLabError, KeyError):
    """An experiment name that is not registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name, self.known = name, known
        super().__init__(f"no experiment named {name!r}; known experiments: {', '.join(known)}")

    def __reduce__(self) -> tuple[type, tuple[str, list[str]]]:
        return (type(self), (self.name, self.known))

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class StoreError(ICLabError):
    """The result store cannot be opened, read or written (corrupt file, permissions, disk)."""


class PlanTooLargeError(ICLabError):
    """A sweep whose plan exceeds a size guard (units, or memory per unit)."""


class RunInterrupted(ICLabError):
    """A run stopped by Ctrl-C; every finished unit is stored and a rerun resumes."""

    def __init__(self, stored: int, total: int, store: str) -> None:
        self.stored, self.total, self.store = stored, total, store
        super().__init__(f"interrupted: {stored} of {total} units are stored in {store}; "
                         "rerun the same command to resume")

    def __reduce__(self) -> tuple[type, tuple[int, int, str]]:
        return (type(self), (self.stored, self.total, self.store))

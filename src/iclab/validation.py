"""Small checks that turn bad parameters into :class:`~iclab.errors.ParameterError`.

They accept scalars or NumPy arrays (checked element-wise) and return the value
as given, so they can be used inline: ``rho = check_nonnegative("rho", rho)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from iclab.errors import ParameterError


def _show(value: Any) -> Any:
    arr = np.asarray(value)
    if arr.ndim == 0:
        v = arr.item()
        return int(v) if isinstance(v, float) and v.is_integer() and math.isfinite(v) else v
    bad = arr.ravel()
    return f"array containing {bad[0]!r}" if bad.size else "empty array"


def _check(name: str, value: Any, ok: np.ndarray, allowed: str) -> Any:
    if not np.all(ok):
        arr = np.asarray(value, dtype=float)
        first_bad = arr.ravel()[~np.asarray(ok).ravel()][0] if arr.ndim else arr
        raise ParameterError(name, _show(first_bad), allowed)
    return value


def _as_float(name: str, value: Any) -> np.ndarray:
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(name, value, "a real number") from None


def check_positive(name: str, value: Any, *, allow_inf: bool = False) -> Any:
    """Require ``value > 0`` (and finite unless ``allow_inf``); NaN is rejected."""
    arr = _as_float(name, value)
    ok = (arr > 0) & (np.isfinite(arr) | allow_inf)
    allowed = "a number > 0" + (" (inf allowed)" if allow_inf else "")
    return _check(name, value, ok, allowed)


def check_nonnegative(name: str, value: Any) -> Any:
    """Require finite ``value >= 0``; NaN is rejected."""
    arr = _as_float(name, value)
    return _check(name, value, (arr >= 0) & np.isfinite(arr), "a finite number >= 0")


def check_in_range(
    name: str, value: Any, low: float, high: float, *, low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """Require ``low <= value <= high`` (open ends when asked)."""
    arr = _as_float(name, value)
    ok = (arr > low if low_open else arr >= low) & (arr < high if high_open else arr <= high)
    lb = "(" if low_open else "["
    rb = ")" if high_open else "]"
    return _check(name, value, ok, f"in {lb}{low}, {high}{rb}")


def check_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Require an integer in ``[minimum, maximum]``; returns it as ``int``."""
    if isinstance(value, bool) or not float(value).is_integer():
        raise ParameterError(name, value, "an integer")
    v = int(value)
    if v < minimum or (maximum is not None and v > maximum):
        hi = "" if maximum is None else f" and <= {maximum}"
        raise ParameterError(name, v, f"an integer >= {minimum}{hi}")
    return v


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Require ``value`` to be one of ``choices``."""
    options = list(choices)
    if value not in options:
        raise ParameterError(name, value, "one of " + ", ".join(map(str, options)))
    return value

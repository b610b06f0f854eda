"""Small checks that turn bad parameters into :class:`~iclab.errors.ParameterError`.

They accept scalars or NumPy arrays (checked element-wise) and return the value
as given, so they can be used inline: ``rho = check_nonnegative("rho", rho)``.
"""

from __future__ import annotations

import math
import os
import tempfile
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pydantic

from iclab.errors import ParameterError, PlanTooLargeError


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
    """``value`` as a float array; bools (a bool is not read as 1) and empty arrays are a
    ParameterError naming ``name``. NumPy scalars and arrays of numbers are accepted."""
    if isinstance(value, bool | np.bool_) or (isinstance(value, np.ndarray)
                                              and value.dtype == bool):
        raise ParameterError(name, value, "a real number, not True/False")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(name, value, "a real number") from None
    if arr.size == 0:
        raise ParameterError(name, "empty array", "a number or a non-empty array of numbers")
    return arr


def check_positive(name: str, value: Any, *, allow_inf: bool = False) -> Any:
    """Require ``value > 0`` (and finite unless ``allow_inf``); NaN is rejected."""
    arr = _as_float(name, value)
    ok = (arr > 0) & (np.isfinite(arr) | allow_inf)
    allowed = "a number > 0 (inf allowed)" if allow_inf else "a finite number > 0"
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
    try:
        integral = not isinstance(value, bool) and float(value).is_integer()
    except (TypeError, ValueError, OverflowError):
        integral = False
    if not integral:
        raise ParameterError(name, value, "an integer" + (f" >= {minimum}" if minimum else ""))
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


# ---- settings types with bounds (used in the experiments' pydantic settings) -----------------
#: an integer >= 1; strict, so ``true`` is not read as 1
PositiveInt = Annotated[int, pydantic.Field(strict=True, ge=1)]
#: an integer >= 0 (strict)
NonNegativeInt = Annotated[int, pydantic.Field(strict=True, ge=0)]
#: a finite number > 0 (ints accepted, bools refused)
PositiveFloat = Annotated[float, pydantic.Field(strict=True, gt=0, allow_inf_nan=False)]
#: a finite number >= 0: rates, variances, ridges
NonNegativeFloat = Annotated[float, pydantic.Field(strict=True, ge=0, allow_inf_nan=False)]
#: a number > 0 or ``inf`` (never NaN): e.g. the task diversity kappa
PositiveOrInf = Annotated[float, pydantic.Field(strict=True, gt=0)]
#: a finite number in [0, 1]: probabilities and fractions
UnitFloat = Annotated[float, pydantic.Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
#: any finite number
FiniteFloat = Annotated[float, pydantic.Field(strict=True, allow_inf_nan=False)]
_T = typing.TypeVar("_T")
#: a grid given as a list with at least one entry, e.g. ``NonEmptyList[PositiveFloat]``
NonEmptyList = Annotated[list[_T], pydantic.Field(min_length=1)]
#: a grid given as a tuple with at least one entry, e.g. ``NonEmptyTuple[PositiveFloat]``
NonEmptyTuple = Annotated[tuple[_T, ...], pydantic.Field(min_length=1)]


def _is_number_type(annotation: Any) -> bool:
    """Whether a field annotation is (or contains) ``int`` or ``float``."""
    if annotation in (int, float):
        return True
    return any(_is_number_type(a) for a in typing.get_args(annotation)
               if a is not type(None) and not isinstance(a, str | int | float))


def _has_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, list | tuple):
        return any(_has_bool(v) for v in value)
    return False


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list | tuple):
        return any(_has_nan(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    return False


def check_setting_inputs(settings_cls: type[pydantic.BaseModel], values: dict[str, Any]) -> None:
    """Type checks pydantic's lax mode lets through, on raw setting inputs.

    Refuses ``true``/``false`` for a numeric setting (lax mode reads them as 1/0) and NaN
    anywhere. Bounds are the settings model's own (see :data:`PositiveInt` and friends).
    """
    for key, value in values.items():
        field = settings_cls.model_fields.get(key)
        if field is None:
            continue
        if _is_number_type(field.annotation) and _has_bool(value):
            raise ParameterError(key, value, "a number, not true/false")
        if _has_nan(value):
            raise ParameterError(key, value, "finite numbers (NaN is not allowed)")


def check_settings_model(settings: pydantic.BaseModel) -> None:
    """Backstop over validated settings: no NaN anywhere, and a list whose default is
    non-empty (a grid) may not be empty."""
    for key, field in type(settings).model_fields.items():
        value = getattr(settings, key)
        if _has_nan(value):
            raise ParameterError(key, value, "finite numbers (NaN is not allowed)")
        if isinstance(value, list | tuple) and not value:
            default = field.get_default(call_default_factory=True)
            if isinstance(default, list | tuple) and default:
                raise ParameterError(key, list(value), "a non-empty list")


def check_points(points: list[dict[str, Any]]) -> None:
    """Every planned point: a dict of JSON values with no NaN (``inf`` is allowed: κ = ∞)."""
    for point in points:
        if not isinstance(point, dict):
            raise ParameterError("point", point, "a dict of parameters")
        for key, value in point.items():
            if _has_nan(value):
                raise ParameterError(key, value, "a finite number in every planned point")


# ---- size guards ------------------------------------------------------------------------------
MAX_UNITS = 100_000
"""Most units one run may plan without ``--allow-large`` (the largest paper figure has ~1.3e3)."""


def machine_memory_bytes() -> int:
    """Physical memory of this machine (bytes); 16 GiB when the OS does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def _num(values: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        v = values.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    return None


def estimate_unit_bytes(values: dict[str, Any]) -> tuple[float, list[str]]:
    """A lower bound on the largest float64 array one unit allocates, from d, n and ℓ.

    ``values`` is a planned point merged over its settings. Terms (bytes, 8 per entry):

    * a d x (d+1) weight matrix per model, ``seeds`` models at once: ``8 s d (d+1)``;
    * the Γ-model's pretraining features, ``n = τ d²`` contexts of ``2d + 2`` numbers:
      ``8 τ d² (2d + 2)``;
    * one batch of prompts of ``ℓ + 1`` tokens of dimension ``d + 1``, ``ℓ = α d`` (or the
      context length ``n``/``m``/``ell``): ``8 s B (ℓ + 1)(d + 1)``.

    Returns the estimate and the names of the settings it used.
    """
    d = _num(values, "d")
    if d is None:
        ds = values.get("ds")
        d = float(max(ds)) if isinstance(ds, list | tuple) and ds else None
    if d is None:
        return 0.0, []
    seeds = _num(values, "seeds") or 1.0
    terms: list[tuple[float, list[str]]] = [(8 * seeds * d * (d + 1), ["d"])]
    tau = _num(values, "tau")
    if tau is not None:
        terms.append((8 * tau * d * d * (2 * d + 2), ["d", "tau"]))
    alpha = _num(values, "alpha")
    ell = alpha * d if alpha is not None else _num(values, "ell", "n", "m")
    batch = _num(values, "batch")
    if ell is not None and batch is not None:
        terms.append((8 * seeds * batch * (ell + 1) * (d + 1), ["d", "batch"]))
    return max(terms, key=lambda t: t[0])


def check_plan_size(n_units: int, unit_values: list[dict[str, Any]], *, allow_large: bool,
                    unit_setting: str = "trials") -> None:
    """Refuse a plan of more than :data:`MAX_UNITS` units, or one whose units need more than
    the machine's memory by :func:`estimate_unit_bytes` (unless ``allow_large``)."""
    if allow_large:
        return
    if n_units > MAX_UNITS:
        raise PlanTooLargeError(
            f"{unit_setting}: the plan has {n_units:.3g} units, more than the limit of "
            f"{MAX_UNITS} units per run; lower the grid or {unit_setting}, or pass "
            "--allow-large to run it anyway")
    limit = machine_memory_bytes()
    for values in unit_values:
        need, names = estimate_unit_bytes(values)
        if need > limit:
            shown = ", ".join(f"{k}={values[k]!r}" for k in names if k in values) or "d"
            raise PlanTooLargeError(
                f"{shown}: one unit needs at least {need / 2**30:.3g} GiB (estimated from "
                f"d, n, l), more than this machine's {limit / 2**30:.3g} GiB; lower "
                f"{names[0] if names else 'd'} or pass --allow-large to run it anyway")


# ---- paths ------------------------------------------------------------------------------------
def _first_existing(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def check_writable_dir(name: str, path: str | Path) -> Path:
    """Require ``path`` to be (or be creatable as) a writable folder; creates nothing."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ParameterError(name, str(path), "a folder (it is a file)")
    base = _first_existing(p.absolute())
    if not base.is_dir():
        raise ParameterError(name, str(path), f"a folder path ({base} is a file)")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ParameterError(name, str(path), f"a writable folder ({base} is not writable)")
    try:  # os.access trusts permission bits (always true for root): try a file that vanishes
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        raise ParameterError(name, str(path), f"a writable folder ({base}: "
                                              f"{exc.strerror or exc})") from None
    return p


def check_writable_file(name: str, path: str | Path) -> Path:
    """Require ``path`` to be a writable file, or creatable as one; creates nothing."""
    p = Path(path).expanduser()
    if p.exists():
        if p.is_dir():
            raise ParameterError(name, str(path), "a file path (it is a folder)")
        if not os.access(p, os.R_OK | os.W_OK):
            raise ParameterError(name, str(path), "a file you can read and write")
        check_writable_dir(name, p.parent)  # SQLite writes its journal next to the file
        return p
    check_writable_dir(name, p.parent)
    return p

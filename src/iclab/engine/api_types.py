"""Type checks of the Python API's arguments: the one-line errors the CLI gives, not deep
tracebacks.

``iclab.run_experiment(..., overrides=[("d", 6)])`` or ``store=123`` raise a
:class:`~iclab.errors.ParameterError` naming the argument and what is allowed. NumPy scalars
(``np.int64(6)``, ``np.float32(0.5)``) and arrays are accepted wherever a number or a list is,
by converting them to plain Python values first; bools stay bools, so the settings' own checks
refuse them for numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from iclab.errors import ParameterError


def plain(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays (nested in lists, tuples, dicts) turned into
    Python numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def plain_overrides(overrides: Any) -> dict[str, Any]:
    """``overrides`` as a dict of setting name → plain value; anything but a mapping with
    string keys (or ``None``) is a ParameterError naming ``overrides``."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise ParameterError("overrides", overrides, "a dict of setting name -> value, e.g. "
                                                     "{'d': 20} (or None)")
    for key in overrides:
        if not isinstance(key, str):
            raise ParameterError("overrides", dict(overrides), "a dict whose keys are setting "
                                                               "names (str)")
    return {k: plain(v) for k, v in overrides.items()}


def check_api_types(*, variant: Any, device: Any, allow_large: Any) -> None:
    """The plain-typed arguments of a run: ``variant`` and ``device`` are str,
    ``allow_large`` a bool."""
    if not isinstance(variant, str):
        raise ParameterError("variant", variant, "a variant name (str), e.g. 'quick'")
    if not isinstance(device, str):
        raise ParameterError("device", device, "a device name (str): 'cpu' or 'cuda[:N]'")
    if not isinstance(allow_large, bool | np.bool_):
        raise ParameterError("allow_large", allow_large, "True or False")


def check_store_arg(store: Any) -> None:
    """``store`` is a path (str or pathlib.Path) or an open :class:`~iclab.engine.Store`."""
    from iclab.engine.store import Store

    if isinstance(store, Store):
        return
    if isinstance(store, bool) or not isinstance(store, str | Path) or not str(store).strip():
        raise ParameterError("store", store, "a file path (str or pathlib.Path) or a Store")

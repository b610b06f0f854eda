"""Figure file names keyed by settings: ``<name>_<variant>[_<what differs>]``.

The variant's own settings keep the short name; other settings add a readable suffix of what
differs from the variant (a content hash when that would be too long), so two sweeps with
different settings never overwrite each other's figure.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np


def _digest(value: Any) -> str:
    """Stable hex digest of a JSON-able value (the same in every process)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "inf" if np.isinf(value) else f"{value:g}".replace("+", "")
    if isinstance(value, list | tuple):
        if len(value) <= 3:
            return "-".join(_short(v) for v in value)
        return f"{_short(value[0])}..{_short(value[-1])}x{len(value)}"
    if isinstance(value, Mapping):
        return "h" + _digest(value)[:6]
    return re.sub(r"[^A-Za-z0-9.\-]", "", str(value))[:12]


def settings_diff(exp: Any, settings: Any, variant: str | None) -> dict[str, Any]:
    """The settings that differ from ``variant``'s (all of them if the variant is unknown)."""
    values = settings.model_dump(mode="json")
    try:
        base = exp.make_settings(variant).model_dump(mode="json") if variant else {}
    except Exception:  # an unknown or removed variant: nothing to compare against
        base = {}
    return {k: v for k, v in values.items() if k not in base or base[k] != v}


def figure_stem(exp: Any, settings: Any, variant: str | None, max_len: int = 40) -> str:
    """The figure file's stem: ``<name>_<variant>``, plus a suffix for non-default settings.

    The variant's own settings keep the short name (``lu2024.fig1_quick``); other settings
    add a readable suffix of what differs (``lu2024.fig1_quick_d24_trials3``), shortened to a
    content hash when it would be longer than ``max_len`` characters, so two runs with
    different settings never overwrite each other's figure.
    """
    base = f"{exp.name}_{variant or 'custom'}"
    diff = settings_diff(exp, settings, variant)
    if not diff:
        return base
    suffix = "_".join(f"{k}{_short(v)}" for k, v in sorted(diff.items()))
    suffix = re.sub(r"[^A-Za-z0-9.\-_]", "", suffix)
    if len(suffix) > max_len:
        keys = "-".join(sorted(diff))[: max_len - 9]
        suffix = f"{keys}-{_digest(diff)[:8]}"
    return f"{base}_{suffix}"

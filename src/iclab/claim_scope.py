"""Which settings a claim was stated for, and whether a sweep's settings differ from them.

A claim is stated for settings: those named in :attr:`iclab.claims.Claim.settings` when
given, else the settings of the variant of the class that declares it (the class in whose
body ``claims`` lists it). A subclass that inherits a figure's claims but runs other settings
(``mine.fig1_rho05``: Fig. 1 at ρ = 0.5) therefore has each inherited claim marked
``settings differ: rho 0.01 → 0.5``; so has a sweep run with ``--set``. The verdict is
computed all the same, and is to be read as a check of the other settings.

A subclass adopts claims for its own settings by listing them in its own class body
(``claims = tuple(c for c in Parent.claims if c.id != "x")``), or drops them
(``claims = ()``); see docs/claims.md.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: settings that never change what a claim says (the seed draws another sample)
IGNORED = frozenset({"seed"})


def declaring_class(experiment: Any, claim: Any) -> type | None:
    """The class (in ``experiment``'s MRO) whose own body lists ``claim`` in ``claims``."""
    for cls in type(experiment).__mro__:
        own = cls.__dict__.get("claims")
        if own is not None and any(c is claim for c in own):
            return cls
    return None


def stated_settings(experiment: Any, claim: Any, variant: str) -> dict[str, Any] | None:
    """The settings ``claim`` was stated for at ``variant`` (``None`` if unknown)."""
    explicit = getattr(claim, "settings", None)
    if explicit:
        return dict(explicit)
    cls = declaring_class(experiment, claim)
    if cls is None or variant not in getattr(cls, "variants", {}):
        return None
    try:
        stated = cls.Settings(**cls.variants[variant]).model_dump()
    except Exception:  # noqa: BLE001 - a declaring class whose variant no longer validates
        return None
    # sizes that the variants set (d, trials, ...) last: what a claim is about comes first
    sized = {k for v in cls.variants.values() for k in v}
    return {k: stated[k] for k in sorted(stated, key=lambda k: k in sized)}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0) or a == b
    return bool(a == b)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(
        list(value) if isinstance(value, tuple) else value)
    return text if len(text) <= 28 else text[:25] + "..."


def settings_difference(stated: dict[str, Any] | None, actual: Any) -> str:
    """``"rho 0.01 → 0.5; d 24 → 12"`` for the stated settings that ``actual`` (a settings
    model or dict) changes; ``""`` when none does (or nothing is stated)."""
    if not stated or actual is None:
        return ""
    values = actual if isinstance(actual, dict) else actual.model_dump()
    changed = [f"{k} {_short(v)} → {_short(values[k])}" for k, v in stated.items()
               if k not in IGNORED and k in values and not _same(v, values[k])]
    return "; ".join(changed)


def undecided_note(verdict: str, uncertainty: float, detail: str) -> str:
    """Why an inconclusive verdict could not be decided, in one line (``""`` otherwise)."""
    if verdict != "inconclusive":
        return ""
    if "raised" in detail:
        return "the check raised an error"
    if not math.isfinite(uncertainty):
        return "too few trials or seeds for an interval: more would decide"
    return "the interval straddles the threshold: more trials or seeds would decide"


def deciding_point(detail: str) -> str:
    """The grid point a combined verdict's statistic belongs to, read from its detail (the
    first failing or undecided panel, or the closest one: ``"alpha=10, kappa=0.2"``);
    ``""`` when the detail names none."""
    for marker in ("; first: ", "; closest: "):
        if marker in detail:
            point = detail.split(marker, 1)[1].split(": ", 1)[0]
            return point if "=" in point else ""
    return ""

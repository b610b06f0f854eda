"""What the report knows about one stored sweep (experiment × settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sweep:
    """One stored (experiment, settings) with what the report shows about it."""

    name: str
    settings_hash: str
    variant: str
    anchor: str
    title: str = ""
    planned: int | None = None
    stored: int = 0
    rows: int = 0
    compute_seconds: float = 0.0
    wall_seconds: float = 0.0
    last_status: str = ""
    code_versions: list[str] = field(default_factory=list)
    worst_rel_dev: float | None = None
    html: str = ""
    problem: str = ""
    claims: list[Any] = field(default_factory=list)
    differs: dict[str, Any] = field(default_factory=dict)
    d_values: list[int] = field(default_factory=list)

"""Small HTML and text formatting helpers of the report."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd


def esc(value: Any) -> str:
    return html.escape(str(value))


def table(frame: pd.DataFrame | None, digits: int = 4) -> str:
    if frame is None or frame.empty:
        return "<p class='meta'>none</p>"
    return frame.to_html(index=False, border=0, escape=True, na_rep="",
                         float_format=lambda v: f"{v:.{digits}g}")


def duration(seconds: float) -> str:
    """``0.012 s``, ``4.2 s``, ``1 h 02 min`` — readable at every scale."""
    if seconds < 1:
        return f"{seconds:.3f} s"
    if seconds < 600:
        return f"{seconds:.1f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def when(stamp: float | None) -> str:
    if stamp is None or pd.isna(stamp):
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(stamp)))


def png_dims(png: Path) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's header (its natural size; the page scales a wide
    figure down to the column and never blows a small one up); ``None`` if unreadable."""
    try:
        head = png.read_bytes()[:24]
    except OSError:
        return None
    if head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def diff_text(diff: dict[str, Any], lead: str = "") -> str:
    """``{"d": 24, "trials": 3}`` → ``" — d = 24, trials = 3"`` (empty when nothing differs)."""
    if not diff:
        return ""
    return lead + ", ".join(f"{k} = {json.dumps(v)}" for k, v in diff.items())


def number(value: float, uncertainty: float | None = None) -> str:
    if value is None or not pd.notna(value):
        return "—"
    text = f"{value:.4g}"
    if uncertainty is not None and pd.notna(uncertainty) and uncertainty > 0:
        text += f" ± {uncertainty:.2g}"
    return text

"""Defaults of the engine that the command line needs without loading torch or pandas."""

from __future__ import annotations

from pathlib import Path

DEFAULT_STORE_PATH = Path("results") / "iclab.sqlite"
"""Where results are stored unless told otherwise (``--store``, ``store=``)."""

"""The installed distribution's version, read in one place (pyproject via package metadata)."""

from __future__ import annotations

from importlib import metadata


def package_version() -> str:
    """``iclab``'s version, or ``0+unknown`` in a source tree that is not installed."""
    try:
        return metadata.version("iclab")
    except metadata.PackageNotFoundError:
        return "0+unknown"

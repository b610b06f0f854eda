"""Shared runs for the claim tests: each experiment is run once per session into one store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from claims_support import Runs  # noqa: E402


@pytest.fixture(scope="session")
def claim_runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return Runs(tmp_path_factory.mktemp("claims") / "iclab.sqlite")

"""Register the reliability toy experiment (here and in spawned subprocesses)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOY_MODULE = "reliability_toys"


def _register() -> None:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(HERE) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), *paths])
    mods = [m for m in os.environ.get("ICLAB_EXPERIMENT_MODULES", "").split(",") if m]
    if TOY_MODULE not in mods:
        os.environ["ICLAB_EXPERIMENT_MODULES"] = ",".join([*mods, TOY_MODULE])
    import reliability_toys  # noqa: F401


_register()  # at collection: the probes are parametrised over the registered experiments

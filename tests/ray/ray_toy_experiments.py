"""``toyray.crash``: the engine's toy Monte Carlo mean, with a unit that can kill its worker.

At ``x == crash_at`` and trial 0 the unit reads an integer *crash budget* from the file
``budget_file``; while it is positive the unit decrements it and SIGKILLs its own process
(only inside a Ray worker: never in the driver, i.e. the pytest process). Every attempt is
appended to ``<budget_file>.attempts``. A budget file holding ``raise`` makes the unit raise
``ValueError`` instead (an error in the experiment's own code). The budget lives in a file,
not in the settings, so a test can change it between runs without changing the settings
hash (the unit keys and seeds).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pandas as pd
import pydantic
import torch

from iclab.experiments import Experiment, ExperimentSettings, RunContext, register
from iclab.figures import experiment_points, subplots


class CrashSettings(ExperimentSettings):
    xs: list[float] = pydantic.Field(default_factory=lambda: [0.0, 1.0, 2.0, 3.0])
    trials: int = pydantic.Field(2, ge=1)
    samples: int = pydantic.Field(100, ge=1)
    crash_at: float | None = None
    budget_file: str = ""


def _maybe_crash(budget_file: str) -> None:
    path = Path(budget_file)
    with open(f"{budget_file}.attempts", "a") as log:
        log.write(f"{os.getpid()}\n")
    text = path.read_text().strip()
    if text == "raise":
        raise ValueError("toy unit failed on purpose")
    budget = int(text or 0)
    in_worker = os.environ.get("RAYTOY_DRIVER_PID", str(os.getpid())) != str(os.getpid())
    if budget > 0 and in_worker:
        path.write_text(str(budget - 1))
        os.kill(os.getpid(), signal.SIGKILL)


@register
class ToyCrash(Experiment):
    name = "toyray.crash"
    title = "toy Monte Carlo mean whose unit may kill its worker"
    paper = "test"
    Settings = CrashSettings
    variants = {"quick": {}, "full": {"xs": [float(i) for i in range(12)]}}

    def points(self, settings: Any) -> list[dict[str, Any]]:
        return [{"x": x} for x in settings.xs]

    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        if settings.budget_file and point["x"] == settings.crash_at and trial == 0:
            _maybe_crash(settings.budget_file)
        z = torch.randn(settings.samples, generator=ctx.generator(), dtype=torch.float64)
        return [{"method": "mc", "value": point["x"] + float(z.mean())},
                {"method": "exact", "value": point["x"]}]

    def plot(self, settings: Any, results: pd.DataFrame, theory: Any) -> Any:
        fig, axes = subplots()
        experiment_points(axes[0, 0], results[results.method == "mc"], "x", "value")
        return fig

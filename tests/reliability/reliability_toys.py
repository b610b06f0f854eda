"""A toy experiment for the reliability tests (registered only when this module is imported).

``toy.rel``: at each point x, x plus the mean of ``samples`` normals, and a float64 sum of
a ``size``-long vector (a parallel reduction: its last bits depend on the thread count).
Each unit sleeps ``RELIABILITY_TOY_DELAY`` seconds (an environment variable, so the delay is
not part of the settings hash) to give Ctrl-C time to land mid-sweep.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pandas as pd
import pydantic
import torch

from iclab.experiments import Experiment, ExperimentSettings, RunContext, register
from iclab.figures import experiment_points, subplots
from iclab.validation import FiniteFloat, PositiveInt


class RelSettings(ExperimentSettings):
    xs: list[FiniteFloat] = pydantic.Field(default_factory=lambda: [0.0, 1.0], min_length=1)
    trials: PositiveInt = 2
    samples: PositiveInt = 100
    size: PositiveInt = 200_000


@register
class ReliabilityToy(Experiment):
    name = "toy.rel"
    title = "toy experiment of the reliability tests"
    paper = "test"
    Settings = RelSettings
    variants = {"quick": {}, "full": {"xs": [float(i) for i in range(40)], "trials": 2}}

    def points(self, settings: Any) -> list[dict[str, Any]]:
        return [{"x": x} for x in settings.xs]

    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        delay = float(os.environ.get("RELIABILITY_TOY_DELAY", "0"))
        if delay:
            time.sleep(delay)
        g = ctx.generator()
        z = torch.randn(settings.samples, generator=g, dtype=torch.float64)
        v = torch.rand(settings.size, generator=g, dtype=torch.float64) * 1e3
        return [{"method": "mc", "value": point["x"] + float(z.mean()),
                 "big_sum": float(v.sum()), "threads": torch.get_num_threads()}]

    def plot(self, settings: Any, results: pd.DataFrame, theory: Any) -> Any:
        fig, axes = subplots()
        experiment_points(axes[0, 0], results, "x", "value")
        return fig

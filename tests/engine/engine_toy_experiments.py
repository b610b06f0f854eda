"""Toy experiments for the engine tests (registered only when this module is imported).

``toy.mc``: at each point x, a Monte Carlo mean of ``samples`` standard normals plus x;
each unit optionally sleeps ``TOY_DELAY`` seconds (an environment variable, so the delay is
not part of the settings hash) to give a kill signal time to land mid-sweep.
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


class ToySettings(ExperimentSettings):
    xs: list[float] = pydantic.Field(default_factory=lambda: [0.0, 1.0, 2.0])
    trials: int = pydantic.Field(2, ge=1)
    samples: int = pydantic.Field(100, ge=1)


@register
class ToyMonteCarlo(Experiment):
    name = "toy.mc"
    title = "toy Monte Carlo mean"
    paper = "test"
    Settings = ToySettings
    variants = {"quick": {}, "full": {"xs": [float(i) for i in range(30)], "trials": 3}}

    def points(self, settings: Any) -> list[dict[str, Any]]:
        return [{"x": x} for x in settings.xs]

    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        delay = float(os.environ.get("TOY_DELAY", "0"))
        if delay:
            time.sleep(delay)
        z = torch.randn(settings.samples, generator=ctx.generator(), dtype=torch.float64)
        return [{"method": "mc", "value": point["x"] + float(z.mean())},
                {"method": "exact", "value": point["x"]}]

    def plot(self, settings: Any, results: pd.DataFrame, theory: Any) -> Any:
        fig, axes = subplots()
        experiment_points(axes[0, 0], results[results.method == "mc"], "x", "value")
        return fig


@register
class ToyCostly(ToyMonteCarlo):
    """``toy.mc`` whose units at larger x are expected to cost more (``unit_cost = 1 + x``)."""

    name = "toy.costly"

    def unit_cost(self, settings: Any, point: dict[str, Any]) -> float:
        return 1.0 + point["x"]

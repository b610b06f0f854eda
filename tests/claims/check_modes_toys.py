"""A toy experiment with a claim and a negative control (for the ``iclab check`` mode tests).

``toy.trend``: at each x in ``xs``, ``value = slope·x + noise`` per trial; the claim is that
the per-trial least-squares slope exceeds 0.5 (95 % t-interval over trials); its control sets
``slope = 0``, where the trend is absent and the check must say ``fails``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pydantic

from iclab.claims import Claim, ClaimData, Control, Evidence, compare_interval, scale_column
from iclab.claims import slope as ls_slope
from iclab.experiments import Experiment, ExperimentSettings, RunContext, register
from iclab.figures import experiment_points, subplots


class TrendSettings(ExperimentSettings):
    xs: list[float] = pydantic.Field(default_factory=lambda: [0.0, 1.0, 2.0, 3.0])
    trials: int = pydantic.Field(6, ge=2)
    slope: float = 1.0
    noise: float = 0.2


def slope_above_half(data: ClaimData) -> Evidence:
    per_trial = [ls_slope(g["x"], g["value"]) for _, g in data.results.groupby("trial")]
    return compare_interval(np.asarray(per_trial), 0.5, ">", "per-trial slope")


@register
class ToyTrend(Experiment):
    name = "toy.trend"
    title = "toy linear trend"
    paper = "test"
    Settings = TrendSettings
    variants = {"quick": {}, "full": {"trials": 12}}
    claims = (
        Claim("slope_above_half", "The value rises with x at a slope above 0.5.", "ours",
              slope_above_half, scale_column("value", 0.0),
              controls=(Control({"slope": 0.0}, "no trend: the slope is zero"),)),
        Claim("uncontrolled", "The value rises with x at a slope above 0.5 (no control).",
              "test paper", slope_above_half, scale_column("value", 0.0),
              no_control="a test claim without a control"),
    )

    def points(self, settings: Any) -> list[dict[str, Any]]:
        return [{"x": x} for x in settings.xs]

    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        noise = float(ctx.rng().normal(0.0, settings.noise))
        return [{"value": settings.slope * point["x"] + noise}]

    def plot(self, settings: Any, results: pd.DataFrame, theory: Any) -> Any:
        fig, axes = subplots()
        experiment_points(axes[0, 0], results, "x", "value")
        return fig

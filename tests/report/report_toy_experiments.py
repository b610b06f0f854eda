"""Two toy experiments for the report tests.

``toyreport.line``: a Monte Carlo estimate of ``slope * x`` (mean of ``samples`` draws of
``slope * x + N(0, 1)``) with theory ``slope * x`` and a per-curve deviation table.
``toyreport.bare``: a single metric with no theory (``deviations`` is ``None``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pydantic
import torch

from iclab.claims import Claim, ClaimData, Evidence, compare_interval
from iclab.experiments import Experiment, ExperimentSettings, RunContext, register
from iclab.figures import experiment_points, label_axes, subplots, theory_line


class LineSettings(ExperimentSettings):
    xs: list[float] = pydantic.Field(default_factory=lambda: [1.0, 2.0, 3.0])
    slopes: list[float] = pydantic.Field(default_factory=lambda: [0.5, 2.0])
    trials: int = pydantic.Field(2, ge=1)
    samples: int = pydantic.Field(50, ge=1)


@register
class ToyLine(Experiment):
    name = "toyreport.line"
    title = "toy line: Monte Carlo vs slope * x"
    paper = "report test"
    Settings = LineSettings
    variants = {"quick": {}, "full": {"samples": 400}}
    variant_notes = {"full": "400 samples: the toy's paper size"}
    claims = (Claim("steeper_is_higher",
                    "The larger slope gives the larger value at every x (per trial).",
                    "ours", lambda data: _steeper_is_higher(data),
                    lambda data: data.replace(results=data.results.assign(
                        value=-data.results.value)), variants=("quick", "full")),)

    def points(self, settings: Any) -> list[dict[str, Any]]:
        return [{"x": x} for x in settings.xs]

    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        gen = ctx.generator()
        rows = []
        for slope in settings.slopes:
            z = torch.randn(settings.samples, generator=gen, dtype=torch.float64)
            rows.append({"slope": slope, "value": slope * point["x"] + float(z.mean())})
        return rows

    def theory(self, settings: Any) -> pd.DataFrame:
        return pd.DataFrame([{"slope": s, "x": x, "value": s * x}
                             for s in settings.slopes for x in settings.xs])

    def plot(self, settings: Any, results: pd.DataFrame, theory: Any) -> Any:
        fig, axes = subplots()
        for slope, curve in theory.groupby("slope"):
            theory_line(axes[0, 0], curve.x, curve.value, label=f"slope {slope}")
            experiment_points(axes[0, 0], results[results.slope == slope], "x", "value")
        label_axes(axes[0, 0], "x", "value")
        return fig

    def deviations(self, settings: Any, results: pd.DataFrame,
                   theory: Any) -> pd.DataFrame:
        means = results.groupby(["slope", "x"]).value.mean().rename("exp").reset_index()
        both = means.merge(theory, on=["slope", "x"])
        both["abs"] = (both.exp - both.value).abs()
        both["rel"] = both["abs"] / both.value.abs()
        return pd.DataFrame([
            {"curve": f"slope={slope}", "metric": "value", "n_points": len(g),
             "max_abs_dev": g["abs"].max(), "max_rel_dev": g["rel"].max()}
            for slope, g in both.groupby("slope")])


def _steeper_is_higher(data: ClaimData) -> Evidence:
    """Per trial: mean over x of value(largest slope) − value(smallest slope), claimed > 0."""
    res = data.results
    hi, lo = res.slope.max(), res.slope.min()
    diff = (res[res.slope == hi].groupby("trial").value.mean()
            - res[res.slope == lo].groupby("trial").value.mean())
    return compare_interval(diff.to_numpy(), 0.0, ">", "value(steep) - value(shallow)")


class BareSettings(ExperimentSettings):
    ns: list[int] = pydantic.Field(default_factory=lambda: [2, 4])
    trials: int = pydantic.Field(1, ge=1)


@register
class ToyBare(Experiment):
    name = "toyreport.bare"
    title = "toy without theory"
    paper = "report test"
    Settings = BareSettings

    def points(self, settings: Any) -> list[dict[str, Any]]:
        return [{"n": n} for n in settings.ns]

    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        z = torch.rand(point["n"], generator=ctx.generator(), dtype=torch.float64)
        return [{"risk": float(z.max())}]

    def plot(self, settings: Any, results: pd.DataFrame, theory: Any) -> Any:
        fig, axes = subplots()
        experiment_points(axes[0, 0], results, "n", "risk")
        return fig

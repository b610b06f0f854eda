"""``iclab demo`` says "experiment k of N" and writes figures named by settings, and a report."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pydantic
from rich.console import Console

from iclab.demo import run_demo
from iclab.experiments import Experiment, ExperimentSettings, RunContext, register
from iclab.figures import experiment_points, label_axes, legend, subplots, theory_line


class _Settings(ExperimentSettings):
    xs: list[float] = pydantic.Field(default_factory=lambda: [1.0, 2.0])
    trials: int = pydantic.Field(1, ge=1)


class _Base(Experiment):
    paper = "newcomer test"
    Settings = _Settings

    def points(self, settings: Any) -> list[dict[str, Any]]:
        return [{"x": x} for x in settings.xs]

    def run_point(self, settings: Any, point: dict[str, Any], trial: int,
                  ctx: RunContext) -> list[dict[str, Any]]:
        return [{"method": "linear_attention", "value": 2 * point["x"]}]

    def theory(self, settings: Any) -> pd.DataFrame:
        return pd.DataFrame({"x": settings.xs, "value": [2 * x for x in settings.xs]})

    def plot(self, settings: Any, results: pd.DataFrame, theory: Any) -> Any:
        fig, axes = subplots()
        theory_line(axes[0, 0], theory.x, theory.value)
        experiment_points(axes[0, 0], results, "x", "value", label="linear_attention")
        label_axes(axes[0, 0], "x", "value")
        legend(axes[0, 0])
        return fig


@register
class _First(_Base):
    name = "toynewcomer.first"
    title = "first toy"


@register
class _Second(_Base):
    name = "toynewcomer.second"
    title = "second toy"


def test_demo_counts_experiments_and_writes_report(tmp_path: Path) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=False)
    report = run_demo(out=tmp_path, only="toynewcomer", console=console)
    text = buffer.getvalue()
    assert "experiment 1 of 2: toynewcomer.first" in text
    assert "experiment 2 of 2: toynewcomer.second" in text
    assert (tmp_path / "figures" / "toynewcomer.first_quick.png").exists()
    page = report.read_text()
    assert page.index('id="contents"') < page.index('id="claims"') < page.index('id="summary"')
    assert 'href="figures/toynewcomer.first_quick.png"' in page


def test_demo_ends_with_the_claims_summary_and_the_report_url(tmp_path: Path) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, force_terminal=False)
    report = run_demo(out=tmp_path, only="toynewcomer.first", console=console)
    lines = buffer.getvalue().strip().splitlines()
    assert lines[-1] == f"report: {report.resolve().as_uri()}"
    assert any(line.startswith("claims: 0 checked") for line in lines[-5:])


def test_claims_summary_counts_and_lists_what_does_not_hold() -> None:
    from iclab.claims import ClaimResult
    from iclab.demo import claims_summary

    def result(claim: str, verdict: str, **extra: Any) -> ClaimResult:
        return ClaimResult("lu2024.fig1", claim, "s", "ours", "quick", verdict, 1.07, 0.05,
                           1.0, "d", **extra)

    lines = claims_summary([result("a", "holds"), result("b", "fails"),
                            result("c", "inconclusive", note="too few trials")])
    assert lines[0] == "claims: 3 checked: 1 holds, 1 fails, 1 inconclusive"
    assert lines[1] == "  fails: lu2024.fig1 b (1.07 vs 1)"
    assert lines[2] == "  inconclusive: lu2024.fig1 c (1.07 vs 1) — too few trials"
    assert not any(" a (" in line for line in lines)

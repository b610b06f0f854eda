"""Cost-weighted progress with heartbeat lines off a terminal; docs that speak to users."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from iclab.engine.progress import SweepProgress, expected_unit_cost

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class _Unit:
    key: str
    point: dict


def test_progress_lines_are_weighted_by_unit_cost(capsys: pytest.CaptureFixture[str]) -> None:
    """Three units of costs 1, 1, 8: after the two cheap ones 20 % of the work is done, not
    67 % (a plain count would say 2 of 3)."""
    costs = {"a": 1.0, "b": 1.0, "c": 8.0}
    with SweepProgress(True, "toy", 3, 0, costs, set(), heartbeat_s=60, line_every_s=0) as advance:
        advance(_Unit("a", {"d": 4}))
        advance(_Unit("b", {"d": 4}))
        lines = capsys.readouterr().err.strip().splitlines()
        advance(_Unit("c", {"d": 64}))
    assert lines[0].startswith("[toy] unit 1/3 d=4 done; 10% of the work")
    assert lines[1].startswith("[toy] unit 2/3 d=4 done; 20% of the work")
    assert "100% of the work" in capsys.readouterr().err


def test_unit_lines_are_throttled_but_the_last_is_shown(
        capsys: pytest.CaptureFixture[str]) -> None:
    costs = {str(i): 1.0 for i in range(50)}
    with SweepProgress(True, "fast", 50, 0, costs, set(), line_every_s=60) as advance:
        for key in costs:
            advance(_Unit(key, {}))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2  # the first and the last unit
    assert lines[-1].startswith("[fast] unit 50/50 done; 100% of the work")


def test_heartbeat_line_during_a_long_unit(capsys: pytest.CaptureFixture[str]) -> None:
    import time

    with SweepProgress(True, "slow", 2, 1, {"a": 1.0, "b": 1.0}, {"a"}, heartbeat_s=0.3):
        time.sleep(1.0)
    err = capsys.readouterr().err
    assert "[slow] still running: 1/2 units done" in err


def test_unit_cost_hook_defaults_to_one() -> None:
    class Plain:
        pass

    class Weighted:
        def unit_cost(self, settings: object, point: dict) -> float:
            return point["d"] ** 2

    class Broken:
        def unit_cost(self, settings: object, point: dict) -> float:
            return float("nan")

    assert expected_unit_cost(Plain(), None, {"d": 3}) == 1.0
    assert expected_unit_cost(Weighted(), None, {"d": 3}) == 9.0
    assert expected_unit_cost(Broken(), None, {"d": 3}) == 1.0


FORBIDDEN = r"shared/specs|spec §|open point|this session|the lead|seed slides|\[\?\]"


def test_docs_speak_to_users() -> None:
    """No internal words and no pointers outside the repository in README.md and docs/."""
    found = subprocess.run(["grep", "-rniE", FORBIDDEN, "README.md", "docs"], cwd=ROOT,
                           capture_output=True, text=True)
    assert found.stdout == "", found.stdout


def test_docs_links_stay_inside_the_repository() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            assert (page.parent / target).resolve().is_relative_to(ROOT), (page, target)
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_citation_files() -> None:
    cff = (ROOT / "CITATION.cff").read_text()
    assert "cff-version:" in cff and "iclab" in cff
    bib = (ROOT / "docs" / "citing.md").read_text()
    for key in ("lu2025asymptotic", "li2024finegrained", "shi2024larger", "iclab"):
        assert f"{{{key}," in bib


def test_readme_is_short_and_points_to_the_measurements() -> None:
    """README.md stays under 200 lines: one current time per set-up command; the measurement
    history lives in docs/benchmarks.md."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert "## Claims" in text and "## CLI tour" in text and "## Python API" in text
    assert "iclab.experiments" in text and "./results/iclab.sqlite" in text
    assert "Headline numbers and their history" in (ROOT / "docs" / "benchmarks.md").read_text()

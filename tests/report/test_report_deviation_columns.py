"""The report checks that every experiment's ``deviations`` has exactly the contract's columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from report_toy_experiments import ToyLine

from iclab import run_experiment
from iclab.contract import DEVIATION_COLUMNS
from iclab.engine import Store
from iclab.experiments import register
from iclab.report import write_report
from iclab.report.deviations import DeviationColumnsError, check_deviation_columns


@register
class ToyExtraColumn(ToyLine):
    """``toyreport.line`` whose deviation table carries one column too many."""

    name = "toyreport.extra_column"

    def deviations(self, settings: Any, results: pd.DataFrame, theory: Any) -> pd.DataFrame:
        return super().deviations(settings, results, theory).assign(note="extra")


def _good() -> pd.DataFrame:
    return pd.DataFrame([{"curve": "a", "metric": "m", "n_points": 3, "max_abs_dev": 0.1,
                          "max_rel_dev": 0.2}], columns=list(DEVIATION_COLUMNS))


def test_check_accepts_exactly_the_columns_and_names_the_experiment_otherwise() -> None:
    good = _good()
    assert check_deviation_columns("toy.x", good) is good
    bad_frames = [good.assign(extra=1), good.drop(columns="n_points"),
                  good[list(reversed(DEVIATION_COLUMNS))], good.to_dict("records")]
    for bad in bad_frames:
        with pytest.raises(DeviationColumnsError, match=r"^toy\.x: Experiment\.deviations"):
            check_deviation_columns("toy.x", bad)


def test_report_shows_the_error_for_the_offending_experiment_only(tmp_path: Path) -> None:
    db = Store(tmp_path / "s.sqlite")
    run_experiment("toyreport.line", "quick", store=db)
    run_experiment("toyreport.extra_column", "quick", store=db)
    page = write_report(db, tmp_path / "out").read_text(encoding="utf-8")
    message = "toyreport.extra_column: Experiment.deviations must return exactly the columns"
    assert message in page
    assert "toyreport.line: Experiment.deviations" not in page
    assert (tmp_path / "out" / "figures" / "toyreport.line_quick.png").exists()

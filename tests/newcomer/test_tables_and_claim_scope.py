"""Tables that read at 80 columns and in a pipe; claims scoped to the settings they were
stated for (a subclass on other settings is marked, one that restates them is not)."""

from __future__ import annotations

import io
import math
from typing import Any, ClassVar

import pandas as pd
import pydantic
from rich.console import Console
from typer.testing import CliRunner

from iclab.claim_scope import deciding_point, settings_difference, undecided_note
from iclab.claims import Claim, ClaimData, ClaimResult, Evidence, evaluate_claims, scale_column
from iclab.cli import app
from iclab.cli.common import claims_notes, print_claims
from iclab.cli.tables import Column, fit_columns, print_table
from iclab.contract import Experiment, ExperimentSettings


def _holds(data: ClaimData) -> Evidence:
    return Evidence("holds", 1.0, 0.1, 0.5, "toy")


class ToySettings(ExperimentSettings):
    rho: float = pydantic.Field(0.01, ge=0)
    trials: int = 3


class Parent(Experiment[ToySettings]):
    name = "toy.parent"
    title = "parent"
    paper = "ours"
    Settings = ToySettings
    variants: ClassVar[dict[str, dict[str, Any]]] = {"quick": {"trials": 3}, "full": {}}
    claims = (Claim("up", "it goes up", "ours", _holds, scale_column("y", -1.0)),)

    def points(self, settings: ToySettings) -> list[dict[str, Any]]:
        return [{"x": 0}]

    def run_point(self, settings: Any, point: Any, trial: int, ctx: Any) -> list[dict]:
        return [{"y": 1.0}]

    def plot(self, settings: Any, results: Any, theory: Any) -> Any:
        return None


class ChildSettings(ToySettings):
    rho: float = pydantic.Field(0.5, ge=0)


class Inherits(Parent):
    name = "toy.inherits"
    Settings = ChildSettings


class Restates(Parent):
    name = "toy.restates"
    Settings = ChildSettings
    claims = tuple(Parent.claims)


def _verdicts(exp: Experiment, **overrides: Any) -> list[ClaimResult]:
    settings = exp.make_settings("quick", overrides)
    return evaluate_claims(exp, ClaimData(settings, pd.DataFrame(), None, "quick"))


def test_inherited_claims_on_other_settings_are_marked() -> None:
    assert _verdicts(Parent())[0].settings_differ == ""
    assert _verdicts(Inherits())[0].settings_differ == "rho 0.01 → 0.5"
    assert _verdicts(Restates())[0].settings_differ == ""
    assert _verdicts(Parent(), trials=7)[0].settings_differ == "trials 3 → 7"
    assert _verdicts(Parent(), seed=4)[0].settings_differ == ""  # another sample, same claim


def test_a_claim_may_state_its_own_settings() -> None:
    claim = Claim("up", "s", "ours", _holds, scale_column("y", -1.0), settings={"rho": 0.5})

    class Scoped(Inherits):
        claims = (claim,)

    assert _verdicts(Scoped())[0].settings_differ == ""
    assert _verdicts(Scoped(), rho=0.2)[0].settings_differ == "rho 0.5 → 0.2"
    assert settings_difference({"alphas": [1, 10]}, {"alphas": (1.0, 10.0)}) == ""


def test_deciding_point_and_undecided_note() -> None:
    detail = "panels: 1 of 3 inconclusive; first: alpha=10, kappa=0.2: mean over 3 trials"
    assert deciding_point(detail) == "alpha=10, kappa=0.2"
    assert deciding_point("mean over 3 trials") == ""
    assert "too few" in undecided_note("inconclusive", math.nan, "x")
    assert "straddles" in undecided_note("inconclusive", 0.3, "x")
    assert undecided_note("holds", 0.3, "x") == ""


def _console(width: int) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, force_terminal=False, color_system=None), buf


COLUMNS = (Column("name", 0, wrap=False), Column("title", 0), Column("extra", 2),
           Column("more", 1))
ROWS = [["lu2024.fig_something", "Task-feature alignment: a long title " * 3,
         "extraordinarily wide column content " * 2, "x"],
        ["b", "Short", "y", "z"]]


def test_low_priority_columns_go_first_and_stacked_when_nothing_fits() -> None:
    assert fit_columns(COLUMNS, ROWS, 200) == [0, 1, 2, 3]
    assert fit_columns(COLUMNS, ROWS, 50) == [0, 1, 3]
    assert fit_columns(COLUMNS, ROWS, 20) is None
    console, buf = _console(20)
    print_table(console, "t", COLUMNS, ROWS)
    assert "  title: Task-feature" in buf.getvalue()  # stacked blocks


def test_no_cell_is_narrower_than_its_first_word_at_60_columns() -> None:
    console, buf = _console(60)
    print_table(console, "t", COLUMNS, ROWS)
    text = buf.getvalue()
    assert max(map(len, text.splitlines())) <= 60
    for word in ("lu2024.fig_something", "Task-feature", "Short"):
        assert word in text
    assert "not shown at 60 columns: extra" in text


def test_iclab_list_at_80_columns_keeps_every_first_word() -> None:
    from iclab.experiments import all_experiments

    done = CliRunner().invoke(app, ["list"], env={"COLUMNS": "80"})
    assert done.exit_code == 0, done.output
    assert max(map(len, done.output.splitlines())) <= 80
    for name, cls in all_experiments().items():
        assert name in done.output
        assert cls.title.split()[0] in done.output


def test_claims_table_names_the_point_and_the_settings() -> None:
    v = ClaimResult("toy.inherits", "up", "it goes up", "ours", "quick", "inconclusive", 1.04,
                    0.05, 1.0, "panels: 1 of 2 inconclusive; first: tau=1.15: mean",
                    settings_differ="rho 0.01 → 0.5",
                    note="the interval straddles the threshold")
    console, buf = _console(80)
    print_claims(console, [v], "claims [quick]")
    text = buf.getvalue()
    assert "(tau=1.15)" in text and "differ:" in text and "rho 0.01" in text
    assert any("stated for other settings" in line for line in claims_notes([v]))
    assert any("cannot decide" in line for line in claims_notes([v]))


def test_plain_help_drops_markup_and_breaks_at_sentences() -> None:
    from iclab.cli.helptext import plain_help

    doc = """Run it.

    Exit status: 0 when every claim holds, 1 when any fails or is inconclusive, 2 on bad
    input. With ``--set`` the settings differ.
    Example: ``iclab run a --quick`` or ``iclab run b``
    """
    assert plain_help(doc) == (
        "Run it.\n\nExit status: 0 when every claim holds, 1 when any fails or is "
        "inconclusive, 2 on bad input.\nWith --set the settings differ.\n\n"
        "Example:\n  iclab run a --quick\n  iclab run b")


def test_every_command_help_is_free_of_markup() -> None:
    from iclab.cli.root import COMMAND_ORDER

    runner = CliRunner()
    for command in [c for c in COMMAND_ORDER if c not in ("llm", "theory")]:
        done = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80"})
        assert done.exit_code == 0, (command, done.output)
        assert "``" not in done.output and ":func:" not in done.output, command
        assert "Example" in done.output, command

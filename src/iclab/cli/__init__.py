"""The ``iclab`` command line (typer + rich).

Examples::

    iclab list
    iclab show lu2024.fig1
    iclab run lu2024.fig1 --quick --set trials=3
    iclab plot lu2024.fig1 --quick
    iclab export lu2024.fig1 --format csv --out fig1.csv
    iclab theory e-icl --tau 2 --alpha 10 --kappa 0.5 --rho 0.01 --json
    iclab check lu2024.fig1 lu2024.fig4 --quick --json
    iclab demo --quick

Layout: :mod:`iclab.cli.root` (the group, ``--version``, the lazy ``llm``),
:mod:`iclab.cli.common` (options, ``--set`` parsing, checks), :mod:`iclab.cli.run` (``run``,
``check``, ``demo``), :mod:`iclab.cli.inspect` (``list``, ``show``, ``plot``, ``export``,
``report``), :mod:`iclab.cli.theory` and :mod:`iclab.cli.llm`. Experiment names are resolved
here, with :func:`iclab.experiments.get_experiment`; the engine receives experiments.
"""

from __future__ import annotations

from iclab.cli import inspect as _inspect  # noqa: F401  (registers the commands)
from iclab.cli import run as _run  # noqa: F401
from iclab.cli import theory as _theory  # noqa: F401
from iclab.cli.common import parse_overrides, parse_value
from iclab.cli.helptext import tidy_help
from iclab.cli.root import app, console

tidy_help(app)

__all__ = ["app", "console", "main", "parse_overrides", "parse_value"]


def main() -> None:
    """Entry point of ``iclab`` and ``python -m iclab``."""
    app(prog_name="iclab")

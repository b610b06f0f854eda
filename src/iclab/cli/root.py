"""The root ``iclab`` command group: options, ``--version``, and the lazily loaded ``llm``.

The commands themselves are declared in :mod:`iclab.cli.run`, :mod:`iclab.cli.inspect` and
:mod:`iclab.cli.theory` (registered on :data:`app` when :mod:`iclab.cli` is imported);
``iclab llm`` comes from :mod:`iclab.cli.llm`, imported (with torch and transformers) only
when that command is used.
"""

from __future__ import annotations

from typing import Annotated

import click
import typer
from rich.console import Console

from iclab._cli_errors import OneLineErrorsGroup

_LLM_HELP = "In-context noise sensitivity of local LLMs."
#: The order of ``iclab --help`` (commands are declared in several modules).
COMMAND_ORDER = ("list", "show", "run", "check", "plot", "export", "demo", "report", "theory",
                 "llm")


class _LazyGroup(OneLineErrorsGroup):
    """The top-level group; ``iclab llm`` is loaded (torch, transformers) only when used.

    ``iclab --help`` lists ``llm`` from a placeholder; ``iclab llm ...`` imports
    :mod:`iclab.cli.llm` and runs its real group.
    """

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        names = names if "llm" in names else [*names, "llm"]
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda n: rank.get(n, len(rank)))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name != "llm":
            return super().get_command(ctx, name)
        if self._listing:
            return click.Command("llm", help=_LLM_HELP, short_help=_LLM_HELP)
        try:
            from iclab.cli.llm import llm_app
        except ImportError:  # the llm extra is not installed
            return None
        command = typer.main.get_command(llm_app)
        command.help = command.help or _LLM_HELP
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    help="iclab: theory and experiments of in-context learning in stylised models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_LazyGroup,
)
theory_app = typer.Typer(help="Evaluate closed-form learning curves.", no_args_is_help=True)
app.add_typer(theory_app, name="theory")
console = Console()


def _print_version(value: bool) -> None:
    if value:
        from iclab._version import package_version

        typer.echo(f"iclab {package_version()}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the installed iclab version and exit.")] = False,
) -> None:
    """iclab: theory and experiments of in-context learning in stylised models."""

"""Command help as plain text: no reStructuredText markup, one sentence per line, examples
kept as written.

The commands' docstrings are written for the API docs (````iclab list````, lines broken at
100 columns). :func:`plain_help` turns one into what ``iclab CMD --help`` shows: markup
dropped, each paragraph's sentences one per line (the terminal wraps a long one at a word),
and an ``Example:``/``Examples:`` paragraph's lines kept, indented, one command a line.
:func:`tidy_help` applies it to every command of a typer app.
"""

from __future__ import annotations

import re

import typer

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`'\"])")
_INLINE_EXAMPLE = re.compile(r"\s*Examples?:\s*(.+)$", re.S)


def _unmark(text: str) -> str:
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return re.sub(r"`([^`]+)`", r"\1", text)


def _example_lines(body: str) -> list[str]:
    """The commands of an example paragraph: one a line (inline ``a`` or ``b`` split)."""
    parts = re.split(r"\s+or\s+(?=``)|\n", body.strip())
    return ["  " + _unmark(p).strip().rstrip(".") for p in parts if p.strip()]


def plain_help(doc: str | None) -> str:
    """``doc`` as plain help text (see the module)."""
    if not doc:
        return ""
    import inspect

    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(doc))
    out: list[str] = []
    for para in paragraphs:
        head = para.lstrip()
        if re.match(r"Examples?:", head):
            title, _, body = head.partition(":")
            out.append(f"{title}:\n" + "\n".join(_example_lines(body)))
            continue
        inline = _INLINE_EXAMPLE.search(para)
        lead = para[: inline.start()] if inline else para
        joined = " ".join(line.strip() for line in lead.splitlines() if line.strip())
        if joined:
            out.append("\n".join(_SENTENCE_END.split(_unmark(joined))))
        if inline:
            out.append("Example:\n" + "\n".join(_example_lines(inline.group(1))))
    # two line breaks between paragraphs; rich keeps single ones as line breaks
    return "\n\n".join(out)


def tidy_help(app: typer.Typer) -> None:
    """Set every command's help (and its groups', recursively) from its docstring through
    :func:`plain_help`."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.help = plain_help(info.help or info.callback.__doc__)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            tidy_help(group.typer_instance)

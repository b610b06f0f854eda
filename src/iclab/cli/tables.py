"""Tables that read at any width: at 80 columns, in a pipe, or as plain text.

:func:`print_table` takes columns with priorities. No cell is made narrower than its
content's first word (or its whole text, for a column that must not wrap: names typed back,
numbers); when the columns do not fit the console's width the least important are left out
(and named below the table), and when even the essential ones do not fit, or with
``--plain``, every row is printed as a block of ``field: value`` lines.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

#: columns of the table cost their borders and padding (a cell's 2 spaces and 1 rule)
_PER_COLUMN = 3
#: words longer than this (JSON lists, paths) may fold; a cell's first word never does
_LONG_WORD = 12


@dataclasses.dataclass(frozen=True)
class Column:
    """One column: its header, how important it is (0 = always shown; higher numbers are
    left out first), whether its cells may wrap, and an optional rich style per cell."""

    name: str
    priority: int = 0
    wrap: bool = True
    justify: str = "left"


def _need(column: Column, cells: Sequence[str]) -> int:
    """The narrowest the column may be: its header and every cell's first word and its
    other words up to :data:`_LONG_WORD` characters (the whole cell when it must not
    wrap)."""
    if not column.wrap:
        return max([len(column.name), *(len(c) for c in cells)])
    words = [max([(c.split() or [""])[0], *[w[:_LONG_WORD] for w in c.split()]], key=len)
             for c in cells]
    return max([len(column.name), *(len(w) for w in words)])


def fit_columns(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int
                ) -> list[int] | None:
    """Indices of the columns to show at ``width`` (most important kept), or ``None`` when
    even the priority-0 columns do not fit."""
    keep = list(range(len(columns)))
    needs = [_need(c, [r[i] for r in rows]) for i, c in enumerate(columns)]

    def total(idx: list[int]) -> int:
        return sum(needs[i] for i in idx) + _PER_COLUMN * len(idx) + 1

    # the least important first; among equals, the rightmost first
    for i in sorted(keep, key=lambda i: (-columns[i].priority, -i)):
        if total(keep) <= width or columns[i].priority == 0:
            break
        keep.remove(i)
    return keep if total(keep) <= width else None


def allot_widths(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int
                 ) -> list[int]:
    """Content widths of the shown columns: each its need (:func:`_need`), then the room
    left shared among the wrapping columns in proportion to how much longer they are."""
    needs = [_need(c, [r[i] for r in rows]) for i, c in enumerate(columns)]
    longest = [max([len(c.name), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    room = width - (sum(needs) + _PER_COLUMN * len(columns) + 1)
    want = [(lg - nd) if c.wrap else 0 for c, lg, nd in zip(columns, longest, needs,
                                                               strict=True)]
    total = sum(want)
    if room <= 0 or total == 0:
        return needs
    extra = [min(w, room * w // total) for w in want]
    return [n + e for n, e in zip(needs, extra, strict=True)]


def print_table(console: Console, title: str, columns: Sequence[Column],
                rows: Sequence[Sequence[str]], plain: bool = False,
                styles: Sequence[Sequence[str]] | None = None) -> None:
    """Print ``rows`` under ``columns`` fitted to the console's width (see the module).

    ``styles`` gives a rich style per cell (same shape as ``rows``; ``""`` for none); cell
    text is never read as markup.
    """
    width = console.width
    keep = None if plain else fit_columns(columns, rows, width)
    if keep is None:
        print_blocks(console, title, columns, rows)
        return
    table = Table(title=escape(title), box=box.SQUARE, title_justify="left")
    widths = allot_widths([columns[i] for i in keep], [[r[i] for i in keep] for r in rows],
                          width)
    for i, w in zip(keep, widths, strict=True):
        col = columns[i]
        table.add_column(col.name, width=w, no_wrap=not col.wrap, overflow="fold",
                         justify=col.justify)  # type: ignore[arg-type]
    for r, row in enumerate(rows):
        cells = []
        for i in keep:
            style = styles[r][i] if styles else ""
            text = escape(row[i])
            cells.append(f"[{style}]{text}[/{style}]" if style else text)
        table.add_row(*cells)
    console.print(table)
    left_out = [columns[i].name for i in range(len(columns)) if i not in keep]
    if left_out:
        console.print(f"[dim]not shown at {width} columns: {', '.join(left_out)} "
                      "(--plain prints every field)[/dim]", soft_wrap=False)


def print_blocks(console: Console, title: str, columns: Sequence[Column],
                 rows: Sequence[Sequence[str]]) -> None:
    """Every row as a block: the first cell, then ``field: value`` lines wrapped to width."""
    width = max(console.width, 40)
    out = [title, "=" * min(len(title), width)]
    for row in rows:
        out.append(row[0])
        for col, cell in zip(columns[1:], row[1:], strict=True):
            if not cell:
                continue
            out.extend(textwrap.wrap(f"{col.name}: {cell}", width=width,
                                     initial_indent="  ", subsequent_indent="    ",
                                     break_long_words=False, break_on_hyphens=False))
        out.append("")
    console.print("\n".join(out), markup=False, highlight=False, soft_wrap=True)

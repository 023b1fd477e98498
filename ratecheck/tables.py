"""Terminal tables (rich): fitted to the terminal's width, long text columns folded.

On a terminal the table is as wide as the terminal (``list results`` folds its paper and
optimizer columns instead of printing 350-character lines). Piped or redirected, no width is
imposed: one row per line, for grep and friends.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence

# Columns of prose and lists: wrapped to fit. Every other column (names, numbers, statuses) is
# kept on one line, so that the long columns give way rather than a key or a number.
WRAP = {"paper", "optimizers", "hyper-parameters", "options", "reference", "reason", "statement", "diverged_at",
        "certificate", "class", "requires", "statuses", "description"}


def render(header: Sequence[str], rows: Sequence[Sequence[str]], *, width: int | None = None, stream=None) -> str:
    """The table as text for ``stream`` (default stdout): ``width`` columns, else the terminal's
    width on a terminal, else unbounded."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    stream = stream or sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    if width is None:
        width = Console(file=stream).width if tty else 100_000
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold" if tty else None)
    for h in header:
        table.add_column(h, no_wrap=h not in WRAP, overflow="fold" if h in WRAP else "ellipsis", min_width=16 if h in WRAP else None)
    for r in rows:
        table.add_row(*r)
    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=tty, color_system="auto" if tty else None, highlight=False).print(table)
    text = buf.getvalue()
    if not tty:  # unbounded: rich pads every line to the widest one
        text = "\n".join(line.rstrip() for line in text.splitlines())
    return text.rstrip("\n")

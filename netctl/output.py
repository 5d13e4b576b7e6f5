"""Rendering for ls/inspect: a table, JSON, a Python format template, or names only.

stdout carries data only.  rich is imported only when a table goes to a terminal; piped
output is plain aligned text, which is cheaper and what ``awk``/``cut`` expect.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import InvalidInput

Column = tuple[str, Callable[[dict[str, Any]], str]]


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False)


def template(fmt: str, row: dict[str, Any]) -> str:
    try:
        return fmt.format(**row).replace("\\t", "\t").replace("\\n", "\n")
    except (KeyError, IndexError) as exc:
        raise InvalidInput(f"--format: unknown field {exc} (fields: {', '.join(row)})") from None
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidInput(f"--format: bad template: {exc}") from None


def _color_wanted(stream) -> bool:
    choice = os.environ.get("NETCTL_COLOR", "auto")
    if choice == "never" or "NO_COLOR" in os.environ:
        return False
    return choice == "always" or stream.isatty()


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], stream=None) -> None:
    stream = stream or sys.stdout
    cells = [[get(row) or "" for _, get in columns] for row in rows]
    headers = [h for h, _ in columns]
    if stream.isatty():
        from rich.console import Console
        from rich.table import Table

        tbl = Table(box=None, header_style="bold", pad_edge=False)
        for head in headers:
            tbl.add_column(head, overflow="fold")
        for line in cells:
            tbl.add_row(*line)
        Console(file=stream, no_color=not _color_wanted(stream), highlight=False).print(tbl)
        return
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *cells, strict=True)]
    for line in [headers, *cells]:
        text = "  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True))
        stream.write(text.rstrip() + "\n")


def render(rows: Sequence[dict[str, Any]], columns: Sequence[Column], fmt: str | None,
           quiet: bool = False, key: str = "name") -> None:
    """ls-style output of many rows."""
    if quiet:
        for row in rows:
            print(row[key])
    elif fmt == "json":
        print(to_json(list(rows)))
    elif fmt in (None, "", "table"):
        table(rows, columns)
    else:
        out = [template(fmt, row) for row in rows]
        if out:
            print("\n".join(out))

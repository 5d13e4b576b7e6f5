"""Rendering for ls/inspect: a table, JSON, a Go or Python format template, or names only.

stdout carries data only.  rich is imported only when a table goes to a terminal (and colour is
not off: ``--color never``, ``NO_COLOR``) or ``--color always`` asks for it; otherwise it is
plain aligned text, which is cheaper and what ``awk``/``cut`` expect.
"""

from __future__ import annotations

import os
import re
import string
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import InvalidInput

Column = tuple[str, Callable[[dict[str, Any]], str]]


def to_json(data: Any) -> str:
    import json  # only --format json (and templates) pay for it

    return json.dumps(data, indent=2, sort_keys=False)


class _Value:
    """A row value inside a Python format template: ``{internal}`` prints ``true``, ``{sandbox}``
    ``null`` and ``{aliases}`` a JSON list (what the JSON output says), while ``{subnets[0][subnet]}``
    and format specs (``{name:<10}``) still work."""

    def __init__(self, value: Any):
        self.value = value

    def __getitem__(self, key):
        if isinstance(self.value, list) and isinstance(key, str) and key.isdigit():
            key = int(key)
        return _Value(self.value[key])

    def __format__(self, spec: str) -> str:
        from .gotemplate import text

        return format(text(self.value), spec)


class _Formatter(string.Formatter):
    """``str.format`` without its two ways out of the row: ``{name.__class__}`` walks Python
    attributes (``{name.__init__.__globals__}`` printed the module's globals) and ``!r``/``!a``
    print a repr.  Keys and indexes (``{subnets[0][subnet]}``) stay; ``!s`` is the plain text."""

    def get_field(self, field_name, args, kwargs):
        if "." in re.sub(r"\[[^\]]*\]", "", field_name):  # a dot outside [...] reads an attribute
            raise InvalidInput(f"--format: {{{field_name}}}: attribute access is not supported "
                               "(index instead: {subnets[0][subnet]})")
        return super().get_field(field_name, args, kwargs)

    def convert_field(self, value, conversion):
        if conversion in (None, "s"):
            return value
        raise InvalidInput(f"--format: conversion !{conversion} is not supported (values print as JSON)")


def template(fmt: str, row: dict[str, Any]) -> str:
    """A Go template when it has ``{{`` (gotemplate.py), otherwise a Python format string."""
    try:
        fmt.encode("utf-8")  # lone surrogates (a non-UTF-8 argv) could not be printed
    except UnicodeEncodeError:
        raise InvalidInput(f"--format: not valid UTF-8: {fmt!r}") from None
    from . import gotemplate

    if gotemplate.is_template(fmt):
        return gotemplate.render(gotemplate.parse(fmt), row)
    try:
        values = {key: _Value(value) for key, value in row.items()}
        return _Formatter().vformat(fmt, (), values).replace("\\t", "\t").replace("\\n", "\n")
    except (KeyError, IndexError) as exc:
        raise InvalidInput(f"--format: unknown field {exc} (fields: {', '.join(row)})") from None
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidInput(f"--format: bad template: {exc}") from None


_color: str | None = None  # the root --color choice; None before the CLI set it


def set_color(choice: str) -> None:
    """``--color auto|always|never`` (the root option, which also reads NETCTL_COLOR)."""
    global _color
    _color = choice


def _color_wanted(stream) -> bool:
    """always/never win; auto means a terminal and no NO_COLOR (no-color.org: set and non-empty)."""
    choice = _color or os.environ.get("NETCTL_COLOR", "auto")
    if choice in ("always", "never"):
        return choice == "always"
    return not os.environ.get("NO_COLOR") and stream.isatty()


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], stream=None) -> None:
    stream = stream or sys.stdout
    cells = [[get(row) or "" for _, get in columns] for row in rows]
    headers = [h for h, _ in columns]
    if _color_wanted(stream):  # styled (rich) only when colour is wanted: a terminal, or always
        from rich.console import Console
        from rich.table import Table

        tbl = Table(box=None, header_style="bold", pad_edge=False)
        for head in headers:
            tbl.add_column(head, overflow="fold")
        for line in cells:
            tbl.add_row(*line)
        Console(file=stream, force_terminal=True, no_color=False, highlight=False).print(tbl)
        return
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *cells, strict=True)]
    for line in [headers, *cells]:
        text = "  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True))
        stream.write(text.rstrip() + "\n")


def render(rows: Sequence[dict[str, Any]], columns: Sequence[Column], fmt: str | None,
           quiet: bool = False, key: str | Callable[[dict[str, Any]], str] = "name") -> None:
    """ls-style output of many rows; ``-q`` prints ``key`` of each (a field, or a function for
    what a field alone cannot say, e.g. an endpoint's ``NETWORK/NAME``)."""
    if quiet:
        for row in rows:
            print(key(row) if callable(key) else row[key])
    elif fmt == "json":
        print(to_json(list(rows)))
    elif fmt in (None, "", "table"):
        table(rows, columns)
    else:
        if not rows and "{{" in fmt:  # an unsupported template is refused even with no rows
            from .gotemplate import parse

            parse(fmt)
        out = [template(fmt, row) for row in rows]
        if out:
            print("\n".join(out))


@contextmanager
def progress(total: int, stream=None) -> Iterator[Callable[[Any], None] | None]:
    """A progress bar (rich) on ``stream`` (stderr) when it is a terminal, for apply's
    steps; None when piped, so scripts and logs see only the result."""
    stream = stream or sys.stderr
    if total < 2 or not stream.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=stream), transient=True) as bar:
        task = bar.add_task("applying", total=total)
        yield lambda step: bar.update(task, advance=1,
                                      description=f"{step.action} {step.kind} {step.name}")

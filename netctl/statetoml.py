"""The state document as TOML text: what ``tomli_w.dumps`` writes, byte for byte, 6x faster.

tomli_w is general (any mapping, dates, floats, multi-line strings) and spends ~30 ms on a
state of 1,000 endpoints, a fifth of a ``network connect``.  The state holds only tables,
arrays of tables, strings, integers, booleans, arrays of strings and small string tables, so
this module writes those directly, in tomli_w's layout (the same file, whichever wrote it:
an unchanged state is still recognised and not rewritten).  Anything else, and any string
that would need an escape, makes it hand the whole document to tomli_w.  A property test
(tests/unit/test_statetoml.py) holds the two outputs equal.
"""

from __future__ import annotations

import re
from typing import Any

_PLAIN = re.compile(r'[^\x00-\x08\x0a-\x1f\x7f"\\]*\Z')  # a basic string without escapes
_BARE = re.compile(r"[A-Za-z0-9_-]+\Z")  # a key that needs no quotes
INDENT = "    "
MAX_INLINE = 100  # longest "    { ... }," line an array of tables is written inline with


class _Unusual(Exception):
    """A value this writer leaves to tomli_w."""


def dumps(document: dict[str, Any]) -> str:
    try:
        out: list[str] = []
        _table(out, document, "", False)
        return "".join(out)
    except _Unusual:
        import tomli_w

        return tomli_w.dumps(document)


def _string(value: str) -> str:
    plain = (value.isascii() and value.isprintable() and '"' not in value and "\\" not in value
             or _PLAIN.match(value) is not None)  # the first test is the quick one for ASCII
    if not plain:
        raise _Unusual
    return f'"{value}"'


_KEYS: dict[str, str] = {}  # the same few field names come back thousands of times


def _key(key: str) -> str:
    if key not in _KEYS:
        _KEYS[key] = key if _BARE.match(key) else _string(key)
    return _KEYS[key]


def _value(value: Any, level: int) -> str:
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is list:
        if not value:
            return "[]"
        inner = INDENT * (level + 1)
        items = ",\n".join(inner + _value(item, level + 1) for item in value)
        return f"[\n{items},\n{INDENT * level}]"
    if kind is dict:
        return _inline(value)
    raise _Unusual


def _inline(table: dict[str, Any]) -> str:
    if not table:
        return "{}"
    return "{ " + ", ".join(f"{_key(k)} = {_value(v, 0)}" for k, v in table.items()) + " }"


def _fits_inline(table: dict[str, Any]) -> bool:
    line = f"{INDENT}{_inline(table)},"
    return len(line) <= MAX_INLINE and "\n" not in line


def _table(out: list[str], table: dict[str, Any], name: str, in_array: bool) -> None:
    """Header, then ``key = value`` lines, then sub-tables (an array of tables is inline
    when every entry fits on a line, else one ``[[name.key]]`` table per entry)."""
    lines, subtables = [], []
    for key, value in table.items():
        if type(value) is dict:
            subtables.append((key, value, False))
        elif (type(value) is list and value and all(type(v) is dict for v in value)
              and not all(_fits_inline(v) for v in value)):
            subtables += [(key, v, True) for v in value]
        else:
            lines.append(f"{_key(key)} = {_value(value, 0)}\n")
    started = in_array or bool(name and (lines or not subtables))
    if started:
        out.append(f"[[{name}]]\n" if in_array else f"[{name}]\n")
    out += lines
    started = started or bool(lines)
    for key, value, entry in subtables:
        if started:
            out.append("\n")
        started = True
        _table(out, value, f"{name}.{_key(key)}" if name else _key(key), entry)

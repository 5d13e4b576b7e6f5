"""The small subset of Go's text/template that docker and podman users type in ``--format``.

Supported, over the JSON fields of a row (``.Name``, ``.ID``, ``.EndpointCount`` find
``name``, ``id``, ``endpoint_count``: case and underscores are ignored):

    {{.}}  {{.Field}}  {{.Field.Sub}}           a value
    {{json .}}  {{json .Field}}                 compact JSON
    {{index .Labels "k"}}  {{index .List 0}}     one map entry or list item
    {{range .List}}...{{.}}...{{end}}          a list (or a map's values by key)
    {{println}}  {{println .A .B}}             values joined by spaces, then a newline
    {{- ...}}  {{... -}}                        trim the white space before / after

Values print as JSON values (true, null, [..]); strings print as they are.  Anything else
(pipelines, if/with/else, variables, other functions) is refused with exit 2, never printed
as a literal.  Pure: parsing and rendering only, no eval.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidInput

ACTION_RE = re.compile(r"\{\{(-\s)?\s*(.*?)(\s-)?\s*\}\}", re.DOTALL)
TOKEN_RE = re.compile(r'\s*("(?:[^"\\]|\\.)*"|`[^`]*`|-?\d+|\.(?:[A-Za-z_]\w*)?(?:\.[A-Za-z_]\w*)*'
                      r"|[A-Za-z_]\w*)")
FUNCTIONS = ("json", "index", "println")


@dataclass
class Action:
    func: str | None  # None: print the one argument
    args: list[Any]  # Path or a literal (str, int)


@dataclass
class Range:
    arg: Any
    body: list[Any] = field(default_factory=list)


@dataclass
class Path:
    names: tuple[str, ...]  # () is ``.`` itself


def is_template(fmt: str) -> bool:
    return "{{" in fmt


def unsupported(why: str) -> InvalidInput:
    return InvalidInput(f"--format: unsupported template: {why}")


def parse(fmt: str) -> list[Any]:
    """The template as a tree of text, Action and Range nodes."""
    if fmt.startswith("table "):
        raise unsupported("'table TEMPLATE' (use --format table, or the template alone)")
    root: list[Any] = []
    stack = [root]
    pos, pieces = 0, []
    for match in ACTION_RE.finditer(fmt):
        pieces.append(["text", fmt[pos:match.start()]])
        pieces.append(["action", match.group(2), bool(match.group(1)), bool(match.group(3))])
        pos = match.end()
    pieces.append(["text", fmt[pos:]])
    _trim(pieces)
    for piece in pieces:
        if piece[0] == "text":
            if "{{" in piece[1]:
                raise unsupported(f"unclosed action in {piece[1]!r}")
            stack[-1].append(piece[1].replace("\\t", "\t").replace("\\n", "\n"))
        else:
            _add_action(stack, piece[1])
    if len(stack) > 1:
        raise unsupported("{{range}} without {{end}}")
    return root


def _trim(pieces: list[list[Any]]) -> None:
    """``{{-`` eats the white space before the action, ``-}}`` the white space after it."""
    for i, piece in enumerate(pieces):
        if piece[0] != "action":
            continue
        if piece[2]:
            pieces[i - 1][1] = pieces[i - 1][1].rstrip()
        if piece[3]:
            pieces[i + 1][1] = pieces[i + 1][1].lstrip()


def _add_action(stack: list[list[Any]], text: str) -> None:
    words = _tokens(text)
    if not words:
        raise unsupported("empty action {{}}")
    head = words[0]
    if head == "end":
        if len(words) > 1 or len(stack) == 1:
            raise unsupported("{{end}} without {{range}}")
        stack.pop()
    elif head == "range":
        if len(words) != 2:
            raise unsupported("{{range}} takes one field: {{range .List}}")
        node = Range(words[1])
        stack[-1].append(node)
        stack.append(node.body)
    elif isinstance(head, str) and head in FUNCTIONS:
        stack[-1].append(Action(head, words[1:]))
    elif isinstance(head, Path) and len(words) == 1:
        stack[-1].append(Action(None, words))
    else:
        raise unsupported(f"{{{{{text}}}}} (supported: .Field, json, index, range, println)")


def _tokens(text: str) -> list[Any]:
    out: list[Any] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = TOKEN_RE.match(text, pos)
        if not match or (match.end() < len(text) and not text[match.end()].isspace()):
            raise unsupported(f"{{{{{text}}}}} (supported: .Field, json, index, range, println)")
        out.append(_word(match.group(1)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _word(token: str) -> Any:
    if token.startswith('"'):
        try:
            return json.loads(token)
        except ValueError:
            raise unsupported(f"string {token} (escapes: \\\\ \\\" \\n \\t \\uXXXX)") from None
    if token.startswith("`"):
        return token[1:-1]
    if token[0] == "-" or token.isdigit():
        return int(token)
    if token.startswith("."):
        return Path(tuple(p for p in token.split(".") if p))
    return token  # a function or keyword name


def render(nodes: list[Any], dot: Any) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, Range):
            items = _value(node.arg, dot)
            if isinstance(items, dict):
                items = [items[k] for k in sorted(items)]
            elif not isinstance(items, list):
                if items is None:
                    continue
                raise InvalidInput(f"--format: range over {_show(items)}: not a list or map")
            out.extend(render(node.body, item) for item in items)
        else:
            out.append(_call(node, dot))
    return "".join(out)


def _call(node: Action, dot: Any) -> str:
    args = [_value(a, dot) for a in node.args]
    if node.func is None:
        return text(args[0])
    if node.func == "println":
        return " ".join(text(a) for a in args) + "\n"
    if node.func == "json":
        if len(args) != 1:
            raise unsupported("json takes one argument: {{json .Field}}")
        return json.dumps(args[0], separators=(",", ":"))
    if len(args) < 2:
        raise unsupported('index takes a map or list and keys: {{index .Labels "key"}}')
    return text(_index(args[0], args[1:]))


def _index(value: Any, keys: list[Any]) -> Any:
    for key in keys:
        if isinstance(value, dict) and isinstance(key, str):
            value = value.get(key, "")  # Go gives a map's zero value for a missing key
        elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
            value = value[key]
        else:
            raise InvalidInput(f"--format: index {_show(key)} of {_show(value)}: no such entry")
    return value


def _value(arg: Any, dot: Any) -> Any:
    if not isinstance(arg, Path):
        return arg
    value = dot
    for name in arg.names:
        if not isinstance(value, dict):
            raise InvalidInput(f"--format: can't evaluate field {name} in {_show(value)}")
        wanted = name.replace("_", "").lower()
        key = next((k for k in value if k.replace("_", "").lower() == wanted), None)
        if key is None:
            raise InvalidInput(f"--format: unknown field .{name} (fields: {', '.join(value)})")
        value = value[key]
    return value


def text(value: Any) -> str:
    """Strings as they are, everything else as its JSON value (true, null, [...])."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _show(value: Any) -> str:
    shown = json.dumps(value, separators=(",", ":"))
    return shown if len(shown) <= 40 else shown[:37] + "..."

"""``netctl batch``: many netctl commands in one process, under one lock, one load, one save.

Each line goes through click again (the same commands, options and messages as on the
command line), inside a plan session (service/plan.py) in which every ``ctx.mutation()``
is one isolated operation: a failing line's kernel steps are undone and the state is put
back as before that line; the lines before it stay and are saved at the end.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ..errors import InvalidInput, NetctlError
from .common import service

REFUSED = {("batch",), ("apply",), ("destroy",), ("restore",), ("sandbox", "exec")}


def parse_lines(text: str, source: str) -> list[tuple[int, list[str]]]:
    """(line number, argv) per command; a quoting error is exit 2 before anything runs."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            argv = shlex.split(line, comments=True)
        except ValueError as exc:
            raise InvalidInput(f"{source}:{number}: {exc}") from None
        if argv and argv[0] == "netctl":
            argv = argv[1:]
        if not argv:
            continue
        if argv[0].startswith("-"):
            raise InvalidInput(f"{source}:{number}: global options ({argv[0]}) go before "
                               "'batch', not on a line")
        if tuple(argv[:1]) in REFUSED or tuple(argv[:2]) in REFUSED:
            raise InvalidInput(f"{source}:{number}: '{' '.join(argv[:2])}' cannot run in a batch")
        out.append((number, argv))
    return out


def run_line(root: click.Context, argv: list[str]) -> tuple[int, str | None]:
    """Run one command as the CLI would; (exit code, message for the failure line)."""
    group = root.command
    try:
        name, cmd, rest = group.resolve_command(root, argv)
        with cmd.make_context(name, rest, parent=root) as sub:
            cmd.invoke(sub)
        return 0, None
    except NetctlError as exc:
        return exc.exit_code, str(exc)
    except click.exceptions.Exit as exc:  # --help
        return exc.exit_code, None
    except click.ClickException as exc:
        return exc.exit_code, exc.format_message()
    except SystemExit as exc:  # rm A B, exists: already said what failed
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return code, f"exit {code}"


@click.command()
@click.option("-f", "--file", "path", default="-", show_default=True, metavar="FILE",
              help="The commands, one per line; - is standard input.")
@click.option("--continue", "keep_going", is_flag=True,
              help="Run every line even after a failure; exit with the first failure's code.")
@click.pass_context
def batch(click_ctx, path, keep_going):
    """Run netctl commands from a file, one per line, under one lock.

    \b
    Lines use shell quoting; '#' starts a comment; blank lines are skipped; a leading
    'netctl' is optional. Global options (--state, --lock-timeout...) go before 'batch'.
    batch, apply, destroy, restore and sandbox exec cannot be lines.

    The state is loaded once, saved once at the end, and the hosts/resolv.conf files are
    written once. Each line keeps its own rollback: a failing line's kernel changes are
    undone; the lines before it stay. It stops at the first failing line with
    'netctl: FILE:LINE: <error>' and that command's exit code; with --continue it runs
    the rest and exits with the first failure's code. ls and inspect lines show the
    batch's state so far. A signal (Ctrl-C) before the final save undoes every line.
    """
    from ..service import plan

    source = "<stdin>" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        text = text.removeprefix("\ufeff")  # a BOM (Windows editors) is not part of the text
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    lines = parse_lines(text, source)
    root, first = click_ctx.find_root(), 0
    with plan.session(service(), isolate=True):
        for number, argv in lines:
            code, message = run_line(root, argv)
            if code:
                click.echo(f"netctl: {source}:{number}: {' '.join(argv[:2])}: {message}", err=True)
                first = first or code
                if not keep_going:
                    break
    if first:
        sys.exit(first)

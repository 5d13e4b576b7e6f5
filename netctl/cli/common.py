"""Shared pieces of the commands: getting the service context, output options, reports."""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Callable

import click

from ..errors import InvalidInput, NetctlError
from .complete import formats


def service(ctx: click.Context | None = None):
    return (ctx or click.get_current_context()).find_root().obj.context


def read_state():
    """The state for a read-only command: no lock, no service layer (keeps ls cheap).
    Inside ``netctl batch`` it is the batch's state so far (not saved until the end)."""
    settings = click.get_current_context().find_root().obj
    plan = getattr(settings._context, "plan", None)
    return plan.state if plan is not None else settings.store.read()


def config(ctx: click.Context | None = None):
    """The parsed config file (--config / NETCTL_CONFIG); read on demand, never by ls."""
    return (ctx or click.get_current_context()).find_root().obj.config()


def format_options(func: Callable) -> Callable:
    func = click.option("-q", "--quiet", is_flag=True,
                        help="Print names only (endpoints: NETWORK/NAME, as they accept)."
                        )(func)
    func = click.option(
        "--format", "fmt", metavar="json|table|TEMPLATE", envvar="NETCTL_FORMAT", show_envvar=True,
        shell_complete=formats,
        help="json, table, a Go template as with docker ('{{.Name}} {{.ID}}', {{json .}}, "
             "{{range .List}}..{{end}}, {{index .Labels \"k\"}}), or a Python format string over "
             "the JSON fields ('{name} {id}'). Values print as JSON (true, null).",
    )(func)
    return func


def no_trunc_option(func: Callable) -> Callable:
    return click.option("--no-trunc", is_flag=True, envvar="NETCTL_NO_TRUNC", show_envvar=True,
                        help="Show full 64-hex IDs in the table.")(func)


def untruncated(columns: list, no_trunc: bool) -> list:
    """The table's columns with the ID column showing full IDs when --no-trunc is given."""
    if not no_trunc:
        return columns
    return [(head, (lambda r: r["id"]) if head == "ID" else get) for head, get in columns]


def publish_option(func: Callable) -> Callable:
    return click.option(
        "-p", "--publish", multiple=True, metavar="[HOST_IP:][HOST_PORT[-END]:]PORT[-END][/PROTO]",
        help="Publish PORT of the sandbox on the host (repeatable; tcp, udp or sctp, default tcp): "
             "traffic to HOST_PORT on the host's addresses (or HOST_IP only; IPv4), 127.0.0.1 "
             "and the host's address from sandboxes included, is sent to PORT. Without "
             "HOST_PORT a free port is picked. Active while the endpoint is joined. A port "
             "published already, or one a program on the host listens on: exit 4; on an "
             "internal, null or host network, with firewall = false, or a HOST_IP that is not an "
             "address of this host: exit 2.")(func)


def multi(name: str, help_text: str, metavar: str = "VALUE") -> Callable:
    return click.option(name, multiple=True, metavar=metavar, help=help_text)


def exists_exit(find: Callable[[], object]) -> None:
    """For ``exists``: exit 3 silently when ``find`` raises not-found; other errors propagate."""
    try:
        find()
    except NetctlError as exc:
        if exc.exit_code == 3:
            sys.exit(3)
        raise


def inspect_each(refs, find, view, columns, fmt: str | None, quiet: bool, key="name") -> None:
    """``inspect A B``: print the objects found (a JSON array by default), then one error
    line per missing name, exiting with the first error's code."""
    from .. import output

    state = read_state()
    rows, missing = [], []
    for ref in refs:
        try:
            rows.append(view(state, find(state, ref)))
        except NetctlError as exc:
            missing.append(exc)
    output.render(rows, columns, fmt or "json", quiet, key)
    report_many([], missing)


def confirm(question: str) -> bool:
    """Ask on stderr, read one line from stdin, terminal or not: only y/yes is a yes, and end
    of input is a no, so ``echo n | netctl … prune`` or ``</dev/null`` never deletes."""
    click.echo(f"{question} [y/N] ", err=True, nl=False)
    try:
        answer = sys.stdin.readline() if sys.stdin else ""
    except (OSError, ValueError):  # stdin closed or unreadable: no answer
        answer = ""
    if not answer.endswith("\n"):
        click.echo("", err=True)  # end the prompt line when there was no answer line
    return answer.strip().lower() in ("y", "yes")


def report_many(done: list[str], errors: list[NetctlError]) -> None:
    """Print each name done on stdout, each error on stderr; exit with the first error's code."""
    for name in done:
        click.echo(name)
    for exc in errors:
        click.echo(f"netctl: {exc}", err=True)
    if errors:
        sys.exit(errors[0].exit_code)


def parse_filters(items: tuple[str, ...], keys: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in keys:
            raise InvalidInput(f"invalid filter {item!r} (keys: {', '.join(keys)})")
        out.setdefault(key, []).append(value)
    return out


def name_matches(name: str, pattern: str) -> bool:
    """A glob when it has glob characters, otherwise a substring (as docker's name filter)."""
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern in name


def label_matches(labels: dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)

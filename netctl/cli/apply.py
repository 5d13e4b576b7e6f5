"""``netctl apply`` / ``netctl destroy``: a topology file in, one plan run as one transaction."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import InvalidInput
from .common import config, service

COLUMNS = [
    ("ACTION", lambda r: r["action"]),
    ("KIND", lambda r: r["kind"]),
    ("NAME", lambda r: r["name"]),
    ("KEY", lambda r: r["key"]),
    ("DETAIL", lambda r: r["detail"]),
]

FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
                      show_default=True, help="How to print the plan (stdout).")
FILE = click.option("-f", "--file", "path", required=True, metavar="FILE",
                    help="The topology file (TOML); - reads standard input.")


def load(path: str):
    """The parsed, checked topology (exit 2 naming the key path when it is not right)."""
    from ..topology import parse

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        text = text.removeprefix("\ufeff")  # a BOM (Windows editors) is not part of the text
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return parse(text, "stdin" if path == "-" else Path(path).stem)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc}") from None


def in_file(path: str, check) -> None:
    """Run a check of the file's content; its exit-2 error starts with the file's name."""
    try:
        check()
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc}") from None


def show(steps, fmt: str) -> None:
    from .. import output

    output.render([s.row() for s in steps], COLUMNS, fmt)


def run(make_steps, fmt: str, dry_run: bool, what: str) -> None:
    """Plan without the lock (a dry run, or nothing to do, changes nothing and takes no
    lock), then plan again under the lock on the state that counts and run it."""
    from .. import output
    from ..service import plan

    ctx = service()
    steps = make_steps(ctx, ctx.read())
    if dry_run:
        show(steps, fmt)
        return
    if not steps:
        click.echo(f"netctl: {what}: nothing to do", err=True)
        return
    with plan.session(ctx) as open_plan:
        steps = make_steps(ctx, open_plan.state)
        with output.progress(len(steps)) as tick:
            plan.execute(steps, tick)
    show(steps, fmt)


@click.command()
@FILE
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--prune", is_flag=True,
              help="Also remove what an earlier apply of the same project made and the file no "
                   "longer declares (never anything apply did not make).")
@FORMAT
def apply(path, dry_run, prune, fmt):
    """Build the lab a topology file declares (only what differs).

    \b
    The file (TOML; see examples/ and docs/topology.md):
      project = "lab"            # optional, default: the file's name without .toml
      [networks.front]           # every `network create` option:
      subnet = "10.10.0.0/24"    #   driver subnet gateway ip_range aux_addresses
      internal = true            #   ipv6 internal labels options
      [sandboxes.web]            # hostname dns dns_search dns_options extra_hosts
      connect = ["front", { network = "back", ip = "10.20.0.5", aliases = ["pg"] }]
                                 # a connection: network ip ip6 mac aliases priority
                                 #   publish (as -p: ["8080:80/tcp", { port = 53,
                                 #   host_port = 5353, protocol = "udp" }])

    netctl compares the file with the state and runs the difference (create,
    connect, disconnect, reconnect, update, replace; remove with --prune) in one
    process, under one lock, as ONE transaction: if a step fails everything done
    is undone, and the error names the object and the file key. A network whose
    fixed properties (subnet, driver, options, labels...) differ from the file is
    replaced (removed and made again, its connections too); a sandbox whose
    hostname or DNS settings differ is updated in place, and so are a
    connection's published ports (its veth and address stay). Each only if an apply of
    the same project made it (label netctl.project); otherwise exit 4. Applying
    the same file again does nothing ("nothing to do", exit 0). It prints the
    steps done (with --dry-run: to be done) on stdout, a progress bar on a
    terminal.

    \b
    Exit codes: 2 bad file (names the key path, e.g. sandboxes.web.connect[1]),
    4 conflict, others as for the single commands.
    """
    from ..service.apply import check_requests, plan_apply
    from ..topology import check_references

    top = load(path)
    in_file(path, lambda: check_requests(top))
    cfg = config()

    def make_steps(ctx, state):
        in_file(path, lambda: check_references(top, {n.name for n in state.networks}))
        return plan_apply(ctx, top, state, prune, cfg)

    run(make_steps, fmt, dry_run, "apply")


@click.command()
@FILE
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@FORMAT
def destroy(path, dry_run, fmt):
    """Remove the lab a topology file declares, as one transaction.

    Its sandboxes (with their endpoints) and networks go, whatever made them.
    A declared network that still has endpoints of sandboxes the file does not declare is
    refused with exit 4 naming them, and nothing is changed. What the file declares but the
    state does not have is skipped (nothing to do).
    """
    from ..service.apply import plan_destroy

    top = load(path)
    run(lambda ctx, state: plan_destroy(ctx, top, state), fmt, dry_run, "destroy")

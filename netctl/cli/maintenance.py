"""``netctl check``, ``gc`` and ``restore``: keeping the kernel and the state in step.

Thin: the services find and fix (service/check.py, service/repair.py); these commands print
one line per finding on stdout and turn "drift left" into exit 9.
"""

from __future__ import annotations

import sys

import click

from .. import output
from ..errors import DriftFound
from .common import service

FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                      show_default=True, help="One line per finding, or a JSON array.")


def _report(found, remaining, fixed_word: str, fmt: str) -> None:
    """Each finding once: fixed ones as ``<fixed_word>:``, the rest as ``drift:``."""
    rows = [{**f.to_dict(), "repaired": f not in remaining} for f in found]
    rows += [{**f.to_dict(), "repaired": False} for f in remaining if f not in found]
    if fmt == "json":
        click.echo(output.to_json(rows))
        return
    for row in rows:
        word = fixed_word if row["repaired"] else "drift"
        click.echo(f"{word}: {row['subject']}: {row['problem']}")


@click.command()
@click.option("--repair", is_flag=True, help="Fix what is found (spec §12 order), then check again.")
@FORMAT
def check(repair, fmt):
    """Compare the state with the kernel; exit 9 if they differ.

    \b
    Looks at: sandbox namespaces; each endpoint's veth pair (host end up and on its
    bridge, the other end parked or inside its sandbox with its MAC and addresses);
    default routes; bridges and their gateway addresses; links and namespaces marked
    by this state file whose owner is gone (also those a killed netctl created but had
    not marked yet); the /etc/netns files.  --repair re-creates bridges, drops sandboxes
    whose namespace is gone (like gc), re-plumbs endpoints, re-elects routes, deletes the
    orphans and rewrites the files.  Foreign objects, and those of other state files, are
    never touched or reported.
    """
    if repair:
        from ..service.repair import reconcile

        outcome = reconcile(service(), recreate_sandboxes=False)
        _report(outcome.found, outcome.remaining, "repaired", fmt)
        remaining = outcome.remaining
    else:
        from ..service.check import check as find

        remaining = find(service())
        _report(remaining, remaining, "repaired", fmt)
    if remaining:
        sys.exit(DriftFound.exit_code)


@click.command()
@click.option("-n", "--dry-run", is_flag=True, help="Only print what would be dropped.")
def gc(dry_run):
    """Drop sandboxes whose namespace is gone, with their endpoints; print their names."""
    from ..service.repair import gc as collect

    for name in collect(service(), dry_run):
        click.echo(name)


@click.command()
@FORMAT
def restore(fmt):
    """Re-create everything the state describes (after a reboot): bridges, namespaces,
    endpoints with the same names, MACs and addresses, joins, routes and files.

    Changes nothing on an intact system.  Prints what it re-created; exit 9 if some of it
    could not be (the reasons go to stderr).
    """
    from ..service.repair import reconcile

    outcome = reconcile(service(), recreate_sandboxes=True)
    _report(outcome.found, outcome.remaining, "restored", fmt)
    if outcome.remaining:
        sys.exit(DriftFound.exit_code)


COMMANDS = (check, gc, restore)


def register(group: click.Group) -> None:
    for command in COMMANDS:
        group.add_command(command)

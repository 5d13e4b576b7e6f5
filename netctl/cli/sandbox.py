"""``netctl sandbox …``"""

from __future__ import annotations

import click

from .. import lookup, output, views
from ..errors import NetctlError
from ..model import Index
from . import complete
from .common import (
    exists_exit,
    format_options,
    inspect_each,
    multi,
    no_trunc_option,
    read_state,
    report_many,
    service,
    untruncated,
)

COLUMNS = [
    ("NAME", lambda r: r["name"]),
    ("ID", lambda r: r["id"][:12]),
    ("HOSTNAME", lambda r: r["hostname"]),
    ("ENDPOINTS", lambda r: ",".join(f"{e['ifname'] or '-'}:{e['network']}" for e in r["endpoints"])),
]


@click.group()
def sandbox() -> None:
    """Create, list, run commands in and remove sandboxes (named network namespaces)."""


@sandbox.command()
@click.argument("name")
@click.option("--hostname", default=None, help="Name of the sandbox in hosts files (default NAME).")
@multi("--dns", "Nameserver for resolv.conf.", "IP")
@multi("--dns-search", "Search domain for resolv.conf ('.' alone: no search line).", "DOMAIN")
@multi("--dns-option", "resolv.conf option.", "OPTION")
@multi("--add-host", "Extra hosts entry.", "NAME:IP")
@click.option("--netns", "netns_path", metavar="PATH", default=None, type=click.Path(),
              help="Adopt the network namespace at PATH (e.g. /run/netns/x from 'ip netns add "
                   "x', or /proc/PID/ns/net) instead of making one.")
@click.option("--pid", type=int, default=None, metavar="PID",
              help="Adopt the network namespace of process PID (a running container's).")
@click.option("--hosts-file", metavar="PATH", default=None, type=click.Path(),
              help="With --netns/--pid: also write the sandbox's hosts file into PATH (its "
                   "content is replaced, in place, at every change), an existing regular file "
                   "(not a symlink) that holds a hosts file, e.g. the one a container reads; "
                   "the host's own /etc/hosts is refused.")
def create(name, hostname, dns, dns_search, dns_option, add_host, netns_path, pid, hosts_file):
    """Create sandbox NAME (/run/netns/NAME) and print its name.

    With --netns PATH or --pid PID the sandbox adopts a namespace someone else made (a
    podman/docker container, an 'ip netns add' namespace): netctl binds it at
    /run/netns/NAME and changes nothing in it but the endpoints it connects there.
    'sandbox rm' deletes those endpoints and unbinds /run/netns/NAME; the namespace, its
    interfaces and routes are left as they were.  PATH /run/netns/NAME itself is adopted
    where it is (no second mount; rm leaves the name).  When the adopted process exits,
    'check' reports it and 'gc' removes the sandbox.  Refused: the host's or netctl's own
    namespace, one that is a sandbox already (exit 4), a missing PATH or PID (3), a
    symlink other than /proc/PID/ns/net or a file that is no network namespace (2).

    \b
    Name resolution: the container does not read /etc/netns/NAME (only 'ip netns exec'
    and 'netctl sandbox exec' do).  Give --hosts-file with the file the container
    reads as /etc/hosts (podman: 'podman inspect -f {{.HostsPath}} C'; docker:
    'docker inspect -f {{.HostsPath}} C'), or copy /etc/netns/NAME/hosts there yourself.
    """
    from ..service.sandboxes import SandboxRequest
    from ..service.sandboxes import create as create_sandbox

    req = SandboxRequest(name=name, hostname=hostname, dns=list(dns), dns_search=list(dns_search),
                         dns_options=list(dns_option), add_hosts=list(add_host))
    if netns_path is None and pid is None:
        if hosts_file is not None:
            raise click.UsageError("--hosts-file needs --netns or --pid")
        click.echo(create_sandbox(service(), req).name)
        return
    from ..service.adopt import adopt

    click.echo(adopt(service(), name, netns=netns_path, pid=pid, req=req, hosts_file=hosts_file).name)


@sandbox.command()
@click.argument("ref", metavar="SANDBOX", shell_complete=complete.sandboxes)
def port(ref):
    """Print SANDBOX's published ports, one per line, as `docker port` does:
    80/tcp -> 0.0.0.0:8080.  Only the ports of joined endpoints are active."""
    state = read_state()
    sb = lookup.sandbox(state, ref)
    for ep in state.endpoints_in(sb):
        for line in views.ports_shown(ep):
            click.echo(line)


@sandbox.command("ls")
@format_options
@no_trunc_option
def list_(fmt, quiet, no_trunc):
    """List sandboxes."""
    state = read_state()
    index = Index(state)
    rows = [views.sandbox(state, s, index) for s in state.sandboxes]
    output.render(rows, untruncated(COLUMNS, no_trunc), fmt, quiet)


@sandbox.command()
@click.argument("names", nargs=-1, required=True, shell_complete=complete.sandboxes)
@format_options
def inspect(names, fmt, quiet):
    """Show sandboxes as a JSON array."""
    inspect_each(names, lookup.sandbox, views.sandbox, COLUMNS, fmt, quiet)


@sandbox.command()
@click.argument("name", shell_complete=complete.sandboxes)
def exists(name):
    """Exit 0 if sandbox NAME exists, 3 if not (prints nothing)."""
    exists_exit(lambda: lookup.sandbox(read_state(), name))


@sandbox.command()
@click.argument("names", nargs=-1, required=True, shell_complete=complete.sandboxes)
@click.option("-f", "--force", is_flag=True,
              help="A missing sandbox is not an error, and one whose namespace is not "
                   "netctl's any more is forgotten (its namespace and files are left alone).")
def rm(names, force):
    """Remove sandboxes with their endpoints, namespaces and /etc/netns files.

    If /run/netns/NAME is no longer the namespace netctl made for the sandbox (someone
    else's took the name, or it is a link to another namespace), netctl changes nothing in
    it: rm exits 4, and rm -f only forgets the sandbox, leaving that namespace and
    /etc/netns/NAME as they are.

    Deleting a namespace destroys every virtual interface in it. If someone moved an
    interface netctl did not create into the sandbox (a veth of their own, a macvlan
    parent), rm exits 4 naming it; move it out first, or rm -f deletes it with the namespace.
    An adopted sandbox (sandbox create --netns/--pid) is never deleted: its bind mount goes."""
    from ..service.sandboxes import remove

    report_many(*remove(service(), list(names), force))


EXEC_FAILED = 125  # docker exec's code for "the runner failed, not the command"


class ExecCommand(click.Command):
    """``sandbox exec`` passes the command's own exit code through, so netctl's own failures
    (usage, sandbox not found, no permission, ...) use docker exec's 125 instead of 2-9,
    which a command could exit with too.  126/127 (not executable / not found) come from
    the exec itself (kernel/nsexec.py)."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            exc.exit_code = EXEC_FAILED
            raise

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NetctlError as exc:
            exc.exit_code = EXEC_FAILED
            raise
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            failed = NetctlError(f"{where}{exc.strerror or exc}")
            failed.exit_code = EXEC_FAILED
            raise failed from exc


@sandbox.command("exec", cls=ExecCommand, context_settings={"ignore_unknown_options": True})
@click.argument("name", shell_complete=complete.sandboxes)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(name, command):
    """Run COMMAND inside sandbox NAME (netctl sandbox exec NAME -- CMD…).

    \b
    Exit code: COMMAND's own; 125 when netctl itself fails (bad usage, sandbox not
    found, no permission, namespace gone...), 126 when COMMAND cannot be run, 127 when
    it is not found (as docker exec).  So a command exiting 3 is not "not found".
    """
    from ..service.sandboxes import exec_in

    exec_in(service(), name, list(command))

"""``netctl endpoint …``"""

from __future__ import annotations

import click

from .. import lookup, output, views
from ..model import Index
from . import complete
from .common import (
    exists_exit,
    format_options,
    inspect_each,
    multi,
    publish_option,
    read_state,
    report_many,
    service,
)

COLUMNS = [
    ("NAME", lambda r: r["name"]),
    ("NETWORK", lambda r: r["network"]),
    ("SANDBOX", lambda r: r["sandbox"] or ""),
    ("IFNAME", lambda r: r["ifname"] or ""),
    ("IPV4", lambda r: r["ipv4"] or ""),
    ("IPV6", lambda r: r["ipv6"] or ""),
    ("MAC", lambda r: r["mac"] or ""),
    ("PORTS", lambda r: ", ".join(r["ports"])),
]



def qualified(row: dict) -> str:
    """What ``-q`` prints: ``NETWORK/NAME`` names one endpoint even when a name repeats."""
    return f"{row['network']}/{row['name']}"


@click.group()
def endpoint() -> None:
    """Create, join, leave and remove endpoints (an interface on a network)."""


@endpoint.command()
@click.argument("network_ref", metavar="NETWORK", shell_complete=complete.networks)
@click.argument("name")
@click.option("--ip", default=None, help="IPv4 address (default: lowest free).")
@click.option("--ip6", default=None, help="IPv6 address.")
@click.option("--mac", default=None, help="MAC address (default 02:42 + the IPv4 bytes).")
@multi("--link-local-ip", "Extra link-local address.", "IP")
@multi("--alias", "Extra name in peers' hosts files.", "NAME")
@publish_option
def create(network_ref, name, ip, ip6, mac, link_local_ip, alias, publish):
    """Create endpoint NAME on NETWORK and print its name."""
    from ..service.endpoints import EndpointRequest
    from ..service.endpoints import create as create_endpoint

    req = EndpointRequest(name=name, ip=ip, ip6=ip6, mac=mac, link_local=list(link_local_ip),
                          aliases=list(alias), publish=list(publish))
    click.echo(create_endpoint(service(), network_ref, req).name)


@endpoint.command("ls")
@click.option("--network", "network_ref", default=None, metavar="NETWORK", shell_complete=complete.networks,
              help="Only endpoints on this network.")
@format_options
def list_(network_ref, fmt, quiet):
    """List endpoints."""
    state = read_state()
    eps = state.endpoints
    if network_ref:
        eps = state.endpoints_of(lookup.network(state, network_ref))
    index = Index(state)
    output.render([views.endpoint(state, e, index) for e in eps], COLUMNS, fmt, quiet, qualified)


@endpoint.command()
@click.argument("names", nargs=-1, required=True, shell_complete=complete.endpoints)
@format_options
def inspect(names, fmt, quiet):
    """Show endpoints as a JSON array (NAME or NETWORK/NAME)."""
    inspect_each(names, lookup.endpoint, views.endpoint, COLUMNS, fmt, quiet, qualified)


@endpoint.command()
@click.argument("name", metavar="ENDPOINT", shell_complete=complete.endpoints)
def exists(name):
    """Exit 0 if ENDPOINT (NAME or NETWORK/NAME) exists, 3 if not (prints nothing)."""
    exists_exit(lambda: lookup.endpoint(read_state(), name))


@endpoint.command()
@click.argument("names", nargs=-1, required=True, shell_complete=complete.endpoints)
@click.option("-f", "--force", is_flag=True, help="Leave first if joined; missing is fine.")
def rm(names, force):
    """Remove endpoints (refused while joined unless -f)."""
    from ..service.endpoints import remove

    report_many(*remove(service(), list(names), force))


@endpoint.command()
@click.argument("endpoint_ref", metavar="ENDPOINT", shell_complete=complete.endpoints)
@click.argument("sandbox_ref", metavar="SANDBOX", shell_complete=complete.sandboxes)
@click.option("--priority", type=int, default=0, show_default=True,
              help="Higher wins the default route (-2147483648 to 2147483647).")
def join(endpoint_ref, sandbox_ref, priority):
    """Move ENDPOINT's interface into SANDBOX (as eth0, eth1…)."""
    from ..service.endpoints import join as do_join

    do_join(service(), endpoint_ref, sandbox_ref, priority)


@endpoint.command()
@click.argument("endpoint_ref", metavar="ENDPOINT", shell_complete=complete.endpoints)
@click.argument("sandbox_ref", metavar="SANDBOX", shell_complete=complete.sandboxes)
def leave(endpoint_ref, sandbox_ref):
    """Take ENDPOINT's interface out of SANDBOX, back to the host."""
    from ..service.endpoints import leave as do_leave

    do_leave(service(), endpoint_ref, sandbox_ref)

"""``netctl network …``"""

from __future__ import annotations

import sys

import click

from .. import lookup, output, views
from ..errors import NetctlError
from ..model import Index
from . import complete
from .common import (
    config,
    confirm,
    format_options,
    inspect_each,
    label_matches,
    multi,
    name_matches,
    no_trunc_option,
    parse_filters,
    publish_option,
    read_state,
    report_many,
    service,
    untruncated,
)

COLUMNS = [
    ("NAME", lambda r: r["name"]),
    ("ID", lambda r: r["id"][:12]),
    ("DRIVER", lambda r: r["driver"]),
    ("SUBNETS", lambda r: ",".join(s["subnet"] for s in r["subnets"])),
    ("ENDPOINTS", lambda r: str(r["endpoint_count"])),
]


@click.group()
def network() -> None:
    """Create, list, inspect and remove networks; connect sandboxes to them."""


@network.command()
@click.argument("name")
@click.option("-d", "--driver", default=None, metavar="DRIVER", shell_complete=complete.drivers,
              help="bridge, macvlan, ipvlan, null or host  [default: bridge, or default_driver in "
                   "the config file]")
@multi("--subnet", "Subnet in CIDR form (one IPv4, one IPv6); loopback, link-local, multicast, "
       "0/8, 240/4 and IPv4-mapped ranges are refused.", "CIDR")
@multi("--gateway", "Gateway for the matching subnet.", "IP")
@multi("--ip-range", "Allocate endpoint addresses from this sub-range.", "CIDR")
@multi("--aux-address", "Reserve an address: name=ip.", "NAME=IP")
@click.option("--ipv6", is_flag=True, help="Enable IPv6 (a ULA /64 unless --subnet gives one).")
@click.option("--internal", is_flag=True,
              help="No default route, nothing forwarded in or out, no masquerade: sandboxes reach "
                   "each other and the gateway only.")
@multi("--label", "Metadata k=v.", "KEY=VALUE")
@click.option("-o", "--opt", "opts", multiple=True, metavar="KEY=VALUE",
              shell_complete=complete.network_options,
              help="Driver option: bridge: mtu, bridge, icc, masquerade, host_ip, iface_prefix, "
                   "hairpin, ipv6_from_mac (docker's com.docker.network.* names work too); "
                   "macvlan: parent, macvlan_mode, mtu, iface_prefix; ipvlan: parent, ipvlan_mode, "
                   "ipvlan_flag, mtu, iface_prefix.")
@click.option("--ignore", is_flag=True, help="Succeed without change if the network exists.")
def create(name, driver, subnet, gateway, ip_range, aux_address, ipv6, internal, label, opts, ignore):
    """Create network NAME and print its name.

    \b
    A bridge network gets nftables rules (the firewall; off with firewall = false in
    netctl.toml), in its own chains of table inet netctl, made here and removed by rm:
      -o masquerade=true   (default) traffic from the subnet leaving through another
                           interface is masqueraded; IPv6: ULA subnets only
      -o host_ip=ADDR      SNAT to ADDR instead of masquerading
      -o icc=false         sandboxes of the network cannot talk to each other (table
                           bridge netctl; the gateway and the outside stay reachable)
      --internal           nothing forwarded in or out, nothing masqueraded
    Traffic between two netctl networks is dropped both ways; replies pass.  Creating a
    non-internal network turns on net.ipv4.ip_forward (and IPv6 forwarding for an IPv6
    network) if it is off; netctl never turns either off.  Without nft such a network is
    refused (exit 1).

    \b
    macvlan and ipvlan networks put sandboxes straight on the network of a host interface:
      -d macvlan -o parent=IFACE [-o macvlan_mode=bridge|private|vepa|passthru]
      -d ipvlan  -o parent=IFACE [-o ipvlan_mode=l2|l3|l3s] [-o ipvlan_flag=bridge|private|vepa]
    --subnet is required (the parent's network: no pool can guess it; --ipv6 needs an
    IPv6 --subnet too), --gateway is the router there (default: the first address).
    The host's own addresses on the parent in that subnet are reserved (aux addresses
    named after the parent), so no sandbox is given one.
    Each endpoint is a macvlan (ipvlan) link of the parent with the sandbox's MAC and
    addresses (an ipvlan or passthru link has the parent's MAC, and a passthru network
    takes one endpoint), created inside the sandbox.  ipvlan
    l3/l3s networks have no gateway: the default route goes through the device.
    parent=IFACE.VID that does not exist is created as that 802.1q VLAN of IFACE, brought
    up, and removed with the last network using it; a parent that existed is never
    changed (not even brought up when down).  Refused: no parent (exit 2; docker would use
    a dummy link: use a bridge network with --internal instead), a parent that does not
    exist (exit 3), a parent shared in incompatible modes (exit 4: macvlan with ipvlan,
    passthru with anything, two ipvlan modes or flags), a kernel without the link type
    (exit 1; 'netctl status' lists the link types it has), --internal, -o mtu above the
    parent's (exit 2), a parent (or VLAN base) netctl made for something else, such as a
    netctl bridge or veth, which would take the links with it, and a bridge or bond port
    (exit 4).  A parent gone since (renamed, deleted, moved) makes connect exit 3.  No firewall rules
    are made: the traffic goes out through the parent, not through a netctl bridge.
    Limitation: the host cannot reach its own macvlan/ipvlan sandboxes through the parent
    (the kernel does not hand frames between a parent and its macvlans).  The usual
    remedy is a macvlan "shim" on the host in bridge mode, e.g.
      ip link add mv-shim link eth0 type macvlan mode bridge
      ip addr add 192.168.1.250/32 dev mv-shim && ip link set mv-shim up
      ip route add 192.168.1.192/27 dev mv-shim   (the sandboxes' --ip-range)
    """
    from ..service.networks import NetworkRequest
    from ..service.networks import create as create_network

    req = NetworkRequest(name=name, driver=driver, subnets=list(subnet), gateways=list(gateway),
                         ip_ranges=list(ip_range), aux_addresses=list(aux_address), ipv6=ipv6,
                         internal=internal, labels=list(label), options=list(opts))
    net = create_network(service(), req, ignore=ignore, config=config())
    click.echo(net.name)


@network.command("ls")
@format_options
@no_trunc_option
@click.option("-f", "--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="driver=, label=k[=v], name= (AND across keys, OR within a key).")
def list_(fmt, quiet, no_trunc, filters):
    """List networks."""
    wanted = parse_filters(filters, ("driver", "label", "name"))
    state = read_state()
    rows, index = [], Index(state)
    for net in state.networks:
        if "driver" in wanted and net.driver not in wanted["driver"]:
            continue
        if "name" in wanted and not any(name_matches(net.name, p) for p in wanted["name"]):
            continue
        if "label" in wanted and not any(label_matches(net.labels, w) for w in wanted["label"]):
            continue
        rows.append(views.network(state, net, index))
    output.render(rows, untruncated(COLUMNS, no_trunc), fmt, quiet)


@network.command()
@click.argument("names", nargs=-1, required=True, shell_complete=complete.networks)
@format_options
def inspect(names, fmt, quiet):
    """Show networks as a JSON array (the ones found; exit 3 if any is missing)."""
    inspect_each(names, lookup.network, views.network, COLUMNS, fmt, quiet)


@network.command()
@click.argument("name", shell_complete=complete.networks)
def exists(name):
    """Exit 0 if network NAME exists, 3 if not (prints nothing)."""
    try:
        lookup.network(read_state(), name)
    except NetctlError as exc:
        if exc.exit_code == 3:
            sys.exit(3)
        raise


@network.command()
@click.argument("names", nargs=-1, required=True, shell_complete=complete.networks)
@click.option("-f", "--force", is_flag=True, help="A missing network is not an error.")
def rm(names, force):
    """Remove networks (refused while they have endpoints)."""
    from ..service.networks import remove

    report_many(*remove(service(), list(names), force))


@network.command()
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
def prune(force):
    """Remove every network that has no endpoints.

    Without -f it lists them and asks on stderr, reading the answer from stdin even when that
    is not a terminal (as docker does): only y or yes removes them; anything else, or end of
    input, removes nothing and exits 0 with "nothing removed" on stderr.
    """
    from ..service.networks import prune as prune_networks
    from ..service.networks import prune_candidates

    ctx = service()
    only = None
    if not force:
        nets = prune_candidates(ctx.read())
        if not nets:
            return
        names = ", ".join(n.name for n in nets)
        if not confirm(f"Remove {len(nets)} network(s) without endpoints ({names})?"):
            click.echo("netctl: network prune: nothing removed", err=True)
            return
        only = {n.id for n in nets}  # what was shown: never one created while we waited
    for name in prune_networks(ctx, only):
        click.echo(name)


@network.command()
@click.argument("network_ref", metavar="NETWORK", shell_complete=complete.networks)
@click.argument("sandbox_ref", metavar="SANDBOX", shell_complete=complete.sandboxes)
@click.option("--name", default=None, help="Endpoint name (default: the sandbox's name).")
@click.option("--ip", default=None, help="IPv4 address.")
@click.option("--ip6", default=None, help="IPv6 address.")
@click.option("--mac", default=None, help="MAC address (default 02:42 + the IPv4 bytes).")
@multi("--alias", "Extra name for the endpoint in peers' hosts files.", "NAME")
@multi("--link-local-ip", "Extra link-local address.", "IP")
@click.option("--priority", type=int, default=0, show_default=True,
              help="Higher wins the default route (-2147483648 to 2147483647).")
@publish_option
def connect(network_ref, sandbox_ref, name, ip, ip6, mac, alias, link_local_ip, priority, publish):
    """Create an endpoint on NETWORK and join it to SANDBOX, in one step.

    On a host network the sandbox uses the host's network namespace (/run/netns/SANDBOX is
    bound to it) until it is disconnected. A sandbox on a null or host network joins no
    other network, and one on other networks cannot join a null or host network (exit 4).
    With -p it prints each published port as `docker port` does (80/tcp -> 0.0.0.0:8080).
    """
    from ..service.connect import connect as do_connect
    from ..service.endpoints import EndpointRequest

    req = EndpointRequest(name=name or "", ip=ip, ip6=ip6, mac=mac, aliases=list(alias),
                          link_local=list(link_local_ip), publish=list(publish))
    ep = do_connect(service(), network_ref, sandbox_ref, req, priority)
    if publish:
        for line in views.ports_shown(ep):
            click.echo(line)


@network.command()
@click.argument("network_ref", metavar="NETWORK", shell_complete=complete.networks)
@click.argument("sandbox_ref", metavar="SANDBOX", shell_complete=complete.sandboxes)
@click.option("-f", "--force", is_flag=True, help="Not connected (or missing) is not an error.")
def disconnect(network_ref, sandbox_ref, force):
    """Leave and delete SANDBOX's endpoint on NETWORK."""
    from ..service.connect import disconnect as do_disconnect

    do_disconnect(service(), network_ref, sandbox_ref, force)

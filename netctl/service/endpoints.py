"""Endpoint operations: create, remove, join, leave (spec §4–§7).

Addresses and MACs are decided here (pure IPAM over state) before the driver touches the
kernel; the driver's steps and the gateway update all run in the caller's transaction, so a
failure anywhere leaves kernel and state as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_network

from .. import ipam, lookup, validate
from ..drivers.base import get_driver
from ..errors import Conflict, InvalidInput, NetctlError, NotFound
from ..model import Endpoint, Network, Sandbox, State, now
from ..txn import Transaction
from . import batch, gateway, hostnet, leftovers, nsguard, publish
from .context import Context


@dataclass
class EndpointRequest:
    name: str
    ip: str | None = None
    ip6: str | None = None
    mac: str | None = None
    link_local: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    publish: list[str] = field(default_factory=list)  # -p values (service/publish.py)

    def validated(self) -> EndpointRequest:
        from .publish import parse

        parse(self.publish)  # syntax errors are exit 2 before the lock
        return EndpointRequest(
            name=validate.name(self.name, "endpoint name"),
            ip=validate.address(self.ip, "--ip", version=4) if self.ip else None,
            ip6=validate.address(self.ip6, "--ip6", version=6) if self.ip6 else None,
            mac=validate.mac(self.mac) if self.mac else None,
            link_local=[validate.link_local(a) for a in self.link_local],
            aliases=[validate.name(a, "alias") for a in self.aliases],
            publish=list(self.publish),
        )


def _address(state: State, net: Network, family: int, wanted: str | None) -> str | None:
    sub = net.subnet_for(family)
    if sub is None:
        if wanted:
            raise InvalidInput(f"network {net.name!r} has no IPv{family} subnet for {wanted}")
        return None
    subnet = ip_network(sub.subnet)
    taken = ipam.used_addresses(state, net, sub)
    if wanted:
        addr = ipam.claim(subnet, taken, wanted)
    else:
        addr = ipam.allocate(subnet, taken, ip_network(sub.ip_range) if sub.ip_range else None)
    return f"{addr}/{subnet.prefixlen}"


def _mac(state: State, net: Network, wanted: str | None, ipv4: str | None) -> str:
    """Two interfaces with one MAC on a bridge steal each other's frames: a MAC given twice
    is refused (exit 4); a derived one that someone took by hand is replaced by a random one."""
    peers = _mac_peers(state, net)
    taken = {e.mac for e, _ in peers if e.mac}
    if wanted:
        if wanted in taken:
            owner, where = next((e.name, o.name) for e, o in peers if e.mac == wanted)
            raise Conflict(f"MAC address {wanted} is already used by endpoint {owner!r} "
                           f"in network {where!r}")
        return wanted
    mac = ipam.mac_from_ipv4(ipv4.split("/")[0] if ipv4 else None)
    while mac in taken:
        mac = ipam.random_mac()
    return mac


def _mac_peers(state: State, net: Network) -> list[tuple[Endpoint, Network]]:
    """The endpoints whose MAC must differ from a new one's: the network's own, and for a
    macvlan those of every network on its parent, which holds one MAC table for all its
    links (a second link with a MAC failed at link up with EADDRINUSE, exit 1)."""
    if net.driver not in validate.SUBLINK_DRIVERS:
        return [(e, net) for e in state.endpoints_of(net)]
    parent = net.options.get("parent")
    return [(e, o) for o in state.networks if o.driver in validate.SUBLINK_DRIVERS
            and o.options.get("parent") == parent for e in state.endpoints_of(o)]


def _parents_mac(net: Network) -> bool:
    """An ipvlan link, and a passthru macvlan, have the parent's MAC, whatever is asked."""
    return net.driver == "ipvlan" or net.options.get("macvlan_mode") == "passthru"


def _sublink_rules(state: State, net: Network, req: EndpointRequest) -> None:
    if _parents_mac(net) and req.mac:
        raise InvalidInput(f"network {net.name!r}: its links have the parent's MAC; drop --mac")
    if net.options.get("macvlan_mode") == "passthru" and state.endpoints_of(net):
        raise Conflict(f"network {net.name!r} is macvlan passthru: it takes one endpoint, and has "
                       f"{state.endpoints_of(net)[0].name!r}")


def plan(state: State, net: Network, req: EndpointRequest) -> Endpoint:
    """A new endpoint with its addresses and MAC decided (pure IPAM over the state)."""
    if lookup.endpoint_in(state, net, req.name) is not None:
        raise Conflict(f"endpoint with name {req.name!r} already exists in network {net.name!r}")
    lookup.check_new_name(state.endpoints, req.name, "endpoint")
    ep = Endpoint(name=req.name, id=lookup.fresh_id(state.endpoints), network=net.id, created=now(),
                  link_local=req.link_local, aliases=req.aliases)
    if not get_driver(net.driver, None).plumbs:
        if req.ip or req.ip6 or req.mac or req.link_local:
            raise InvalidInput(f"network {net.name!r} (driver {net.driver}) gives endpoints no interface")
        return ep
    _sublink_rules(state, net, req)
    ep.ipv4 = _address(state, net, 4, req.ip)
    if not _parents_mac(net):
        ep.mac = _mac(state, net, req.mac, ep.ipv4)
    v6 = net.subnet_for(6)
    if net.ipv6 and v6 and not req.ip6 and validate.option_bool(net, "ipv6_from_mac", False):
        subnet = ip_network(v6.subnet)
        ep.ipv6 = f"{ipam.ipv6_from_mac(subnet, ep.mac)}/{subnet.prefixlen}"
        ipam.claim(subnet, ipam.used_addresses(state, net, v6), ep.ipv6.split("/")[0])
    elif net.ipv6:
        ep.ipv6 = _address(state, net, 6, req.ip6)
    elif req.ip6:
        raise InvalidInput(f"network {net.name!r} has IPv6 disabled")
    return ep


def create(ctx: Context, network_ref: str, req: EndpointRequest) -> Endpoint:
    req = req.validated()
    with ctx.mutation() as (state, tx):
        net = lookup.network(state, network_ref)
        ep = plan(state, net, req)
        publish.plan(ctx, state, net, ep, req.publish)  # reserved; active once joined
        get_driver(net.driver, ctx).create_endpoint(net, ep, tx)
        state.endpoints.append(ep)
    return ep


def ready_to_plumb(ctx: Context, state: State, sb: Sandbox) -> None:
    """The sandbox's namespace must exist; what a killed run left in it is cleared first,
    since a leftover ``eth<n>`` would collide with the name the counter hands out."""
    if not ctx.kernel.netns_exists(sb.name):
        raise NotFound(f"namespace of sandbox {sb.name!r} is gone (run 'netctl gc')")
    nsguard.require(ctx.kernel, sb)
    leftovers.clear_sandbox(ctx, state, sb)


def next_ifname(net: Network, sb: Sandbox, taken: set[str] | None = None) -> str:
    """``<prefix><n>`` from the sandbox's counter for that prefix, which only goes up
    (spec §7.2: kept per sandbox and per prefix, so eth0 then net0); names in ``taken``
    (an adopted namespace's own interfaces, see ``taken_ifnames``) are skipped."""
    prefix = net.options.get("iface_prefix", "eth")
    n = sb.ifindexes.get(prefix, sb.next_ifindex)
    while f"{prefix}{n}" in (taken or ()):
        n += 1
    sb.ifindexes[prefix] = n + 1
    return f"{prefix}{n}"


def taken_ifnames(ctx: Context, sb: Sandbox) -> set[str] | None:
    """The interfaces an adopted namespace already has (a container's own eth0): the names
    netctl must not pick there.  None for netctl's own, where only its counter decides."""
    if sb.adopted is None:
        return None
    return {x.name for x in ctx.kernel.links(netns=sb.name)}


def _join(ctx: Context, state: State, ep: Endpoint, sb: Sandbox, priority: int, tx: Transaction) -> None:
    if ep.sandbox:
        where = state.sandbox_by_id(ep.sandbox).name
        raise Conflict(f"endpoint {ep.name!r} is already joined to sandbox {where!r}")
    net = state.network_by_id(ep.network)
    hostnet.check_exclusive(state, net, sb)
    driver = get_driver(net.driver, ctx)
    if driver.plumbs:
        ready_to_plumb(ctx, state, sb)
    ep.sandbox, ep.priority = sb.id, priority
    if driver.plumbs:
        ep.ifname = next_ifname(net, sb, taken_ifnames(ctx, sb))
        driver.join(net, ep, sb, tx)
        gateway.apply(ctx.kernel, state, sb, tx)
        publish.sync_if(ctx, state, ep, tx)
    elif net.driver == "host":
        hostnet.enter(ctx, sb, tx)


def _leave(ctx: Context, state: State, ep: Endpoint, sb: Sandbox, tx: Transaction,
           bring_back: bool = True, inside: bool = True, reaped: bool = False) -> None:
    """Detach ``ep`` from ``sb``.  The default routes are re-elected first, without ``ep``,
    while its interface is still there: each route change is then an undoable step, not a
    side effect of the move.  Without ``bring_back`` the interface stays where it is
    because the caller deletes it next (deleting the host end removes the pair, which is
    cheaper than moving it out first).  A namespace that is not the sandbox's any more is
    refused; with ``inside`` false (``sandbox rm -f`` of such a sandbox) it is not entered.
    ``reaped``: the sandbox's namespace is deleted with this transaction, so its routes go
    with it and are not re-elected."""
    net = state.network_by_id(ep.network)
    driver = get_driver(net.driver, ctx)
    ep.sandbox = None
    if driver.plumbs and inside:
        nsguard.require(ctx.kernel, sb)
    if driver.plumbs and inside and not reaped and ctx.kernel.netns_exists(sb.name):
        gateway.apply(ctx.kernel, state, sb, tx)
    if driver.plumbs and inside and ep.ifname and bring_back:
        driver.leave(net, ep, sb, tx)
    if net.driver == "host":  # deleted or not, the sandbox gets its own namespace back
        hostnet.leave(ctx, sb, tx)
    ep.ifname, ep.priority = None, 0
    publish.sync_if(ctx, state, ep, tx)  # its ports stop with the join


def join(ctx: Context, endpoint_ref: str, sandbox_ref: str, priority: int = 0) -> Endpoint:
    priority = validate.priority(priority)
    with ctx.mutation() as (state, tx):
        ep = lookup.endpoint(state, endpoint_ref)
        sb = lookup.sandbox(state, sandbox_ref)
        _join(ctx, state, ep, sb, priority, tx)
    return ep


def leave(ctx: Context, endpoint_ref: str, sandbox_ref: str) -> Endpoint:
    with ctx.mutation() as (state, tx):
        ep = lookup.endpoint(state, endpoint_ref)
        sb = lookup.sandbox(state, sandbox_ref)
        if ep.sandbox != sb.id:
            raise Conflict(f"endpoint {ep.name!r} is not joined to sandbox {sb.name!r}")
        _leave(ctx, state, ep, sb, tx)
    return ep


def delete(ctx: Context, state: State, ep: Endpoint, tx: Transaction, force: bool,
           inside: bool = True, reaped: bool = False) -> None:
    """Delete one endpoint (leaving first with ``force``) inside the caller's mutation;
    ``inside``: whether its sandbox's namespace may be entered (see ``_leave``);
    ``reaped``: the caller deletes that namespace at commit, which takes a plumbed veth
    pair with it (the kernel batches that; a veth deleted on its own costs an RCU grace
    period, ~30 ms), so the pair is only checked for, after every namespace is gone."""
    plumbed = reaped and bool(ep.ifname)
    joined_as = None  # (netns, ifname) of a link that has no host end to delete it by
    if ep.sandbox:
        sb = state.sandbox_by_id(ep.sandbox)
        if not force:
            raise Conflict(f"endpoint {ep.name!r} is joined to sandbox {sb.name!r} (use -f to leave first)")
        joined_as = (sb.name, ep.ifname) if inside and ep.ifname else None
        _leave(ctx, state, ep, sb, tx, bring_back=False, inside=inside, reaped=reaped)
    net = state.network_by_id(ep.network)
    driver = get_driver(net.driver, ctx)
    if joined_as and hasattr(driver, "delete_inside"):  # macvlan, ipvlan: even when the
        # namespace goes too, as the kernel frees a link of a deleted namespace only later
        # (15-50 ms), and until then its MAC (or a passthru parent) is not free for the next
        tx.on_commit("link-delete", lambda: driver.delete_inside(net, ep, *joined_as))
    elif plumbed and hasattr(driver, "reap_endpoint"):
        tx.on_commit("veth-delete", lambda: driver.reap_endpoint(net, ep), last=True)
    else:
        tx.on_commit("veth-delete", lambda: driver.delete_endpoint(net, ep))  # cannot be undone
    state.endpoints.remove(ep)


def remove(ctx: Context, refs: list[str], force: bool = False) -> tuple[list[str], list[NetctlError]]:
    """Remove each endpoint; ``force`` leaves a joined one first and skips missing ones."""
    return batch.remove_each(ctx, refs, force, lookup.endpoint,
                             lambda state, ep, tx: delete(ctx, state, ep, tx, force))

"""Which endpoint gives a sandbox its default route (spec §7.3), and making it so.

The choice is recomputed from state after every join and leave, and the sandbox's default
routes are compared with it, so the same code elects, re-elects after a leave and repairs.
"""

from __future__ import annotations

from ..drift import wants_lo_ipv6
from ..kernel.base import Kernel, Route
from ..model import Endpoint, Network, Sandbox, State
from ..txn import Transaction

PLUMBED = ("bridge", "macvlan", "ipvlan")  # drivers whose endpoints are interfaces


def ranked(state: State, sb: Sandbox) -> list[Endpoint]:
    """Endpoints of ``sb`` best first: priority, non-internal, gateway score, network name."""

    def key(ep: Endpoint):
        net = state.network_by_id(ep.network)
        score = (1 if net.subnet_for(4) and net.subnet_for(4).gateway else 0) + (
            2 if net.ipv6 and net.subnet_for(6) and net.subnet_for(6).gateway else 0
        )
        return (-ep.priority, net.internal, -score, net.name)

    return sorted(state.endpoints_in(sb), key=key)


def through_device(net: Network) -> bool:
    """ipvlan l3/l3s (libnetwork): no gateway, the default route goes through the device."""
    return net.driver == "ipvlan" and net.options.get("ipvlan_mode") in ("l3", "l3s")


def elect(state: State, sb: Sandbox) -> Endpoint | None:
    """The first ranked endpoint on a plumbed, non-internal network with an IPv4 gateway
    (or an ipvlan l3 one, which needs none)."""
    for ep in ranked(state, sb):
        net = state.network_by_id(ep.network)
        v4 = net.subnet_for(4)
        if net.driver in PLUMBED and not net.internal and v4 and (v4.gateway or through_device(net)) \
                and ep.ifname:
            return ep
    return None


def wanted_routes(state: State, sb: Sandbox) -> list[Route]:
    ep = elect(state, sb)
    if ep is None:
        return []
    net = state.network_by_id(ep.network)
    out = [Route("default", gateway=net.subnet_for(4).gateway, dev=ep.ifname, family=4)]
    v6 = net.subnet_for(6)
    if net.ipv6 and v6 and ep.ipv6 and through_device(net):
        out.append(Route("default", dev=ep.ifname, family=6))
    elif net.ipv6 and v6 and v6.gateway and ep.ipv6:
        out.append(Route("default", gateway=v6.gateway, dev=ep.ifname, family=6))
    return out


def apply(kernel: Kernel, state: State, sb: Sandbox, tx: Transaction) -> None:
    """Make the sandbox's default routes match the elected endpoint, and ``lo``'s IPv6
    switch match its interfaces (both are re-derived after every join and leave)."""
    _routes(kernel, state, sb, tx)
    _loopback(kernel, state, sb, tx)


def _loopback(kernel: Kernel, state: State, sb: Sandbox, tx: Transaction) -> None:
    """Spec §7.2: ``lo`` has IPv6 on exactly while an interface of the sandbox has it (the
    kernel gives lo ``::1`` when the switch goes on, so that is the fact read).  Only a
    ``lo`` marked as this sandbox's is switched: never one of a namespace not netctl's."""
    on, lo = wants_lo_ipv6(state, sb), kernel.link_get("lo", netns=sb.name)
    if lo is None or lo.owner != sb.id or any(a.startswith("::1/") for a in lo.addresses) == on:
        return
    tx.step("lo-ipv6", lambda: kernel.ipv6_enable("lo", netns=sb.name, on=on),
            lambda: kernel.ipv6_enable("lo", netns=sb.name, on=not on))


def own_defaults(current: list[Route], wanted: list[Route],
                 mine: set[str]) -> tuple[list[Route], list[Route]]:
    """In an adopted namespace netctl owns only the default routes through its interfaces
    (``mine``); a family that already has a default route of the namespace's own keeps it,
    and netctl adds none there.  (current, wanted) as netctl may change them."""
    theirs = {r.family for r in current if r.dev not in mine}
    return [r for r in current if r.dev in mine], [r for r in wanted if r.family not in theirs]


def netctl_links(kernel: Kernel, state: State, sb: Sandbox) -> set[str]:
    """The interfaces in ``sb``'s namespace that carry this state's mark."""
    return {x.name for x in kernel.links(netns=sb.name)
            if x.owner is not None and x.state_id == state.state_id}


def _routes(kernel: Kernel, state: State, sb: Sandbox, tx: Transaction) -> None:
    current = [r for r in kernel.routes(netns=sb.name) if r.dst == "default"]
    wanted = wanted_routes(state, sb)
    if sb.adopted is not None:
        current, wanted = own_defaults(current, wanted, netctl_links(kernel, state, sb))
    same = {(r.family, r.gateway, r.dev) for r in current} == {
        (r.family, r.gateway, r.dev) for r in wanted
    }
    if same:
        return
    for old in current:
        tx.step(
            "route-del",
            lambda r=old: kernel.route_del(_dst(r), gateway=r.gateway, dev=r.dev, netns=sb.name),
            lambda r=old: kernel.route_add(_dst(r), gateway=r.gateway, dev=r.dev, netns=sb.name),
        )
    for new in wanted:
        tx.step(
            "route-add",
            lambda r=new: kernel.route_add(_dst(r), gateway=r.gateway, dev=r.dev, netns=sb.name),
            lambda r=new: kernel.route_del(_dst(r), gateway=r.gateway, dev=r.dev, netns=sb.name),
        )


def _dst(route: Route) -> str:
    """The kernel calls take the family from the gateway; an IPv6 default route without one
    (ipvlan l3/l3s) names its family in the destination, or it went in as IPv4 (EEXIST
    beside the IPv4 one: every IPv6 ipvlan l3 connect failed) and its delete took that one."""
    return "::/0" if route.family == 6 and not route.gateway else "default"

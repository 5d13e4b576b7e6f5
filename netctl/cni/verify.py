"""CHECK's look at the kernel: the attachment's link, addresses and default routes."""

from __future__ import annotations

from ..model import Endpoint, Sandbox, State


def kernel(k, state: State, sb: Sandbox, ep: Endpoint) -> list[str]:
    """What differs between the endpoint as recorded and the sandbox's namespace."""
    from ..service.gateway import wanted_routes

    if not k.netns_exists(sb.name):
        return [f"namespace of sandbox {sb.name!r} is gone"]
    link = k.link_get(ep.ifname, netns=sb.name)
    if link is None or link.owner != ep.id:
        return [f"interface {ep.ifname} is missing (or not netctl's)"]
    problems = []
    if not link.up:
        problems.append(f"interface {ep.ifname} is down")
    if ep.mac and link.mac.lower() != ep.mac.lower():
        problems.append(f"interface {ep.ifname} has MAC {link.mac}, not {ep.mac}")
    for cidr in (ep.ipv4, ep.ipv6):
        if cidr and cidr not in link.addresses:
            problems.append(f"interface {ep.ifname} lacks address {cidr}")
    have = {(r.family, r.gateway, r.dev) for r in k.routes(netns=sb.name) if r.dst == "default"}
    for route in wanted_routes(state, sb):
        if route.dev == ep.ifname and (route.family, route.gateway, route.dev) not in have:
            problems.append(f"default route via {route.gateway} dev {route.dev} is missing")
    return problems

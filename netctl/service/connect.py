"""``network connect`` / ``disconnect``: endpoint create+join and leave+delete as one step.

This is the path scripts use most, so it takes the cheapest kernel route: the veth pair is
created with its peer already inside the sandbox, named ``eth<n>`` and carrying its MAC, so
nothing has to be moved or renamed (a move costs an RCU grace period, ~20 ms).
"""

from __future__ import annotations

from .. import lookup, validate
from ..drivers.base import get_driver
from ..errors import Conflict, NotFound
from ..model import Endpoint
from . import endpoints, gateway, hostnet, publish
from .context import Context
from .endpoints import EndpointRequest


def _same_request(ep: Endpoint, req: EndpointRequest, priority: int) -> bool:
    """What was asked is what the endpoint has (an option not given asks nothing); otherwise
    a repeated connect is a conflict, never a success that dropped ``--alias`` or ``--priority``."""
    return (
        (not req.ip or (ep.ipv4 or "").split("/")[0] == req.ip)
        and (not req.ip6 or (ep.ipv6 or "").split("/")[0] == req.ip6)
        and (not req.mac or ep.mac == req.mac)
        and not req.publish
        and (not req.aliases or sorted(set(req.aliases)) == sorted(set(ep.aliases)))
        and (not req.link_local or sorted(set(req.link_local)) == sorted(set(ep.link_local)))
        and (not priority or priority == ep.priority)
    )


def connect(ctx: Context, network_ref: str, sandbox_ref: str, req: EndpointRequest,
            priority: int = 0, ifname: str | None = None) -> Endpoint:
    """Idempotent: connecting again with the same (or no) parameters changes nothing.
    ``ifname``: the name inside the sandbox (the CNI front door's CNI_IFNAME) instead of
    the sandbox's next ``eth<n>``."""
    priority = validate.priority(priority)
    ifname = validate.ifname(ifname) if ifname is not None else None
    with ctx.mutation() as (state, tx):
        net = lookup.network(state, network_ref)
        sb = lookup.sandbox(state, sandbox_ref)
        req = EndpointRequest(**{**req.__dict__, "name": req.name or sb.name}).validated()
        existing = lookup.endpoint_in(state, net, req.name)
        if existing is not None and existing.sandbox == sb.id and _same_request(existing, req, priority) \
                and ifname in (None, existing.ifname):
            return existing
        for ep in state.endpoints_in(sb):
            if ep.network == net.id and existing is None:
                raise Conflict(f"sandbox {sb.name!r} is already connected to network {net.name!r} "
                               f"(endpoint {ep.name!r})")
        hostnet.check_exclusive(state, net, sb)
        driver = get_driver(net.driver, ctx)
        ep = endpoints.plan(state, net, req)
        publish.plan(ctx, state, net, ep, req.publish)
        if driver.plumbs:
            endpoints.ready_to_plumb(ctx, state, sb)
            driver.check_routes(net, ep, sb)
            ep.ifname = ifname or endpoints.next_ifname(net, sb, endpoints.taken_ifnames(ctx, sb))
        ep.sandbox, ep.priority = sb.id, priority
        driver.create_endpoint(net, ep, tx, into=sb if driver.plumbs else None)
        state.endpoints.append(ep)
        if driver.plumbs:
            gateway.apply(ctx.kernel, state, sb, tx)
            publish.sync_if(ctx, state, ep, tx)
        elif net.driver == "host":
            hostnet.enter(ctx, sb, tx)
    return ep


def disconnect(ctx: Context, network_ref: str, sandbox_ref: str, force: bool = False) -> list[str]:
    """Leave and delete the sandbox's endpoints on the network; ``force``: missing is fine."""
    with ctx.mutation() as (state, tx):
        try:
            net = lookup.network(state, network_ref)
            sb = lookup.sandbox(state, sandbox_ref)
        except NotFound:
            if force:
                return []
            raise
        eps = [e for e in state.endpoints_in(sb) if e.network == net.id]
        if not eps and not force:
            raise NotFound(f"sandbox {sb.name!r} is not connected to network {net.name!r}")
        for ep in eps:
            endpoints.delete(ctx, state, ep, tx, force=True)
    return [e.name for e in eps]

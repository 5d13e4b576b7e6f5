"""What apply does that no single command does, each one operation of the plan (plan.py):
a sandbox's settings changed in place, a network replaced, a disconnect whose interface
gives up its addresses at once, and a connection's published ports changed in place.
Each keeps the one transaction exact: every kernel change before the save has its undo,
and what cannot be undone waits for the save."""

from __future__ import annotations

from .. import lookup
from ..config import Config
from ..drift import BRIDGE_LINK_LOCAL, bridge_addresses
from ..errors import Conflict, NetctlError, NotFound
from . import connect, networks, publish, sandboxes
from .context import Context


def raise_first(result: tuple[list[str], list[NetctlError]]) -> None:
    """``rm``-style results (names done, errors) as one operation: its first error raised."""
    if result[1]:
        raise result[1][0]


SANDBOX_FIELDS = ("hostname", "dns", "dns_search", "dns_options", "extra_hosts")


def update_sandbox(ctx: Context, name: str, req: sandboxes.SandboxRequest) -> None:
    """Hostname and DNS settings are only state and /etc/netns files (rendered after the
    save): changed in place, no kernel step, the sandbox's connections untouched."""
    want = sandboxes.build(req)
    with ctx.mutation() as (state, _tx):
        sb = lookup.sandbox(state, name)
        for f in SANDBOX_FIELDS:
            setattr(sb, f, getattr(want, f))


def replace_network(ctx: Context, name: str, req: networks.NetworkRequest, cfg: Config | None) -> None:
    """Remove network ``name`` and create it again from ``req``, undoably, inside a plan.

    The old bridge cannot be deleted before the save (that cannot be undone), yet its
    gateway addresses (and with them its connected routes) would make the new subnet look
    taken: they are taken off as one undoable step, the old network is renamed out of the
    way in memory, the new one is created, and the old one is removed (its bridge deleted
    after the save, as ``network rm`` does).  Its endpoints were disconnected before."""
    with ctx.mutation() as (state, tx):
        old = lookup.network(state, name)
        if old.driver == "bridge":
            if old.bridge_adopted:
                raise Conflict(f"network {name!r} uses a bridge netctl adopted ({old.bridge}): "
                               "remove it by hand to change it")
            k, cidrs = ctx.kernel, [c for c in bridge_addresses(old) if c != BRIDGE_LINK_LOCAL]
            tx.step("bridge-release", lambda: [k.addr_del(old.bridge, c) for c in cidrs],
                    lambda: [k.addr_add(old.bridge, c, nodad=":" in c) for c in cidrs])
        old.name, old.subnets = f"{name}~replaced", []  # never saved: removed below
        networks.create(ctx, req, config=cfg)
        raise_first(networks.remove(ctx, [old.id]))


def disconnect(ctx: Context, net_name: str, sb_name: str) -> None:
    """``network disconnect``, plus: the old interface's addresses are taken off at once, as
    undoable steps.  Its deletion waits for the save, and until then its address and route
    would block a reconnect to the same subnet in the same apply (a changed ``ip``, a
    replaced network)."""
    with ctx.mutation() as (state, tx):
        net, sb = lookup.network(state, net_name), lookup.sandbox(state, sb_name)
        old = [(e.ifname, [a for a in (e.ipv4, e.ipv6) if a])
               for e in state.endpoints_in(sb) if e.network == net.id and e.ifname]
        connect.disconnect(ctx, net_name, sb_name)
        k = ctx.kernel
        for ifname, cidrs in old:
            for cidr in cidrs:
                tx.step("addr-release", lambda i=ifname, c=cidr: k.addr_del(i, c, netns=sb_name),
                        lambda i=ifname, c=cidr: k.addr_add(i, c, netns=sb_name, nodad=":" in c))


def _joined(state, net_name: str, sb_name: str):
    net, sb = lookup.network(state, net_name), lookup.sandbox(state, sb_name)
    for ep in state.endpoints_in(sb):
        if ep.network == net.id:
            return net, ep
    raise NotFound(f"sandbox {sb_name!r} is not connected to network {net_name!r}")


def unpublish(ctx: Context, net_name: str, sb_name: str) -> None:
    """A connection whose published ports differ from the file gives them up in place: its
    veth, addresses and name stay (a reconnect would change its MAC and maybe its address),
    only the firewall's rules are re-applied, undoably.  Run before the connects, so a port
    it frees can be taken by another connection of the same file."""
    from ..firewall import sync as firewall

    with ctx.mutation() as (state, tx):
        _net, ep = _joined(state, net_name, sb_name)
        ep.ports = []
        firewall.sync(ctx, state, tx)


def republish(ctx: Context, net_name: str, sb_name: str, specs: list[str]) -> None:
    """The file's ports for a connection that gave up its old ones (``unpublish``): checked
    against every port held (exit 4) and the host's listening sockets, as ``-p`` is."""
    with ctx.mutation() as (state, tx):
        net, ep = _joined(state, net_name, sb_name)
        publish.plan(ctx, state, net, ep, specs)
        publish.sync_if(ctx, state, ep, tx)

"""Sandboxes on a ``host`` network use the host's network namespace (docker's ``--network
host``), and ``null``/``host`` exclude every other network.

Joining a host network swaps the sandbox's own namespace (nothing in it but its marked
``lo``) for a bind mount of the namespace netctl runs in at ``/run/netns/NAME``: ``sandbox
exec``, ``ip netns exec NAME`` and anything handed that path run in the host's network.
Leaving makes the sandbox a fresh namespace of its own again.  Nothing inside the host's
namespace is ever changed (no ``lo`` mark, no route, no link): drift checks skip it, and
``sandbox rm`` only unbinds the path.
"""

from __future__ import annotations

from ..errors import Conflict, NotFound
from ..model import Network, Sandbox, State
from ..txn import Transaction
from . import nsguard
from .context import Context

EXCLUSIVE = ("null", "host")


def check_exclusive(state: State, net: Network, sb: Sandbox) -> None:
    """Docker's rule: a sandbox on a null or host network joins nothing else, and one on
    other networks cannot join a null or host network (exit 4)."""
    others = [state.network_by_id(e.network) for e in state.endpoints_in(sb) if e.network != net.id]
    if not others:
        return
    if net.driver in EXCLUSIVE:
        raise Conflict(f"sandbox {sb.name!r} is connected to other networks: it cannot also join "
                       f"{net.driver} network {net.name!r}")
    special = next((o for o in others if o.driver in EXCLUSIVE), None)
    if special is not None:
        raise Conflict(f"sandbox {sb.name!r} is on {special.driver} network {special.name!r}: "
                       f"it cannot join other networks")


def enter(ctx: Context, sb: Sandbox, tx: Transaction) -> None:
    """Replace the sandbox's own (empty) namespace by the host's at /run/netns/NAME."""
    k = ctx.kernel
    if k.netns_is_host(sb.name):
        return
    if not k.netns_exists(sb.name):
        raise NotFound(f"namespace of sandbox {sb.name!r} is gone (run 'netctl gc')")
    if not nsguard.ours(k, sb):
        raise Conflict(f"namespace /run/netns/{sb.name} is not netctl's: netctl leaves it alone")
    if sb.adopted is not None:  # the swap below would unmount the adopted namespace
        raise Conflict(f"sandbox {sb.name!r} adopted a namespace of its own: it cannot join a host network")
    mark = ctx.mark(sb.id)
    tx.step("netns-own-delete", lambda: k.netns_delete(sb.name),
            lambda: k.netns_create(sb.name, alias=mark))
    tx.step("netns-host-bind", lambda: k.netns_bind_host(sb.name), lambda: k.netns_delete(sb.name))


def leave(ctx: Context, sb: Sandbox, tx: Transaction) -> None:
    """Give the sandbox a namespace of its own again (only if the path is the host's: a
    namespace already gone stays gone)."""
    k = ctx.kernel
    if not k.netns_is_host(sb.name):
        return
    tx.step("netns-host-unbind", lambda: k.netns_delete(sb.name), lambda: k.netns_bind_host(sb.name))
    mark = ctx.mark(sb.id)
    tx.step("netns-create", lambda: k.netns_create(sb.name, alias=mark),
            lambda: k.netns_delete(sb.name))


def rebind(ctx: Context, sb: Sandbox, tx: Transaction) -> None:
    """Repair/restore of a host-mode sandbox: its path is missing or its own namespace."""
    k = ctx.kernel
    if k.netns_exists(sb.name):
        enter(ctx, sb, tx)
    else:
        tx.step("netns-host-bind", lambda: k.netns_bind_host(sb.name), lambda: k.netns_delete(sb.name))

"""Tolerating what a killed netctl left in the kernel, at the places it gets in the way.

A process killed between a kernel step and the state save leaves links (or a namespace)
marked with this state's identity and an ID that is in no object (drift.is_orphan; a link
killed before its mark is marked by the next command, intents.py).  Under the state lock nothing else can be
half-way through creating them, so they are garbage; ``check --repair`` removes them all.
The next command must not trip over them meanwhile: ``connect``/``join`` clear the ones in
the sandbox they plumb (a leftover ``eth<n>`` would collide with the name the counter hands
out, and its address with the route check), ``sandbox create`` replaces a leftover
namespace of the same name and ``network create`` removes leftover bridges (their routes
would make the subnet look taken).  Unmarked (foreign) objects, and those of another state
file, are never touched.
"""

from __future__ import annotations

from ..drift import is_orphan, object_ids
from ..etcfiles import remove_sandbox_files
from ..model import Sandbox, State
from .context import Context


def _ids(ctx: Context, state: State) -> set[str]:
    """The state's objects; inside an apply also those the plan removed so far: their kernel
    objects go only after the save, and deleting them now could not be undone."""
    ids = object_ids(state)
    plan = ctx.plan
    if plan is not None and not plan.isolate:
        ids |= plan.known
    return ids


def clear_sandbox(ctx: Context, state: State, sb: Sandbox) -> list[str]:
    """Delete orphan links inside ``sb``'s namespace (their host ends go with them), and
    send back to the host the interface of an endpoint that state says is parked (a join
    killed after its move): both would collide with the ``eth<n>`` the counter hands out.
    The whole state's IDs are gathered only for a link that is none of the sandbox's own
    (rare: after a kill), so that every connect does not pay a scan of the state."""
    k, done = ctx.kernel, []
    own, ids, parked = None, None, None
    for link in k.links(netns=sb.name):
        if link.owner in (None, sb.id):
            continue  # unmarked, or the namespace's own mark: neither orphan nor parked
        own = own if own is not None else {e.id for e in state.endpoints_in(sb)}
        if link.owner in own:
            continue
        if ids is None:
            ids = _ids(ctx, state)
            parked = {e.id: e for e in state.endpoints if e.sandbox is None and e.sandbox_ifname}
        if is_orphan(link, ids, state.state_id):
            k.link_delete(link.name, netns=sb.name)
        elif link.owner in parked and k.link_get(parked[link.owner].sandbox_ifname) is None:
            k.link_move(link.name, src=sb.name, dst=None, new_name=parked[link.owner].sandbox_ifname)
        else:
            continue
        done.append(link.name)
    return done


def clear_bridges(ctx: Context, state: State) -> list[str]:
    """Delete orphan bridges: a killed ``network create`` leaves one carrying the gateway
    address, whose route would make the same subnet look taken by the host."""
    ids = _ids(ctx, state)
    gone = [x.name for x in ctx.kernel.links() if x.kind == "bridge" and is_orphan(x, ids, state.state_id)]
    for name in gone:
        ctx.kernel.link_delete(name)
    return gone


def clear_namespace(ctx: Context, state: State, name: str) -> bool:
    """Remove namespace NAME if it is a netctl leftover; False if it is not (or absent)."""
    k = ctx.kernel
    if name in {s.name for s in state.sandboxes} or not k.netns_exists(name):
        return False
    if not is_orphan(k.link_get("lo", netns=name), _ids(ctx, state), state.state_id):
        return False
    k.netns_delete(name)
    remove_sandbox_files(name)
    return True


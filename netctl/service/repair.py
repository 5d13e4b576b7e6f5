"""Making the kernel match the state: ``check --repair``, ``restore`` and ``gc``.

One reconciler serves all three, in the order of spec §12: bridges re-created/re-addressed
(re-running the driver's idempotent create) → sandboxes whose namespace is gone → endpoints
re-plumbed with their recorded names, MAC and addresses → default routes re-elected →
orphans deleted → /etc/netns files re-rendered (Context.mutation does that on the way out).
The one policy difference is a sandbox whose namespace is gone: ``repair`` and ``gc`` take
it as a dead container and drop it with its endpoints (libnetwork's sandboxCleanup), while
``restore`` (after a reboot) re-creates the namespace; an adopted namespace (service/adopt.py)
is never re-created: all three drop its sandbox when it is gone or its process exited.

Each object is repaired in its own transaction: a failure undoes that object's steps, is
reported, and the rest still gets repaired.  Findings are re-read before every phase,
because an earlier phase changes what a later one sees (a re-created bridge has no ports).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import drift, etcfiles, hostsfile
from ..drivers.base import get_driver
from ..errors import Conflict, NetctlError
from ..model import Endpoint, Sandbox, State
from ..txn import Transaction
from . import adopt, check, gateway, hostnet, nsguard, sandboxes
from .context import Context


@dataclass
class Outcome:
    found: list[drift.Finding]  # before repairing
    remaining: list[drift.Finding]  # after
    failures: list[str] = field(default_factory=list)


def _attempt(what: str, fix: Callable[[Transaction], object], failures: list[str]) -> None:
    try:
        with Transaction() as tx:
            fix(tx)
    except NetctlError as exc:
        failures.append(f"{what}: {exc}")
        print(f"netctl: warning: could not repair {what}: {exc}", file=sys.stderr)


def _targets(ctx: Context, state: State, phase: str) -> list[drift.Finding]:
    seen: dict[tuple, drift.Finding] = {}
    for f in check.findings(ctx, state):
        if f.phase == phase:
            seen.setdefault((f.target, f.netns), f)
    return list(seen.values())


def _bridges(ctx: Context, state: State, failures: list[str]) -> None:
    """Bridges, and the parents of macvlan/ipvlan networks (an 802.1q one netctl made is
    re-created and brought up; one of the machine's that is gone is reported, not made)."""
    for f in _targets(ctx, state, drift.BRIDGE):
        net = next(n for n in state.networks if n.id == f.target)
        driver = get_driver(net.driver, ctx)
        fix = _rebridge if net.driver == "bridge" else lambda _c, d, n, tx: d.create_network(n, tx)
        _attempt(f.subject, lambda tx, n=net, d=driver, x=fix: x(ctx, d, n, tx), failures)


def _rebridge(ctx: Context, driver, net, tx: Transaction) -> None:
    """Re-create or re-address the network's bridge, unless the bridge now under its name is
    someone else's: netctl made this one (it was not adopted), so a bridge without its mark
    is not it, and taking it over would put the gateway on (and later take "up" off) a link
    netctl never made."""
    link = ctx.kernel.link_get(net.bridge)
    if link is not None and not net.bridge_adopted and link.owner != net.id:
        raise Conflict(f"{net.bridge} is not the bridge netctl made for network {net.name!r}: "
                       "netctl leaves it alone; remove it or the network by hand")
    driver.create_network(net, tx)


def _recreate_namespace(ctx: Context, sb: Sandbox, tx: Transaction) -> None:
    k = ctx.kernel
    mark = ctx.mark(sb.id)
    tx.step("netns-create", lambda: k.netns_create(sb.name, alias=mark),
            lambda: k.netns_delete(sb.name))
    etcfiles.make_sandbox_dir(sb.name)


def _sandboxes(ctx: Context, state: State, failures: list[str], recreate: bool) -> None:
    for f in _targets(ctx, state, drift.SANDBOX):
        sb = state.sandbox_by_id(f.target)
        exists = ctx.kernel.netns_exists(sb.name)
        if sb.adopted is not None:  # never re-created, not even by restore: see _adopted
            _attempt(f.subject, lambda tx, s=sb: _adopted(ctx, state, s, tx), failures)
        elif hostsfile.host_mode(state, sb) and (recreate if not exists else nsguard.ours(ctx.kernel, sb)):
            _attempt(f.subject, lambda tx, s=sb: hostnet.rebind(ctx, s, tx), failures)
        elif exists:  # someone else's namespace took the name
            _attempt(f.subject, lambda _tx, x=f: _refuse(x), failures)
        elif recreate:
            _attempt(f.subject, lambda tx, s=sb: _recreate_namespace(ctx, s, tx), failures)
        else:
            _attempt(f.subject, lambda tx, s=sb: sandboxes.destroy(ctx, state, s, tx), failures)


def _adopted(ctx: Context, state: State, sb: Sandbox, tx: Transaction) -> None:
    """An adopted namespace whose process exited, or that is gone (after a reboot, with its
    container), is dropped as a dead container is: an empty namespace made in its place
    would be a sandbox nobody runs in.  One that something else replaced is refused.  One
    whose bind alone went while its process runs on in it is bound again (adopt.rebindable)."""
    k = ctx.kernel
    if k.netns_exists(sb.name) and not nsguard.ours(k, sb):
        raise Conflict(f"namespace /run/netns/{sb.name} is not the one netctl adopted: "
                       "netctl leaves it alone; remove the sandbox by hand (sandbox rm -f)")
    path = None if k.netns_exists(sb.name) else adopt.rebindable(ctx, sb)
    if path is None:
        sandboxes.destroy(ctx, state, sb, tx)
        return
    ino, cookie = sb.adopted["ino"], sb.adopted["cookie"]  # the process runs on: bind it again
    tx.step("netns-adopt", lambda: k.netns_adopt(sb.name, path, ino, cookie), lambda: k.netns_delete(sb.name))


def _refuse(f: drift.Finding) -> None:
    raise Conflict(f"{f.problem}: netctl leaves it alone; remove it or the sandbox by hand")


def replumb(ctx: Context, state: State, ep: Endpoint, tx: Transaction) -> None:
    """Delete what is left of the endpoint's veth pair (only links marked as its own) and
    create it again with the same names, MAC and addresses: parked in the host namespace,
    or, when joined, born inside the sandbox as its ``eth<n>``."""
    k = ctx.kernel
    net = state.network_by_id(ep.network)
    sb = state.sandbox_by_id(ep.sandbox) if ep.sandbox else None
    if sb is not None and ep.ifname:
        nsguard.require(k, sb)
    ends = [(ep.host_ifname, None), (ep.sandbox_ifname, None)]
    if sb is not None and ep.ifname:
        ends.append((ep.ifname, sb.name))
    for name, netns in ends:
        link = k.link_get(name, netns=netns) if name else None
        if link is not None and link.owner == ep.id:
            k.link_delete(name, netns=netns)
    get_driver(net.driver, ctx).create_endpoint(net, ep, tx, into=sb if ep.ifname else None)


def _endpoints(ctx: Context, state: State, failures: list[str]) -> None:
    for f in _targets(ctx, state, drift.ENDPOINT):
        ep = next(e for e in state.endpoints if e.id == f.target)
        _attempt(f.subject, lambda tx, e=ep: replumb(ctx, state, e, tx), failures)


def _routes(ctx: Context, state: State, failures: list[str]) -> None:
    for f in _targets(ctx, state, drift.ROUTE):
        sb = state.sandbox_by_id(f.target)
        _attempt(f.subject, lambda tx, s=sb: _reroute(ctx, state, s, tx), failures)


def _reroute(ctx: Context, state: State, sb: Sandbox, tx: Transaction) -> None:
    nsguard.require(ctx.kernel, sb)
    gateway.apply(ctx.kernel, state, sb, tx)


def _delete_orphan(ctx: Context, state: State, f: drift.Finding) -> None:
    """Look again right before deleting: only a marked link with no owner may go."""
    k, ids, sid = ctx.kernel, drift.object_ids(state), state.state_id
    if f.kind == "netns":
        if k.netns_exists(f.target) and drift.is_orphan(k.link_get("lo", netns=f.target), ids, sid):
            k.netns_delete(f.target)
            etcfiles.remove_sandbox_files(f.target)
    elif drift.is_orphan(k.link_get(f.target, netns=f.netns), ids, sid):
        k.link_delete(f.target, netns=f.netns)


def _orphans(ctx: Context, state: State, failures: list[str]) -> None:
    for f in _targets(ctx, state, drift.ORPHAN):
        _attempt(f.subject, lambda _tx, x=f: _delete_orphan(ctx, state, x), failures)


def _firewall(ctx: Context, state: State, failures: list[str]) -> None:
    """Rebuild netctl's nftables tables from the state in one batch (after a reboot the
    ruleset is empty; after an edit by hand it differs)."""
    from ..firewall import sync

    if _targets(ctx, state, drift.FIREWALL):
        _attempt("firewall", lambda tx: sync.sync(ctx, state, tx), failures)


def reconcile(ctx: Context, recreate_sandboxes: bool) -> Outcome:
    """Fix every finding in §12 order; nothing at all happens when nothing differs."""
    failures: list[str] = []
    ctx.refresh_all = True  # every sandbox's files: the host's resolv.conf may have changed
    with ctx.mutation() as (state, _tx):
        found = check.findings(ctx, state)
        if any(f.phase != drift.FILE for f in found):
            _bridges(ctx, state, failures)
            _sandboxes(ctx, state, failures, recreate_sandboxes)
            _endpoints(ctx, state, failures)
            _routes(ctx, state, failures)
            _orphans(ctx, state, failures)
            _firewall(ctx, state, failures)
        for sb in state.sandboxes:  # temps a killed file write left (the files follow on the way out)
            if nsguard.ours(ctx.kernel, sb):
                etcfiles.sweep_sandbox_files(sb.name)
    return Outcome(found, check.check(ctx), failures)


def stale_sandboxes(ctx: Context, state: State) -> list[Sandbox]:
    """Namespace gone, or (adopted from a process) the process exited; not an adopted
    process's namespace that only lost its bind (check --repair binds it again)."""
    return [sb for sb in state.sandboxes
            if adopt.process_exited(sb)
            or not ctx.kernel.netns_exists(sb.name) and adopt.rebindable(ctx, sb) is None]


def gc(ctx: Context, dry_run: bool = False) -> list[str]:
    """Drop sandboxes whose namespace is gone, with their endpoints (and so addresses)."""
    if dry_run:
        return [sb.name for sb in stale_sandboxes(ctx, ctx.read())]
    with ctx.mutation() as (state, tx):
        stale = stale_sandboxes(ctx, state)
        for sb in stale:
            sandboxes.destroy(ctx, state, sb, tx)
    return [sb.name for sb in stale]

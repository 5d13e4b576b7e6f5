"""``netctl check``: read the kernel and /etc/netns into facts and compare them with state.

The comparison itself is pure (drift.py); this module does the reading.  It runs under the
state lock even when it only reports, so a half-done operation of another netctl (its links
exist, its state is not saved yet) is never mistaken for drift or, worse, for an orphan.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from .. import drift, etcfiles
from ..errors import KernelError, NetctlError, PermissionDenied
from ..kernel.base import Route
from ..model import State
from . import adopt, gateway, nsguard
from .context import Context


def read_facts(ctx: Context, state: State) -> drift.Facts:
    k = ctx.kernel
    sandboxes = {s.name for s in state.sandboxes}
    views: dict[str, drift.NetnsView] = {}
    for name in k.netns_list():
        if k.netns_borrowed(name):  # a symlink, or the host's own namespace: no sandbox
            views[name] = drift.NetnsView({})
            continue
        try:
            links = {link.name: link for link in k.links(netns=name)}
            routes = k.routes(netns=name) if name in sandboxes else []
        except KernelError:
            continue  # vanished while we looked: as good as absent
        views[name] = drift.NetnsView(links, routes)
    files = {sb.name: {f: etcfiles.read_sandbox_file(sb.name, f) for f in drift.FILES}
             for sb in state.sandboxes}
    host = {link.name: link for link in k.links()}
    for (netns, name), mark in ctx.unmarked.items():  # as the next change will mark them
        links = host if netns is None else views.get(netns, drift.NetnsView({})).links
        if name in links:
            links[name] = replace(links[name], alias=mark)
    bound = {name for name in views if name in sandboxes and k.netns_is_host(name)}
    facts = drift.Facts(host, views, files, etcfiles.host_resolv_text(), bound, etcfiles.host_hosts_text())
    adopted = [sb for sb in state.sandboxes if sb.adopted is not None]
    facts.adopted = {sb.name for sb in adopted if sb.name in views and nsguard.is_adopted(k, sb)}
    facts.exited = {sb.name for sb in adopted if adopt.process_exited(sb)}
    return facts


def wanted_routes(state: State, facts: drift.Facts | None = None) -> dict[str, list[Route]]:
    """The default routes each sandbox should have; in an adopted namespace only those
    through netctl's interfaces, and none of a family the namespace routes itself (the
    routes in ``facts`` are narrowed to netctl's to match: see gateway.own_defaults)."""
    wanted = {sb.id: gateway.wanted_routes(state, sb) for sb in state.sandboxes}
    for sb in state.sandboxes:
        view = facts.netns.get(sb.name) if facts is not None and sb.adopted is not None else None
        if view is not None:
            mine = {n for n, x in view.links.items() if x.owner is not None and x.state_id == state.state_id}
            defaults = [r for r in view.routes if r.dst == "default"]
            ours, wanted[sb.id] = gateway.own_defaults(defaults, wanted[sb.id], mine)
            view.routes = [r for r in view.routes if r.dst != "default"] + ours
    return wanted


def findings(ctx: Context, state: State) -> list[drift.Finding]:
    """Every difference between ``state`` and the kernel now (the caller holds the lock)."""
    facts = read_facts(ctx, state)
    found = drift.compare(state, facts, wanted_routes(state, facts))
    return found + firewall_findings(ctx, state)


def firewall_findings(ctx: Context, state: State) -> list[drift.Finding]:
    from ..firewall import sync

    return [drift.Finding(drift.FIREWALL, "firewall", "firewall", problem)
            for problem in sync.drift(ctx, state)]


def warn_foreign_drops(ctx: Context) -> None:
    """Another table's forward base chain with policy drop defeats netctl's rules: say so."""
    from ..firewall import sync

    try:
        chains = sync.foreign_drops(ctx)
    except NetctlError as exc:
        print(f"netctl: warning: could not list nftables chains: {exc}", file=sys.stderr)
        return
    for chain in chains:
        print(f"netctl: warning: {chain} drops forwarded traffic by policy (hook forward, policy "
              "drop): sandboxes cannot reach the outside; accept netctl's bridges there (e.g. "
              "iifname \"br-*\" accept; oifname \"br-*\" ct state established,related accept) "
              "or let that firewall's owner do it", file=sys.stderr)


def check(ctx: Context) -> list[drift.Finding]:
    """Report only: nothing is changed (but looking inside namespaces needs root too)."""
    try:
        ctx.require_privilege()
    except PermissionDenied:
        raise PermissionDenied("check looks inside the sandboxes' namespaces, which needs root "
                               "(CAP_SYS_ADMIN); run it with sudo") from None
    with ctx.locked(changing=False) as state:
        found = findings(ctx, state)
    warn_foreign_drops(ctx)
    return found

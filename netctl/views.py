"""The JSON shapes of networks, endpoints and sandboxes (snake_case, stable keys).

``ls --format json``, ``inspect`` and templates all read these dicts, so a field has one name
everywhere.  Pure functions of the state; a listing passes one ``Index`` for all its rows
(each row's lookups are then dict reads, not scans of the state's lists).
"""

from __future__ import annotations

from typing import Any

from .model import Endpoint, Index, Network, Sandbox, State


def endpoint(state: State, ep: Endpoint, index: Index | None = None) -> dict[str, Any]:
    if index is not None:
        sb, net = index.sandboxes.get(ep.sandbox or ""), index.networks[ep.network]
    else:
        sb = state.sandbox_by_id(ep.sandbox) if ep.sandbox else None
        net = state.network_by_id(ep.network)
    return {
        "name": ep.name,
        "id": ep.id,
        "network": net.name,
        "network_id": ep.network,
        "sandbox": sb.name if sb else None,
        "ifname": ep.ifname,
        "host_ifname": ep.host_ifname,
        "sandbox_ifname": ep.sandbox_ifname,
        "mac": ep.mac,
        "ipv4": ep.ipv4,
        "ipv6": ep.ipv6,
        "link_local": list(ep.link_local),
        "aliases": list(ep.aliases),
        "priority": ep.priority,
        "ports": ports_shown(ep),
        "created": ep.created,
    }


def ports_shown(ep: Endpoint) -> list[str]:
    """The endpoint's published ports as ``docker port`` prints them."""
    if not ep.ports:
        return []
    from .firewall.ports import load

    return [load(text).shown for text in ep.ports]


def network(state: State, net: Network, index: Index | None = None) -> dict[str, Any]:
    index = index or Index(state)
    eps = index.on_network(net.id)
    return {
        "name": net.name,
        "id": net.id,
        "driver": net.driver,
        "created": net.created,
        "bridge": net.bridge,
        "bridge_adopted": net.bridge_adopted,
        "ipv6": net.ipv6,
        "internal": net.internal,
        "subnets": [
            {"subnet": s.subnet, "gateway": s.gateway, "ip_range": s.ip_range,
             "aux_addresses": dict(s.aux_addresses)}
            for s in sorted(net.subnets, key=lambda s: ":" in s.subnet)  # IPv4 first, as allocated (§2)
        ],
        "labels": dict(net.labels),
        "options": dict(net.options),
        "endpoint_count": len(eps),
        "endpoints": {
            e.name: {k: v for k, v in endpoint(state, e, index).items() if k not in ("network", "network_id")}
            for e in eps
        },
    }


def sandbox(state: State, sb: Sandbox, index: Index | None = None) -> dict[str, Any]:
    index = index or Index(state)
    eps = index.in_sandbox(sb.id)
    return {
        "name": sb.name,
        "id": sb.id,
        "created": sb.created,
        "hostname": sb.hostname or sb.name,
        "netns": f"/run/netns/{sb.name}",
        "dns": list(sb.dns),
        "dns_search": list(sb.dns_search),
        "dns_options": list(sb.dns_options),
        "extra_hosts": list(sb.extra_hosts),
        "labels": dict(sb.labels),  # apply's netctl.project
        "adopted": sb.adopted is not None,  # a namespace netctl did not make (--netns/--pid)
        "pid": (sb.adopted or {}).get("pid"),  # the adopted process
        "hosts_file": sb.hosts_file,
        "endpoints": [
            {"name": e.name, "network": index.networks[e.network].name, "ifname": e.ifname,
             "ipv4": e.ipv4, "ipv6": e.ipv6, "mac": e.mac}
            for e in eps
        ],
    }

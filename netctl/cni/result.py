"""The spec's Result for one attachment, built from netctl's state (pure).

interfaces: the host end of the veth pair (bridge networks), then the interface in the container (with
``sandbox``, the CNI_NETNS path); ips: the endpoint's addresses with ``interface`` pointing at
the container's interface and the network's gateway; routes: the default routes netctl gave
the sandbox when this attachment carries them (service/gateway.py elects one); dns: the
configuration's ``dns`` as given.  A ``prevResult`` (netctl not first in a chain) keeps its
entries, netctl's are appended with their indexes shifted.
"""

from __future__ import annotations

from typing import Any

from ..model import Endpoint, Network


def build(version: str, net: Network, ep: Endpoint, netns: str, default_routes: bool,
          dns: Any = None, prev: dict | None = None) -> dict:
    prev = prev or {}
    interfaces = list(prev.get("interfaces") or [])
    if ep.host_ifname:  # a veth's host end; a macvlan/ipvlan endpoint has none
        interfaces.append({"name": ep.host_ifname})
    index = len(interfaces)  # the container interface's, appended next
    inside = {"name": ep.ifname or "", "sandbox": netns}
    if ep.mac:
        inside["mac"] = ep.mac
    interfaces.append(inside)
    ips = list(prev.get("ips") or [])
    routes = list(prev.get("routes") or [])
    for family, cidr in ((4, ep.ipv4), (6, ep.ipv6)):
        if not cidr:
            continue
        sub = net.subnet_for(family)
        entry: dict[str, Any] = {"address": cidr, "interface": index}
        if sub is not None and sub.gateway:
            entry["gateway"] = sub.gateway
            if default_routes:
                routes.append({"dst": "0.0.0.0/0" if family == 4 else "::/0", "gw": sub.gateway})
        ips.append(entry)
    out: dict[str, Any] = {"cniVersion": version, "interfaces": interfaces, "ips": ips}
    if routes:
        out["routes"] = routes
    out["dns"] = dns if isinstance(dns, dict) else (prev.get("dns") or {})
    return out


def mismatches(result: dict, expected: dict) -> list[str]:
    """What CHECK finds wrong in ``prevResult`` against what netctl would answer now:
    the container interface, its addresses and gateways."""
    problems = []
    want_if = expected["interfaces"][-1]
    have = {(i.get("name"), i.get("sandbox")) for i in result.get("interfaces") or [] if isinstance(i, dict)}
    if (want_if["name"], want_if["sandbox"]) not in have:
        problems.append(f"prevResult has no interface {want_if['name']} in {want_if['sandbox']}")
    have_ips = {(i.get("address"), i.get("gateway")) for i in result.get("ips") or [] if isinstance(i, dict)}
    for ip in expected["ips"]:
        if (ip["address"], ip.get("gateway")) not in have_ips:
            problems.append(f"prevResult lacks address {ip['address']}")
    return problems

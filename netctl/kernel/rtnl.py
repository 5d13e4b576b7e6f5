"""Pure conversions between netctl's values and rtnetlink message fields.

Kept apart from netlink.py so the request logic there stays short; nothing here imports
pyroute2 (the messages are only read through their ``get``/``[]`` interface).
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from netctl import errors
from netctl.kernel.base import Link, Route

IFF_UP = 0x1
SCOPES = {0: "universe", 200: "site", 253: "link", 254: "host"}


def family(dst: str, gateway: str | None) -> int:
    probe = gateway if dst == "default" else dst
    if probe is None:
        return socket.AF_INET
    try:
        version = ipaddress.ip_network(probe, strict=False).version
    except ValueError:
        raise errors.KernelError(f"invalid route {dst}", errno.EINVAL) from None
    return socket.AF_INET6 if version == 6 else socket.AF_INET


def interface(cidr: str, what: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    try:
        return ipaddress.ip_interface(cidr)
    except ValueError:
        raise errors.KernelError(f"{what}: invalid address", errno.EINVAL) from None


def addresses(msgs: tuple) -> dict[int, list[str]]:
    by_index: dict[int, list[str]] = {}
    for m in msgs:
        ip = m.get("local") or m.get("address")  # IFA_LOCAL is ours on point-to-point v4
        by_index.setdefault(m["index"], []).append(f"{ip}/{m['prefixlen']}")
    return by_index


def link(msg, names: dict[int, str | None], addrs: dict[int, list[str]]) -> Link:
    info = msg.get("IFLA_LINKINFO")
    master = msg.get("master")
    return Link(
        name=msg.get("ifname"),
        index=msg["index"],
        kind=(info.get("IFLA_INFO_KIND") if info else None) or "",
        mac=msg.get("address") or "",
        mtu=msg.get("mtu") or 0,
        up=bool(msg["flags"] & IFF_UP),
        master=names.get(master) if master else None,
        alias=msg.get("ifalias") or None,
        addresses=tuple(addrs.get(msg["index"], ())),
        lower=msg.get("link") or None,
    )


def route(msg, names: dict[int, str]) -> Route:
    family = 6 if msg["family"] == socket.AF_INET6 else 4
    dst = "default" if msg["dst_len"] == 0 else f"{msg.get('dst')}/{msg['dst_len']}"
    oif = msg.get("oif")
    return Route(
        dst=dst,
        gateway=msg.get("gateway"),
        dev=names.get(oif) if oif else None,
        scope=SCOPES.get(msg["scope"], str(msg["scope"])),
        family=family,
    )

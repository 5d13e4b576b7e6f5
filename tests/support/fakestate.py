"""The FakeKernel's world: namespaces, links and explicit routes, their JSON file, and
the derived facts (connected routes) that the fake's operations build on."""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import re
from dataclasses import dataclass, field

from netctl import errors
from netctl.kernel.base import Link

HOST = ""  # key of the namespace the process runs in
LOOPBACK = ("127.0.0.1/8", "::1/128")
MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")


@dataclass
class FLink:
    name: str
    index: int
    kind: str
    mac: str
    mtu: int = 1500
    up: bool = False
    master: str | None = None
    alias: str | None = None
    addresses: list[str] = field(default_factory=list)
    peer: list[str] | None = None  # [netns key, name] of the other veth end
    hairpin: bool = False
    ipv6: bool = True


@dataclass
class FNetns:
    ipv6: bool  # what new or moved-in links get (netctl's namespaces: off)
    links: dict[str, FLink] = field(default_factory=dict)
    routes: list[dict] = field(default_factory=list)  # routes added explicitly


def fail(what: str, code: int, detail: str | None = None) -> errors.KernelError:
    return errors.KernelError(f"{what}: {detail or os.strerror(code)}", code)


def check_names(what: str, *names: str) -> None:
    """The kernel's limits: IFNAMSIZ (ERANGE beyond 15 bytes)."""
    if any(len(n.encode()) > 15 for n in names):
        raise fail(what, errno.ERANGE)


def check_mac(what: str, mac: str | None) -> None:
    if mac is not None and not MAC.fullmatch(mac):
        raise fail(what, errno.EINVAL, f"invalid argument ({mac})")


def random_mac() -> str:
    return "02:" + ":".join(f"{b:02x}" for b in os.urandom(5))


class FakeState:
    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = os.fspath(path) if path is not None else None
        self._seen: tuple[int, int, int] | None = None
        self._reset()
        self._sync()

    def _reset(self) -> None:
        self._ns: dict[str, FNetns] = {HOST: FNetns(ipv6=True)}
        self._host_bound: set[str] = set()  # names bound to the host's namespace
        self._next_index = 1
        self._add(HOST, "lo", kind="", mac="00:00:00:00:00:00", mtu=65536, up=True)
        self._ns[HOST].links["lo"].addresses = list(LOOPBACK)

    # --- persistence ---
    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._path)  # type: ignore[arg-type]
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _sync(self) -> None:
        if self._path is None or self._stamp() == self._seen:
            return
        self._seen = self._stamp()
        if self._seen is None or self._seen[2] == 0:
            return self._reset()
        with open(self._path) as f:
            data = json.load(f)
        if data.get("version") != 1:
            raise ValueError(f"{self._path}: not a FakeKernel file of version 1")
        self._next_index = data["next_index"]
        self._host_bound = set(data.get("host_bound", []))
        self._ns = {}
        for key, ns in data["netns"].items():
            links = {d["name"]: FLink(**d) for d in ns["links"]}
            self._ns[key] = FNetns(ipv6=ns["ipv6"], links=links, routes=ns["routes"])

    def _save(self) -> None:
        if self._path is None:
            return
        # vars(), not dataclasses.asdict (a deep copy), and no indent (which forces json's
        # pure-Python encoder): an apply of 200 sandboxes saves ~1,200 times
        netns = {
            key: {"ipv6": ns.ipv6, "routes": ns.routes, "links": [vars(x) for x in ns.links.values()]}
            for key, ns in self._ns.items()
        }
        text = json.dumps({"version": 1, "next_index": self._next_index, "netns": netns,
                           "host_bound": sorted(self._host_bound)})
        tmp = f"{self._path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self._path)
        self._seen = self._stamp()

    # --- lookups ---
    def _netns(self, netns: str | None, what: str) -> FNetns:
        ns = self._ns.get(HOST if netns is None or netns in self._host_bound else netns)
        if ns is None:
            raise fail(what, errno.ENOENT, f"network namespace {netns} not found")
        return ns

    def _link(self, name: str, netns: str | None, what: str) -> FLink:
        link = self._netns(netns, what).links.get(name)
        if link is None:
            raise fail(what, errno.ENODEV, f"no such device {name}")
        return link

    def _add(self, netns: str, name: str, **attrs) -> FLink:
        if name == "lo":
            index = 1
        else:
            self._next_index += 1
            index = self._next_index
        link = FLink(name=name, index=index, ipv6=self._ns[netns].ipv6 or name == "lo", **attrs)
        self._ns[netns].links[name] = link
        return link

    def _detach(self, key: str, link: FLink) -> bool:
        """Take a link out of namespace KEY with what hangs on it there: its routes, its ports,
        its own port membership (the bridge's MTU then follows its remaining ports)."""
        ns = self._ns[key]
        if ns.links.pop(link.name, None) is None:
            return False
        ns.routes = [r for r in ns.routes if r["dev"] != link.name]
        for other in ns.links.values():
            if other.master == link.name:
                other.master = None
        master, link.master = link.master, None
        self._bridge_mtu(key, master)
        return True

    def _bridge_mtu(self, key: str, bridge: str | None) -> None:
        """The kernel sets a bridge's MTU to its ports' smallest when one joins or leaves
        (1500 once none is left), even when an MTU was given at creation."""
        ns = self._ns[key]
        if bridge is None or bridge not in ns.links:
            return
        mtus = [x.mtu for x in ns.links.values() if x.master == bridge]
        ns.links[bridge].mtu = min(mtus) if mtus else 1500

    def _drop(self, key: str, link: FLink) -> None:
        """Remove a link and its veth peer, wherever that is."""
        if not self._detach(key, link):
            return
        if link.peer and link.peer[0] in self._ns:
            peer = self._ns[link.peer[0]].links.get(link.peer[1])
            if peer is not None:
                self._drop(link.peer[0], peer)

    def _check_master(self, master: str, what: str) -> None:
        if self._link(master, None, what).kind != "bridge":
            raise fail(what, errno.EOPNOTSUPP)

    def _connected(self, ns: FNetns) -> list[dict]:
        found: dict[tuple, dict] = {}
        for link in ns.links.values():
            if not link.up or link.name == "lo":
                continue
            for text in link.addresses:
                net = ipaddress.ip_interface(text).network
                if net.version == 4 and net.prefixlen == 32:
                    continue  # the kernel adds no prefix route for a v4 /32
                scope = "link" if net.version == 4 else "universe"
                route = {
                    "dst": str(net),
                    "gateway": None,
                    "dev": link.name,
                    "scope": scope,
                    "family": net.version,
                }
                found.setdefault((route["dst"], link.name), route)
        return list(found.values())

    def _gateway_dev(self, ns: FNetns, gateway: str, dev: str | None, what: str) -> str:
        ip = ipaddress.ip_address(gateway)
        for route in self._connected(ns):
            if (dev is None or route["dev"] == dev) and ip in ipaddress.ip_network(route["dst"]):
                return route["dev"]
        raise fail(what, errno.ENETUNREACH)


def public(link: FLink) -> Link:
    return Link(
        name=link.name,
        index=link.index,
        kind=link.kind,
        mac=link.mac,
        mtu=link.mtu,
        up=link.up,
        master=link.master,
        alias=link.alias,
        addresses=tuple(link.addresses),
    )


def interface(cidr: str, what: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    try:
        return ipaddress.ip_interface(cidr)
    except ValueError:
        raise fail(what, errno.EINVAL, "invalid address") from None


def route_family(dst: str, gateway: str | None) -> int:
    probe = gateway if dst == "default" else dst
    return 4 if probe is None else ipaddress.ip_network(probe, strict=False).version


def route_key(dst: str, gateway: str | None, what: str) -> str:
    try:
        if gateway:
            ipaddress.ip_address(gateway)
        return dst if dst == "default" else str(ipaddress.ip_network(dst))
    except ValueError:
        raise fail(what, errno.EINVAL) from None


def route_order(route: dict) -> tuple:
    if route["dst"] == "default":
        return (route["family"], 0, 0)
    net = ipaddress.ip_network(route["dst"])
    return (route["family"], 1, int(net.network_address), net.prefixlen)

"""FakeKernel: the Kernel protocol in memory, with the semantics the real kernel showed.

Unit tests and the CLI's subprocess tests run on it without root. What it mimics was read
off the real kernel (tests/integration/test_kernel_contract.py runs one scenario on both):
EEXIST/ENODEV/ENOENT/ENETUNREACH/ENETDOWN where the kernel returns them, a new namespace
with ``lo`` up and IPv6 off for everything else, veth pairs dying together, a link losing
its addresses, master and routes when it moves, connected routes that follow addresses on
up links, and IPv6 addresses dropped when a link goes down.

With ``path`` the state lives in a JSON file, re-read when another process changed it and
written after every successful change, so consecutive ``netctl`` invocations share it.
"""

from __future__ import annotations

import errno
import functools
import ipaddress

from netctl.kernel.base import Link, Route
from support.fakestate import (
    HOST,
    LOOPBACK,
    FakeState,
    FNetns,
    check_mac,
    check_names,
    fail,
    interface,
    public,
    random_mac,
    route_family,
    route_key,
    route_order,
)


def _mutating(method):
    @functools.wraps(method)
    def wrapper(self: FakeKernel, *args, **kwargs):
        self._sync()
        result = method(self, *args, **kwargs)
        self._save()
        return result

    return wrapper


def _reading(method):
    @functools.wraps(method)
    def wrapper(self: FakeKernel, *args, **kwargs):
        self._sync()
        return method(self, *args, **kwargs)

    return wrapper


class FakeKernel(FakeState):
    # --- named network namespaces ---
    @_reading
    def netns_list(self) -> list[str]:
        return sorted({k for k in self._ns if k != HOST} | self._host_bound)

    @_reading
    def netns_exists(self, name: str) -> bool:
        return name != HOST and (name in self._ns or name in self._host_bound)

    @_mutating
    def netns_bind_host(self, name: str) -> None:
        if self.netns_exists(name):
            raise fail(f"bind network namespace {name} to the host's", errno.EEXIST)
        self._host_bound.add(name)

    @_reading
    def netns_is_host(self, name: str) -> bool:
        return name in self._host_bound

    @_reading
    def netns_mark(self, name: str) -> str | None:
        lo = self._netns(name, f"get lo in network namespace {name}").links.get("lo")
        return lo.alias if lo else None

    @_reading
    def netns_borrowed(self, name: str) -> bool:
        return False  # a fake namespace is never a symlink nor the process's own

    @_mutating
    def netns_create(self, name: str, alias: str | None = None) -> None:
        what = f"create network namespace {name}"
        if not name or "/" in name or name in (".", ".."):
            raise fail(what, errno.EINVAL)
        if name in self._ns or name in self._host_bound:
            raise fail(what, errno.EEXIST)
        self._ns[name] = FNetns(ipv6=False)
        self._add(name, "lo", kind="", mac="00:00:00:00:00:00", mtu=65536, up=True, alias=alias)
        lo = self._ns[name].links["lo"]
        lo.ipv6, lo.addresses = False, [a for a in LOOPBACK if ":" not in a]

    @_mutating
    def netns_delete(self, name: str) -> None:
        self._host_bound.discard(name)  # only unbinds: the host's namespace stays
        if name == HOST or name not in self._ns:
            return
        for link in list(self._ns[name].links.values()):
            self._drop(name, link)
        del self._ns[name]

    # --- links ---
    @_reading
    def links(self, netns: str | None = None) -> list[Link]:
        ns = self._netns(netns, f"list links in {netns or 'host'}")
        return [public(x) for x in sorted(ns.links.values(), key=lambda x: x.index)]

    @_reading
    def link_get(self, name: str, netns: str | None = None) -> Link | None:
        link = self._netns(netns, f"get link {name}").links.get(name)
        return public(link) if link else None

    @_mutating
    def bridge_create(self, name: str, *, mac: str, alias: str, mtu: int | None = None) -> None:
        what = f"create bridge {name}"
        check_names(what, name)
        check_mac(what, mac)
        if name in self._ns[HOST].links:
            raise fail(what, errno.EEXIST)
        self._add(HOST, name, kind="bridge", mac=mac, alias=alias, mtu=mtu or 1500)

    @_mutating
    def veth_create(
        self,
        name: str,
        peer: str,
        *,
        alias: str,
        mtu: int | None = None,
        master: str | None = None,
        peer_netns: str | None = None,
        peer_mac: str | None = None,
    ) -> None:
        what, key = f"create veth {name}", peer_netns or HOST
        check_names(what, name, peer)
        check_mac(what, peer_mac)
        taken = self._netns(peer_netns, what).links
        if name in self._ns[HOST].links or peer in taken or (key == HOST and peer == name):
            raise fail(what, errno.EEXIST)
        if master:
            self._check_master(master, what)
        common = {"kind": "veth", "alias": alias, "mtu": mtu or 1500}
        self._add(HOST, name, mac=random_mac(), up=bool(master), master=master, peer=[key, peer], **common)
        self._bridge_mtu(HOST, master)
        self._add(key, peer, mac=peer_mac or random_mac(), peer=[HOST, name], **common)

    @_mutating
    def link_delete(self, name: str, netns: str | None = None) -> None:
        link = self._ns.get(netns or HOST, FNetns(True)).links.get(name)
        if link is not None:
            self._drop(netns or HOST, link)

    @_mutating
    def link_set_alias(self, name: str, alias: str, netns: str | None = None) -> None:
        self._link(name, netns, f"mark link {name}").alias = alias

    @_mutating
    def link_set_up(self, name: str, up: bool = True, netns: str | None = None) -> None:
        link = self._link(name, netns, f"set link {name} {'up' if up else 'down'}")
        link.up = up
        if not up:  # the kernel flushes routes via the link and (keep_addr_on_down=0) its IPv6
            ns = self._ns[netns or HOST]
            ns.routes = [r for r in ns.routes if r["dev"] != name]
            link.addresses = [a for a in link.addresses if ":" not in a]

    @_mutating
    def link_set_master(self, name: str, master: str | None) -> None:
        what = f"set master of {name}"
        link = self._link(name, None, what)
        if master:
            self._check_master(master, what)
        old, link.master = link.master, master
        self._bridge_mtu(HOST, old)
        self._bridge_mtu(HOST, master)

    @_mutating
    def link_set_hairpin(self, name: str, on: bool) -> None:
        link = self._link(name, None, f"set hairpin on {name}")
        if link.master is None:
            raise fail(f"set hairpin on {name}", errno.EOPNOTSUPP)
        link.hairpin = on

    @_mutating
    def link_set_mac(self, name: str, mac: str, netns: str | None = None) -> None:
        check_mac(f"set MAC of {name}", mac)
        self._link(name, netns, f"set MAC of {name}").mac = mac

    @_mutating
    def link_move(self, name: str, *, src: str | None, dst: str | None, new_name: str | None = None) -> None:
        what = f"move link {name} to {dst or 'host'}"
        link, target = self._link(name, src, what), self._netns(dst, what)
        new = new_name or name
        check_names(what, new)
        if name == "lo":  # the kernel pins loopback to its namespace
            raise fail(what, errno.EINVAL)
        if new in target.links:
            raise fail(what, errno.EEXIST)
        self._detach(src or HOST, link)
        link.name, link.up, link.addresses, link.ipv6 = new, False, [], target.ipv6
        target.links[new] = link
        if link.peer and link.peer[0] in self._ns:
            peer = self._ns[link.peer[0]].links.get(link.peer[1])
            if peer is not None:
                peer.peer = [dst or HOST, new]

    @_mutating
    def ipv6_enable(self, name: str, netns: str | None = None, on: bool = True) -> bool:
        link = self._link(name, netns, f"{'enable' if on else 'disable'} IPv6 on {name}")
        was_on, link.ipv6 = link.ipv6, on
        if not on:  # as the kernel: turning IPv6 off drops the link's IPv6 addresses
            link.addresses = [a for a in link.addresses if ":" not in a]
        elif name == "lo" and "::1/128" not in link.addresses:  # and turning it on gives lo ::1
            link.addresses.append("::1/128")
        return was_on

    # --- addresses and routes ---
    @_mutating
    def addr_add(self, name: str, cidr: str, netns: str | None = None, nodad: bool = False) -> None:
        what = f"add address {cidr} to {name}"
        iface = interface(cidr, what)
        link = self._link(name, netns, what)
        if iface.version == 6 and not link.ipv6:
            raise fail(what, errno.EACCES, f"IPv6 is disabled on {name}")
        text = f"{iface.ip}/{iface.network.prefixlen}"
        same = [a for a in link.addresses if a.split("/")[0] == str(iface.ip)]
        if text in same or (iface.version == 6 and same):
            raise fail(what, errno.EEXIST)
        link.addresses.append(text)

    @_mutating
    def addr_del(self, name: str, cidr: str, netns: str | None = None) -> None:
        iface = interface(cidr, f"delete address {cidr} from {name}")
        link = self._ns.get(netns or HOST, FNetns(True)).links.get(name)
        text = f"{iface.ip}/{iface.network.prefixlen}"
        if link is None or text not in link.addresses:
            return
        link.addresses.remove(text)
        if not any(ipaddress.ip_interface(a).version == iface.version for a in link.addresses):
            ns = self._ns[netns or HOST]  # the kernel flushes routes needing the last address
            ns.routes = [r for r in ns.routes if not (r["dev"] == name and r["family"] == iface.version)]

    @_reading
    def routes(self, netns: str | None = None) -> list[Route]:
        ns = self._netns(netns, f"list routes in {netns or 'host'}")
        return [Route(**r) for r in sorted(ns.routes + self._connected(ns), key=route_order)]

    @_mutating
    def route_add(
        self, dst: str, *, gateway: str | None = None, dev: str | None = None, netns: str | None = None
    ) -> None:
        what = f"add route {dst}" + (f" via {gateway}" if gateway else "")
        ns, key, family = self._netns(netns, what), route_key(dst, gateway, what), route_family(dst, gateway)
        link = self._link(dev, netns, what) if dev else None
        if gateway:
            dev = self._gateway_dev(ns, gateway, dev, what)
        elif link is None:
            raise fail(what, errno.ENODEV)
        elif family == 4 and not link.up:
            raise fail(what, errno.ENETDOWN)
        existing = ns.routes + (self._connected(ns) if family == 4 else [])
        if any(r["dst"] == key and r["family"] == family for r in existing):
            raise fail(what, errno.EEXIST)
        scope = "link" if not gateway and family == 4 else "universe"
        ns.routes.append({"dst": key, "gateway": gateway, "dev": dev, "scope": scope, "family": family})

    @_mutating
    def route_del(self, dst: str, *, gateway: str | None = None, dev: str | None = None,
                  netns: str | None = None) -> None:
        ns = self._ns.get(netns or HOST)
        if ns is None:
            return
        key, family = route_key(dst, gateway, f"delete route {dst}"), route_family(dst, gateway)
        for route in ns.routes:
            if (route["dst"] == key and route["family"] == family and gateway in (None, route["gateway"])
                    and dev in (None, route["dev"])):
                ns.routes.remove(route)
                return

    # --- test helpers ---
    @_mutating
    def add_link(
        self,
        name: str,
        *,
        netns: str | None = None,
        kind: str = "dummy",
        up: bool = True,
        addresses: tuple[str, ...] = (),
        mac: str | None = None,
        mtu: int = 1500,
        alias: str | None = None,
    ) -> None:
        """A link netctl did not make (a host uplink, a foreign bridge); its addresses bring
        their connected routes, e.g. to test subnet-overlap checks against the host."""
        ns = self._netns(netns, f"add link {name}")
        if name in ns.links:
            raise fail(f"add link {name}", errno.EEXIST)
        link = self._add(netns or HOST, name, kind=kind, mac=mac or random_mac(), mtu=mtu, up=up, alias=alias)
        link.ipv6 = True
        link.addresses = [str(ipaddress.ip_interface(a)) for a in addresses]

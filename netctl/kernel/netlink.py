"""The Kernel protocol over rtnetlink (pyroute2), without forking.

pyroute2's namespace helpers (``IPRoute(netns=...)``, ``netns.create``, even ``pushns(NAME)``
for a missing NAME) fork a helper process. Here a namespace is entered with ``setns`` on the
calling thread only long enough to open a netlink socket (which stays bound to the namespace
it was opened in) or to touch its /proc/sys; one socket per namespace is cached for the life
of the object. This is the only module of netctl that imports pyroute2.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress

from netctl import errors
from netctl.kernel import netns as ns
from netctl.kernel import rtnl
from netctl.kernel.base import Adoptee, Link, Route
from netctl.kernel.pyroute2_core import core
from netctl.txn import checkpoint

core()  # pyroute2 without its package __init__, which imports all of pyroute2 (see there)
import pyroute2.config.log  # noqa: E402,F401  (as that __init__ does first: the NullHandler)
from pyroute2.iproute import IPRoute  # noqa: E402
from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402

IFA_F_NODAD = 0x02
RT_TABLE_MAIN = 254
RTN_UNICAST = 1
RT_SCOPE_LINK = 253
SOL_NETLINK = 270  # socket.SOL_NETLINK is missing from older Pythons
NETLINK_GET_STRICT_CHK = 12
RT_SCOPE_NOWHERE = 255  # on delete: match any scope (else scope-link routes are "not found")


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    """Turn netlink/OS failures into netctl errors, branching on errno only."""
    try:
        yield
    except NetlinkError as exc:
        raise ns.kernel_error(what, exc.code) from exc
    except OSError as exc:
        raise ns.kernel_error(what, exc.errno or 0) from exc
    except ValueError as exc:  # pyroute2 refusing to encode, e.g. a malformed MAC
        raise errors.KernelError(f"{what}: invalid argument ({exc})", errno.EINVAL) from exc


@contextmanager
def _gone_ok(*codes: int) -> Iterator[None]:
    """Teardown must be able to finish: these errnos mean the thing is already gone."""
    try:
        yield
    except errors.KernelError as exc:
        if exc.errno not in codes:
            raise


def _addresses_of(ipr: IPRoute, index: int) -> list:
    """The addresses of one link, filtered by the kernel: pyroute2's ``addr("dump",
    index=...)`` asks for every address of the namespace and filters in Python, which with
    1,000 veths is ~1,000 messages decoded per call (most of a large destroy's time).  With
    NETLINK_GET_STRICT_CHK on the socket the kernel honours ``ifa_index`` in the request;
    the Python filter stays for a kernel that ignores it.  The option is turned off again,
    so every other request on the cached socket behaves as before."""
    ipr.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
    try:
        return list(ipr.addr("dump", index=index, dump_filter=lambda m: m["index"] == index))
    finally:
        ipr.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 0)


def _no_ra(bridge: str) -> None:
    """A bridge is a router's interface: it must not configure itself from RAs."""
    with suppress(FileNotFoundError):  # no IPv6 in this kernel
        ns.write_sysctl(f"/proc/sys/net/ipv6/conf/{bridge}/accept_ra", "0")


IPVLAN_MODES = {"l2": 0, "l3": 1, "l3s": 2}
IPVLAN_FLAGS = {"bridge": 0, "private": 1, "vepa": 2}


def _ipvlan_flags_attribute() -> None:
    """pyroute2 (0.9) knows IFLA_IPVLAN_MODE but not IFLA_IPVLAN_FLAGS (2, a u16 since
    Linux 4.15): add it to its ipvlan attribute table once, so the flag can be sent."""
    from pyroute2.netlink.rtnl.ifinfmsg.plugins import ipvlan

    if not any(entry[0] == "IFLA_IPVLAN_FLAGS" for entry in ipvlan.ipvlan.nla_map):
        ipvlan.ipvlan.nla_map = (*ipvlan.ipvlan.nla_map, ("IFLA_IPVLAN_FLAGS", "uint16"))


MAX_NETNS_SOCKETS = 32  # cached per-namespace sockets (see NetlinkKernel._keep)


class NetlinkKernel:
    def __init__(self) -> None:
        # "host" is the namespace this object was made in; moving a link back needs its fd.
        self._host_fd = os.open(ns.THREAD_NS, os.O_RDONLY | os.O_CLOEXEC)
        self._nsfs_dev = os.fstat(self._host_fd).st_dev
        self._socks: dict[str | None, tuple[int, IPRoute]] = {}

    def close(self) -> None:
        """Close every cached socket (each owns an asyncio event loop that must not be left
        to the interpreter's shutdown), the per-namespace ones included, then the host fd.
        A closed kernel can still be used: what it needs is opened again on demand (a test
        may hand one kernel to several CLI runs, and each run closes it at its end)."""
        socks, self._socks = list(self._socks.values()), {}
        for _, ipr in socks:
            with suppress(OSError):  # one failed close must not leave the others open
                ipr.close()
        if self._host_fd >= 0:
            os.close(self._host_fd)
            self._host_fd = -1

    @property
    def _home(self) -> int:
        """An fd of the host namespace (reopened after ``close``, from the host: this
        object only ever leaves it inside ``_inside``, which takes the fd first)."""
        if self._host_fd < 0:
            self._host_fd = os.open(ns.THREAD_NS, os.O_RDONLY | os.O_CLOEXEC)
        return self._host_fd

    def __enter__(self) -> NetlinkKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- namespace plumbing ---
    def _inside(self, netns: str | None) -> AbstractContextManager[None]:
        if netns is None:
            return nullcontext()
        return ns.entered(netns, self._nsfs_dev, self._home)

    def _ipr(self, netns: str | None) -> IPRoute:
        inode = 0 if netns is None else ns.inode(netns, self._nsfs_dev)
        if inode is None:
            raise errors.KernelError(f"network namespace {netns} not found", errno.ENOENT)
        cached = self._socks.pop(netns, None)
        if cached and cached[0] == inode:
            self._socks[netns] = cached  # most recently used last
            return cached[1]
        if cached:  # the name now points at a different (re-created) namespace
            cached[1].close()
        with self._inside(netns), _mapped(f"open netlink socket in {netns or 'host'}"):
            ipr = IPRoute()
        self._keep(netns, inode, ipr)
        return ipr

    def _keep(self, netns: str | None, inode: int, ipr: IPRoute) -> None:
        """Cache a namespace's socket, closing the least recently used beyond
        ``MAX_NETNS_SOCKETS``: each holds a few fds (socket, event loop), and pyroute2's
        select() fails on fds past FD_SETSIZE (1,024), which an apply of ~1,000 sandboxes
        that kept them all would reach."""
        self._socks[netns] = (inode, ipr)
        spare = [name for name in self._socks if name is not None]
        for name in spare[: max(0, len(spare) - MAX_NETNS_SOCKETS)]:
            with suppress(OSError):
                self._socks.pop(name)[1].close()

    def _index(self, name: str, netns: str | None, what: str) -> int:
        """if_nametoindex is an ioctl: ~100x cheaper than pyroute2 parsing a GETLINK reply."""
        with self._inside(netns):
            try:
                return socket.if_nametoindex(name)
            except OSError:
                raise errors.KernelError(f"{what}: no such device {name}", errno.ENODEV) from None

    def _drop_socket(self, netns: str) -> None:
        cached = self._socks.pop(netns, None)
        if cached:
            cached[1].close()

    # --- named network namespaces ---
    def netns_list(self) -> list[str]:
        return ns.names(self._nsfs_dev)

    def netns_exists(self, name: str) -> bool:
        return ns.inode(name, self._nsfs_dev) is not None

    def netns_mark(self, name: str) -> str | None:
        return ns.lo_alias(name, self._nsfs_dev, self._home)

    def netns_borrowed(self, name: str) -> bool:
        inode = ns.inode(name, self._nsfs_dev)
        return ns.is_link(name) or (inode is not None and inode in ns.home_inodes(self._home))

    def netns_create(self, name: str, alias: str | None = None) -> None:
        self._drop_socket(name)
        opened: list[IPRoute] = []

        def mark() -> None:
            """Runs on this thread inside the new namespace before it is mounted, so NAME
            never exists unmarked; the socket stays bound to it and is kept for later use."""
            with _mapped(f"mark network namespace {name}"):
                opened.append(IPRoute())
                if alias:
                    opened[0].link("set", ifname="lo", ifalias=alias)

        try:
            ns.create(name, self._nsfs_dev, self._home, prepare=mark)
        except BaseException:
            for ipr in opened:
                ipr.close()
            raise
        self._keep(name, ns.inode(name, self._nsfs_dev) or 0, opened[0])

    def netns_bind_host(self, name: str) -> None:
        self._drop_socket(name)
        ns.bind_host(name, self._nsfs_dev, self._home)

    def netns_is_host(self, name: str) -> bool:
        return ns.inode(name, self._nsfs_dev) == os.fstat(self._home).st_ino

    def netns_delete(self, name: str) -> None:
        self._drop_socket(name)
        ns.remove(name)

    # --- namespaces made by others (kernel/adoptns.py) ---
    def netns_probe(self, path: str) -> Adoptee:
        from netctl.kernel import adoptns

        fd = adoptns.open_source(path)
        try:
            ino, cookie = adoptns.identity(fd, self._nsfs_dev, self._home, path)
            home = ino in ns.home_inodes(self._home)
            return Adoptee(ino, cookie, home, () if home else self._links_of(fd, path))
        finally:
            os.close(fd)

    def _links_of(self, fd: int, what: str) -> tuple[Link, ...]:
        """The links of the namespace behind ``fd`` (a socket opened there for one dump)."""
        ns.setns(fd)
        try:
            with _mapped(f"open netlink socket in {what}"):
                ipr = IPRoute()
        finally:
            ns.setns(self._home)
        with ipr, _mapped(f"list links in {what}"):
            msgs = ipr.link("dump")
            names = {m["index"]: m.get("ifname") for m in msgs}
            return tuple(rtnl.link(m, names, {}) for m in msgs)

    def netns_adopt(self, name: str, path: str, ino: int, cookie: int) -> None:
        from netctl.kernel import adoptns

        self._drop_socket(name)
        fd = adoptns.open_source(path)
        try:
            if adoptns.identity(fd, self._nsfs_dev, self._home, path) != (ino, cookie):
                raise errors.Conflict(f"{path} changed while netctl looked at it")
            adoptns.bind(name, fd, self._nsfs_dev)
        finally:
            os.close(fd)

    def netns_identity(self, name: str) -> tuple[int, int] | None:
        from netctl.kernel import adoptns

        return adoptns.named(name, self._nsfs_dev, self._home)

    # --- links ---
    def links(self, netns: str | None = None) -> list[Link]:
        ipr = self._ipr(netns)
        with _mapped(f"list links in {netns or 'host'}"):
            msgs = ipr.link("dump")
            addrs = rtnl.addresses(ipr.addr("dump"))
        names = {m["index"]: m.get("ifname") for m in msgs}
        return [rtnl.link(m, names, addrs) for m in msgs]

    def link_get(self, name: str, netns: str | None = None) -> Link | None:
        ipr = self._ipr(netns)
        with _gone_ok(errno.ENODEV, errno.ERANGE), _mapped(f"get link {name}"):  # ERANGE: name too long
            msg = ipr.link("get", ifname=name)[0]
            addrs = rtnl.addresses(_addresses_of(ipr, msg["index"]))
            names = {msg["index"]: name}
            master = msg.get("master")
            if master:
                with self._inside(netns):
                    names[master] = socket.if_indextoname(master)
            return rtnl.link(msg, names, addrs)
        return None

    def bridge_create(self, name: str, *, mac: str, alias: str, mtu: int | None = None) -> None:
        ipr, what = self._ipr(None), f"create bridge {name}"
        with _mapped(what):
            ipr.link("add", ifname=name, kind="bridge", address=mac, **({"mtu": mtu} if mtu else {}))
        self._finish(name, what, "bridge-mark", lambda: ipr.link("set", ifname=name, ifalias=alias),
                     lambda: _no_ra(name))

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
        ipr, peer_ipr, what = self._ipr(None), self._ipr(peer_netns), f"create veth {name}"
        # txqlen 0 on the host end, as libnetwork (spec §5): a software link needs no qdisc queue
        spec: dict = {"ifname": name, "kind": "veth", "txqlen": 0, "peer": {"ifname": peer}}
        if mtu:
            spec["mtu"] = spec["peer"]["mtu"] = mtu
        if peer_mac:
            spec["peer"]["address"] = peer_mac
        if master:
            spec.update(master=self._index(master, None, what), state="up")
        fd = ns.open_fd(peer_netns, self._nsfs_dev) if peer_netns else None
        if fd is not None:  # born there: no move (an RCU grace period) and no rename needed
            spec["peer"]["net_ns_fd"] = fd
        try:
            with _mapped(what):
                ipr.link("add", **spec)
        finally:
            if fd is not None:
                os.close(fd)
        self._finish(
            name,
            what,
            "veth-mark",
            lambda: ipr.link("set", ifname=name, ifalias=alias),
            lambda: peer_ipr.link("set", ifname=peer, ifalias=alias),
        )

    def sublink_create(
        self,
        kind: str,
        name: str,
        *,
        parent: str,
        alias: str,
        mode: str,
        flag: str | None = None,
        mac: str | None = None,
        mtu: int | None = None,
        netns: str | None = None,
    ) -> None:
        what = f"create {kind} {name} on {parent}"
        spec: dict = {"ifname": name, "kind": kind, "link": self._index(parent, None, what)}
        if kind == "macvlan":
            spec["macvlan_mode"] = mode
        else:
            _ipvlan_flags_attribute()
            spec.update(ipvlan_mode=IPVLAN_MODES[mode], ipvlan_flags=IPVLAN_FLAGS[flag or "bridge"])
        spec.update({k: v for k, v in (("address", mac), ("mtu", mtu)) if v})
        self._add_in(spec, netns, what)
        target = self._ipr(netns)
        self._finish(name, what, f"{kind}-mark", lambda: target.link("set", ifname=name, ifalias=alias),
                     netns=netns)

    def _add_in(self, spec: dict, netns: str | None, what: str) -> None:
        """RTM_NEWLINK from the host's socket, so IFLA_LINK names a host link, with the new
        link born in ``netns`` (IFLA_NET_NS_FD): no move, no rename."""
        fd = ns.open_fd(netns, self._nsfs_dev) if netns else None
        if fd is not None:
            spec["net_ns_fd"] = fd
        try:
            with _mapped(what):
                try:
                    self._ipr(None).link("add", **spec)
                except NetlinkError as exc:
                    if exc.code != errno.EOPNOTSUPP:
                        raise
                    raise errors.KernelError(f"{what}: this kernel has no {spec['kind']} link type",
                                             errno.EOPNOTSUPP) from None
        finally:
            if fd is not None:
                os.close(fd)

    def vlan_create(self, name: str, *, parent: str, vid: int, alias: str) -> None:
        what = f"create VLAN {name} on {parent}"
        spec = {"ifname": name, "kind": "vlan", "link": self._index(parent, None, what), "vlan_id": vid}
        self._add_in(spec, None, what)
        ipr = self._ipr(None)
        self._finish(name, what, "vlan-mark", lambda: ipr.link("set", ifname=name, ifalias=alias))

    def link_kinds(self, kinds: tuple[str, ...]) -> set[str]:
        found: set[str] = set()
        with ns.scratch(self._home), _mapped("probe link types"):
            ipr = IPRoute()
            try:
                ipr.link("add", ifname="probe0", kind="veth", peer={"ifname": "probe1"})
                parent = ipr.link_lookup(ifname="probe0")[0]
                for n, kind in enumerate(kinds):
                    extra = {"link": parent} if kind in ("macvlan", "ipvlan", "vlan") else {}
                    extra.update({"vlan_id": 10} if kind == "vlan" else {})
                    with suppress(NetlinkError):
                        ipr.link("add", ifname=f"probe{n + 2}", kind=kind, **extra)
                        found.add(kind)
            finally:
                ipr.close()
        return found

    def _finish(self, name: str, what: str, point: str, *steps: Callable[[], object],
                netns: str | None = None) -> None:
        """The kernel ignores IFLA_IFALIAS on "add", so marking the owner is a second request;
        if it fails the new link is deleted again, so a failed create changed nothing.  A kill
        in between (``point``, a fault-injection checkpoint) leaves the link unmarked: the
        caller recorded it beforehand (service/intents.py), so the next netctl marks it."""
        try:
            checkpoint(point)
            with _mapped(what):
                for step in steps:
                    step()
            checkpoint(point, "after")
        except BaseException:
            self.link_delete(name, netns)
            raise

    def link_delete(self, name: str, netns: str | None = None) -> None:
        with _gone_ok(errno.ENODEV, errno.ENOENT):
            ipr = self._ipr(netns)
            with _mapped(f"delete link {name}"):
                ipr.link("del", ifname=name)

    def _set(self, name: str, netns: str | None, what: str, **attrs: object) -> None:
        ipr = self._ipr(netns)
        with _mapped(what):
            ipr.link("set", ifname=name, **attrs)

    def link_set_alias(self, name: str, alias: str, netns: str | None = None) -> None:
        self._set(name, netns, f"mark link {name}", ifalias=alias)

    def link_set_up(self, name: str, up: bool = True, netns: str | None = None) -> None:
        state = "up" if up else "down"
        self._set(name, netns, f"set link {name} {state}", state=state)

    def link_set_master(self, name: str, master: str | None) -> None:
        what = f"set master of {name}"
        index = self._index(master, None, what) if master else 0
        self._set(name, None, what, master=index)

    def link_set_hairpin(self, name: str, on: bool) -> None:
        # pyroute2 pitfall: brport(hairpin=1) is silently ignored; the NLA is IFLA_BRPORT_MODE.
        ipr, what = self._ipr(None), f"set hairpin on {name}"
        index = self._index(name, None, what)
        with _mapped(what):
            ipr.brport("set", index=index, mode=int(on))

    def link_set_mac(self, name: str, mac: str, netns: str | None = None) -> None:
        self._set(name, netns, f"set MAC of {name}", address=mac)

    def link_move(self, name: str, *, src: str | None, dst: str | None, new_name: str | None = None) -> None:
        ipr, what = self._ipr(src), f"move link {name} to {dst or 'host'}"
        index = self._index(name, src, what)
        target = new_name or name
        if self._has_link(target, dst):
            raise errors.KernelError(f"{what}: {target} exists there", errno.EEXIST)
        fd = self._home if dst is None else ns.open_fd(dst, self._nsfs_dev)
        try:
            with _mapped(what):
                ipr.link("set", index=index, net_ns_fd=fd, ifname=target)
        except errors.KernelError:
            # The kernel moves first and renames after: a failed rename leaves the link moved
            # under its old name. Put it back so a failed step changed nothing.
            if name != target and self._has_link(name, dst) and not self._has_link(name, src):
                self.link_move(name, src=dst, dst=src)
            raise
        finally:
            if dst is not None:
                os.close(fd)

    def _has_link(self, name: str, netns: str | None) -> bool:
        try:
            self._index(name, netns, "")
        except errors.KernelError:
            return False
        return True

    def ipv6_enable(self, name: str, netns: str | None = None, on: bool = True) -> bool:
        what = f"{'enable' if on else 'disable'} IPv6 on {name}"
        if "/" in name or name in ("", ".", "..", "all", "default"):
            raise errors.KernelError(f"{what}: invalid interface name", errno.EINVAL)
        path = f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6"
        with self._inside(netns), _mapped(what):
            try:
                with open(path) as f:
                    was_on = f.read().strip() == "0"
                ns.write_sysctl(path, "0" if on else "1")
            except FileNotFoundError:
                code = errno.ENODEV if os.path.isdir("/proc/sys/net/ipv6") else errno.EAFNOSUPPORT
                raise errors.KernelError(f"{what}: {os.strerror(code)}", code) from None
        return was_on

    # --- addresses and routes ---
    def addr_add(self, name: str, cidr: str, netns: str | None = None, nodad: bool = False) -> None:
        what = f"add address {cidr} to {name}"
        iface = rtnl.interface(cidr, what)
        ipr, index = self._ipr(netns), self._index(name, netns, what)
        spec = {"index": index, "address": str(iface.ip), "prefixlen": iface.network.prefixlen}
        if nodad and iface.version == 6:
            spec["flags"] = IFA_F_NODAD
        try:
            ipr.addr("add", **spec)
        except NetlinkError as exc:
            if exc.code == errno.EACCES and iface.version == 6:  # not a privilege problem
                msg = f"{what}: IPv6 is disabled on {name}"
                raise errors.KernelError(msg, errno.EACCES) from exc
            raise ns.kernel_error(what, exc.code) from exc

    def addr_del(self, name: str, cidr: str, netns: str | None = None) -> None:
        what = f"delete address {cidr} from {name}"
        iface = rtnl.interface(cidr, what)
        with _gone_ok(errno.ENODEV, errno.ENOENT, errno.EADDRNOTAVAIL):
            ipr, index = self._ipr(netns), self._index(name, netns, what)
            with _mapped(what):
                ipr.addr("del", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)

    def routes(self, netns: str | None = None) -> list[Route]:
        ipr = self._ipr(netns)
        with _mapped(f"list routes in {netns or 'host'}"):
            msgs = [
                m for m in ipr.route("dump") if m.get("table") == RT_TABLE_MAIN and m["type"] == RTN_UNICAST
            ]
        with self._inside(netns):  # only the routes' own devices: not a dump of every link
            names = {}
            for oif in {m.get("oif") for m in msgs} - {None}:
                with suppress(OSError):  # gone since the dump: no name
                    names[oif] = socket.if_indextoname(oif)
        return [rtnl.route(m, names) for m in msgs]

    def route_add(
        self,
        dst: str,
        *,
        gateway: str | None = None,
        dev: str | None = None,
        netns: str | None = None,
    ) -> None:
        what = f"add route {dst}" + (f" via {gateway}" if gateway else "")
        spec: dict = {"dst": dst, "family": rtnl.family(dst, gateway)}
        if gateway:
            spec["gateway"] = gateway
        elif spec["family"] == socket.AF_INET:
            spec["scope"] = RT_SCOPE_LINK  # what `ip route add ... dev X` does
        ipr = self._ipr(netns)
        if dev:
            spec["oif"] = self._index(dev, netns, what)
        with _mapped(what):
            ipr.route("add", **spec)

    def route_del(self, dst: str, *, gateway: str | None = None, dev: str | None = None,
                  netns: str | None = None) -> None:
        """``dev``: only the route through that interface (by gateway alone the kernel takes
        its first match, which may be another's route via the same address)."""
        spec: dict = {"dst": dst, "family": rtnl.family(dst, gateway), "scope": RT_SCOPE_NOWHERE}
        if gateway:
            spec["gateway"] = gateway
        with _gone_ok(errno.ESRCH, errno.ENOENT, errno.ENODEV):
            ipr = self._ipr(netns)
            if dev:
                spec["oif"] = self._index(dev, netns, f"delete route {dst}")
            with _mapped(f"delete route {dst}"):
                ipr.route("del", **spec)

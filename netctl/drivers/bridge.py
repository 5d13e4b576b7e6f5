"""The bridge driver: a Linux bridge per network, a veth pair per endpoint.

Every link it creates carries ``ifalias netctl:<state id>:<object id>`` (Context.mark) so
that netctl can tell its own links from the machine's and from another state file's, and
never deletes one it did not make.  A bridge that existed before the network is adopted:
addressed if needed, never deleted, and given back at ``network rm`` as it was found (see
``_give_back``).
"""

from __future__ import annotations

import errno
import time

from .. import ipam
from ..drift import BRIDGE_LINK_LOCAL, bridge_addresses
from ..errors import Conflict, KernelError
from ..kernel.base import Kernel
from ..model import Endpoint, Network, Sandbox, token_bytes
from ..txn import Transaction
from ..validate import option_bool

REAP_WAIT = 2.0  # seconds: how long a deleted namespace's veth may take to go (reap_endpoint)


def free_name(kernel: Kernel, taken: set[str], prefix: str = "veth") -> str:
    """``prefix`` + 7 hex, free in the host namespace and not in ``taken`` (3 tries, as
    libnetwork); the macvlan/ipvlan drivers name a parked endpoint's link with it too."""
    for _ in range(3):
        candidate = prefix + token_bytes(4).hex()[:7]
        if candidate not in taken and kernel.link_get(candidate) is None:
            taken.add(candidate)
            return candidate
    raise KernelError(f"could not generate a free {prefix} interface name")


def _step_name(cidr: str) -> str:
    if cidr == BRIDGE_LINK_LOCAL:
        return "bridge-addr-ll"
    return "bridge-addr6" if ":" in cidr else "bridge-addr4"


class BridgeDriver:
    name = "bridge"
    plumbs = True

    def __init__(self, source):
        self._source = source

    @property
    def kernel(self) -> Kernel:
        return self._source.kernel

    # --- networks ---
    def create_network(self, net: Network, tx: Transaction) -> None:
        k = self.kernel
        existing = k.link_get(net.bridge)
        mtu = int(net.options["mtu"]) if "mtu" in net.options else None
        if existing is not None and existing.kind != "bridge":
            raise Conflict(f"existing interface {net.bridge} is not a bridge")
        if existing is not None and existing.owner not in (None, net.id):
            # another netctl network's (of this or another state file): adopting it would put
            # this network's gateway on it and tie the two states' objects together
            raise Conflict(f"bridge {net.bridge} belongs to another netctl network "
                           f"({existing.owner[:12]}); netctl adopts only bridges it did not make")
        net.bridge_adopted = existing is not None and existing.owner != net.id
        if not net.bridge_adopted:
            net.bridge_changes = []
        if existing is None:
            mark = self._source.mark(net.id)
            tx.step("bridge-create", lambda: self._create_bridge(net.bridge, mark, mtu),
                    lambda: k.link_delete(net.bridge))
        self._address_bridge(net, set(existing.addresses) if existing else set(), tx)
        if existing is None or not existing.up:
            tx.step(
                "bridge-up",
                lambda: self._do(net, "up", k.link_set_up, net.bridge),
                lambda: self._undo(net, "up", k.link_set_up, net.bridge, False),
            )

    def _address_bridge(self, net: Network, have: set[str], tx: Transaction) -> None:
        """The gateway addresses, and for IPv6 ``fe80::1/64`` too, each added only if missing;
        on an adopted bridge each is recorded, so ``network rm`` takes it off again."""
        k, ipv6_on = self.kernel, False
        for cidr in bridge_addresses(net):
            if cidr in have:
                continue
            if ":" in cidr and not ipv6_on:  # an adopted bridge may have IPv6 off: undo puts it back
                was_on: list[bool] = []
                tx.step("bridge-ipv6", lambda w=was_on: self._ipv6_on(net, w),
                        lambda w=was_on: w[0] or self._undo(net, "ipv6", k.ipv6_enable, net.bridge, on=False))
                ipv6_on = True
            tx.step(
                _step_name(cidr),
                lambda c=cidr: self._do(net, f"address {c}", k.addr_add, net.bridge, c, nodad=":" in c),
                lambda c=cidr: self._undo(net, f"address {c}", k.addr_del, net.bridge, c),
            )

    def _create_bridge(self, name: str, mark: str, mtu: int | None) -> None:
        with self._source.creating([(None, name)], mark):
            self.kernel.bridge_create(name, mac=ipam.random_mac(), alias=mark, mtu=mtu)

    # An adopted bridge is handed back as it was found: each change netctl makes to it is
    # recorded in ``net.bridge_changes`` (and dropped again by its undo), and ``network rm``
    # reverts exactly those, so what its owner had on it stays.
    @staticmethod
    def _do(net: Network, change: str, call, *args, **kwargs) -> None:
        call(*args, **kwargs)
        if net.bridge_adopted and change not in net.bridge_changes:
            net.bridge_changes.append(change)

    @staticmethod
    def _undo(net: Network, change: str, call, *args, **kwargs) -> None:
        call(*args, **kwargs)
        if change in net.bridge_changes:
            net.bridge_changes.remove(change)

    def _ipv6_on(self, net: Network, was_on: list[bool]) -> None:
        was_on.append(self.kernel.ipv6_enable(net.bridge))
        if not was_on[0]:
            self._do(net, "ipv6", lambda: None)

    def _give_back(self, net: Network) -> None:
        """Revert what ``bridge_changes`` says netctl did to the adopted bridge, newest first."""
        k, link = self.kernel, self.kernel.link_get(net.bridge)
        if link is None or link.kind != "bridge":
            return
        for change in reversed(net.bridge_changes):
            what, _, cidr = change.partition(" ")
            if what == "address":  # already gone is fine
                k.addr_del(net.bridge, cidr)
            elif what == "ipv6":
                k.ipv6_enable(net.bridge, on=False)
            elif what == "up":
                k.link_set_up(net.bridge, False)

    def delete_network(self, net: Network) -> None:
        if net.bridge_adopted:
            self._give_back(net)
            return
        link = self.kernel.link_get(net.bridge)
        if link is not None and link.owner == net.id:
            self.kernel.link_delete(net.bridge)

    # --- endpoints ---
    def create_endpoint(
        self, net: Network, ep: Endpoint, tx: Transaction, into: Sandbox | None = None
    ) -> None:
        k = self.kernel
        # names are picked once; a re-plumb (repair, restore) re-creates the same pair
        taken = {n for n in (ep.host_ifname, ep.sandbox_ifname) if n}
        ep.host_ifname = ep.host_ifname or free_name(k, taken)
        ep.sandbox_ifname = ep.sandbox_ifname or free_name(k, taken)
        mtu = int(net.options["mtu"]) if "mtu" in net.options else None
        peer = ep.ifname if into else ep.sandbox_ifname
        peer_netns, mark = into.name if into else None, self._source.mark(ep.id)

        def create() -> None:
            with self._source.creating([(None, ep.host_ifname), (peer_netns, peer)], mark):
                k.veth_create(ep.host_ifname, peer, alias=mark, mtu=mtu, master=net.bridge,
                              peer_netns=peer_netns, peer_mac=ep.mac)

        tx.step("veth-create", create, lambda: k.link_delete(ep.host_ifname))
        if option_bool(net, "hairpin", False) or ep.ports:  # a sandbox reaching its own
            tx.step("veth-hairpin", lambda: k.link_set_hairpin(ep.host_ifname, True))  # port
        if into is not None:
            self._configure_inside(net, ep, into, tx)

    def delete_endpoint(self, net: Network, ep: Endpoint) -> None:
        """Deleting the host end removes the pair; a missing link is fine (idempotent)."""
        for name in (ep.host_ifname, ep.sandbox_ifname):
            link = self.kernel.link_get(name) if name else None
            if link is not None and link.owner == ep.id:
                self.kernel.link_delete(name)

    def reap_endpoint(self, net: Network, ep: Endpoint) -> None:
        """The pair of an endpoint whose sandbox's namespace was just deleted: the kernel
        removes it when it tears the namespace down, shortly after (all such namespaces in
        one batch).  Wait up to ``REAP_WAIT`` seconds for the host end to go; if it stays (a
        process still holds the namespace open), delete it as ``delete_endpoint`` does."""
        deadline = time.monotonic() + REAP_WAIT
        while ep.host_ifname and time.monotonic() < deadline:
            link = self.kernel.link_get(ep.host_ifname)
            if link is None or link.owner != ep.id:
                return
            time.sleep(0.005)
        self.delete_endpoint(net, ep)

    # --- join / leave ---
    def join(self, net: Network, ep: Endpoint, sb: Sandbox, tx: Transaction) -> None:
        k = self.kernel
        self.check_routes(net, ep, sb)
        tx.step(
            "join-move",
            lambda: k.link_move(ep.sandbox_ifname, src=None, dst=sb.name, new_name=ep.ifname),
            lambda: k.link_move(ep.ifname, src=sb.name, dst=None, new_name=ep.sandbox_ifname),
        )
        tx.step("join-down", lambda: k.link_set_up(ep.ifname, False, netns=sb.name))
        if ep.mac:
            tx.step("join-mac", lambda: k.link_set_mac(ep.ifname, ep.mac, netns=sb.name))
        self._configure_inside(net, ep, sb, tx)

    def check_routes(self, net: Network, ep: Endpoint, sb: Sandbox) -> None:
        """Refuse an address whose subnet overlaps a route already in the sandbox."""
        from ipaddress import ip_interface, ip_network

        mine = [ip_interface(a).network for a in (ep.ipv4, ep.ipv6) if a]
        for route in self.kernel.routes(netns=sb.name):
            if route.dst == "default":
                continue
            dst = ip_network(route.dst, strict=False)
            for subnet in mine:
                if ipam.overlaps(subnet, dst) and dst.prefixlen > 0:
                    raise Conflict(
                        f"cannot program address {subnet} in sandbox {sb.name}: "
                        f"conflicts with existing route {route.dst} dev {route.dev}"
                    )

    def _configure_inside(self, net: Network, ep: Endpoint, sb: Sandbox, tx: Transaction) -> None:
        k, ns, ifname = self.kernel, sb.name, ep.ifname
        if ep.ipv4:
            tx.step(
                "addr4", lambda: k.addr_add(ifname, ep.ipv4, netns=ns),
                lambda: k.addr_del(ifname, ep.ipv4, netns=ns),
            )
        v6 = [a for a in (ep.ipv6, *ep.link_local) if a and ":" in a]
        if v6:
            tx.step("ipv6-enable", lambda: k.ipv6_enable(ifname, netns=ns))
        for cidr in (ep.ipv6, *ep.link_local):
            if cidr:
                tx.step(
                    "addr-extra",
                    lambda c=cidr: k.addr_add(ifname, c, netns=ns, nodad=":" in c),
                    lambda c=cidr: k.addr_del(ifname, c, netns=ns),
                )
        tx.step("link-up", lambda: k.link_set_up(ifname, netns=ns),
                lambda: k.link_set_up(ifname, False, netns=ns))

    def _readdress(self, ep: Endpoint, ns: str, ifname: str) -> None:
        """Undo of taking the interface down (and out): a move drops all its addresses and
        its IPv6 switch, going down drops the IPv6 ones. Put back what is missing, then up."""
        from ipaddress import ip_interface

        k, link = self.kernel, self.kernel.link_get(ifname, netns=ns)
        have = {ip_interface(a) for a in link.addresses} if link else set()
        missing = [a for a in (ep.ipv4, ep.ipv6, *ep.link_local) if a and ip_interface(a) not in have]
        if any(":" in a for a in missing):
            k.ipv6_enable(ifname, netns=ns)
        for cidr in missing:
            k.addr_add(ifname, cidr, netns=ns, nodad=":" in cidr)
        k.link_set_up(ifname, netns=ns)

    def leave(self, net: Network, ep: Endpoint, sb: Sandbox, tx: Transaction) -> None:
        """Set down, rename back and return the interface to the host namespace.  The names
        are bound now: the caller clears ``ep.ifname`` before any undo could run."""
        k, ns, ifname, parked = self.kernel, sb.name, ep.ifname, ep.sandbox_ifname
        link = k.link_get(ifname, netns=ns) if k.netns_exists(ns) else None
        if link is None or link.owner != ep.id:
            # gone already, or an interface of that name that is not the endpoint's (an
            # adopted container's own eth0 made after netctl's went): nothing to bring back
            return
        tx.step("leave-down", lambda: k.link_set_up(ifname, False, netns=ns),
                lambda: self._readdress(ep, ns, ifname))
        try:
            tx.step("leave-move", lambda: k.link_move(ifname, src=ns, dst=None, new_name=parked),
                    lambda: k.link_move(parked, src=None, dst=ns, new_name=ifname))
        except KernelError as exc:
            if exc.errno != errno.ENODEV:
                raise

"""The macvlan and ipvlan drivers: sandboxes straight on the network of a parent interface.

There is no bridge and no host end: an endpoint is one macvlan (or ipvlan) link of the
network's ``parent``, created from the host's netlink socket (so ``IFLA_LINK`` names the
parent there) and born inside the sandbox (``IFLA_NET_NS_FD``) as its ``eth<n>`` with its
MAC, so nothing is moved or renamed.  Joining and leaving a parked endpoint move it as the
bridge driver moves a veth end, so those steps are the bridge driver's.

The parent is the machine's and netctl never changes it, with one exception: a parent named
``NAME.VID`` that does not exist is made as the 802.1q sub-interface VID of NAME, marked as
netctl's like every link it creates, brought up, and deleted with the last network that uses
it (``Network.parent_created``; service/networks.py hands the mark to the next such network
when the one named in it goes).  A parent that existed is never brought up nor deleted.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import KernelError, NotFound
from ..kernel.base import Kernel
from ..model import Endpoint, Network, Sandbox
from ..txn import Transaction
from ..validate import VLAN_PARENT_RE
from .bridge import BridgeDriver, free_name


class SublinkDriver(BridgeDriver):
    """What macvlan and ipvlan share; ``kind`` is the kernel's link type."""

    kind = ""
    prefix = ""  # of a parked endpoint's name in the host namespace

    def _mode(self, net: Network) -> tuple[str, str | None]:
        raise NotImplementedError

    # --- networks ---
    def create_network(self, net: Network, tx: Transaction) -> None:
        """Make sure the parent is there (idempotent: repair and restore re-run it).  A missing
        parent is exit 3, unless it is an 802.1q name whose base interface exists."""
        k, parent = self.kernel, net.options["parent"]
        link = k.link_get(parent)
        if link is None:
            vlan = _vlan_base(k, parent)
            if vlan is None:
                raise NotFound(f"parent interface {parent} not found" + _vlan_hint(parent))
        if self.kind not in k.link_kinds((self.kind,)):
            raise KernelError(f"this kernel has no {self.kind} link type (CONFIG_{self.kind.upper()}); "
                              "'netctl status' lists the link types it has", errno.EOPNOTSUPP)
        if link is None:
            base, vid = vlan
            mark = self._source.mark(net.id)
            tx.step("vlan-create", lambda: self._create_vlan(parent, base, vid, mark),
                    lambda: k.link_delete(parent))
            net.parent_created = True
        made = link is None or link.owner is not None  # a same-named link of someone else's: theirs
        if net.parent_created and made and (link is None or not link.up):
            tx.step("vlan-up", lambda: k.link_set_up(parent), lambda: k.link_set_up(parent, False))

    def _create_vlan(self, name: str, base: str, vid: int, mark: str) -> None:
        with self._source.creating([(None, name)], mark):
            self.kernel.vlan_create(name, parent=base, vid=vid, alias=mark)

    def delete_network(self, net: Network) -> None:
        """The 802.1q parent netctl made, when its mark names this network (the last one
        using it: the others were handed the mark by ``hand_over``)."""
        parent = net.options.get("parent")
        link = self.kernel.link_get(parent) if parent and net.parent_created else None
        if link is not None and link.owner == net.id:
            self.kernel.link_delete(parent)

    def hand_over(self, net: Network, heir: Network) -> None:
        """``net`` goes but ``heir`` still uses the parent netctl made: mark it as the heir's,
        so it is neither deleted now nor taken for a leftover later."""
        parent = net.options["parent"]
        link = self.kernel.link_get(parent)
        if link is not None and link.owner == net.id:
            self.kernel.link_set_alias(parent, self._source.mark(heir.id))

    # --- endpoints ---
    def create_endpoint(
        self, net: Network, ep: Endpoint, tx: Transaction, into: Sandbox | None = None
    ) -> None:
        k = self.kernel
        ep.sandbox_ifname = ep.sandbox_ifname or free_name(k, set(), self.prefix)
        name, netns = (ep.ifname, into.name) if into else (ep.sandbox_ifname, None)
        mode, flag = self._mode(net)
        mtu = int(net.options["mtu"]) if "mtu" in net.options else None
        mark = self._source.mark(ep.id)

        def create() -> None:
            with self._source.creating([(netns, name)], mark), _parent_gone(k, net):
                k.sublink_create(self.kind, name, parent=net.options["parent"], alias=mark, mode=mode,
                                 flag=flag, mac=ep.mac, mtu=mtu, netns=netns)

        tx.step(f"{self.kind}-create", create, lambda: k.link_delete(name, netns))
        if into is not None:
            self._configure_inside(net, ep, into, tx)

    def delete_endpoint(self, net: Network, ep: Endpoint) -> None:
        """A parked endpoint's link (a joined one is deleted where it is: ``delete_inside``)."""
        link = self.kernel.link_get(ep.sandbox_ifname) if ep.sandbox_ifname else None
        if link is not None and link.owner == ep.id:
            self.kernel.link_delete(ep.sandbox_ifname)

    def delete_inside(self, net: Network, ep: Endpoint, netns: str, ifname: str) -> None:
        """The link of an endpoint deleted while joined: it has no host end to delete."""
        k = self.kernel
        link = k.link_get(ifname, netns=netns) if k.netns_exists(netns) else None
        if link is not None and link.owner == ep.id:
            k.link_delete(ifname, netns=netns)
        self.delete_endpoint(net, ep)

    def reap_endpoint(self, net: Network, ep: Endpoint) -> None:
        """Not used for a joined endpoint (service/endpoints.py deletes its link before the
        namespace goes: see ``delete_inside``); a parked one is deleted as usual."""
        self.delete_endpoint(net, ep)


class MacvlanDriver(SublinkDriver):
    name = kind = "macvlan"
    prefix = "mvl"

    def _mode(self, net: Network) -> tuple[str, str | None]:
        return net.options.get("macvlan_mode", "bridge"), None


class IpvlanDriver(SublinkDriver):
    name = kind = "ipvlan"
    prefix = "ivl"

    def _mode(self, net: Network) -> tuple[str, str | None]:
        return net.options.get("ipvlan_mode", "l2"), net.options.get("ipvlan_flag", "bridge")


@contextmanager
def _parent_gone(k: Kernel, net: Network) -> Iterator[None]:
    """A parent renamed, deleted or moved to another namespace since the network was made is
    exit 3 (not found), as at network create, not a kernel failure (exit 1)."""
    try:
        yield
    except KernelError as exc:
        parent = net.options["parent"]
        if exc.errno != errno.ENODEV or k.link_get(parent) is not None:
            raise
        raise NotFound(f"parent interface {parent} of network {net.name!r} not found (renamed, "
                       "deleted or moved to another namespace?)") from None


def _vlan_base(k: Kernel, parent: str) -> tuple[str, int] | None:
    """(base interface, VLAN ID) when ``parent`` is an 802.1q name whose base exists."""
    vlan = VLAN_PARENT_RE.fullmatch(parent)
    if vlan is None or k.link_get(vlan["base"]) is None:
        return None
    return vlan["base"], int(vlan["vid"])


def _vlan_hint(parent: str) -> str:
    vlan = VLAN_PARENT_RE.fullmatch(parent)
    return f" (nor its base interface {vlan['base']})" if vlan else ""

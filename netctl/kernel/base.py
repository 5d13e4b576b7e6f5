"""The small interface between netctl and the machine's network stack.

Drivers and services speak only this protocol; ``netlink.py`` implements it with pyroute2
(the only module that imports it) and ``fake.py`` implements it in memory for unit tests.
Every method that names a link or route takes ``netns``: ``None`` means the namespace the
process runs in (the "host"), a string names a namespace under ``/run/netns``.

Conventions every implementation keeps:
- deleting something that is already gone is not an error (teardown must be able to finish);
- creating something that exists raises ``KernelError`` with ``errno.EEXIST``;
- a missing link or namespace raises ``KernelError`` with ``errno.ENODEV`` / ``errno.ENOENT``;
- lack of privilege raises ``PermissionDenied``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

NETNS_RUN_DIR = "/run/netns"
NETNS_ETC_DIR = "/etc/netns"
OWNER_PREFIX = "netctl:"


@dataclass(frozen=True)
class Link:
    """What netctl needs to know about one interface, read back from the kernel."""

    name: str
    index: int
    kind: str  # "bridge", "veth", "dummy", "" for others (lo)
    mac: str
    mtu: int
    up: bool
    master: str | None = None  # name of the bridge this link is a port of
    alias: str | None = None  # ifalias; netctl marks its own "netctl:<state id>:<object id>"
    addresses: tuple[str, ...] = field(default_factory=tuple)  # "10.0.0.2/24", "fd00::2/64"
    lower: int | None = None  # IFLA_LINK: a macvlan/ipvlan link's parent (its index there)

    @property
    def owner(self) -> str | None:
        """The netctl object ID that created this link, or None for a foreign link."""
        return _parse_mark(self.alias)[1]

    @property
    def state_id(self) -> str | None:
        """The identity of the state file whose object this is (see ``owner_mark``); None
        for a foreign link and for the old ``netctl:<object id>`` mark, which names none."""
        return _parse_mark(self.alias)[0]


def owner_mark(state_id: str, object_id: str) -> str:
    """The ifalias netctl gives what it creates: the state file's identity and the object's
    ID, so that several state files on one host each recognise only their own objects."""
    return f"{OWNER_PREFIX}{state_id}:{object_id}"


def _parse_mark(alias: str | None) -> tuple[str | None, str | None]:
    """(state id, object id) of a mark; the old format ``netctl:<object id>`` has no state id."""
    if not alias or not alias.startswith(OWNER_PREFIX):
        return None, None
    state_id, sep, object_id = alias[len(OWNER_PREFIX):].rpartition(":")
    return (state_id or None) if sep else None, object_id


@dataclass(frozen=True)
class Adoptee:
    """A namespace file someone else made, as ``netns_probe`` read it: what adoption
    records (``ino``, ``cookie``) and what it refuses on (``home``, netctl marks in ``links``)."""

    ino: int  # nsfs inode
    cookie: int  # SO_NETNS_COOKIE: never the same for two namespaces of one boot
    home: bool  # the namespace netctl runs in, or the init process's
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Route:
    dst: str  # "default" or a CIDR
    gateway: str | None = None
    dev: str | None = None
    scope: str = "universe"  # "universe", "link", "host"
    family: int = 4


class Kernel(Protocol):
    # --- named network namespaces (/run/netns/NAME) ---
    def netns_list(self) -> list[str]: ...

    def netns_exists(self, name: str) -> bool: ...

    def netns_create(self, name: str, alias: str | None = None) -> None:
        """Create NAME with ``lo`` up and IPv6 disabled on all interfaces, ``lo`` too; with
        ``alias``, ``lo`` carries it as its ifalias (how netctl marks its own namespaces, so a
        leftover can be told from a foreign one), from the moment NAME exists: the mark is
        set before the namespace is mounted, so no kill can leave it unmarked."""

    def netns_bind_host(self, name: str) -> None:
        """Make ``/run/netns/NAME`` the host's own namespace (a sandbox on a ``host``
        network, as docker's ``--network host``); EEXIST if NAME exists.  Deleting NAME
        afterwards only unbinds it."""

    def netns_is_host(self, name: str) -> bool:
        """Whether ``/run/netns/NAME`` is the host's namespace (bound by netns_bind_host)."""

    def netns_delete(self, name: str) -> None: ...

    def netns_mark(self, name: str) -> str | None:
        """The ifalias of ``lo`` in NAME (netctl's mark on a namespace it made), read as
        cheaply as the platform allows: asked before every change inside a sandbox."""

    def netns_borrowed(self, name: str) -> bool:
        """Whether /run/netns/NAME cannot be a namespace netctl made, whatever its ``lo``
        says: a symlink (netctl mounts namespaces onto plain files), or the namespace this
        process works in (the "host"), or the init process's."""

    def netns_probe(self, path: str) -> Adoptee:
        """Read the network namespace file PATH (``ip netns add``'s, ``/proc/PID/ns/net``)
        without changing anything: NotFound if missing, InvalidInput if it is a symlink
        (``/proc/PID/ns/net`` excepted) or not a network namespace."""

    def netns_adopt(self, name: str, path: str, ino: int, cookie: int) -> None:
        """Bind the namespace at PATH onto ``/run/netns/NAME`` (EEXIST if NAME exists),
        after checking it is still the one probed (``ino``, ``cookie``); ``netns_delete``
        undoes it by unmounting, which never destroys a namespace something else holds."""

    def netns_identity(self, name: str) -> tuple[int, int] | None:
        """(inode, cookie) of the namespace at ``/run/netns/NAME``; None when NAME is
        missing, a symlink, or not a network namespace.  How an adopted one is recognised."""

    # --- links ---
    def links(self, netns: str | None = None) -> list[Link]: ...

    def link_get(self, name: str, netns: str | None = None) -> Link | None: ...

    def bridge_create(self, name: str, *, mac: str, alias: str, mtu: int | None = None) -> None:
        """Create a bridge (left down) with ``accept_ra=0``."""

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
        """Create a veth pair: ``name`` in the host (port of ``master`` if given, and up when
        it is), ``peer`` born directly in ``peer_netns`` with ``peer_mac`` (no move needed).
        Both ends carry ``alias`` and ``mtu``."""

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
        """Create a ``macvlan`` (``mode``: bridge, private, vepa, passthru) or ``ipvlan``
        (``mode``: l2, l3, l3s; ``flag``: bridge, private, vepa) link on the host link
        ``parent``, born in ``netns`` when given (no move), left down and carrying ``alias``.
        A kernel without that link type raises EOPNOTSUPP."""

    def vlan_create(self, name: str, *, parent: str, vid: int, alias: str) -> None:
        """Create the 802.1q sub-interface ``name`` (VLAN ``vid``) of the host link
        ``parent``, left down, carrying ``alias``; EOPNOTSUPP without 802.1q support."""

    def link_kinds(self, kinds: tuple[str, ...]) -> set[str]:
        """Which of ``kinds`` (link types: macvlan, ipvlan, vlan, dummy, ...) this kernel
        can create: each is tried in a throwaway namespace, so nothing is left behind."""

    def link_delete(self, name: str, netns: str | None = None) -> None: ...

    def link_set_alias(self, name: str, alias: str, netns: str | None = None) -> None:
        """Set the ifalias: how a link a killed netctl created but never marked is marked
        after all (service/intents.py)."""

    def link_set_up(self, name: str, up: bool = True, netns: str | None = None) -> None: ...

    def link_set_master(self, name: str, master: str | None) -> None: ...

    def link_set_hairpin(self, name: str, on: bool) -> None: ...

    def link_set_mac(self, name: str, mac: str, netns: str | None = None) -> None: ...

    def link_move(
        self, name: str, *, src: str | None, dst: str | None, new_name: str | None = None
    ) -> None:
        """Move link ``name`` from namespace ``src`` to ``dst`` (None = host), renaming it to
        ``new_name`` in the same request when given."""

    def ipv6_enable(self, name: str, netns: str | None = None, on: bool = True) -> bool:
        """Turn IPv6 on for one interface (``disable_ipv6=0``), or off with ``on=False``;
        return whether it was on before, so an undo can put it back."""

    # --- addresses and routes ---
    def addr_add(self, name: str, cidr: str, netns: str | None = None, nodad: bool = False) -> None: ...

    def addr_del(self, name: str, cidr: str, netns: str | None = None) -> None: ...

    def routes(self, netns: str | None = None) -> list[Route]:
        """Main-table unicast routes of both families."""

    def route_add(
        self, dst: str, *, gateway: str | None = None, dev: str | None = None, netns: str | None = None
    ) -> None: ...

    def route_del(self, dst: str, *, gateway: str | None = None, dev: str | None = None,
                  netns: str | None = None) -> None: ...

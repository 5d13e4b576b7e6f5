"""The driver interface: what a network type does to the kernel, and nothing else.

The service decides names, addresses and MACs (pure IPAM) and owns the state file; a driver
turns those decisions into kernel steps, each registered with its undo on the transaction.
Null and host drivers do no kernel work at all, so a driver that has nothing to do is valid.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from ..kernel.base import Kernel
from ..model import Endpoint, Network, Sandbox
from ..txn import Transaction


class Driver(Protocol):
    name: str
    #: Whether endpoints get an interface (and so IPAM addresses) at all.
    plumbs: bool

    def create_network(self, net: Network, tx: Transaction) -> None: ...

    def delete_network(self, net: Network) -> None: ...

    def create_endpoint(
        self, net: Network, ep: Endpoint, tx: Transaction, into: Sandbox | None = None
    ) -> None:
        """Create the endpoint's interface; with ``into``, born inside that sandbox as
        ``ep.ifname`` (the one-step connect path), else parked in the host namespace."""

    def delete_endpoint(self, net: Network, ep: Endpoint) -> None: ...

    def join(self, net: Network, ep: Endpoint, sb: Sandbox, tx: Transaction) -> None:
        """Move the parked interface into ``sb`` as ``ep.ifname``, addressed and up."""

    def leave(self, net: Network, ep: Endpoint, sb: Sandbox, tx: Transaction) -> None: ...


class KernelSource(Protocol):
    """Anything with a ``kernel`` attribute, read only when a driver really needs it, so the
    null and host drivers never open netlink; and the state's marks (service/context.py)."""

    @property
    def kernel(self) -> Kernel: ...

    def mark(self, object_id: str) -> str:
        """The ifalias an object of this state carries."""

    def creating(self, links: list[tuple[str | None, str]], mark: str) -> AbstractContextManager[None]:
        """Wrap the create of ``links`` ((netns, name)): recorded until they are marked."""


def get_driver(name: str, source: KernelSource) -> Driver:
    if name == "bridge":
        from .bridge import BridgeDriver

        return BridgeDriver(source)
    if name in ("macvlan", "ipvlan"):
        from .sublink import IpvlanDriver, MacvlanDriver

        return (MacvlanDriver if name == "macvlan" else IpvlanDriver)(source)
    from .special import HostDriver, NullDriver

    return {"null": NullDriver, "host": HostDriver}[name]()

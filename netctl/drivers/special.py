"""The ``null`` and ``host`` drivers: one instance each, no IPAM, no kernel work.

``null`` gives a sandbox no connectivity beyond ``lo``; ``host`` stands for the host's own
namespace.  Their endpoints exist only in state, as in libnetwork.
"""

from __future__ import annotations

from ..model import Endpoint, Network, Sandbox
from ..txn import Transaction


class _NoKernelWork:
    name = ""
    plumbs = False

    def create_network(self, net: Network, tx: Transaction) -> None:
        pass

    def delete_network(self, net: Network) -> None:
        pass

    def create_endpoint(
        self, net: Network, ep: Endpoint, tx: Transaction, into: Sandbox | None = None
    ) -> None:
        pass

    def delete_endpoint(self, net: Network, ep: Endpoint) -> None:
        pass

    def join(self, net: Network, ep: Endpoint, sb: Sandbox, tx: Transaction) -> None:
        pass

    def leave(self, net: Network, ep: Endpoint, sb: Sandbox, tx: Transaction) -> None:
        pass


class NullDriver(_NoKernelWork):
    name = "null"


class HostDriver(_NoKernelWork):
    name = "host"

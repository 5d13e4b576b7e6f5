"""What every operation needs: the store, the kernel (opened lazily) and the mutation frame.

``mutation()`` is the one shape every changing command has: check privilege, take the lock,
load, let the operation plan and drive the kernel through a transaction, save atomically, then
re-render the sandboxes' name files.  Any failure before the save undoes the kernel steps, a
SIGINT/SIGTERM/SIGHUP included; from the save on, signals wait until the command is done.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import etcfiles, hostsfile, interrupts
from ..errors import PermissionDenied
from ..kernel.base import Kernel
from ..model import State
from ..store import Store
from ..txn import Transaction, checkpoint


@dataclass
class Context:
    store: Store
    _kernel: Kernel | None = field(default=None, repr=False)

    @property
    def kernel(self) -> Kernel:
        if self._kernel is None:
            from ..kernel import open_kernel

            self._kernel = interrupts.Shielded(open_kernel())  # type: ignore[assignment]
        return self._kernel

    def read(self) -> State:
        return self.store.read()

    def require_privilege(self) -> None:
        if self._kernel is None and os.environ.get("NETCTL_FAKE_KERNEL"):
            return
        kernel = getattr(self._kernel, "wrapped", self._kernel)  # under interrupts.Shielded
        if kernel is not None and type(kernel).__name__ == "FakeKernel":
            return
        if os.geteuid() != 0:
            raise PermissionDenied(
                "changing networks needs root (CAP_NET_ADMIN); run it with sudo"
            )

    @contextmanager
    def mutation(self) -> Iterator[tuple[State, Transaction]]:
        self.require_privilege()
        with self.store.locked() as state:
            with Transaction() as tx:
                yield state, tx
                interrupts.hold()  # from here on a signal cannot split saved from reported
                checkpoint("save")
                self.store.save(state)
            checkpoint("files")
            self.refresh_files(state)

    def refresh_files(self, state: State) -> None:
        """Re-render every sandbox's hosts and resolv.conf from the saved state."""
        if not state.sandboxes:
            return
        host_resolv = etcfiles.host_resolv_text()
        for sb in state.sandboxes:
            ipv6 = any(state.network_by_id(e.network).ipv6 for e in state.endpoints_in(sb))
            try:
                etcfiles.write_sandbox_files(
                    sb.name, hostsfile.hosts(state, sb), hostsfile.resolv_conf(sb, host_resolv, ipv6)
                )
            except OSError as exc:
                print(f"netctl: warning: /etc/netns/{sb.name}: {exc.strerror}", file=sys.stderr)

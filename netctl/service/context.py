"""What every operation needs: the store, the kernel (opened lazily) and the mutation frame.

``mutation()`` is the one shape every changing command has: check privilege, take the lock,
load, let the operation plan and drive the kernel through a transaction, save atomically, then
re-render the sandboxes' name files.  Any failure before the save undoes the kernel steps.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import drift, etcfiles
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

            self._kernel = open_kernel()
        return self._kernel

    def close(self) -> None:
        """Close the kernel's netlink sockets now.  Left to the interpreter's exit, each
        pyroute2 socket's event loop is torn down in arbitrary order and may print
        ``Exception ignored in BaseEventLoop.__del__`` on stderr after a clean run."""
        kernel, self._kernel = self._kernel, None
        close = getattr(kernel, "close", None)
        if close is not None:
            close()

    def read(self) -> State:
        return self.store.read()

    def require_privilege(self) -> None:
        if self._kernel is None and os.environ.get("NETCTL_FAKE_KERNEL"):
            return
        if self._kernel is not None and type(self._kernel).__name__ == "FakeKernel":
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
                checkpoint("save")
                self.store.save(state)
            checkpoint("files")
            self.refresh_files(state)

    def refresh_files(self, state: State) -> None:
        """Re-render every sandbox's hosts and resolv.conf from the saved state."""
        if not state.sandboxes:
            return
        host_resolv, host_hosts = etcfiles.host_resolv_text(), None
        for sb in state.sandboxes:
            if host_hosts is None and drift.host_mode(state, sb):
                host_hosts = etcfiles.host_hosts_text()  # read only when a sandbox needs it
            files = drift.rendered(state, sb, host_resolv, host_hosts or "")
            try:
                etcfiles.write_sandbox_files(sb.name, files["hosts"], files["resolv.conf"])
            except OSError as exc:
                print(f"netctl: warning: /etc/netns/{sb.name}: {exc.strerror}", file=sys.stderr)

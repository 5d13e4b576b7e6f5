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
from pathlib import Path
from typing import Any

from .. import etcfiles, hostsfile, interrupts
from ..errors import PermissionDenied
from ..kernel.base import Kernel, owner_mark
from ..model import SCHEMA, Index, Sandbox, State, new_state_id
from ..store import Store
from ..txn import Transaction, checkpoint
from . import intents


@dataclass
class Context:
    store: Store
    _kernel: Kernel | None = field(default=None, repr=False)
    _state: State | None = field(default=None, repr=False)  # the one the mutation changes
    _sid_saved: bool = field(default=False, repr=False)  # the state file holds its identity
    #: links a killed run created but never marked, as check reports them (intents.py)
    unmarked: dict[tuple[str | None, str], str] = field(default_factory=dict, repr=False)
    #: an open plan (plan.py: apply, batch): mutations and locked reads nest in its one
    #: lock, load, transaction and save instead of taking their own
    plan: Any = field(default=None, repr=False)
    config_path: str | None = None  # netctl.toml: read once, when the firewall asks (firewall/sync.py)
    _firewall: object = field(default=None, repr=False)  # sync.Firewall, made on first use
    #: what the sandboxes' files were rendered from when the mutation loaded the state
    _files_before: hostsfile.Inputs | None = field(default=None, repr=False)
    #: re-render every sandbox's files, not only those the change reaches (check --repair)
    refresh_all: bool = field(default=False, repr=False)

    @property
    def journal(self) -> Path:
        return self.store.path.with_name(self.store.path.name + ".intent")

    @property
    def kernel(self) -> Kernel:
        if self._kernel is None:
            from ..kernel import open_kernel

            self._kernel = interrupts.Shielded(open_kernel())  # type: ignore[assignment]
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
        """The saved state; inside a plan (batch), the plan's state as changed so far."""
        return self.plan.state if self.plan is not None else self.store.read()

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
    def locked(self, changing: bool) -> Iterator[State]:
        """The state under the lock, after taking over what a killed run left recorded in
        the intent journal (marking it only when ``changing``; see intents.py)."""
        if self.plan is not None:  # inside apply/batch: the plan's lock and state
            yield self.plan.state
            return
        with self.store.locked() as state:
            self._sid_saved, self.unmarked = state.state_id is not None, {}
            if self.journal.exists():  # rare: only after a kill; else no kernel is opened
                self.unmarked = intents.settle(self.journal, self.kernel, state, apply=changing)
            yield state

    @contextmanager
    def mutation(self) -> Iterator[tuple[State, Transaction]]:
        if self.plan is not None:  # one operation of a plan: no lock, load or save of its own
            with self.plan.operation() as frame:
                yield frame
            return
        self.require_privilege()
        with self.locked(changing=True) as state:
            self._state = state
            self._files_before = None if self.rendering.exists() else hostsfile.inputs(state)
            with Transaction() as tx:
                yield state, tx
                interrupts.hold()  # from here on a signal cannot split saved from reported
                checkpoint("save")
                self._files_pending(True)
                try:
                    self.store.save(state)
                except BaseException:
                    self._files_pending(False)
                    raise
            intents.remove(self.journal)  # the state now holds the identity and every object
            checkpoint("files")
            self.refresh_files(state)
            self._files_pending(False)

    @property
    def rendering(self) -> Path:
        """``<state>.files``: there from just before a save until the sandboxes' files are
        rendered.  A run killed in between leaves it, and the next change then renders
        every sandbox's files instead of only those its own change reaches."""
        return self.store.path.with_name(self.store.path.name + ".files")

    def _files_pending(self, pending: bool) -> None:
        try:
            if pending:
                flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                os.close(os.open(self.rendering, flags, 0o644))
            else:
                os.unlink(self.rendering)
        except OSError:  # no room or no right: the save that follows says so, or it is gone
            pass

    def mark(self, object_id: str) -> str:
        """The ifalias for an object of the state being changed.  A state without an
        identity gets one now, recorded in the journal before any object carries it."""
        state = self._state
        if state.state_id is None:
            state.state_id, state.schema = new_state_id(), SCHEMA
            intents.write(self.journal, intents.Journal(state.state_id))
        return owner_mark(state.state_id, object_id)

    @contextmanager
    def creating(self, links: list[tuple[str | None, str]], mark: str) -> Iterator[None]:
        """Record ``links`` ((netns, name)) in the journal for the length of their create."""
        sid = self._state.state_id
        intents.write(self.journal, intents.Journal(sid, [(ns, name, mark) for ns, name in links]))
        try:
            yield
        except Exception:  # the kernel layer removed what it made: forget it
            self._forget_links(sid)
            raise
        self._forget_links(sid)  # marked now: an ordinary object (or leftover) of this state

    def _forget_links(self, sid: str | None) -> None:
        if self._sid_saved:
            intents.remove(self.journal)
        else:
            intents.write(self.journal, intents.Journal(sid))

    def refresh_files(self, state: State) -> None:
        """Re-render the hosts and resolv.conf of the sandboxes the change can reach (its own,
        and its peers on the networks it touched: see hostsfile.affected), or of every one
        with ``refresh_all``; a file whose text is unchanged is not written.  The files of a
        sandbox whose namespace is not netctl's any more are someone else's: left alone."""
        if not state.sandboxes:
            return
        index = Index(state)
        if self.refresh_all or self._files_before is None:
            targets, self.refresh_all = state.sandboxes, False
        else:
            targets = hostsfile.affected(self._files_before, state, index)
        host_resolv, host_hosts = (etcfiles.host_resolv_text() if targets else ""), None
        for sb in targets:
            host_mode = hostsfile.host_mode(state, sb, index)
            if host_hosts is None and host_mode:
                host_hosts = etcfiles.host_hosts_text()  # read only when a sandbox needs it
            files = hostsfile.rendered(state, sb, host_resolv, host_hosts or "", index)
            self._write_files(sb, files, host_mode)

    def _write_files(self, sb: Sandbox, files: dict[str, str], host_mode: bool) -> None:
        from .nsguard import foreign

        try:
            done = etcfiles.write_sandbox_files(
                sb.name, files["hosts"], files["resolv.conf"],
                allowed=lambda: not foreign(self.kernel, sb, host_mode),
            )
        except etcfiles.UnsafePath as exc:
            print(f"netctl: warning: {exc}", file=sys.stderr)
        except OSError as exc:
            print(f"netctl: warning: /etc/netns/{sb.name}: {exc.strerror}", file=sys.stderr)
        else:
            if not done:
                print(f"netctl: warning: /etc/netns/{sb.name} not updated: namespace "
                      f"/run/netns/{sb.name} is not netctl's", file=sys.stderr)
            elif sb.hosts_file is not None:
                self._copy_hosts(sb, files["hosts"])

    @staticmethod
    def _copy_hosts(sb: Sandbox, text: str) -> None:
        """The copy an adopted sandbox's container reads (sandbox create --hosts-file)."""
        from .. import hostscopy
        from ..errors import NetctlError

        try:
            hostscopy.write(sb.hosts_file, text)
        except (NetctlError, OSError) as exc:
            print(f"netctl: warning: {exc}", file=sys.stderr)

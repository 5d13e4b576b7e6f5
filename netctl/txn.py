"""Multi-step operations that undo themselves.

Every kernel step is run through ``Transaction.step`` with the step that reverses it.  If a
later step raises, the undos run newest-first and the original error is re-raised, so a failed
command leaves the kernel as it found it.  What cannot be undone (deleting a link, a namespace)
is registered with ``on_commit`` instead and runs only once the transaction has succeeded.
The same choke point carries the fault-injection hook the tests use to prove that:
``NETCTL_FAULT=<step>`` fails just before that step, ``<step>:after`` just after it,
``<step>:kill`` SIGKILLs the process there (crash tests), ``<step>:SIGINT`` (``SIGTERM``,
``SIGHUP``) sends it that signal there (interrupts.py decides what the signal does).
``NETCTL_TRACE=<file>`` appends each step's name to a file, so a test can learn the steps.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from . import interrupts
from .errors import InjectedFault

T = TypeVar("T")


def checkpoint(name: str, when: str = "before", traced: bool = True) -> None:
    """Trace the step and fire the injected fault if it names this point.  Checkpoints inside
    ``Store.save`` (``save.write``, ``save.rename``, ``save.dirsync``) are not TRACED: the
    crash tests walk the traced steps, and these are reached with their names only."""
    trace = os.environ.get("NETCTL_TRACE")
    if trace and traced and when == "before":
        with open(trace, "a", encoding="utf-8") as handle:
            handle.write(name + "\n")
    fault = os.environ.get("NETCTL_FAULT")
    if not fault:
        return
    step, _, mode = fault.partition(":")
    if step != name:
        return
    if mode == "kill" and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode in SIGNAL_MODES and when == "before":  # Ctrl-C, a service manager, a hangup
        os.kill(os.getpid(), SIGNAL_MODES[mode])
        return
    if (mode or "before") == when:
        raise InjectedFault(f"injected fault at step {name!r} ({when})")


SIGNAL_MODES = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}


class Transaction:
    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], Any]]] = []
        self._on_commit: list[tuple[str, Callable[[], Any]]] = []
        self._last: list[tuple[str, Callable[[], Any]]] = []

    def step(self, name: str, do: Callable[[], T], undo: Callable[[], Any] | None = None) -> T:
        """Run ``do`` and register ``undo`` as one unit: a signal arriving in between waits
        until the undo is registered (interrupts.atomic), so a rollback never misses it."""
        with interrupts.atomic():
            checkpoint(name)
            result = do()
            if undo is not None:
                self._undo.append((name, undo))
            checkpoint(name, "after")
        return result

    def on_commit(self, name: str, do: Callable[[], Any], last: bool = False) -> None:
        """Run ``do`` only once the transaction succeeded (in a mutation: after the save).

        For steps that cannot be undone (deleting a link, a namespace, files), so that a
        failure anywhere before the commit point leaves them in place.  They run in order;
        one that fails is a warning, not an error: the state already says the object is
        gone, and what is left of it is an orphan that ``check --repair`` removes.  ``name``
        labels the warning; these are not fault-injection points (a kill after the save is
        the ``files`` checkpoint's case).  ``last``: after every other commit step (a veth
        whose namespace is deleted dies with it; its check waits until all are deleted, so
        the kernel tears the namespaces down in one batch)."""
        (self._last if last else self._on_commit).append((name, do))

    def _commit(self) -> None:
        self._undo.clear()
        self._on_commit += self._last
        self._last = []
        while self._on_commit:
            name, do = self._on_commit.pop(0)
            try:
                do()
            except Exception as exc:  # noqa: BLE001 - committed: the rest must still run
                print(f"netctl: warning: {name}: {exc}", file=sys.stderr)

    def adopt(self, inner: Transaction) -> None:
        """Take over a finished inner transaction's undos and commit steps (a batch line
        that succeeded): they now undo, or run, with this one."""
        self._undo += inner._undo
        self._on_commit += inner._on_commit
        self._last += inner._last
        inner._undo, inner._on_commit, inner._last = [], [], []

    def rollback(self) -> list[str]:
        """Run the undos newest-first; keep going past failures and report them."""
        failed = []
        while self._undo:
            name, undo = self._undo.pop()
            try:
                undo()
            except Exception as exc:  # noqa: BLE001 - rollback must finish
                failed.append(f"{name}: {exc}")
        for line in failed:
            print(f"netctl: warning: rollback of {line}", file=sys.stderr)
        return failed

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._on_commit.clear()
            self._last.clear()
            with interrupts.held():  # a Ctrl-C must not stop the rollback half-way
                self.rollback()
        else:
            self._commit()

"""Multi-step operations that undo themselves.

Every kernel step is run through ``Transaction.step`` with the step that reverses it.  If a
later step raises, the undos run newest-first and the original error is re-raised, so a failed
command leaves the kernel as it found it.  The same choke point carries the fault-injection
hook the tests use to prove that: ``NETCTL_FAULT=<step>`` fails just before that step,
``<step>:after`` just after it, ``<step>:kill`` SIGKILLs the process there (crash tests).
``NETCTL_TRACE=<file>`` appends each step's name to a file, so a test can learn the steps.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import InjectedFault

T = TypeVar("T")


def checkpoint(name: str, when: str = "before") -> None:
    """Trace the step and fire the injected fault if it names this point."""
    trace = os.environ.get("NETCTL_TRACE")
    if trace and when == "before":
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
    if (mode or "before") == when:
        raise InjectedFault(f"injected fault at step {name!r} ({when})")


class Transaction:
    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], Any]]] = []

    def step(self, name: str, do: Callable[[], T], undo: Callable[[], Any] | None = None) -> T:
        checkpoint(name)
        result = do()
        if undo is not None:
            self._undo.append((name, undo))
        checkpoint(name, "after")
        return result

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
            self.rollback()
        else:
            self._undo.clear()

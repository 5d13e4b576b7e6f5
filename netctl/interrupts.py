"""SIGINT, SIGTERM and SIGHUP: an error before the commit point, a deferred note after it.

A command must never report one thing and have done another.  So while it plans and drives the
kernel, these signals raise ``Interrupted``: the transaction rolls back like after any error and
the command exits 128+N (SIGTERM's default action would kill it with the kernel half-changed).
Each kernel step, with the registration of its undo, is ``atomic``: a signal arriving inside it
waits until the undo is known, then interrupts.  From the moment the save starts (``hold``)
and while a rollback runs, signals are only recorded: the command finishes what it started,
exits as it would have, and ``warnings`` says a signal came and did not interrupt.  A signal
the caller ignores (``nohup``) stays ignored.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

WATCHED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """Raised by the handler; a BaseException so that no ``except Exception`` swallows it."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


class _Guard:
    def __init__(self) -> None:
        self.previous: dict[int, object] = {}
        self.held = False  # signals are only recorded now
        self.saving = False  # a save has started: what was received then did not interrupt it
        self.atomic = 0
        self.in_step: list[int] = []  # arrived inside an atomic step: interrupt right after it
        self.pending: list[int] = []  # arrived while held: reported at the end


_guard = _Guard()


def install() -> None:
    """Take over the watched signals for one command (the root group calls it)."""
    global _guard
    _guard = _Guard()
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in WATCHED:
        previous = signal.getsignal(signum)
        if previous is signal.SIG_IGN:
            continue
        _guard.previous[signum] = previous
        signal.signal(signum, _handler)


def restore() -> None:
    """Give the handlers back (in-process callers such as tests run many commands)."""
    for signum, previous in _guard.previous.items():
        signal.signal(signum, previous)
    _guard.previous.clear()


def _handler(signum: int, _frame) -> None:
    if _guard.held:
        _guard.pending.append(signum)
    elif _guard.atomic:
        _guard.in_step.append(signum)
    else:
        _guard.held = True  # a second signal must not break the rollback this one starts
        raise Interrupted(signum)


def hold() -> None:
    """From now until the command ends, signals only get recorded (the commit point)."""
    _guard.held = _guard.saving = True


@contextmanager
def held() -> Iterator[None]:
    """Signals wait while the block runs (a rollback must finish)."""
    before = _guard.held
    _guard.held = True
    try:
        yield
    finally:
        _guard.held = before


@contextmanager
def atomic() -> Iterator[None]:
    """A kernel step and its undo's registration: a signal inside interrupts right after."""
    _guard.atomic += 1
    try:
        yield
    finally:
        _guard.atomic -= 1
    if _guard.in_step and not _guard.atomic and not _guard.held:
        signum = _guard.in_step.pop(0)
        _guard.pending += _guard.in_step
        _guard.in_step.clear()
        _guard.held = True
        raise Interrupted(signum)


def take_pending() -> Interrupted | None:
    """A signal that waited for a finished save, taken back as a stop request: a command doing
    several objects one transaction each stops before the next one instead."""
    if not _guard.pending:
        return None
    signum = _guard.pending[0]
    _guard.pending.clear()
    return Interrupted(signum)


def warnings() -> list[str]:
    """One line per kind of signal that came and did not interrupt (Ctrl-C pressed five
    times is one line), for stderr at the end."""
    what = ("the change was already being saved; it was completed" if _guard.saving
            else "the command was already failing; its rollback was completed")
    return [f"warning: {signal.Signals(s).name} received, but {what}"
            for s in dict.fromkeys(_guard.pending + _guard.in_step)]


class Shielded:
    """The kernel with every call ``atomic``: a signal never lands inside a netlink request.
    pyroute2 runs its requests on an asyncio loop, which catches an exception raised in one of
    its callbacks, logs it and goes on waiting for a reply that no longer comes (the command
    then hangs for ever); a setns dance cut short would leave the thread in a sandbox."""

    def __init__(self, wrapped: object):
        self.wrapped = wrapped

    def __getattr__(self, name: str):
        value = getattr(self.wrapped, name)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            with atomic():
                return value(*args, **kwargs)

        return call

"""netctl.interrupts with Transaction: where a signal interrupts, where it waits, and that the
caller's handlers come back (the real-kernel matrix is tests/integration/test_signals.py)."""

from __future__ import annotations

import os
import signal

import pytest

from netctl import interrupts
from netctl.interrupts import Interrupted
from netctl.txn import Transaction


@pytest.fixture
def guard():
    interrupts.install()
    try:
        yield
    finally:
        interrupts.restore()


def test_a_signal_inside_a_step_waits_for_its_undo_then_rolls_back(guard):
    log = []

    def do():
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the step runs
        log.append("done")

    with pytest.raises(Interrupted) as info, Transaction() as tx:
        tx.step("one", lambda: log.append("one"), lambda: log.append("undo one"))
        tx.step("two", do, lambda: log.append("undo two"))
        log.append("never")
    assert info.value.exit_code == 143
    assert log == ["one", "done", "undo two", "undo one"]


def test_a_signal_during_the_rollback_does_not_stop_it(guard):
    log = []

    def undo_two():
        os.kill(os.getpid(), signal.SIGINT)
        log.append("undo two")

    with pytest.raises(RuntimeError), Transaction() as tx:
        tx.step("one", lambda: None, lambda: log.append("undo one"))
        tx.step("two", lambda: None, undo_two)
        raise RuntimeError("the command failed")
    assert log == ["undo two", "undo one"]
    assert interrupts.warnings() == ["warning: SIGINT received, but the command was already "
                                     "failing; its rollback was completed"]


def test_after_hold_a_signal_is_only_recorded(guard):
    interrupts.hold()
    os.kill(os.getpid(), signal.SIGHUP)
    with Transaction() as tx:
        tx.step("one", lambda: None)
    assert interrupts.warnings() == ["warning: SIGHUP received, but the change was already being "
                                     "saved; it was completed"]


def test_an_ignored_signal_stays_ignored_and_handlers_come_back():
    before_int = signal.getsignal(signal.SIGINT)
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        interrupts.install()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is not before_int
        interrupts.restore()
        assert signal.getsignal(signal.SIGINT) is before_int
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_sigterm_before_the_save_rolls_back_through_the_cli(cli, monkeypatch):
    """Over the fake kernel: the injected SIGTERM at the bridge step leaves nothing behind."""
    monkeypatch.setenv("NETCTL_FAULT", "bridge-up:SIGTERM")
    kernel_before = [x.name for x in cli.kernel().links()]
    res = cli("network", "create", "n1")
    assert res.code == 143, res
    assert res.err == "netctl: interrupted by SIGTERM; nothing was saved (kernel changes rolled back)\n"
    assert not cli.state.exists() and [x.name for x in cli.kernel().links()] == kernel_before
    monkeypatch.setenv("NETCTL_FAULT", "save.rename:SIGINT")
    res = cli("network", "create", "n1")
    assert res.code == 0 and "n1" in cli.ok("network", "ls", "-q"), res
    assert res.err == ("netctl: warning: SIGINT received, but the change was already being saved; "
                       "it was completed\n")


def test_a_kernel_call_is_never_cut_in_the_middle(guard):
    """interrupts.Shielded: the signal waits for the call to return, then interrupts (pyroute2's
    asyncio loop would swallow an exception raised inside a request and wait for ever)."""

    class Kernel:
        answer = 42

        def links(self):
            os.kill(os.getpid(), signal.SIGTERM)
            return ["lo"]

    kernel = interrupts.Shielded(Kernel())
    assert kernel.answer == 42
    done = []
    with pytest.raises(Interrupted):
        done.append(kernel.links())
    assert done == []  # raised right after the call, before its result was used


def test_rm_of_several_names_stops_after_the_one_being_saved(cli, monkeypatch):
    """``rm A B C``: one transaction per name; a signal during A's save lets A finish (it is
    reported on stdout) and leaves B and C, each named on stderr, exit 128+N."""
    for name in ("n1", "n2", "n3"):
        cli.ok("network", "create", name)
    monkeypatch.setenv("NETCTL_FAULT", "save.rename:SIGINT")
    res = cli("network", "rm", "n1", "n2", "n3")
    assert res.code == 130 and res.out == "n1\n", res
    assert res.err == ("netctl: n2: not removed: interrupted by SIGINT\n"
                       "netctl: n3: not removed: interrupted by SIGINT\n")
    monkeypatch.delenv("NETCTL_FAULT")
    assert cli.ok("network", "ls", "-q").split() == ["n2", "n3"]

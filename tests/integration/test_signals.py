"""SIGINT, SIGTERM and SIGHUP on the real kernel (issue 8 §3): what a command reports is what
it did.

Each run is a forked ``netctl`` (the CLI entry point) that sends itself the signal at one step
(``NETCTL_FAULT=<step>:SIGTERM``): at every kernel step the command traces, at the ``save``
checkpoint, inside the save (``save.write``, ``save.rename``, ``save.dirsync``) and at
``files``.  Before the save the command must roll back and say so: exit 128+N, one
``interrupted by SIG…; nothing was saved`` line, the state file byte-for-byte the old one and
the kernel snapshot unchanged.  From the save on it must finish: exit 0, the new state saved,
``netctl check`` clean (the kernel is what the state says), and a warning that the signal came
and did not interrupt.  Each step gets one of the three signals in turn, counted afresh from
the save, so each signal lands on both sides of it (they share one handler and differ only in
name and exit code); ``-m stress`` sends every signal at every step.  Then the same from
outside: the test signals the running command after a seeded random delay, and whichever exit
code it gives must match what the state and the kernel show.  ``-m stress`` sends
``NETCTL_SIGNAL_RUNS`` (default 40) per command.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest
from netctl_runner import Forked, diff, forwarding_off, kernel_snapshot, rm_recorded, wipe_kernel

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
INSIDE_SAVE = ["save.write", "save.rename", "save.dirsync"]
RANDOM_SIGNALS = 6
STRESS_RANDOM_SIGNALS = int(os.environ.get("NETCTL_SIGNAL_RUNS", "40"))


@pytest.fixture
def run(tmp_path):
    # A background job of a non-interactive shell starts with SIGINT ignored, and netctl
    # leaves an ignored signal ignored (by design): the forked runs start from the default.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    netctl = Forked(tmp_path / "state.toml", timeout=60.0)
    try:
        yield netctl
    finally:
        signal.signal(signal.SIGINT, previous)
        for args in rm_recorded(netctl.state):
            netctl(*args)
        from netctl.kernel.netlink import NetlinkKernel

        with NetlinkKernel() as k:
            wipe_kernel(k)


# --- the commands: each run gets fresh objects (I), so a run never depends on the previous ---

def connect(run: Forked, i: int) -> list[str]:
    if "sn" not in run.ok("network", "ls", "-q").split():
        run.ok("network", "create", "sn", "--subnet", "10.94.0.0/16")
    run.ok("sandbox", "create", f"c{i}")
    return ["network", "connect", "sn", f"c{i}"]


def sandbox_rm(run: Forked, i: int) -> list[str]:
    connect(run, 1000 + i)
    run.ok("network", "connect", "sn", f"c{1000 + i}")
    return ["sandbox", "rm", f"c{1000 + i}"]


def network_create(run: Forked, i: int) -> list[str]:
    return ["network", "create", f"n{i}", "--subnet", f"10.95.{i}.0/24"]


COMMANDS = {"network-connect": connect, "sandbox-rm": sandbox_rm, "network-create": network_create}
# a network create turns forwarding on (its "forwarding" step) only where it is off: each of its
# runs starts with it off, as the first did, so every run takes the steps that one traced
FORWARDING_OFF_FIRST = {"network-create"}


def fresh(name: str) -> None:
    if name in FORWARDING_OFF_FIRST:
        forwarding_off()


def steps_of(run: Forked, name: str) -> list[str]:
    """The command's traced steps (one unsignalled run), with the save's inner checkpoints."""
    trace = run.state.with_name("trace")
    trace.write_text("")
    argv = COMMANDS[name](run, 0)
    fresh(name)
    code, _, err = run(*argv, env={"NETCTL_TRACE": str(trace)})
    assert code == 0, err
    steps = list(dict.fromkeys(trace.read_text().split()))
    at = steps.index("save") + 1
    return steps[:at] + INSIDE_SAVE + steps[at:]


def check_clean(run: Forked) -> None:
    code, out, err = run("check")
    assert code == 0, f"check after a completed run: {code}\n{out}{err}"


def assert_rolled_back(run, kern, signum, code, err, old_bytes, before, where) -> None:
    name = signal.Signals(signum).name
    assert code == 128 + signum, f"{where}: expected exit {128 + signum}, got {code}: {err}"
    assert err == f"netctl: interrupted by {name}; nothing was saved (kernel changes rolled back)\n", \
        f"{where}: {err!r}"
    assert run.state.read_bytes() == old_bytes, f"{where}: state changed"
    assert not diff(before, kernel_snapshot(kern)), f"{where}: {diff(before, kernel_snapshot(kern))}"


def assert_completed(run, signum, code, err, old_bytes, where) -> None:
    name = signal.Signals(signum).name
    assert code == 0, f"{where}: expected exit 0, got {code}: {err}"
    assert err == (f"netctl: warning: {name} received, but the change was already being saved; "
                   "it was completed\n"), f"{where}: {err!r}"
    assert run.state.read_bytes() != old_bytes, f"{where}: nothing saved"
    check_clean(run)


def signals_at(steps: list[str], every: bool) -> list[tuple[str, int]]:
    """(step, signal) pairs: every signal at every step, or one per step in turn, counted
    from the save as well, so that each signal lands on both sides of it."""
    saved_from = steps.index("save")
    return [(step, signum) for n, step in enumerate(steps)
            for k, signum in enumerate(SIGNALS)
            if every or k == (n if n < saved_from else n - saved_from) % len(SIGNALS)]


@pytest.mark.parametrize("name", COMMANDS)
def test_a_signal_at_every_step_rolls_back_or_completes(run, kern, name):
    signal_at_every_step(run, kern, name, every=False)


@pytest.mark.stress
@pytest.mark.parametrize("name", COMMANDS)
def test_a_signal_at_every_step_rolls_back_or_completes_stress(run, kern, name):
    signal_at_every_step(run, kern, name, every=True)


def signal_at_every_step(run: Forked, kern, name: str, every: bool) -> None:
    command = COMMANDS[name]
    steps = steps_of(run, name)
    saved_from = steps.index("save")
    runs = 0
    for i, (step, signum) in enumerate(signals_at(steps, every), start=1):
        n = steps.index(step)
        argv = command(run, i)
        fresh(name)
        old, before = run.state.read_bytes(), kernel_snapshot(kern)
        mode = signal.Signals(signum).name
        code, _, err = run(*argv, env={"NETCTL_FAULT": f"{step}:{mode}"})
        where = f"{' '.join(argv)} with {mode} at {step}"
        if n < saved_from:
            assert_rolled_back(run, kern, signum, code, err, old, before, where)
        else:
            assert_completed(run, signum, code, err, old, where)
        runs += 1
    check_clean(run)
    print(f"{name}: {runs} signalled runs over {len(steps)} steps {steps}")


@pytest.mark.parametrize("name", COMMANDS)
def test_a_signal_from_outside_at_a_random_moment(run, kern, name):
    """The test sends the signal while the command runs; its exit code tells what happened."""
    signals_at_random(run, kern, name, RANDOM_SIGNALS)


@pytest.mark.stress
@pytest.mark.parametrize("name", COMMANDS)
def test_a_signal_from_outside_at_a_random_moment_stress(run, kern, name):
    signals_at_random(run, kern, name, STRESS_RANDOM_SIGNALS)


def signals_at_random(run: Forked, kern, name: str, count: int) -> None:
    command = COMMANDS[name]
    argv = command(run, 0)
    started = time.monotonic()
    run.ok(*argv)
    window = time.monotonic() - started  # aim at one unsignalled run (not an assertion)
    rng = random.Random(f"signals-{name}")
    outcomes = dict.fromkeys(["rolled back", "completed", "finished first", "before start"], 0)
    for i in range(1, count + 1):
        signum = SIGNALS[i % len(SIGNALS)]
        argv = command(run, i)
        old, before = run.state.read_bytes(), kernel_snapshot(kern)
        child = run.start(argv)
        time.sleep(rng.uniform(0, window))
        sent = child.poll() is None
        if sent:
            os.kill(child.pid, signum)
        code, _, err = child.finish()
        where = f"{' '.join(argv)} with {signal.Signals(signum).name} after a random delay"
        if code == 0:
            assert run.state.read_bytes() != old, f"{where}: exit 0 but nothing saved"
            assert err in ("", f"netctl: warning: {signal.Signals(signum).name} received, but the "
                               "change was already being saved; it was completed\n"), f"{where}: {err!r}"
            check_clean(run)
            outcomes["completed" if sent else "finished first"] += 1
        elif code in (-signum, 70):  # landed before netctl took the signal over: nothing ran
            assert run.state.read_bytes() == old and not diff(before, kernel_snapshot(kern)), where
            outcomes["before start"] += 1
        else:
            assert_rolled_back(run, kern, signum, code, err, old, before, where)
            outcomes["rolled back"] += 1
    print(f"{name}: {outcomes}")

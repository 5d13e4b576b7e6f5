"""The state lock under hostile conditions (issue 8 §4): lock waits that are not numbers, a lock
file that is not a file, a holder that is not the last netctl that wrote its PID."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

import pytest

from netctl.store import Store


@pytest.mark.parametrize("value", ["nan", "NaN", "-1", "-inf", "soon"])
@pytest.mark.parametrize("how", ["option", "env"])
def test_a_lock_timeout_that_is_not_a_wait_is_exit_2(cli, monkeypatch, value, how):
    if how == "env":
        monkeypatch.setenv("NETCTL_LOCK_TIMEOUT", value)
        args = ["network", "create", "n1"]
    else:
        args = [f"--lock-timeout={value}", "network", "create", "n1"]
    res = cli(*args)
    assert res.code == 2 and res.err.count("\n") == 1, res
    assert res.err.startswith("netctl: ") and "--lock-timeout" in res.err
    assert not cli.state.exists()


def _holder(path, seconds: float, stale_pid: str = "") -> subprocess.Popen:
    """Another process (not netctl: think ``flock(1)``) holding the lock for SECONDS, with
    STALE_PID written into the lock file as if an earlier netctl had left it there."""
    code = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.ftruncate(fd, 0); os.write(fd, sys.argv[2].encode())\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[3]))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, f"{path}.lock", stale_pid, str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "locked\n"
    return proc


def test_lock_timeout_inf_waits_for_the_holder(cli):
    holder = _holder(cli.state, 0.5)
    started = time.monotonic()
    cli.ok("--lock-timeout", "inf", "network", "create", "n1")
    assert time.monotonic() - started >= 0.3 and holder.wait(5) == 0
    assert "n1" in cli.ok("network", "ls", "-q")


def test_status_names_the_real_holder_not_the_pid_in_the_file(cli):
    cli.ok("network", "create", "n1")  # netctl wrote its own (now gone) PID into the lock file
    holder = _holder(cli.state, 30, stale_pid=f"{os.getpid()}\n")
    try:
        lock = Store(cli.state).lock_holder()
        text = cli.ok("status")
    finally:
        holder.kill()
        holder.wait()
    assert lock == holder.pid
    assert f"held by pid {holder.pid} " in text


def test_a_lock_file_that_is_a_fifo_is_refused_naming_it(cli):
    lock = cli.state.with_name(cli.state.name + ".lock")
    os.mkfifo(lock)
    res = cli("network", "create", "n1")
    assert res.code == 8 and res.err == f"netctl: {lock}: lock file is not a regular file\n", res
    assert not cli.state.exists() and [x.name for x in cli.kernel().links()] == ["lo"]
    assert cli("status").code == 0


def test_a_lock_that_cannot_be_taken_names_the_lock_file(cli, monkeypatch):
    def no_locks(fd, op):
        raise OSError(37, "No locks available")  # ENOLCK, e.g. on some network filesystems

    monkeypatch.setattr(fcntl, "flock", no_locks)
    res = cli("network", "create", "n1")
    lock = cli.state.with_name(cli.state.name + ".lock")
    assert res.code == 8 and res.err == f"netctl: {lock}: cannot lock: No locks available\n", res


@pytest.mark.parametrize("command", [("status",), ("network", "create", "n1"), ("network", "ls")])
def test_an_empty_state_path_is_exit_2_not_a_crash(cli, command):
    """``--state ''`` became the path '.' and crashed with exit 1 (even ``status``)."""
    res = cli("--state", "", *command)
    assert res.code == 2 and res.err.count("\n") == 1 and "--state" in res.err, res
    assert not cli.state.exists()

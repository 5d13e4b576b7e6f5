"""Every command exits with nothing on stderr that it did not mean to print (issue 8 §6).

pyroute2 gives each ``IPRoute`` its own asyncio event loop.  A socket that is never closed
leaves its loop to the interpreter's shutdown, where the loop's ``__del__`` may run after
its self-pipe was already closed: ``Exception ignored in BaseEventLoop.__del__ … Invalid
file descriptor: -1`` on stderr, with exit 0, in about one run of fifty.  Because the order
of that teardown is chance, the first test makes the cause visible every time (Python's
ResourceWarning for an event loop that was never closed) and the second counts the symptom
over many real runs in fresh interpreters: 20 of each by default (the symptom was never seen
on our VMs, and the first test is what fails on the cause), ``NETCTL_TEST_EXIT_RUNS`` [150]
under ``-m stress``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from netctl_runner import Netctl

RUNS = 20  # sandbox creates (plus as many rm)
STRESS_RUNS = int(os.environ.get("NETCTL_TEST_EXIT_RUNS", "150"))
BATCH = 10


def _spawn(runner: Netctl, *args: str, warn: bool = False) -> subprocess.Popen:
    flags = ["-W", "always::ResourceWarning"] if warn else []
    return subprocess.Popen([sys.executable, *flags, "-m", "netctl", *args], env=runner.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


def test_every_netlink_socket_is_closed_before_exit(tmp_path):
    """A socket (and its event loop) left open is what the shutdown traceback comes from."""
    runner = Netctl(tmp_path / "state.toml")
    try:
        for args in (("network", "create", "n"), ("sandbox", "create", "s"),
                     ("network", "connect", "n", "s"), ("check",), ("sandbox", "rm", "s"),
                     ("network", "rm", "n")):
            code, err = _finish(_spawn(runner, *args, warn=True))
            assert (code, err) == (0, ""), f"netctl {' '.join(args)}"
    finally:
        runner.teardown()


def test_sandbox_create_and_rm_never_print_a_shutdown_traceback(tmp_path):
    clean_runs(tmp_path, RUNS)


@pytest.mark.stress
def test_sandbox_create_and_rm_never_print_a_shutdown_traceback_stress(tmp_path):
    clean_runs(tmp_path, STRESS_RUNS)


def clean_runs(tmp_path, runs: int) -> None:
    """RUNS ``sandbox create`` and as many ``sandbox rm``, BATCH at a time in parallel (each on
    its own state file), each in a fresh interpreter: every one exits 0 with stderr empty."""
    runners = [Netctl(tmp_path / f"state{i}.toml") for i in range(BATCH)]
    noisy: list[str] = []
    try:
        for start in range(0, runs, BATCH):
            names = [f"x{start + i}" for i in range(BATCH)]
            for verb in ("create", "rm"):
                procs = [_spawn(r, "sandbox", verb, n) for r, n in zip(runners, names, strict=True)]
                for name, proc in zip(names, procs, strict=True):
                    code, err = _finish(proc)
                    if code != 0 or err:
                        noisy.append(f"sandbox {verb} {name} -> {code}: {err[-300:]}")
    finally:
        for r in runners:
            r.teardown()
    assert not noisy, f"{len(noisy)} of {2 * runs} runs were not clean:\n" + "\n".join(noisy[:3])

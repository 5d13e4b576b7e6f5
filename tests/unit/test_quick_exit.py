"""A netctl process ends without the interpreter's teardown (issue 10 §4), and loses nothing.

Tearing down pyroute2's modules and event loops cost 20-40 ms of every changing command; the
CLI now flushes stdout and stderr and leaves with ``os._exit`` once the command is done.
These run the real entry point in fresh interpreters (over the fake kernel: no root) and
check what a caller sees: every byte of output through a pipe, the exit code, one-line errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support import fakenetctl

ENTRY = ("import atexit, sys\n"
         "atexit.register(lambda: sys.stderr.write('interpreter teardown ran\\n'))\n"
         f"sys.path.insert(0, {str(fakenetctl.TESTS)!r})\n"
         "from support.fakenetctl import main\n"
         "main()\n")


@pytest.fixture
def run(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETCTL_") and k != "PYTHONUNBUFFERED"}
    env.update(NETCTL_STATE=str(tmp_path / "state.toml"), NETCTL_CONFIG=os.devnull,
               **{fakenetctl.ENV: str(tmp_path / "kernel.json")})

    def call(*args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", ENTRY, *args], env={**env, **(extra or {})},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

    return call


def test_a_changing_command_skips_the_teardown(run):
    res = run("network", "create", "n1", "--subnet", "10.7.0.0/24")
    assert (res.returncode, res.stderr) == (0, "")
    assert res.stdout == "n1\n"  # flushed before the exit


def test_the_ordinary_exit_is_still_there_for_measuring(run):
    res = run("network", "ls", "-q", extra={"NETCTL_SLOW_EXIT": "1"})
    assert (res.returncode, res.stderr) == (0, "interpreter teardown ran\n")


def test_long_output_through_a_pipe_arrives_whole(run, cli):
    """stdout to a pipe is block-buffered: without the flush the tail would be lost.  The 60
    networks are made in-process (the cli fixture: the same state and fake kernel files)."""
    for i in range(60):
        cli.ok("network", "create", f"net{i:02d}", "--subnet", f"10.8.{i}.0/24")
    res = run("network", "ls", "--format", "json")
    assert res.returncode == 0 and res.stderr == ""
    assert sorted(n["name"] for n in json.loads(res.stdout)) == [f"net{i:02d}" for i in range(60)]


@pytest.mark.parametrize(("args", "code"), [(("network", "inspect", "nope"), 3),
                                            (("network", "create", "bad/name"), 2),
                                            (("network", "exists", "nope"), 3),
                                            (("nosuch",), 2)])
def test_exit_codes_and_error_lines_are_kept(run, args, code):
    res = run(*args)
    assert res.returncode == code
    assert res.stderr == "" if args[1:2] == ("exists",) else res.stderr.startswith("netctl: ")
    assert res.stderr.count("\n") <= 1 and "teardown" not in res.stderr

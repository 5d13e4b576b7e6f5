"""``network prune`` without -f asks, terminal or not (issue 8 §6): only y/yes removes."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from support import fakenetctl

from netctl.cli import main


def prune(cli, answer: str | None):
    res = cli.runner.invoke(main, ["network", "prune"], input=answer, catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def names(cli):
    return [n["name"] for n in json.loads(cli.ok("network", "ls", "--format", "json"))]


@pytest.fixture
def idle(cli):
    cli.ok("network", "create", "idle", "--subnet", "10.1.0.0/24")
    cli.ok("network", "create", "busy", "--subnet", "10.2.0.0/24")
    cli.ok("endpoint", "create", "busy", "ep")
    return cli


@pytest.mark.parametrize("answer", ["n\n", "no\n", "\n", "", None, "maybe\n", "yes please\n", "nope"])
def test_anything_but_yes_removes_nothing(idle, answer):
    before = idle.state_bytes()
    code, out, err = prune(idle, answer)
    assert (code, out) == (0, "")
    assert "Remove 1 network(s) without endpoints (idle)? [y/N]" in err
    assert "nothing removed" in err
    assert idle.state_bytes() == before


@pytest.mark.parametrize("answer", ["y\n", "Y\n", "yes\n", " YES \n", "y"])
def test_yes_removes_the_unused_ones(idle, answer):
    code, out, err = prune(idle, answer)
    assert (code, out) == (0, "idle\n")
    assert names(idle) == ["busy"]


def test_force_does_not_ask(idle):
    assert idle.ok("network", "prune", "-f") == "idle\n"


def test_only_what_was_asked_about_is_removed(idle, monkeypatch):
    """A network created while the question waits is not pruned with the others."""
    from netctl.cli import common

    def answer_yes_after_a_create(question):
        idle.ok("network", "create", "late", "--subnet", "10.3.0.0/24")
        return True

    monkeypatch.setattr("netctl.cli.network.confirm", answer_yes_after_a_create)
    assert common.confirm is not answer_yes_after_a_create
    assert idle.ok("network", "prune") == "idle\n"
    assert sorted(names(idle)) == ["busy", "late"]


def test_echo_n_pipe_in_a_real_process(idle, tmp_path):
    """The issue's exact command line: stdin a pipe, not a terminal."""
    before = idle.state_bytes()
    env = {**os.environ, fakenetctl.ENV: str(idle.kernel_file)}
    proc = subprocess.run(fakenetctl.command("network", "prune"), input=b"n\n", env=env,
                          capture_output=True, check=False)
    assert proc.returncode == 0 and proc.stdout == b"" and b"nothing removed" in proc.stderr
    proc = subprocess.run(fakenetctl.command("network", "prune"), stdin=subprocess.DEVNULL, env=env,
                          capture_output=True, check=False)
    assert proc.returncode == 0 and proc.stdout == b""
    assert idle.state_bytes() == before

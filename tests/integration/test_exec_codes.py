"""``sandbox exec`` exit codes on the real kernel (issue 8 §6): the command's own code passes
through; netctl's own failures are 125, a command that cannot run 126, a missing one 127 (as
docker exec), so a command exiting 3 cannot be mistaken for netctl's "not found"."""

from __future__ import annotations

import os

import pytest
from netctl_runner import Netctl


@pytest.fixture
def box(tmp_path, nk):
    runner = Netctl(tmp_path / "state.toml")
    runner.ok("sandbox", "create", "box")
    yield runner
    runner.teardown()


@pytest.mark.parametrize("status", [0, 1, 2, 3, 4, 7, 8, 9, 42])
def test_the_commands_own_code_passes_through(box, status):
    code, out, err = box("sandbox", "exec", "box", "--", "sh", "-c", f"echo in; exit {status}")
    assert (code, out) == (status, "in\n"), err


def test_missing_and_unrunnable_commands_are_127_and_126(box, tmp_path):
    code, _, err = box("sandbox", "exec", "box", "--", "no-such-command-here")
    assert code == 127 and "command not found" in err
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o644)
    code, _, err = box("sandbox", "exec", "box", "--", str(script))
    assert code == 126 and "permission denied" in err
    code, _, err = box("sandbox", "exec", "box", "--", "")  # was exit 1, "unexpected error"
    assert code == 127 and "command not found" in err and err.count("\n") == 1


def test_netctls_own_failures_are_125(box, tmp_path, nk):
    code, out, err = box("sandbox", "exec", "nosuch", "--", "true")
    assert (code, out) == (125, "") and "not found" in err and err.count("\n") == 1
    code, _, err = box("sandbox", "exec", "box")  # no command: usage
    assert code == 125 and "COMMAND" in err
    corrupt = tmp_path / "corrupt.toml"
    corrupt.write_text("schema = [[[\n")  # exit 8 anywhere else
    code, _, err = box("--state", str(corrupt), "sandbox", "exec", "box", "--", "true")
    assert code == 125 and "corrupt.toml" in err
    nk.netns_delete("box")  # the namespace gone under the state (as after a reboot)
    code, _, err = box("sandbox", "exec", "box", "--", "true")
    assert code == 125 and "box" in err

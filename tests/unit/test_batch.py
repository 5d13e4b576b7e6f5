"""``netctl batch`` and the plan executor over the fake kernel: one lock, one load, one save;
each line its own rollback; the failing line named with its number and exit code."""

from __future__ import annotations

import json

import pytest

from netctl.cli import main

LAB = """\
# a comment, then a blank line

netctl network create n1 --subnet 10.1.0.0/24
sandbox create a
network connect n1 a --alias 'web-a'   # trailing comment
sandbox create b
"""


def batch(cli, text: str, *args: str):
    res = cli.runner.invoke(main, ["batch", *args], input=text, catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def test_a_batch_is_one_load_one_save_and_one_files_pass(cli, tmp_path, monkeypatch):
    trace = tmp_path / "trace"
    monkeypatch.setenv("NETCTL_TRACE", str(trace))
    code, out, err = batch(cli, LAB)
    assert (code, err) == (0, "")
    assert out.split() == ["n1", "a", "b"]
    steps = trace.read_text().split()
    assert steps.count("save") == 1 and steps.count("files") == 1
    ep = json.loads(cli.ok("endpoint", "inspect", "n1/a"))[0]
    assert ep["aliases"] == ["web-a"] and ep["ipv4"] == "10.1.0.2/24"


def test_the_lock_is_taken_once_not_per_line(cli):
    """A line that took the lock again would wait for the batch itself: exit 7 at once."""
    res = cli.runner.invoke(main, ["--lock-timeout", "0", "batch"], input=LAB)
    assert res.exit_code == 0, res.stderr


def test_it_stops_at_the_failing_line_with_its_number_and_code(cli, tmp_path):
    path = tmp_path / "cmds"
    path.write_text(LAB.replace("sandbox create b", "network connect nowhere a\nsandbox create b"))
    res = cli("batch", "-f", str(path))
    assert res.code == 3
    assert res.err == f"netctl: {path}:6: network connect: network 'nowhere' not found\n"
    assert cli.ok("sandbox", "ls", "-q").split() == ["a"]  # the lines before it stay


def test_continue_runs_the_rest_and_exits_with_the_first_failure(cli):
    text = "sandbox create a\nsandbox create a\nnetwork rm nope\nsandbox create c\n"
    code, _, err = batch(cli, text, "--continue")
    assert code == 4
    assert [line.split(":")[2] for line in err.splitlines() if "<stdin>" in line] == ["2", "3"]
    assert cli.ok("sandbox", "ls", "-q").split() == ["a", "c"]


def test_a_failed_line_keeps_its_own_rollback(cli, monkeypatch):
    """The fault hits the second connect: its veth and the state changes it made are gone,
    the first connect (an earlier line) stays and is saved."""
    text = ("network create n1\nsandbox create a\nsandbox create b\n"
            "network connect n1 a\nnetwork connect n1 b --ip 10.99.0.9\n")
    code, _, err = batch(cli, text)
    assert code == 2 and "<stdin>:5:" in err
    assert [e["sandbox"] for e in json.loads(cli.ok("endpoint", "ls", "--format", "json"))] == ["a"]
    veths = [link.name for link in cli.kernel().links() if link.kind == "veth"]
    assert len(veths) == 1
    cli.ok("network", "connect", "n1", "b")  # the failed line left no half-made endpoint


def test_a_kernel_fault_in_a_line_is_undone_and_earlier_lines_stay(cli, monkeypatch):
    cli.ok("network", "create", "n1")
    cli.ok("sandbox", "create", "a")
    monkeypatch.setenv("NETCTL_FAULT", "route-add")  # after veth-create and addr4 of the connect
    code, _, err = batch(cli, "sandbox create b\nnetwork connect n1 a\nsandbox create c\n")
    assert code == 1 and "<stdin>:2:" in err and "injected fault" in err
    monkeypatch.delenv("NETCTL_FAULT")
    assert cli.ok("sandbox", "ls", "-q").split() == ["a", "b"]
    assert cli.ok("endpoint", "ls", "-q") == ""
    assert not [link for link in cli.kernel().links() if link.kind == "veth"]


def test_ls_inside_a_batch_shows_the_batch_so_far(cli):
    code, out, _ = batch(cli, "network create n1\nnetwork ls -q\nnetwork create n2\nnetwork ls -q\n")
    assert code == 0 and out.split() == ["n1", "n1", "n2", "n1", "n2"]


@pytest.mark.parametrize("line, why", [
    ("sandbox exec a -- true", "cannot run in a batch"),
    ("batch", "cannot run in a batch"),
    ("--state /tmp/x network ls", "global options"),
    ("network create 'unterminated", "No closing quotation"),
])
def test_lines_that_cannot_run_are_refused_before_anything_runs(cli, line, why):
    code, _, err = batch(cli, f"sandbox create a\n{line}\n")
    assert code == 2 and "<stdin>:2:" in err and why in err
    assert cli.state_bytes() == b""


def test_usage_errors_in_a_line_are_exit_2_with_the_line(cli):
    code, _, err = batch(cli, "sandbox create a\nnetwork create\n")
    assert code == 2 and err.startswith("netctl: <stdin>:2: network create: Missing argument")


def test_a_byte_order_mark_is_not_part_of_the_first_command(cli, tmp_path):
    """Windows editors start UTF-8 files with a BOM; on a file and on stdin it is skipped."""
    path = tmp_path / "cmds"
    path.write_bytes(b"\xef\xbb\xbfsandbox create a\n")
    assert cli("batch", "-f", str(path)).code == 0
    code, _, err = batch(cli, "\ufeffsandbox create b\n")
    assert (code, err) == (0, "")
    assert cli.ok("sandbox", "ls", "-q").split() == ["a", "b"]

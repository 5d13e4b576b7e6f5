"""The sandbox guard and /etc/netns handling over the fake kernel (the real-kernel proofs are
tests/integration/test_nsguard.py): quick feedback, no root."""

from __future__ import annotations

import os

import pytest


def _setup(cli) -> None:
    cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    cli.ok("network", "create", "other", "--subnet", "10.78.0.0/24")
    for sb in ("web", "db"):
        cli.ok("sandbox", "create", sb)
        cli.ok("network", "connect", "demo", sb)


def _replace_db(cli) -> None:
    k = cli.kernel()
    k.netns_delete("db")
    k.netns_create("db")  # someone else's: lo unmarked


@pytest.mark.parametrize("args", [
    ("network", "disconnect", "demo", "db"),
    ("network", "connect", "other", "db"),
    ("endpoint", "leave", "db", "db"),
    ("endpoint", "rm", "-f", "db"),
    ("sandbox", "rm", "db"),
])
def test_a_foreign_namespace_is_refused_with_exit_4_and_nothing_changes(cli, args):
    _setup(cli)
    _replace_db(cli)
    state, kernel = cli.state_bytes(), cli.kernel_file.read_bytes()
    res = cli(*args)
    assert res.code == 4 and "not the one netctl made for sandbox 'db'" in res.err
    assert cli.state_bytes() == state and cli.kernel_file.read_bytes() == kernel


def test_sandbox_rm_force_forgets_and_leaves_the_files(cli):
    _setup(cli)
    _replace_db(cli)
    (cli.etc / "db" / "hosts").write_text("theirs\n")
    cli.ok("sandbox", "rm", "-f", "db")
    assert cli.ok("sandbox", "ls", "-q").split() == ["web"]
    assert (cli.etc / "db" / "hosts").read_text() == "theirs\n"
    assert cli.kernel().netns_exists("db")


def test_a_symlinked_sandbox_directory_is_refused_at_create(cli, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    cli.etc.mkdir(exist_ok=True)
    os.symlink(tmp_path / "elsewhere", cli.etc / "s1")
    res = cli("sandbox", "create", "s1")
    assert res.code == 4 and "is a symbolic link" in res.err
    assert not cli.kernel().netns_exists("s1") and os.listdir(tmp_path / "elsewhere") == []


def test_the_write_temp_is_outside_the_sandbox_directory_and_swept(cli):
    _setup(cli)
    (cli.etc / "web" / ".hosts.abcd1234").write_text("half")
    (cli.etc / ".web.hosts.tmp").write_text("half")
    cli.ok("sandbox", "create", "s3")
    cli.ok("network", "connect", "demo", "s3")  # web's hosts changes
    assert sorted(os.listdir(cli.etc / "web")) == ["hosts", "resolv.conf"]
    assert not (cli.etc / ".web.hosts.tmp").exists()

"""A full disk under the state file (issue 8 §4): the error names the file, the kernel work is
rolled back, and the state is the old one.  The disk is a 64 KiB tmpfs mounted in the suite's
own mount namespace (tests/conftest.py), filled to the last byte."""

from __future__ import annotations

import errno
import re
import subprocess
from pathlib import Path

import pytest
from netctl_runner import Forked, diff, kernel_snapshot, rm_recorded, wipe_kernel


@pytest.fixture
def disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(mnt: Path) -> None:
    """Write until the tmpfs refuses a single byte more."""
    with open(mnt / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:
            while True:
                handle.write(b"\0")
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


@pytest.fixture
def run(disk):
    netctl = Forked(disk / "state.toml")
    try:
        yield netctl
    finally:
        (disk / "filler").unlink(missing_ok=True)
        for args in rm_recorded(netctl.state):
            netctl(*args)
        from netctl.kernel.netlink import NetlinkKernel

        with NetlinkKernel() as k:
            wipe_kernel(k)


def named_enospc(err: str, state: Path) -> bool:
    """One line naming the file that could not be written: the state, or the intent journal
    beside it (written first when the command creates a link)."""
    return re.fullmatch(rf"netctl: {re.escape(str(state))}(\.intent)?: cannot (save the state|record what is"
                        r" being created): No space left on device\n", err) is not None


def test_disk_full_on_save_names_the_state_file_and_rolls_back(run, kern, disk):
    run.ok("network", "create", "n1", "--subnet", "10.96.0.0/24")
    run.ok("sandbox", "create", "s1")
    old, before = run.state.read_bytes(), kernel_snapshot(kern)
    fill(disk)
    for argv in (["network", "connect", "n1", "s1"], ["network", "create", "n2", "--subnet", "10.96.1.0/24"],
                 ["sandbox", "create", "s2"]):
        code, out, err = run(*argv)
        assert code == 1 and out == "", (argv, code, err)
        assert named_enospc(err, run.state), (argv, err)
        assert run.state.read_bytes() == old
        assert not diff(before, kernel_snapshot(kern)), diff(before, kernel_snapshot(kern))
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "state.toml", "state.toml.lock"]
    (disk / "filler").unlink()
    run.ok("network", "connect", "n1", "s1")  # and once there is room, the same command works


def test_a_first_command_on_a_full_disk_names_the_state_file(run, kern, disk):
    """Even the lock file's PID cannot be written: that is no reason to fail (the kernel, not
    the file, says who holds the lock); the save then fails, naming the state file."""
    fill(disk)
    before = kernel_snapshot(kern)
    code, _, err = run("network", "create", "n1", "--subnet", "10.96.2.0/24")
    assert code == 1 and named_enospc(err, run.state), err
    assert not run.state.exists() and not diff(before, kernel_snapshot(kern))
    code, out, err = run("status")
    assert code == 0 and "not created yet" in out, err

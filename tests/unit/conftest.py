"""Unit-test fixtures: the CLI over an in-memory (file-backed) fake kernel, no root needed."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import fakehooks

from netctl.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


class Cli:
    """Runs ``netctl`` in-process against a private state file and fake kernel."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch):
        self.state = tmp / "state.toml"
        self.kernel_file = tmp / "kernel.json"
        monkeypatch.setenv("NETCTL_STATE", str(self.state))
        fakehooks.install(self.kernel_file, monkeypatch.setattr)  # undone after the test
        self.config = tmp / "netctl.toml"  # absent unless a test writes it: the machine's never counts
        monkeypatch.setenv("NETCTL_CONFIG", str(self.config))
        monkeypatch.delenv("NETCTL_FAULT", raising=False)
        self.etc = tmp / "etc-netns"  # where fakehooks puts /etc/netns
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        res = self.runner.invoke(main, list(args), catch_exceptions=False)
        return Result(res.exit_code, res.stdout, res.stderr)

    def ok(self, *args: str) -> str:
        res = self(*args)
        assert res.code == 0, f"netctl {' '.join(args)} -> {res.code}: {res.err}"
        return res.out

    def state_bytes(self) -> bytes:
        return self.state.read_bytes() if self.state.exists() else b""

    def kernel(self):
        from support.fakekernel import FakeKernel

        return FakeKernel(str(self.kernel_file))


@pytest.fixture
def cli(tmp_path, monkeypatch) -> Cli:
    return Cli(tmp_path, monkeypatch)


@pytest.fixture
def tmpfs_path(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path``, but on tmpfs (/dev/shm) when there is one: for tests that fsync and rename
    thousands of small files, which is what a disk makes slow (the logic under test is the
    same).  A module opts in by overriding ``tmp_path`` with it."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="netctl-test-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)

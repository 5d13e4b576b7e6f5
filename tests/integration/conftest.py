"""Integration fixtures: everything here runs on the real kernel, inside the isolated
namespaces that tests/conftest.py set up (tests here are marked ``integration``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from netctl_runner import Looking, only_lo, wait_until, wipe_kernel
from reconcile_lab import Lab

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def nk():
    """A NetlinkKernel for tests that own the whole isolated namespace while they run:
    afterwards every named namespace and every host link but ``lo`` is removed again."""
    from netctl.kernel.netlink import NetlinkKernel

    kernel = NetlinkKernel()
    try:
        yield kernel
    finally:
        wipe(kernel)
        kernel.close()


@pytest.fixture
def kern():
    """A NetlinkKernel to look with (what a test made is its own business to remove); it
    keeps no socket open between calls (netctl_runner.Looking)."""
    from netctl.kernel.netlink import NetlinkKernel

    k = NetlinkKernel()
    yield Looking(k)
    k.close()


@pytest.fixture
def lab(tmp_path, nk, nstools):
    """A reconcile_lab.Lab on a state file of the test's own, cleaned up afterwards."""
    with Lab(tmp_path / "state.toml", nk, nstools) as lab:
        yield lab


@pytest.fixture
def nstools() -> SimpleNamespace:
    """Helpers for looking into namespaces from a test (fixtures, so no test imports conftest)."""
    return SimpleNamespace(spawn=in_netns, read=read_in_netns, wait_gone=wait_gone, free_port=free_port)


def wipe(kernel) -> None:
    wipe_kernel(kernel, etc_netns=False)
    wait_until(lambda: only_lo(kernel), timeout=3.0)


def in_netns(name: str, code: str, **popen: object) -> subprocess.Popen:
    """Start ``python3 -c code`` inside namespace NAME through netctl's own exec path."""
    launcher = (
        "import sys; from netctl.kernel.nsexec import exec_in_netns; "
        "exec_in_netns(sys.argv[1], [sys.executable, '-c', sys.argv[2]])"
    )
    return subprocess.Popen([sys.executable, "-c", launcher, name, code], **popen)


def wait_gone(kernel, name: str, netns: str | None = None, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while kernel.link_get(name, netns) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_in_netns(netns: str, path: str) -> str:
    """Read a /proc/sys file as seen from inside NETNS (it follows the reader's namespace)."""
    from netctl.kernel import netns as ns

    fd = ns.open_fd(netns, ns.nsfs_dev())
    home = os.open(ns.THREAD_NS, os.O_RDONLY)
    try:
        ns.setns(fd)
        with open(path) as f:
            return f.read().strip()
    finally:
        ns.setns(home)
        os.close(fd)
        os.close(home)

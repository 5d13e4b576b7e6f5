"""Suite-wide isolation: run as root, the whole pytest process enters its own network and mount
namespaces before any test (or thread) exists, and every ``netctl`` it starts inherits them.

Inside, /run/netns, /etc/netns and /var/lib/netctl are fresh tmpfs mounts (/etc/netctl too, if
the machine has one), /sys describes the new namespace, and ``lo`` is up. Nothing a test does
can reach the machine's interfaces, routes, firewall, named namespaces or state file, and it
all vanishes when pytest exits. Tests marked ``integration`` run only when this worked: they
skip otherwise, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass, field

import pytest

from netctl.kernel import netns as ns

SCRATCH_DIRS = ("/run/netns", "/etc/netns", "/var/lib/netctl")
HIDDEN_IF_PRESENT = ("/etc/netctl",)  # the machine's config must not steer tests
LEAK_PREFIXES = ("br-", "veth")


@dataclass
class Isolation:
    active: bool
    reason: str = ""
    made_dirs: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)


ISOLATION = pytest.StashKey[Isolation]()


def pytest_configure(config: pytest.Config) -> None:
    if not any(m.startswith("integration:") for m in config.getini("markers")):
        config.addinivalue_line("markers", "integration: needs root; runs in the suite's own namespaces")
    if os.geteuid() != 0:
        config.stash[ISOLATION] = Isolation(False, "not running as root")
    else:
        config.stash[ISOLATION] = _isolate()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Unmount our tmpfs copies (only we see them) and remove the empty dirs we had to make."""
    iso = config.stash.get(ISOLATION, None)
    if iso is None or not iso.active:
        return
    for target in reversed(iso.mounts):
        with suppress(OSError):
            ns.umount(target, ns.MNT_DETACH)
    for path in reversed(iso.made_dirs):
        if _mounted_elsewhere(path):
            continue  # a concurrent session's tmpfs sits on it: rmdir would yank it away
        with suppress(OSError):
            os.rmdir(path)


def _mounted_elsewhere(path: str) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/mountinfo") as f:
                if any(line.split()[4] == path for line in f):
                    return True
        except OSError:
            continue
    return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("integration") is None:
        return
    iso = item.config.stash[ISOLATION]
    if iso.active:
        return
    message = f"integration tests need root in the suite's own namespaces ({iso.reason})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true does not allow skipping them", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def isolation(request: pytest.FixtureRequest) -> Isolation:
    return request.config.stash[ISOLATION]


@pytest.fixture(scope="session", autouse=True)
def _nothing_leaked(request: pytest.FixtureRequest):
    """Fail the run if any test left a namespace, a netctl link, /etc/netns files or chains
    in netctl's nftables tables behind."""
    yield
    if request.config.stash[ISOLATION].active:
        leaks = _wait_for_no_leaks(deadline=time.monotonic() + 3.0)
        assert not leaks, "tests leaked kernel objects in the isolated namespace: " + ", ".join(leaks)


def _isolate() -> Isolation:
    iso = Isolation(True)
    try:
        ns.unshare(ns.CLONE_NEWNET | ns.CLONE_NEWNS)
    except OSError as exc:
        return Isolation(False, f"unshare(CLONE_NEWNET|CLONE_NEWNS) failed: {exc.strerror}")
    ns.mount(None, "/", None, ns.MS_REC | ns.MS_PRIVATE)
    _remount_sys()
    for path in SCRATCH_DIRS:
        if not os.path.isdir(path):
            _makedirs(path, iso)
        _tmpfs(path, iso)
    for path in HIDDEN_IF_PRESENT:
        if os.path.isdir(path):
            _tmpfs(path, iso)
    ns.set_up("lo")
    return iso


def _remount_sys() -> None:
    """Without this, /sys/class/net would still describe (and write to) the machine's links."""
    with suppress(OSError):
        ns.umount("/sys", ns.MNT_DETACH)
    ns.mount("sysfs", "/sys", "sysfs")


def _makedirs(path: str, iso: Isolation) -> None:
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for d in reversed(missing):
        os.mkdir(d, 0o755)
        iso.made_dirs.append(d)


def _tmpfs(path: str, iso: Isolation) -> None:
    ns.mount("netctl-test", path, "tmpfs")
    os.chmod(path, 0o755)
    iso.mounts.append(path)


def leaks() -> list[str]:
    """What netctl-made objects exist in the isolated namespace right now."""
    found = [f"/run/netns/{n}" for n in sorted(os.listdir("/run/netns"))]
    found += [f"/etc/netns/{n}" for n in sorted(os.listdir("/etc/netns"))]
    for _, name in socket.if_nameindex():
        if name.startswith(LEAK_PREFIXES) or _alias(name).startswith("netctl:"):
            found.append(f"link {name}")
    return found + _nft_chains()


def _nft_chains() -> list[str]:
    """Chains left in netctl's nftables tables (an empty table is no leak)."""
    nft = shutil.which("nft")
    found = []
    for family in ("inet", "bridge"):
        proc = subprocess.run([nft, "list", "table", family, "netctl"], capture_output=True,
                              text=True) if nft else None
        if proc is not None and proc.returncode == 0:
            found += [f"nft {family} netctl {line.split()[1]}" for line in proc.stdout.splitlines()
                      if line.startswith("\tchain ")]
    return found


def _alias(ifname: str) -> str:
    try:
        with open(f"/sys/class/net/{ifname}/ifalias") as f:
            return f.read().strip()
    except OSError:
        return ""


def _wait_for_no_leaks(deadline: float) -> list[str]:
    """A deleted namespace frees its links asynchronously; give the kernel a moment."""
    while True:
        found = leaks()
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)

"""Driving the real ``netctl`` CLI from integration tests, and snapshotting the kernel.

``Netctl(state)`` runs ``python -m netctl ARGS`` as a subprocess with ``NETCTL_STATE`` set
(``run``), or — for long fault-injection matrices — the same CLI entry point in a forked child
of the test process (``fork``, ``start``: support.forkrun): a fresh process with its own
environment, exit code, stdout and stderr, minus ~0.4 s of interpreter start and imports per
run. ``ok`` (setup steps) uses the one chosen at construction. ``Forked`` forks for every call
and keeps the new interpreter as ``subprocess``. ``teardown`` removes every sandbox, endpoint
and network the state file knows about (forked: it is cleanup, not the thing under test), and
``wipe_kernel`` everything else a test (or a killed run) left in the suite's namespace.

``kernel_snapshot`` is what "the kernel is unchanged" means in these tests: the named
namespaces, the ``/etc/netns`` files, netctl's nftables tables (inet and bridge), the
forwarding sysctls, and for the host and every namespace its links (kind, master, up, MTU,
MAC, alias, addresses, IPv6 switch) and main-table routes. Kernel-made IPv6
link-local addresses and routes are left out: a bridge gains one the first time a port carries,
and keeps it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from support import forkrun
from support.forkrun import Result

from netctl.kernel import netns as ns


class Netctl:
    def __init__(self, state: Path, timeout: float = 30.0, forked: bool = False):
        self.state = Path(state)
        self.timeout = timeout
        self.forked = forked
        self.env = forkrun.clean_env(NETCTL_STATE=str(self.state))

    def _env(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {**self.env, **(extra or {})}

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """The real console entry, in a fresh interpreter."""
        proc = subprocess.run([sys.executable, "-m", "netctl", *args], env=self._env(env),
                              capture_output=True, text=True, timeout=self.timeout,
                              stdin=subprocess.DEVNULL)
        return Result((proc.returncode, proc.stdout, proc.stderr))

    __call__ = run

    def ok(self, *args: str) -> str:
        code, out, err = (self.fork if self.forked else self.run)(*args)
        assert code == 0, f"netctl {' '.join(args)} -> {code}: {err}"
        return out

    def start(self, args: list[str], env: dict[str, str] | None = None) -> forkrun.Child:
        """The same CLI entry point in a forked child (netctl and pyroute2 already imported),
        still running: to poll, or to SIGKILL."""
        forkrun.preload("netctl.kernel.netlink")
        return forkrun.start(args, self._env(env))

    def fork(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return self.start(list(args), env).finish(self.timeout)

    def names(self, noun: str, template: str = "{name}") -> list[str]:
        return self.ok(noun, "ls", "--format", template).split()

    def teardown(self) -> None:
        """``sandbox rm -f`` / ``endpoint rm -f`` / ``network rm -f`` what the state holds."""
        for args in rm_recorded(self.state):
            code, _, err = self.fork(*args)
            assert code == 0, f"teardown: netctl {' '.join(args)}: {err}"


class Forked(Netctl):
    """The CLI entry point in a forked child of the test process for every call (fresh
    process, exit code, SIGKILL and all, without ~0.5 s of interpreter start per command);
    ``subprocess`` runs the real console entry in a new interpreter when that is the point."""

    subprocess = Netctl.run
    run = Netctl.fork
    __call__ = Netctl.fork


def rm_recorded(state_path: Path) -> list[tuple[str, ...]]:
    """The ``rm -f`` commands that remove everything STATE_PATH records, sandboxes first."""
    if not state_path.exists():
        return []
    from netctl.store import parse

    state = parse(state_path.read_bytes(), state_path)
    commands = [("sandbox", "rm", "-f", *[s.name for s in state.sandboxes]),
                ("endpoint", "rm", "-f", *[e.id for e in state.endpoints]),
                ("network", "rm", "-f", *[n.name for n in state.networks])]
    return [args for args in commands if len(args) > 3]


def wipe_kernel(k, etc_netns: bool = True) -> None:
    """Delete every named namespace and every link but ``lo`` (in the suite's own namespace
    every link is a test's: a kill between a link's add and its ifalias leaves it unmarked, so
    ownership cannot tell), and empty /etc/netns unless ETC_NETNS is false (a reboot keeps it).
    Links of deleted namespaces go asynchronously: ``wait_until`` ``only_lo``."""
    for name in k.netns_list():
        k.netns_delete(name)
    for link in k.links():
        if link.name != "lo":
            k.link_delete(link.name)
    wipe_firewall()
    if etc_netns:
        for entry in os.listdir("/etc/netns"):
            path = os.path.join("/etc/netns", entry)
            if os.path.islink(path) or not os.path.isdir(path):
                os.unlink(path)  # a test's symlink or a stray temp file
            else:
                shutil.rmtree(path, ignore_errors=True)


NETCTL_TABLES = ("inet", "bridge")
FORWARDING = ("ipv4/ip_forward", "ipv6/conf/all/forwarding")


def nft_table(family: str) -> str:
    """``nft list table FAMILY netctl`` ('' when absent, or when there is no nft)."""
    nft = shutil.which("nft")
    if nft is None:
        return ""
    proc = subprocess.run([nft, "list", "table", family, "netctl"], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else ""


def wipe_firewall() -> None:
    """Delete netctl's nftables tables (in the suite's own namespace: a test's, or a killed run's)."""
    nft = shutil.which("nft")
    for family in NETCTL_TABLES:
        if nft and nft_table(family):
            subprocess.run([nft, "delete", "table", family, "netctl"], check=True)


def only_lo(k) -> bool:
    return [x.name for x in k.links()] == ["lo"]


def wait_until(predicate, timeout: float = 5.0) -> bool:
    """Links of deleted namespaces are freed asynchronously by the kernel."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# --- the kernel, as the tests compare it ---

def _sysctl(netns: str | None, ifname: str) -> str:
    path = f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"
    if netns is None:
        return _read(path)
    home = os.open(ns.THREAD_NS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with ns.entered(netns, ns.nsfs_dev(), home):
            return _read(path)
    finally:
        os.close(home)


def forwarding_off() -> None:
    """Put the suite namespace's forwarding back to a fresh machine's, so a command's
    ``forwarding`` step runs again (netctl itself never turns it off)."""
    for key in FORWARDING:
        with contextlib.suppress(FileNotFoundError), open(f"/proc/sys/net/{key}", "w") as f:
            f.write("0")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return "-"


def netns_view(k, netns: str | None) -> dict:
    links = {
        x.name: (x.kind, x.master, x.up, x.mtu, x.mac, x.alias,
                 tuple(sorted(a for a in x.addresses if not a.startswith("fe80:"))),
                 _sysctl(netns, x.name),
                 _read(f"/proc/sys/net/ipv4/conf/{x.name}/route_localnet") if netns is None else "")
        for x in k.links(netns)
    }
    routes = sorted((r.dst, r.gateway or "", r.dev or "", r.scope, r.family)
                    for r in k.routes(netns) if not r.dst.startswith("fe80:"))
    return {"links": links, "routes": routes}


def etc_netns() -> dict[str, str]:
    out = {}
    for root, _dirs, files in os.walk("/etc/netns"):
        out[root] = ""
        for name in files:
            out[os.path.join(root, name)] = Path(root, name).read_text()
    return out


def kernel_snapshot(k) -> dict:
    """The view, read through K, whose sockets are closed again afterwards (``release``)."""
    names = k.netns_list()
    view = {"netns": names, "etc": etc_netns(), "host": netns_view(k, None),
            "nft": {f: nft_table(f) for f in NETCTL_TABLES},
            "forwarding": [_read(f"/proc/sys/net/{key}") for key in FORWARDING]}
    for name in names:
        view[f"ns:{name}"] = netns_view(k, name)
    release(k)
    return view


class Looking:
    """A kernel to look with that holds no socket between calls (each call's sockets are
    closed after it, ``release``): a test can look inside a sandbox and then remove it
    without making netctl wait for a namespace the test kept alive."""

    def __init__(self, kernel):
        self.wrapped = kernel

    def __getattr__(self, name: str):
        attr = getattr(self.wrapped, name)
        if not callable(attr) or name == "close":
            return attr

        def call(*args, **kwargs):
            try:
                return attr(*args, **kwargs)
            finally:
                self.wrapped.close()

        return call


def release(k) -> None:
    """Close K's cached sockets (it reopens them on demand).  A socket a test holds inside a
    sandbox's namespace keeps that namespace alive after ``sandbox rm`` unmounts it, so its
    veth pair never goes and netctl waits its full reap time (2 s, drivers/bridge.py) before
    deleting the pair itself: a test's look must not make every later removal that slow."""
    close = getattr(k, "close", None)
    if close is not None:
        close()


def left_behind(before: dict, after: dict) -> list[str]:
    """What removing everything a test made left in the kernel: ``diff`` without the
    forwarding sysctls, which netctl turns on when a network needs them and by design never
    turns off behind other software's back (the firewall tests assert that)."""
    return diff({k: v for k, v in before.items() if k != "forwarding"},
                {k: v for k, v in after.items() if k != "forwarding"})


def diff(before: dict, after: dict) -> list[str]:
    """Readable differences between two snapshots (empty when equal)."""
    lines = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        if isinstance(b, dict) and isinstance(a, dict):
            lines += [f"{key}.{line}" for line in diff(b, a)]
        else:
            lines.append(f"{key}: {b!r} -> {a!r}")
    return lines

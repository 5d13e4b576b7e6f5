"""Driving the real ``netctl`` CLI from integration tests, and snapshotting the kernel.

``Netctl(state)`` runs ``python -m netctl ARGS`` as a subprocess with ``NETCTL_STATE`` set
(``run``), or — for long fault-injection matrices — the same CLI entry point in a forked child
of the test process (``fork``): a fresh process with its own environment, exit code, stdout and
stderr, minus ~0.4 s of interpreter start and imports per run. ``ok`` (setup steps) uses the
one chosen at construction. ``teardown`` removes every sandbox, endpoint and network the
state file knows about (forked: it is cleanup, not the thing under test).

``kernel_snapshot`` is what "the kernel is unchanged" means in these tests: the named
namespaces, the ``/etc/netns`` files, and for the host and every namespace its links (kind,
master, up, MTU, MAC, alias, addresses, IPv6 switch) and main-table routes. Kernel-made IPv6
link-local addresses and routes are left out: a bridge gains one the first time a port carries,
and keeps it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netctl.kernel import netns as ns

SCRUB = ("NETCTL_FAULT", "NETCTL_TRACE", "NETCTL_FORMAT", "NETCTL_DEBUG", "NETCTL_STATE")


class Result(tuple):
    """``(code, stdout, stderr)`` with names."""

    code = property(lambda self: self[0])
    out = property(lambda self: self[1])
    err = property(lambda self: self[2])


class Netctl:
    def __init__(self, state: Path, timeout: float = 30.0, forked: bool = False):
        self.state = Path(state)
        self.timeout = timeout
        self.forked = forked
        self.env = {k: v for k, v in os.environ.items() if k not in SCRUB}
        self.env["NETCTL_STATE"] = str(self.state)

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

    def fork(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """The same CLI entry point in a forked child (netctl and pyroute2 already imported)."""
        _preload()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                _child(list(args), self._env(env), out.fileno(), err.fileno())
            code = _wait(pid, self.timeout)
            out.seek(0)
            err.seek(0)
            return Result((code, out.read().decode(), err.read().decode()))

    def names(self, noun: str, template: str = "{name}") -> list[str]:
        return self.ok(noun, "ls", "--format", template).split()

    def teardown(self) -> None:
        """``sandbox rm -f`` / ``endpoint rm -f`` / ``network rm -f`` what the state holds."""
        if not self.state.exists():
            return
        from netctl.store import parse

        state = parse(self.state.read_bytes(), self.state)
        nets = {n.id: n.name for n in state.networks}
        for noun, names in (("sandbox", [s.name for s in state.sandboxes]),
                            ("endpoint", [f"{nets[e.network]}/{e.name}" for e in state.endpoints]),
                            ("network", list(nets.values()))):
            if names:
                code, _, err = self.fork(noun, "rm", "-f", *names)
                assert code == 0, f"teardown: netctl {noun} rm -f {' '.join(names)}: {err}"


def _preload() -> None:
    """Import once in the test process what every command imports lazily."""
    import netctl.cli  # noqa: F401
    import netctl.kernel.netlink  # noqa: F401
    import netctl.service.connect  # noqa: F401
    import netctl.service.networks  # noqa: F401
    import netctl.service.sandboxes  # noqa: F401


def _child(argv: list[str], env: dict[str, str], out: int, err: int) -> None:
    code = 70
    try:
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.environ.clear()
        os.environ.update(env)
        sys.stdin = open(os.devnull)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        from netctl.cli import main

        try:
            main.main(args=argv, prog_name="netctl")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise TimeoutError(f"forked netctl {pid} did not finish in {timeout}s")
        time.sleep(0.002)


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
                 _sysctl(netns, x.name))
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
    names = k.netns_list()
    view = {"netns": names, "etc": etc_netns(), "host": netns_view(k, None)}
    for name in names:
        view[f"ns:{name}"] = netns_view(k, name)
    return view


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

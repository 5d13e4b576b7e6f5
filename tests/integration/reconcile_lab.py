"""Shared pieces of the check/repair, restore and ownership tests on the real kernel.

``Lab`` drives the ``netctl`` CLI (netctl_runner.Forked, forked children) against a state
file of the test's own, builds the usual two-sandbox setup, proves connectivity with a TCP
exchange *by name* (so the /etc/netns hosts files are exercised too), and can wipe the kernel
side the way a reboot does.  ``cleanup`` (or leaving ``with Lab(...)``) leaves the isolated
session empty for the next test; the ``lab`` fixture (tests/integration/conftest.py) is one.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

from netctl_runner import Forked, only_lo, release, wait_until, wipe_kernel

SERVER = textwrap.dedent("""
    import socket, sys
    s = socket.create_server(("0.0.0.0", int(sys.argv[1])))
    print("ready", flush=True)
    c, peer = s.accept()
    c.sendall(b"pong " + c.recv(64) + b" from " + peer[0].encode())
    c.close()
""")
CLIENT = textwrap.dedent("""
    import socket, sys
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as c:
        c.sendall(b"ping")
        print(c.recv(64).decode())
""")


class Lab:
    def __init__(self, state: Path, nk, nstools):
        self.cli = Forked(state)
        self.nk = nk
        self.ns = nstools

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def two_sandboxes(self, subnet: str = "10.77.0.0/24") -> None:
        """Network demo with sandboxes web and db connected to it."""
        self.cli.ok("network", "create", "demo", "--subnet", subnet)
        for sb in ("web", "db"):
            self.cli.ok("sandbox", "create", sb)
            self.cli.ok("network", "connect", "demo", sb)

    def bridge(self, network: str) -> str:
        return json.loads(self.cli.ok("network", "inspect", network))[0]["bridge"]

    def endpoint(self, ref: str) -> dict:
        return json.loads(self.cli.ok("endpoint", "inspect", ref))[0]

    def tcp(self, client: str, server: str, name: str | None = None) -> str:
        """Connect from sandbox CLIENT to sandbox SERVER by NAME (default: its name); returns
        the server's answer, which carries the client's address."""
        port = self.ns.free_port()
        srv = self._spawn(server, SERVER, str(port))
        try:
            assert srv.stdout.readline().strip() == "ready"
            cl = self._spawn(client, CLIENT, name or server, str(port))
            out, err = cl.communicate(timeout=15)
            assert cl.returncode == 0, f"client in {client} failed: {err}"
            return out.strip()
        finally:
            srv.kill()
            srv.wait()

    def _spawn(self, netns: str, code: str, *args: str) -> subprocess.Popen:
        launcher = code.replace("sys.argv[1]", repr(args[0]))
        if len(args) > 1:
            launcher = launcher.replace("sys.argv[2]", repr(args[1]))
        return self.ns.spawn(netns, launcher, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def reboot(self) -> None:
        """What a reboot does to the kernel side: every namespace and every link but lo is
        gone (/etc/netns is on disk and stays)."""
        wipe_kernel(self.nk, etc_netns=False)
        wait_until(lambda: only_lo(self.nk))

    def cleanup(self) -> None:
        release(self.nk)  # its sockets in the sandboxes' namespaces would slow every rm
        self.cli.teardown()
        wipe_kernel(self.nk)
        wait_until(lambda: only_lo(self.nk))

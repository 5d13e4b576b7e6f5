"""Shared pieces of the check/repair, restore and ownership tests on the real kernel.

``Lab`` drives the ``netctl`` CLI (netctl_runner.Netctl, forked children) against a state
file of the test's own, builds the usual two-sandbox setup, proves connectivity with a TCP
exchange *by name* (so the /etc/netns hosts files are exercised too), and can wipe the kernel
side the way a reboot does.  ``cleanup`` leaves the isolated session empty for the next test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

from netctl_runner import Netctl

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


class Forked(Netctl):
    """The CLI entry point in a forked child of the test process (fresh process, exit code,
    SIGKILL and all, without ~0.5 s of interpreter start per command); ``subprocess`` runs
    the real console entry in a new interpreter when that is the point."""

    subprocess = Netctl.run
    run = Netctl.fork
    __call__ = Netctl.fork


class Lab:
    def __init__(self, state: Path, nk, nstools):
        self.cli = Forked(state)
        self.nk = nk
        self.ns = nstools

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
        for name in self.nk.netns_list():
            self.nk.netns_delete(name)
        for link in self.nk.links():
            if link.name != "lo":
                self.nk.link_delete(link.name)
        wait_until(lambda: [x.name for x in self.nk.links()] == ["lo"])

    def cleanup(self) -> None:
        self.cli.teardown()
        for name in self.nk.netns_list():
            self.nk.netns_delete(name)
        for link in self.nk.links():
            if link.name != "lo":
                self.nk.link_delete(link.name)
        for entry in os.listdir("/etc/netns"):
            shutil.rmtree(os.path.join("/etc/netns", entry), ignore_errors=True)
        wait_until(lambda: [x.name for x in self.nk.links()] == ["lo"])


def wait_until(predicate, timeout: float = 5.0) -> bool:
    """Links of deleted namespaces are freed asynchronously by the kernel."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True

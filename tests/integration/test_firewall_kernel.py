"""netctl's firewall on the real kernel, in the suite's own namespace (its "host"): an
``uplink`` namespace plays the outside world (a veth to the host, the host's default route
through it, no route back to any sandbox subnet, so only NAT gets a reply home), and TCP
probes with short timeouts tell "connected" from "blocked".

What is proven: masquerade (the uplink sees the host's uplink address), ``host_ip`` SNAT,
``masquerade=false``, isolation between networks, ``icc=false`` with the gateway still
reachable, ``--internal`` both ways, a foreign table left byte-identical, nothing of removed
networks left, and a reboot (ruleset flushed, links and namespaces gone) undone by
``restore``.  Every process a test starts is ended by its own PID.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading

import pytest
from netctl_runner import Netctl, nft_table

pytestmark = pytest.mark.skipif(shutil.which("nft") is None and os.environ.get("CI") != "true",
                                reason="nft is not installed")

UPLINK, HOST_UP, PEER_UP, EXTRA = "fwuplink", "198.51.100.1", "198.51.100.2", "198.51.100.9"
PORT = 5401
SERVER = r"""
import socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1])))
srv.listen(64)
print("listening", flush=True)
def serve(conn, peer):
    with conn:
        conn.settimeout(5)
        conn.recv(64)
        conn.sendall(peer[0].encode())
while True:
    conn, peer = srv.accept()
    threading.Thread(target=serve, args=(conn, peer), daemon=True).start()
"""
PROBE = r"""
import json, socket, sys, threading
out = {}
def one(target):
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1.5) as s:
            s.sendall(b"hi")
            s.settimeout(1.5)
            out[target] = s.recv(64).decode() or "closed"
    except OSError:
        out[target] = "blocked"
threads = [threading.Thread(target=one, args=(t,)) for t in sys.argv[1:]]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(out))
"""
FOREIGN = """table ip userfw {
\tchain userforward {
\t\ttype filter hook forward priority 10; policy accept;
\t\tip saddr 203.0.113.0/24 counter packets 0 bytes 0 accept
\t}
}
"""


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=15)


class Uplink:
    """The outside world: a namespace behind a veth, the host's default route through it."""

    def __init__(self):
        sh("ip", "netns", "add", UPLINK)
        sh("ip", "link", "add", "upl0", "type", "veth", "peer", "name", "upl1", "netns", UPLINK)
        sh("ip", "addr", "add", f"{HOST_UP}/24", "dev", "upl0")
        sh("ip", "addr", "add", f"{EXTRA}/24", "dev", "upl0")
        sh("ip", "link", "set", "upl0", "up")
        sh("ip", "route", "add", "default", "via", PEER_UP)
        for cmd in (["ip", "addr", "add", f"{PEER_UP}/24", "dev", "upl1"],
                    ["ip", "link", "set", "upl1", "up"], ["ip", "link", "set", "lo", "up"]):
            sh("ip", "netns", "exec", UPLINK, *cmd)
        self.servers: list[subprocess.Popen] = []
        self.serve(["ip", "netns", "exec", UPLINK])

    def serve(self, prefix: list[str], env: dict[str, str] | None = None, port: int = PORT) -> None:
        proc = subprocess.Popen([*prefix, sys.executable, "-c", SERVER, str(port)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.servers.append(proc)
        assert proc.stdout.readline().strip() == "listening", proc.stderr.read()

    def stop_servers(self) -> None:
        for proc in self.servers:
            proc.kill()  # our own children, by PID
            proc.wait(timeout=10)
        self.servers = []

    def close(self) -> None:
        self.stop_servers()
        subprocess.run(["ip", "route", "del", "default"], capture_output=True)
        subprocess.run(["ip", "link", "del", "upl0"], capture_output=True)
        subprocess.run(["ip", "netns", "del", UPLINK], capture_output=True)


@pytest.fixture
def uplink():
    up = Uplink()
    yield up
    up.close()


@pytest.fixture
def cli(tmp_path):
    runner = Netctl(tmp_path / "state.toml", forked=True)  # setup commands: forks (~0.4 s less each)
    yield runner
    runner.teardown()


def probe(cli: Netctl, where: str | None, *targets: str) -> dict[str, str]:
    """Connect from sandbox WHERE (None: the uplink) to each HOST:PORT; reply or "blocked"."""
    return probes(cli, [(where, targets)])[0]


def probes(cli: Netctl, asks: list[tuple[str | None, tuple[str, ...]]]) -> list[dict[str, str]]:
    """``probe`` for each (WHERE, TARGETS), all at once: a blocked target costs its connect
    timeout (1.5 s), and waiting for them one after the other was most of a test's time."""
    procs = []
    for where, targets in asks:
        prefix = ["ip", "netns", "exec", UPLINK] if where is None else \
            [sys.executable, "-m", "netctl", "sandbox", "exec", where, "--"]
        procs.append(subprocess.Popen([*prefix, sys.executable, "-c", PROBE, *targets], env=cli.env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    answers = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        answers.append(json.loads(out))
    return answers


def addr(cli: Netctl, sb: str) -> str:
    return json.loads(cli.ok("sandbox", "inspect", sb))[0]["endpoints"][0]["ipv4"].split("/")[0]


def gateway(cli: Netctl, net: str) -> str:
    return json.loads(cli.ok("network", "inspect", net))[0]["subnets"][0]["gateway"]


def build(cli: Netctl) -> None:
    cli.ok("network", "create", "a")
    cli.ok("network", "create", "b")
    cli.ok("network", "create", "h", "-o", f"host_ip={EXTRA}")
    cli.ok("network", "create", "m", "-o", "masquerade=false")
    cli.ok("network", "create", "c", "-o", "icc=false")
    cli.ok("network", "create", "i", "--internal")
    for sb, net in (("sa", "a"), ("sa2", "a"), ("sb", "b"), ("sh", "h"), ("sm", "m"), ("sc1", "c"),
                    ("sc2", "c"), ("si", "i")):
        cli.ok("sandbox", "create", sb)
        cli.ok("network", "connect", net, sb, "--alias", sb)
    sh("ip", "netns", "exec", UPLINK, "ip", "route", "add", "10.0.0.0/8", "via", HOST_UP)
    sh("ip", "netns", "exec", UPLINK, "ip", "route", "add", "172.16.0.0/12", "via", HOST_UP)


def serve_sandboxes(cli: Netctl, up: Uplink) -> None:
    for sb in ("sa2", "sb", "sc2", "si"):
        up.serve([sys.executable, "-m", "netctl", "sandbox", "exec", sb, "--"], env=cli.env)


class HostServer:
    """A server in the host namespace (this process): what a sandbox's gateway answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", PORT))
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(peer[0].encode())

    def close(self) -> None:
        self.sock.close()


def behaviour(cli: Netctl) -> dict[str, str]:
    up = f"{PEER_UP}:{PORT}"
    ip = {sb: f"{addr(cli, sb)}:{PORT}" for sb in ("sa2", "sb", "sc2", "si")}
    gw = f"{gateway(cli, 'c')}:{PORT}"
    sa, sb, sh_, sm, sc1, si, uplink = probes(cli, [
        ("sa", (up, ip["sa2"], ip["sb"])), ("sb", (up,)), ("sh", (up,)), ("sm", (up,)),
        ("sc1", (up, ip["sc2"], gw)), ("si", (up,)), (None, (ip["si"],))])
    seen = sm[up]  # routed unchanged: the uplink has a route back
    return {"a->uplink": sa[up], "a->a": _seen(sa[ip["sa2"]]), "a->b": sa[ip["sb"]],
            "b->uplink": sb[up], "host_ip->uplink": sh_[up],
            "masquerade=false->uplink": "own address" if seen == addr(cli, "sm") else seen,
            "icc=false->uplink": sc1[up], "icc=false->peer": sc1[ip["sc2"]],
            "icc=false->gateway": _seen(sc1[gw]),
            "internal->uplink": si[up], "uplink->internal": uplink[ip["si"]]}


def _seen(reply: str) -> str:
    return "blocked" if reply == "blocked" else "ok"


EXPECTED = {"a->uplink": HOST_UP, "a->a": "ok", "a->b": "blocked", "b->uplink": HOST_UP,
            "host_ip->uplink": EXTRA, "masquerade=false->uplink": "own address",
            "icc=false->uplink": HOST_UP, "icc=false->peer": "blocked", "icc=false->gateway": "ok",
            "internal->uplink": "blocked", "uplink->internal": "blocked"}


def test_nat_isolation_icc_internal_and_restore_after_a_reboot(cli, uplink, kern):
    from netctl_runner import wait_until

    subprocess.run(["nft", "-f", "-"], input=FOREIGN, text=True, check=True)
    try:
        build(cli)
        serve_sandboxes(cli, uplink)
        host = HostServer()
        try:
            assert behaviour(cli) == EXPECTED
            # reboot: servers die with their namespaces, the ruleset and forwarding are reset
            uplink.stop_servers()
            uplink.serve(["ip", "netns", "exec", UPLINK])
            for name in kern.netns_list():
                if name != UPLINK:
                    kern.netns_delete(name)
            for link in kern.links():
                if link.name.startswith(("br-", "veth")):
                    kern.link_delete(link.name)
            sh("nft", "flush", "ruleset")
            with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
                f.write("0")
            assert wait_until(lambda: not [x for x in kern.links() if x.name.startswith("veth")])
            res = cli("restore")
            assert res.code == 0, res.err
            assert "restored: firewall: table inet netctl: chains missing" in res.out
            serve_sandboxes(cli, uplink)
            assert behaviour(cli) == EXPECTED
        finally:
            host.close()
    finally:
        subprocess.run(["nft", "delete", "table", "ip", "userfw"], capture_output=True)


def test_a_foreign_table_is_untouched_and_nothing_of_removed_networks_is_left(cli):
    subprocess.run(["nft", "-f", "-"], input=FOREIGN, text=True, check=True)
    try:
        before = subprocess.run(["nft", "list", "table", "ip", "userfw"], capture_output=True,
                                text=True, check=True).stdout
        cli.ok("network", "create", "x", "-o", "icc=false", "--ipv6")
        cli.ok("network", "create", "y", "--internal")
        cli.ok("sandbox", "create", "s")
        cli.ok("network", "connect", "x", "s")
        bridges = [n["bridge"] for n in json.loads(cli.ok("network", "inspect", "x", "y"))]
        assert all(b in nft_table("inet") for b in bridges) and nft_table("bridge")
        cli.ok("network", "rm", "y")
        assert bridges[1] not in nft_table("inet") and bridges[0] in nft_table("inet")
        cli.ok("sandbox", "rm", "s")
        cli.ok("network", "rm", "x")
        assert nft_table("inet") == "" and nft_table("bridge") == ""
        after = subprocess.run(["nft", "list", "table", "ip", "userfw"], capture_output=True,
                               text=True, check=True).stdout
        assert after == before
    finally:
        subprocess.run(["nft", "delete", "table", "ip", "userfw"], capture_output=True)


def test_check_finds_extra_and_missing_chains_and_warns_about_a_drop_policy(cli):
    cli.ok("network", "create", "x")
    assert cli("check").code == 0
    subprocess.run(["nft", "-f", "-"], text=True, check=True,
                   input="table ip dockerish {\n\tchain FORWARD {\n\t\ttype filter hook forward "
                         "priority filter; policy drop;\n\t}\n}\n")
    try:
        res = cli("check")
        assert res.code == 0
        assert "netctl: warning: table ip dockerish chain FORWARD drops forwarded traffic" in res.err
        sh("nft", "delete", "table", "inet", "netctl")
        res = cli("check")
        assert res.code == 9 and "firewall: table inet netctl: chains missing" in res.out
        assert cli("check", "--repair").code == 0
        assert cli("check").code == 0
        cli.ok("network", "rm", "x")
        cli.ok("network", "create", "x2")
        table = nft_table("inet")
        state = cli.state.read_text()
        cli.state.write_text(state.replace("[[networks]]", "[[ignored]]", 1).split("[[ignored]]")[0])
        res = cli("check")
        assert res.code == 9 and "chains the state does not want" in res.out, res.out
        assert cli("check", "--repair").code == 0 and nft_table("inet") == ""
        cli.state.write_text(state)
        assert cli("restore").code == 0 and nft_table("inet") == table
    finally:
        sh("nft", "delete", "table", "ip", "dockerish")


def test_without_nft_bridge_networks_are_refused_null_and_host_work(cli, tmp_path):
    env = {"PATH": str(tmp_path / "empty")}
    res = cli("network", "create", "x", env=env)
    assert res.code == 1
    assert res.err == ("netctl: nftables is needed for this network's NAT and isolation rules: "
                       "install it (Debian: apt install nftables), or set firewall = false in "
                       "netctl.toml\n")
    assert not cli.state.exists() or "x" not in cli.ok("network", "ls", "-q").split()
    cli.ok("network", "create", "-d", "null", "none")
    config = tmp_path / "netctl.toml"
    config.write_text("firewall = false\n")
    code, _, err = cli("--config", str(config), "network", "create", "x", env=env)
    assert code == 0, err
    assert nft_table("inet") == ""
    code, _, err = cli("--config", str(config), "network", "rm", "x", env=env)
    assert code == 0, err


def test_published_ports_from_outside_localhost_host_address_and_hairpin(cli, uplink):
    """A server in sandbox ``s`` on port 80, published as 8080: the uplink reaches it through
    the host's uplink address, the host through 127.0.0.1 and that address, ``s`` itself and
    a peer ``t`` through the host's address (hairpin); disconnect takes the port away, a
    re-connect without HOST_PORT gets a picked one."""
    cli.ok("network", "create", "a")
    cli.ok("sandbox", "create", "s")
    cli.ok("sandbox", "create", "t")
    assert cli.ok("network", "connect", "a", "s", "-p", "8080:80") == "80/tcp -> 0.0.0.0:8080\n"
    cli.ok("network", "connect", "a", "t")
    uplink.serve([sys.executable, "-m", "netctl", "sandbox", "exec", "s", "--"], env=cli.env, port=80)
    target = f"{HOST_UP}:8080"
    seen = {"uplink": probe(cli, None, target)[target],
            "host 127.0.0.1": probe_host("127.0.0.1", 8080),
            "host address": probe_host(HOST_UP, 8080),
            "itself": probe(cli, "s", target)[target], "peer": probe(cli, "t", target)[target]}
    gw = gateway(cli, "a")
    assert seen == {"uplink": PEER_UP, "host 127.0.0.1": gw, "host address": HOST_UP,
                    "itself": gw, "peer": gw}
    cli.ok("network", "disconnect", "a", "s")
    assert "dnat ip to" not in nft_table("inet")
    assert probe_host(HOST_UP, 8080) == "blocked"
    line = cli.ok("network", "connect", "a", "s", "-p", "80")
    picked = int(line.strip().rsplit(":", 1)[1])
    assert f"tcp dport {picked} dnat ip to {addr(cli, 's')}:80" in nft_table("inet")
    assert cli.ok("sandbox", "port", "s") == line


def probe_host(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=1.5) as s:
            s.sendall(b"hi")
            s.settimeout(1.5)
            return s.recv(64).decode() or "closed"
    except OSError:
        return "blocked"


UDP_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("listening", flush=True)
while True:
    data, peer = s.recvfrom(64)
    s.sendto(peer[0].encode(), peer)
"""
UDP_PROBE = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.5)
s.sendto(b"hi", (sys.argv[1], int(sys.argv[2])))
try:
    print(s.recvfrom(64)[0].decode())
except OSError:
    print("blocked")
"""


def test_a_published_udp_port_and_a_host_ip_one(cli, uplink):
    """UDP: the uplink reaches a sandbox's UDP server through the published port; a port
    published on 127.0.0.1 only is not reachable through the host's uplink address."""
    cli.ok("network", "create", "a")
    cli.ok("sandbox", "create", "s")
    cli.ok("network", "connect", "a", "s", "-p", "5353:53/udp", "-p", "127.0.0.1:8443:443")
    proc = subprocess.Popen([sys.executable, "-m", "netctl", "sandbox", "exec", "s", "--", sys.executable,
                             "-c", UDP_SERVER, "53"], env=cli.env, stdout=subprocess.PIPE, text=True)
    uplink.servers.append(proc)  # killed with the uplink's servers
    assert proc.stdout.readline().strip() == "listening"
    got = subprocess.run(["ip", "netns", "exec", UPLINK, sys.executable, "-c", UDP_PROBE, HOST_UP, "5353"],
                         capture_output=True, text=True, timeout=30).stdout.strip()
    assert got == PEER_UP
    uplink.serve([sys.executable, "-m", "netctl", "sandbox", "exec", "s", "--"], env=cli.env, port=443)
    assert probe_host("127.0.0.1", 8443) == gateway(cli, "a")
    assert probe(cli, None, f"{HOST_UP}:8443")[f"{HOST_UP}:8443"] == "blocked"


def test_the_nft_binary_and_libnftables_write_and_read_the_same_chains(cli):
    """NETCTL_NFT=binary runs ``nft`` instead of libnftables (what a host without the library
    gets): what one path writes, the other reads back as matching the state."""
    binary = {"NETCTL_NFT": "binary"}
    code, _, err = cli("network", "create", "x", "-o", "icc=false", env=binary)
    assert code == 0, err
    made = nft_table("inet"), nft_table("bridge")
    assert cli("check").code == 0  # libnftables reads what nft wrote
    cli.ok("network", "rm", "x")
    cli.ok("network", "create", "x", "-o", "icc=false")
    assert (nft_table("inet"), nft_table("bridge")) != ("", "")
    assert cli("check", env=binary).code == 0
    code, _, err = cli("network", "rm", "x", env=binary)
    assert code == 0, err
    assert nft_table("inet") == "" and made[0] and made[1]


LAB = """
[networks.pub]
subnet = "10.77.0.0/24"
[sandboxes.s]
connect = [{ network = "pub", publish = ["8080:80"] }]
[sandboxes.t]
connect = ["pub"]
"""


def test_a_port_published_by_a_topology_file_is_reached_from_outside(cli, uplink, tmp_path):
    """apply publishes 80 of ``s`` as 8080: the uplink reaches it; a re-apply is nothing to
    do; a changed file moves it to 9090 in place (8080 is gone); a file whose port another
    endpoint holds is exit 4 and leaves the rules as they were; destroy takes the port away."""
    path = tmp_path / "lab.toml"
    path.write_text(LAB)
    cli.ok("apply", "-f", str(path))
    uplink.serve([sys.executable, "-m", "netctl", "sandbox", "exec", "s", "--"], env=cli.env, port=80)
    old, new = f"{HOST_UP}:8080", f"{HOST_UP}:9090"
    assert probe(cli, None, old)[old] == PEER_UP
    code, out, err = cli("apply", "-f", str(path))
    assert (code, out, err) == (0, "", "netctl: apply: nothing to do\n")
    path.write_text(LAB.replace("8080:80", "9090:80"))
    cli.ok("apply", "-f", str(path))
    assert probe(cli, None, old, new) == {old: "blocked", new: PEER_UP}
    cli.ok("sandbox", "create", "u")  # not the file's: holds 7070
    cli.ok("network", "connect", "pub", "u", "-p", "7070:80")
    rules = nft_table("inet")
    path.write_text(LAB.replace("8080:80", "7070:80"))
    code, _, err = cli("apply", "-f", str(path))
    assert code == 4 and "sandboxes.s.connect[0]" in err and "published by endpoint 'u'" in err
    assert nft_table("inet") == rules and probe(cli, None, new)[new] == PEER_UP
    cli.ok("sandbox", "rm", "u")
    cli.ok("destroy", "-f", str(path))
    assert "dnat ip to" not in nft_table("inet")

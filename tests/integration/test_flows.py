"""The libnetwork flows end to end: the real ``netctl`` CLI (``python -m netctl``, one process
per command) on the real kernel, read back over netlink and exercised with TCP.

Programs inside a sandbox run through ``netctl sandbox exec NAME -- …``, which enters the
namespace and bind-mounts /etc/netns/NAME/hosts over /etc/hosts, so names resolve the way a
container's would. Every process a test starts is ended by its own PID, with bounded waits.
"""

from __future__ import annotations

import ipaddress
import json
import os
import select
import shutil
import subprocess
import sys

import pytest
from netctl_runner import Netctl, diff, kernel_snapshot

NETCTL = [sys.executable, "-m", "netctl"]
SERVER = r"""
import socket, sys
family = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
srv = socket.socket(family)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", int(sys.argv[2])))
srv.listen()
srv.settimeout(20)
print("listening", flush=True)
for _ in range(int(sys.argv[3])):
    conn, peer = srv.accept()
    with conn:
        conn.settimeout(10)
        data = conn.recv(1024)
        conn.sendall(data + b" <- " + peer[0].encode())
"""
CLIENT = r"""
import json, socket, sys
port, out = int(sys.argv[1]), {}
for host in sys.argv[2:]:
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"hello " + host.encode())
        out[host] = s.recv(1024).decode()
print(json.dumps(out))
"""
PORT = 5301  # each sandbox is a fresh namespace: nothing else listens there


@pytest.fixture
def cli(tmp_path, kern):
    before = kernel_snapshot(kern)
    runner = Netctl(tmp_path / "state.toml")
    yield runner
    runner.teardown()
    left = diff(before, kernel_snapshot(kern))
    assert not left, "netctl left this behind:\n" + "\n".join(left)


def inspect(cli: Netctl, *refs: str) -> list[dict]:
    return json.loads(cli.ok("endpoint", "inspect", *refs))


def ip_of(cidr: str) -> str:
    return cidr.split("/")[0]


def default_routes(kern, netns: str, family: int = 4) -> list[tuple[str, str]]:
    return [(r.gateway, r.dev) for r in kern.routes(netns) if r.dst == "default" and r.family == family]


def start_server(cli: Netctl, sandbox: str, family: int, connections: int) -> subprocess.Popen:
    proc = subprocess.Popen([*NETCTL, "sandbox", "exec", sandbox, "--", sys.executable, "-c", SERVER,
                             str(family), str(PORT), str(connections)], env=cli.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    if not ready or proc.stdout.readline().strip() != "listening":
        stop(proc)
        pytest.fail(f"server in {sandbox} did not start: {proc.stderr.read()}")
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()  # our own child, by PID
    proc.wait(timeout=10)


def talk(cli: Netctl, sandbox: str, *hosts: str) -> dict[str, str]:
    code, out, err = cli("sandbox", "exec", sandbox, "--", sys.executable, "-c", CLIENT, str(PORT), *hosts)
    assert code == 0, err
    return json.loads(out)


def test_two_sandboxes_talk_tcp_by_ip_and_by_name(cli):
    cli.ok("network", "create", "web", "--subnet", "10.90.0.0/24")
    # No DNS server is reachable from the suite's namespace: a refused one (lo) keeps glibc's
    # IPv6 lookup (getent tries it first, and files has only IPv4 here) from waiting 10 s.
    cli.ok("sandbox", "create", "a", "--dns", "127.0.0.1")
    cli.ok("sandbox", "create", "b", "--hostname", "bee")
    cli.ok("network", "connect", "web", "a")
    cli.ok("network", "connect", "web", "b", "--alias", "db")
    a, b = (ip_of(e["ipv4"]) for e in inspect(cli, "a", "b"))
    code, out, err = cli("sandbox", "exec", "a", "--", "getent", "hosts", "b", "db.web", "bee")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == [b, b, b]
    server = start_server(cli, "b", 4, connections=3)
    try:
        replies = talk(cli, "a", b, "b", "db.web")
        server.wait(timeout=20)
    finally:
        stop(server)
    assert replies == {b: f"hello {b} <- {a}", "b": f"hello b <- {a}", "db.web": f"hello db.web <- {a}"}
    assert server.returncode == 0


def test_two_networks_eth0_eth1_default_route_by_priority(cli, kern):
    cli.ok("network", "create", "front", "--subnet", "10.91.0.0/24")
    cli.ok("network", "create", "back", "--subnet", "10.92.0.0/24", "-o", "mtu=1400")
    cli.ok("sandbox", "create", "s")
    cli.ok("network", "connect", "front", "s")
    cli.ok("network", "connect", "back", "s", "--priority", "10")
    front, back = inspect(cli, "front/s", "back/s")
    assert (front["ifname"], back["ifname"]) == ("eth0", "eth1")
    for ep, net, mtu in ((front, "10.91.0.0/24", 1500), (back, "10.92.0.0/24", 1400)):
        addr = ipaddress.ip_interface(ep["ipv4"])
        assert str(addr.network) == net  # the address carries the pool's prefix
        assert ep["mac"] == "02:42:" + ":".join(f"{b:02x}" for b in addr.ip.packed)
        inside, host_end = kern.link_get(ep["ifname"], netns="s"), kern.link_get(ep["host_ifname"])
        assert (inside.mac, inside.mtu, inside.up) == (ep["mac"], mtu, True)
        assert ep["ipv4"] in inside.addresses
        assert (host_end.mtu, host_end.up, host_end.kind) == (mtu, True, "veth")
        assert host_end.master == json.loads(cli.ok("network", "inspect", ep["network"]))[0]["bridge"]
    routes = {(r.dst, r.dev) for r in kern.routes("s") if r.family == 4}
    assert {("10.91.0.0/24", "eth0"), ("10.92.0.0/24", "eth1")} <= routes
    assert default_routes(kern, "s") == [("10.92.0.1", "eth1")]
    cli.ok("endpoint", "leave", "back/s", "s")  # the next in rank takes over
    assert default_routes(kern, "s") == [("10.91.0.1", "eth0")]
    cli.ok("endpoint", "join", "back/s", "s", "--priority", "10")
    assert inspect(cli, "back/s")[0]["ifname"] == "eth2"
    assert default_routes(kern, "s") == [("10.92.0.1", "eth2")]
    cli.ok("network", "disconnect", "back", "s")
    assert default_routes(kern, "s") == [("10.91.0.1", "eth0")]


def test_join_leave_join_counts_up_and_leave_parks_the_interface(cli, kern):
    cli.ok("network", "create", "n", "--subnet", "10.93.0.0/24")
    cli.ok("sandbox", "create", "s")
    cli.ok("endpoint", "create", "n", "e")
    ep = inspect(cli, "e")[0]
    bridge = json.loads(cli.ok("network", "inspect", "n"))[0]["bridge"]
    parked = kern.link_get(ep["sandbox_ifname"])
    assert (parked.up, parked.mac, parked.addresses) == (False, ep["mac"], ())
    cli.ok("endpoint", "join", "e", "s")
    assert inspect(cli, "e")[0]["ifname"] == "eth0" and kern.link_get(ep["sandbox_ifname"]) is None
    assert ep["ipv4"] in kern.link_get("eth0", netns="s").addresses
    cli.ok("endpoint", "leave", "e", "s")
    left = inspect(cli, "e")[0]
    assert (left["sandbox"], left["ifname"]) == (None, None)
    assert kern.link_get("eth0", netns="s") is None
    back = kern.link_get(ep["sandbox_ifname"])  # home again under its veth name, down
    assert (back.up, back.mac, back.kind) == (False, ep["mac"], "veth")
    assert kern.link_get(ep["host_ifname"]).master == bridge  # the pair stays on the bridge
    assert default_routes(kern, "s") == []
    cli.ok("endpoint", "join", "e", "s")
    assert inspect(cli, "e")[0]["ifname"] == "eth1"  # the counter never goes back
    assert kern.link_get("eth1", netns="s").up


@pytest.mark.skipif(not os.path.isdir("/proc/sys/net/ipv6"), reason="kernel without IPv6")
@pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2")
def test_ipv6_network(cli, kern):
    cli.ok("network", "create", "six", "--ipv6", "--subnet", "10.94.0.0/24", "--subnet", "fd00:94::/64")
    cli.ok("sandbox", "create", "a")
    cli.ok("sandbox", "create", "b")
    cli.ok("network", "connect", "six", "a")
    cli.ok("network", "connect", "six", "b")
    a, b = inspect(cli, "a", "b")
    for ep, ns in ((a, "a"), (b, "b")):
        assert ipaddress.ip_interface(ep["ipv6"]).network == ipaddress.ip_network("fd00:94::/64")
        shown = json.loads(subprocess.run(["ip", "-j", "-n", ns, "-6", "addr", "show", "dev", "eth0"],
                                          capture_output=True, text=True, timeout=10, check=True).stdout)
        info = [x for x in shown[0]["addr_info"] if x["local"] == ip_of(ep["ipv6"])]
        assert len(info) == 1 and info[0]["prefixlen"] == 64, shown
        assert not {"tentative", "dadfailed"} & set(info[0]), info  # NODAD: usable at once
        assert default_routes(kern, ns, family=6) == [("fd00:94::1", "eth0")]
    server = start_server(cli, "b", 6, connections=1)
    try:
        replies = talk(cli, "a", ip_of(b["ipv6"]))
        server.wait(timeout=20)
    finally:
        stop(server)
    assert replies == {ip_of(b["ipv6"]): f"hello {ip_of(b['ipv6'])} <- {ip_of(a['ipv6'])}"}


def test_overlapping_route_in_the_sandbox_is_refused(cli, kern):
    cli.ok("network", "create", "n1", "--subnet", "10.95.0.0/24")
    cli.ok("network", "create", "n2", "--subnet", "10.96.0.0/24")
    cli.ok("sandbox", "create", "s")
    cli.ok("network", "connect", "n1", "s")
    kern.route_add("10.96.0.0/16", gateway="10.95.0.1", netns="s")  # someone else's route
    cli.ok("endpoint", "create", "n2", "e")
    state, snap = cli.state.read_bytes(), kernel_snapshot(kern)
    for args in (("network", "connect", "n2", "s"), ("endpoint", "join", "e", "s")):
        code, _out, err = cli(*args)
        assert code == 4 and len(err.splitlines()) == 1, err
        assert "conflicts with existing route 10.96.0.0/16" in err
        assert cli.state.read_bytes() == state
        assert not diff(snap, kernel_snapshot(kern))


def test_nothing_remains_after_removing_everything(cli, kern):
    before = kernel_snapshot(kern)
    cli.ok("network", "create", "n1", "--subnet", "10.97.0.0/24")
    cli.ok("network", "create", "n2", "--ipv6", "--subnet", "10.98.0.0/24")
    for sb in ("a", "b"):
        cli.ok("sandbox", "create", sb)
        cli.ok("network", "connect", "n1", sb)
    cli.ok("network", "connect", "n2", "a")
    cli.ok("endpoint", "create", "n2", "joined")
    cli.ok("endpoint", "join", "joined", "b")
    cli.ok("endpoint", "create", "n2", "parked")
    during = kernel_snapshot(kern)
    assert during["netns"] == ["a", "b"] and len(during["host"]["links"]) == len(before["host"]["links"]) + 8
    assert cli.ok("sandbox", "rm", "a", "b").split() == ["a", "b"]
    assert cli.ok("endpoint", "ls", "-q").split() == ["n2/parked"]  # NETWORK/NAME: what round-trips
    cli.ok("endpoint", "rm", "parked")
    cli.ok("network", "rm", "n1", "n2")
    after = kernel_snapshot(kern)
    assert not diff(before, after), diff(before, after)
    assert [x for x in after["host"]["links"] if x != "lo"] == [] and after["netns"] == []
    assert os.listdir("/etc/netns") == []

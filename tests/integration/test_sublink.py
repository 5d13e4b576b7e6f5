"""The macvlan and ipvlan drivers on the real kernel (issue 11).

One lab for the module: a veth pair ``upl0``/``upl1`` stands in for the physical parent
(this kernel may have no ``dummy`` link type: ``link_kinds`` says), one state file, and the
forked CLI.  ipvlan and 802.1q parents are tested where the kernel has them and skipped,
saying so, where it has not; the refusal of a kernel without them is tested either way.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from netctl_runner import Forked, diff, kernel_snapshot, wait_until
from test_rollback import prove_rollback

PARENT, OTHER = "upl0", "upl1"
SERVER = r"""
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 5302))
srv.listen()
srv.settimeout(20)
print("listening", flush=True)
conn, peer = srv.accept()
with conn:
    conn.sendall(conn.recv(64) + b" <- " + peer[0].encode())
"""
CLIENT = r"""
import socket, sys
with socket.create_connection((sys.argv[1], 5302), timeout=10) as s:
    s.sendall(b"hello")
    print(s.recv(64).decode())
"""


@pytest.fixture(scope="module")
def kern():
    from netctl.kernel.netlink import NetlinkKernel

    k = NetlinkKernel()
    yield k
    k.close()


@pytest.fixture(scope="module")
def kinds(kern) -> set[str]:
    return kern.link_kinds(("macvlan", "ipvlan", "vlan", "dummy"))


@pytest.fixture(scope="module")
def cli(tmp_path_factory, kern, kinds):
    """The lab: the parent pair up, and a state file of its own; all of it gone afterwards."""
    if "macvlan" not in kinds:
        pytest.skip("this kernel has no macvlan link type")
    kern.veth_create(PARENT, OTHER, alias="the lab's uplink, not netctl's")
    kern.link_set_up(PARENT)
    kern.link_set_up(OTHER)
    runner = Forked(tmp_path_factory.mktemp("sublink") / "state.toml")
    yield runner
    runner.teardown()
    kern.link_delete(PARENT)
    for name in kern.netns_list():
        kern.netns_delete(name)


def inspect(cli, *refs: str) -> list[dict]:
    return json.loads(cli.ok("endpoint", "inspect", *refs))


def exchange(cli, server: str, client: str, host: str) -> str:
    """TCP from sandbox CLIENT to HOST (a name in its hosts file), served in SERVER."""
    netctl = [sys.executable, "-m", "netctl", "sandbox", "exec"]
    proc = subprocess.Popen([*netctl, server, "--", sys.executable, "-c", SERVER], env=cli.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "listening", proc.stderr.read()
        code, out, err = cli.subprocess("sandbox", "exec", client, "--", sys.executable, "-c", CLIENT, host)
        assert code == 0, err
        proc.wait(timeout=20)
        return out.strip()
    finally:
        if proc.poll() is None:
            proc.kill()  # our own child, by PID
        proc.wait(timeout=10)


def test_macvlan_bridge_sandboxes_talk_tcp_by_name(cli, kern):
    cli.ok("network", "create", "lan", "-d", "macvlan", "-o", f"parent={PARENT}",
           "--subnet", "192.168.70.0/24", "--ip-range", "192.168.70.64/26")
    for name in ("a", "b"):
        cli.ok("sandbox", "create", name, "--dns", "127.0.0.1")
        cli.ok("network", "connect", "lan", name)
    a, b = inspect(cli, "lan/a", "lan/b")
    for ep, sb in ((a, "a"), (b, "b")):
        link = kern.link_get("eth0", netns=sb)
        assert (link.kind, link.mac, link.up) == ("macvlan", ep["mac"], True)
        assert ep["ipv4"] in link.addresses and ep["ipv4"].startswith("192.168.70.6")
        assert ep.get("host_ifname") is None  # no host end: nothing in the host but the parent
        default = [(r.gateway, r.dev) for r in kern.routes(sb) if r.dst == "default"]
        assert default == [("192.168.70.1", "eth0")]
    assert {x.name for x in kern.links()} == {"lo", PARENT, OTHER}
    with open("/etc/netns/a/hosts") as hosts:
        assert "192.168.70.65\tb" in hosts.read()
    assert exchange(cli, "b", "a", "b") == "hello <- " + a["ipv4"].split("/")[0]
    assert cli("check")[0] == 0


def test_check_repair_restore_a_macvlan_endpoint(cli, kern):
    kern.link_delete("eth0", netns="b")
    code, out, _ = cli("check")
    assert code == 9 and "eth0 in sandbox b missing" in out
    cli.ok("check", "--repair")
    link = kern.link_get("eth0", netns="b")
    assert link.kind == "macvlan" and inspect(cli, "lan/b")[0]["ipv4"] in link.addresses
    assert cli("check")[0] == 0


def test_restore_after_a_reboot_makes_the_endpoints_again(cli, kern):
    """A reboot takes the namespaces (and the macvlan links in them) with it."""
    for name in ("a", "b"):
        kern.netns_delete(name)
    code, out, err = cli("restore")
    assert code == 0, err
    for ep in inspect(cli, "lan/a", "lan/b"):
        link = kern.link_get("eth0", netns=ep["name"])
        assert link.kind == "macvlan" and link.mac == ep["mac"] and ep["ipv4"] in link.addresses
    assert cli("check")[0] == 0


def test_a_bridge_network_beside_it_keeps_its_firewall_and_the_macvlan_gets_none(cli, kern):
    cli.ok("network", "create", "br", "--subnet", "10.97.0.0/24")
    try:
        assert cli("check")[0] == 0  # the firewall's tables match the state
        listing = subprocess.run(["nft", "list", "table", "inet", "netctl"], capture_output=True,
                                 text=True).stdout
        assert "10.97.0.0/24" in listing and "192.168.70." not in listing and PARENT not in listing
    finally:
        cli.ok("network", "rm", "br")


def test_a_kill_before_the_mark_leaves_a_link_check_repair_removes(cli, kern):
    cli.ok("sandbox", "create", "k")
    code, _, _ = cli("network", "connect", "lan", "k", env={"NETCTL_FAULT": "macvlan-mark:kill"})
    assert code != 0 and kern.link_get("eth0", netns="k").kind == "macvlan"
    code, out, _ = cli("check")
    assert code == 9 and "link eth0 in sandbox k: left over" in out
    cli.ok("check", "--repair")
    assert kern.link_get("eth0", netns="k") is None
    cli.ok("network", "connect", "lan", "k")
    cli.ok("network", "disconnect", "lan", "k")  # the link has no host end: deleted inside
    assert kern.link_get("eth0", netns="k") is None
    cli.ok("sandbox", "rm", "k")


def test_passthru_takes_the_parent_for_one_endpoint_with_its_mac(cli, kern):
    cli.ok("network", "create", "pt", "-d", "macvlan", "-o", f"parent={OTHER}", "-o", "macvlan_mode=passthru",
           "--subnet", "192.168.78.0/24")
    cli.ok("sandbox", "create", "p1")
    cli.ok("sandbox", "create", "p2")
    try:
        cli.ok("network", "connect", "pt", "p1")
        assert kern.link_get("eth0", netns="p1").mac == kern.link_get(OTHER).mac
        assert inspect(cli, "pt/p1")[0].get("mac") is None
        code, _, err = cli("network", "connect", "pt", "p2")
        assert code == 4 and "takes one endpoint" in err
        assert cli("check")[0] == 0
        # the kernel frees a link of a deleted namespace only later (15-50 ms): sandbox rm
        # deletes it first, so the parent is free for the next sandbox at once
        cli.ok("sandbox", "rm", "p1")
        cli.ok("network", "connect", "pt", "p2")
    finally:
        cli.ok("sandbox", "rm", "-f", "p1", "p2")
        cli.ok("network", "rm", "pt")


def test_a_parent_that_is_down_stays_down(cli, kern):
    """Not netctl's: neither network create, nor connect, nor check --repair brings it up."""
    kern.link_set_up(OTHER, False)
    try:
        cli.ok("network", "create", "dn", "-d", "macvlan", "-o", f"parent={OTHER}",
               "--subnet", "192.168.79.0/24")
        cli.ok("sandbox", "create", "d1")
        cli.ok("network", "connect", "dn", "d1")
        assert cli("check")[0] == 0
        cli.ok("check", "--repair")
        assert not kern.link_get(OTHER).up
        cli.ok("sandbox", "rm", "-f", "d1")
        cli.ok("network", "rm", "dn")
    finally:
        kern.link_set_up(OTHER)


def test_parked_endpoint_joins_and_leaves(cli, kern):
    cli.ok("endpoint", "create", "lan", "parked")
    parked = inspect(cli, "lan/parked")[0]["sandbox_ifname"]
    assert kern.link_get(parked).kind == "macvlan"  # in the host, down
    cli.ok("sandbox", "create", "c")
    cli.ok("endpoint", "join", "lan/parked", "c")
    assert kern.link_get(parked) is None and kern.link_get("eth0", netns="c").up
    cli.ok("endpoint", "leave", "lan/parked", "c")
    assert kern.link_get(parked) is not None
    cli.ok("endpoint", "rm", "lan/parked")
    cli.ok("sandbox", "rm", "c")
    assert kern.link_get(parked) is None


REFUSED = [
    (2, ["-d", "macvlan", "-o", f"parent={PARENT}", "-o", "macvlan_mode=bogus", "--subnet",
         "192.168.71.0/24"]),
    (2, ["-d", "ipvlan", "-o", f"parent={PARENT}", "-o", "ipvlan_mode=l4", "--subnet", "192.168.71.0/24"]),
    (2, ["-d", "ipvlan", "-o", f"parent={PARENT}", "-o", "ipvlan_flag=none", "--subnet", "192.168.71.0/24"]),
    (2, ["-d", "macvlan", "-o", f"parent={PARENT}"]),  # no --subnet
    (2, ["-d", "macvlan", "--subnet", "192.168.71.0/24"]),  # no parent
    (2, ["-d", "macvlan", "-o", "parent=lo", "--subnet", "192.168.71.0/24"]),
    (2, ["-d", "macvlan", "-o", f"parent={PARENT}.4095", "--subnet", "192.168.71.0/24"]),
    (2, ["-d", "macvlan", "-o", f"parent={PARENT}", "-o", "bridge=br0", "--subnet", "192.168.71.0/24"]),
    (2, ["-d", "ipvlan", "-o", f"parent={OTHER}", "-o", "ipvlan_mode=l3", "--subnet", "192.168.71.0/24",
         "--gateway", "192.168.71.1"]),
    (2, ["-d", "bridge", "-o", f"parent={PARENT}"]),
    (3, ["-d", "macvlan", "-o", "parent=nosuch0", "--subnet", "192.168.71.0/24"]),
    (3, ["-d", "macvlan", "-o", "parent=nosuch0.10", "--subnet", "192.168.71.0/24"]),
    (4, ["-d", "macvlan", "-o", f"parent={PARENT}", "--subnet", "192.168.70.128/25"]),  # lan's subnet
    (4, ["-d", "macvlan", "-o", f"parent={PARENT}", "-o", "macvlan_mode=passthru", "--subnet",
         "192.168.71.0/24"]),
    (4, ["-d", "ipvlan", "-o", f"parent={PARENT}", "--subnet", "192.168.71.0/24"]),  # lan is macvlan
]


@pytest.mark.parametrize(("code", "args"), REFUSED, ids=[" ".join(a) for _, a in REFUSED])
def test_refusals_change_nothing(cli, kern, code, args):
    state, snap = cli.state.read_bytes(), kernel_snapshot(kern)
    got, out, err = cli("network", "create", "refused", *args)
    assert (got, out) == (code, ""), err
    assert err.startswith("netctl: ") and len(err.splitlines()) == 1
    assert cli.state.read_bytes() == state
    assert not diff(snap, kernel_snapshot(kern))


def test_a_kernel_without_the_link_type_is_refused(cli, kern, kinds):
    if {"ipvlan", "vlan"} <= kinds:
        pytest.skip("this kernel has ipvlan and 802.1q: nothing to refuse")
    state, snap = cli.state.read_bytes(), kernel_snapshot(kern)
    if "ipvlan" not in kinds:
        code, _, err = cli("network", "create", "iv", "-d", "ipvlan", "-o", f"parent={OTHER}",
                           "--subnet", "192.168.72.0/24")
        assert code == 1 and "no ipvlan link type" in err
    if "vlan" not in kinds:
        code, _, err = cli("network", "create", "v10", "-d", "macvlan", "-o", f"parent={OTHER}.10",
                           "--subnet", "192.168.72.0/24")
        assert code == 1 and "no vlan link type" in err
    assert cli.state.read_bytes() == state and not diff(snap, kernel_snapshot(kern))


def test_vlan_parent_created_shared_and_removed_with_the_last_network(cli, kern, kinds):
    if "vlan" not in kinds:
        pytest.skip("this kernel has no 802.1q (vlan) link type")
    vlan = f"{OTHER}.10"
    cli.ok("network", "create", "v1", "-d", "macvlan", "-o", f"parent={vlan}", "--subnet", "192.168.73.0/24")
    link = kern.link_get(vlan)
    assert link.kind == "vlan" and link.up and link.owner
    cli.ok("network", "create", "v2", "-d", "macvlan", "-o", f"parent={vlan}", "-o", "macvlan_mode=private",
           "--subnet", "192.168.74.0/24")
    cli.ok("network", "rm", "v1")
    assert kern.link_get(vlan) is not None and cli("check")[0] == 0  # v2 still uses it
    cli.ok("network", "rm", "v2")
    assert wait_until(lambda: kern.link_get(vlan) is None, timeout=2)
    kern.vlan_create(vlan, parent=OTHER, vid=10, alias="the machine's")  # one that existed stays
    try:
        cli.ok("network", "create", "v3", "-d", "macvlan", "-o", f"parent={vlan}",
               "--subnet", "192.168.73.0/24")
        assert not kern.link_get(vlan).up  # not netctl's: not brought up either
        cli.ok("network", "rm", "v3")
        assert kern.link_get(vlan) is not None
    finally:
        kern.link_delete(vlan)


def test_ipvlan_l2_and_l3_sandboxes_reach_each_other(cli, kern, kinds):
    if "ipvlan" not in kinds:
        pytest.skip("this kernel has no ipvlan link type")
    cli.ok("network", "create", "l3", "-d", "ipvlan", "-o", f"parent={OTHER}", "-o", "ipvlan_mode=l3",
           "--subnet", "192.168.75.0/24")
    for name in ("p", "q"):
        cli.ok("sandbox", "create", name, "--dns", "127.0.0.1")
        cli.ok("network", "connect", "l3", name)
        assert [(r.gateway, r.dev) for r in kern.routes(name) if r.dst == "default"] == [(None, "eth0")]
    assert exchange(cli, "q", "p", "q").startswith("hello <- 192.168.75.")
    cli.ok("sandbox", "rm", "-f", "p", "q")
    cli.ok("network", "rm", "l3")
    cli.ok("network", "create", "l2", "-d", "ipvlan", "-o", f"parent={OTHER}", "--subnet", "192.168.76.0/24")
    for name in ("p", "q"):
        cli.ok("sandbox", "create", name, "--dns", "127.0.0.1")
        cli.ok("network", "connect", "l2", name)
        assert kern.link_get("eth0", netns=name).mac == kern.link_get(OTHER).mac
    assert exchange(cli, "q", "p", "q").startswith("hello <- 192.168.76.")
    cli.ok("sandbox", "rm", "-f", "p", "q")
    cli.ok("network", "rm", "l2")


def test_rollback_connect_join_and_create(cli, kern, kinds):
    cli.ok("sandbox", "create", "rb")
    steps = prove_rollback(cli, kern, "network", "connect", "lan", "rb", "--alias", "web")
    assert steps[:2] == ["macvlan-create", "macvlan-mark"] and "route-add" in steps
    cli.ok("sandbox", "create", "rb2")
    cli.ok("endpoint", "create", "lan", "rbp")
    steps = prove_rollback(cli, kern, "endpoint", "join", "lan/rbp", "rb2")
    assert steps[0] == "join-move"
    steps = prove_rollback(cli, kern, "network", "disconnect", "lan", "rb")
    if "vlan" in kinds:
        steps = prove_rollback(cli, kern, "network", "create", "vrb", "-d", "macvlan", "-o",
                               f"parent={OTHER}.20", "--subnet", "192.168.77.0/24")
        assert steps == ["vlan-create", "vlan-mark", "vlan-up", "save"]
        cli.ok("network", "rm", "vrb")


def test_network_rm_leaves_the_parent(cli, kern):
    cli.ok("sandbox", "rm", "-f", "a", "b", "rb", "rb2")
    cli.ok("endpoint", "rm", "-f", "lan/rbp")
    cli.ok("network", "rm", "lan")
    assert {x.name for x in kern.links()} == {"lo", PARENT, OTHER}
    assert kern.link_get(PARENT).up and kern.link_get(PARENT).alias == "the lab's uplink, not netctl's"

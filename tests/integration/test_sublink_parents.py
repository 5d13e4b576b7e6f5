"""macvlan/ipvlan parents that look usable and are not (hostile review of issue 11).

Its own lab (a veth pair ``atk0``/``atk1`` and a state file), beside test_sublink.py's.
A parent that netctl made for something else dies with that object, and the kernel deletes
the macvlan links of a vanished parent with it: a network whose bridge (or an endpoint whose
veth) served as a parent took another network's endpoints down silently.  A bridge port has
its receive hook taken: the network was created and every connect failed with exit 1.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from netctl_runner import Forked, diff, kernel_snapshot

PARENT, PEER = "atk0", "atk1"


@pytest.fixture(scope="module")
def kern():
    from netctl.kernel.netlink import NetlinkKernel

    k = NetlinkKernel()
    yield k
    k.close()


@pytest.fixture(scope="module")
def cli(tmp_path_factory, kern):
    if "macvlan" not in kern.link_kinds(("macvlan",)):
        pytest.skip("this kernel has no macvlan link type")
    kern.veth_create(PARENT, PEER, alias="the lab's uplink, not netctl's")
    kern.link_set_up(PARENT)
    runner = Forked(tmp_path_factory.mktemp("parents") / "state.toml")
    yield runner
    runner.teardown()
    for name in (PARENT, "atkbr0"):
        if kern.link_get(name) is not None:
            kern.link_delete(name)


def refused(cli, kern, code: int, *args: str) -> str:
    """The create is refused with ``code``, one line, nothing changed; the error line."""
    read = lambda: cli.state.read_bytes() if cli.state.exists() else None  # noqa: E731
    state, snap = read(), kernel_snapshot(kern)
    got, out, err = cli("network", "create", "mv", "-d", "macvlan", *args)
    assert (got, out) == (code, ""), err
    assert err.startswith("netctl: ") and len(err.splitlines()) == 1
    assert read() == state and not diff(snap, kernel_snapshot(kern))
    return err


def test_a_netctl_bridge_or_veth_is_no_parent(cli, kern):
    cli.ok("network", "create", "br", "--subnet", "10.91.0.0/24", "-o", "bridge=atkbr1")
    bridge = kern.link_get("atkbr1")
    assert "made for another object" in refused(cli, kern, 4, "-o", f"parent={bridge.name}",
                                                "--subnet", "10.92.0.0/24")
    assert "its base" in refused(cli, kern, 4, "-o", f"parent={bridge.name}.7", "--subnet", "10.92.0.0/24")
    cli.ok("sandbox", "create", "v")
    cli.ok("network", "connect", "br", "v")
    veth = next(x for x in kern.links() if x.master == bridge.name)
    refused(cli, kern, 4, "-o", f"parent={veth.name}", "--subnet", "10.92.0.0/24")
    cli.ok("sandbox", "rm", "v")
    cli.ok("network", "rm", "br")


def test_a_bridge_port_is_no_parent(cli, kern):
    kern.bridge_create("atkbr0", mac="02:00:00:aa:bb:01", alias="someone else's bridge")
    kern.link_set_master(PARENT, "atkbr0")
    try:
        assert "port of atkbr0" in refused(cli, kern, 4, "-o", f"parent={PARENT}",
                                           "--subnet", "10.93.0.0/24")
    finally:
        kern.link_set_master(PARENT, None)
        kern.link_delete("atkbr0")


def test_the_same_parent_twice_still_works(cli, kern):
    for name, subnet in (("m1", "10.94.0.0/24"), ("m2", "10.95.0.0/24")):
        cli.ok("network", "create", name, "-d", "macvlan", "-o", f"parent={PARENT}", "--subnet", subnet)
    cli.ok("network", "rm", "m1", "m2")
    assert kern.link_get(PARENT).alias == "the lab's uplink, not netctl's"


def test_a_hand_edited_parent_created_does_not_bring_up_someone_elses_parent(cli, kern):
    """``parent_created = true`` in the state (hand-edited, or netctl's 802.1q parent replaced
    by a link of the same name): the link carries no netctl mark, so it is not netctl's."""
    assert not kern.link_get(PEER).up
    cli.ok("network", "create", "dn", "-d", "macvlan", "-o", f"parent={PEER}", "--subnet", "10.96.0.0/24")
    text = cli.state.read_text()
    assert text.count("parent_created = false") == 1
    cli.state.write_text(text.replace("parent_created = false", "parent_created = true"))
    assert cli("check")[0] == 0
    cli.ok("check", "--repair")
    cli.ok("restore")
    cli.ok("network", "rm", "dn")
    peer = kern.link_get(PEER)
    assert not peer.up and peer.alias == "the lab's uplink, not netctl's"


def test_one_mac_twice_on_a_parent_is_a_conflict_across_networks(cli, kern):
    """The parent holds one MAC table for all its macvlan links, whichever network they
    belong to: the second link with a MAC failed at link up (EADDRINUSE, exit 1)."""
    for name, subnet in (("ma", "10.97.0.0/24"), ("mb", "10.98.0.0/24")):
        cli.ok("network", "create", name, "-d", "macvlan", "-o", f"parent={PARENT}", "--subnet", subnet)
        cli.ok("sandbox", "create", f"s{name}")
    cli.ok("network", "connect", "ma", "sma", "--mac", "02:aa:00:00:00:01")
    state, snap = cli.state.read_bytes(), kernel_snapshot(kern)
    code, out, err = cli("network", "connect", "mb", "smb", "--mac", "02:aa:00:00:00:01")
    assert (code, out) == (4, ""), err
    assert "already used by endpoint 'sma' in network 'ma'" in err and len(err.splitlines()) == 1
    assert cli.state.read_bytes() == state and not diff(snap, kernel_snapshot(kern))
    cli.ok("network", "connect", "mb", "smb", "--mac", "02:aa:00:00:00:02")
    cli.ok("sandbox", "rm", "sma", "smb")
    cli.ok("network", "rm", "ma", "mb")


def test_a_parent_gone_since_create_is_not_found_at_connect(cli, kern):
    kern.veth_create("atkp0", "atkp1", alias="a parent that goes away")
    cli.ok("network", "create", "gone", "-d", "macvlan", "-o", "parent=atkp0", "--subnet", "10.99.0.0/24")
    cli.ok("sandbox", "create", "sg")
    kern.link_delete("atkp0")
    state, snap = cli.state.read_bytes(), kernel_snapshot(kern)
    code, out, err = cli("network", "connect", "gone", "sg")
    assert (code, out) == (3, "") and "parent interface atkp0 of network 'gone' not found" in err, err
    assert len(err.splitlines()) == 1
    assert cli.state.read_bytes() == state and not diff(snap, kernel_snapshot(kern))
    cli.ok("sandbox", "rm", "sg")
    cli.ok("network", "rm", "gone")


def test_ipvlan_l3_ipv6_default_routes_through_the_device(kern):
    """ipvlan l3/l3s has no gateway: both default routes go through the device.  The IPv6
    one went in as IPv4 (the kernel calls take the family from the gateway): EEXIST, so
    every connect to an ipvlan l3 network with --ipv6 failed.  The elected endpoint's link
    can be any link here (this kernel may have no ipvlan): a veth stands in for it."""
    from netctl.model import Endpoint, Network, Sandbox, State, Subnet
    from netctl.service import gateway
    from netctl.txn import Transaction

    net = Network("l3", "a" * 64, "ipvlan", "now", ipv6=True, subnets=[
        Subnet("10.60.0.0/24"), Subnet("fd00:60::/64")], options={"parent": PARENT, "ipvlan_mode": "l3"})
    sb = Sandbox("atkl3", "b" * 64, "now")
    ep = Endpoint("e", "c" * 64, net.id, "now", ipv4="10.60.0.2/24", ipv6="fd00:60::2/64",
                  sandbox=sb.id, ifname="eth0")
    state = State(networks=[net], endpoints=[ep], sandboxes=[sb])
    kern.netns_create("atkl3")
    try:
        kern.veth_create("atkl3p", "eth0", peer_netns="atkl3", alias="a stand-in")
        kern.ipv6_enable("eth0", netns="atkl3")
        kern.link_set_up("eth0", netns="atkl3")
        kern.addr_add("eth0", "10.60.0.2/24", netns="atkl3")
        kern.addr_add("eth0", "fd00:60::2/64", netns="atkl3", nodad=True)
        with Transaction() as tx:
            gateway.apply(kern, state, sb, tx)
        defaults = {(r.family, r.gateway, r.dev) for r in kern.routes("atkl3") if r.dst == "default"}
        assert defaults == {(4, None, "eth0"), (6, None, "eth0")}
        ep.sandbox = ep.ifname = None  # left: both go, each by its own family
        with Transaction() as tx:
            gateway.apply(kern, state, sb, tx)
        assert not [r for r in kern.routes("atkl3") if r.dst == "default"]
    finally:
        kern.link_delete("atkl3p")  # now: with the namespace, the kernel frees it later
        kern.netns_delete("atkl3")


def test_an_mtu_above_the_parents_is_refused_at_create(cli, kern):
    """The kernel refuses a macvlan link above its parent's MTU (EINVAL): the network was
    made, and every connect to it failed with exit 1."""
    mtu = kern.link_get(PARENT).mtu
    assert "above the MTU of parent atk0" in refused(cli, kern, 2, "-o", f"parent={PARENT}", "-o",
                                                     f"mtu={mtu + 1}", "--subnet", "10.90.0.0/24")
    cli.ok("network", "create", "mtu", "-d", "macvlan", "-o", f"parent={PARENT}", "-o", f"mtu={mtu}",
           "--subnet", "10.90.0.0/24")
    cli.ok("sandbox", "create", "smtu")
    cli.ok("network", "connect", "mtu", "smtu")
    assert kern.link_get("eth0", netns="smtu").mtu == mtu
    cli.ok("sandbox", "rm", "smtu")
    cli.ok("network", "rm", "mtu")


def test_an_endpoint_left_on_a_renamed_parent_is_drift_repair_moves_it(cli, kern):
    """The parent renamed and another interface given its name: the macvlan links stay on the
    renamed device (the kernel follows the index), so the network's sandboxes sat on another
    wire than the state says, and check saw nothing."""
    kern.veth_create("atkq0", "atkq1", alias="the first uplink")
    kern.link_set_up("atkq0")
    cli.ok("network", "create", "wire", "-d", "macvlan", "-o", "parent=atkq0", "--subnet", "10.89.0.0/24")
    cli.ok("sandbox", "create", "sw")
    cli.ok("network", "connect", "wire", "sw")
    first = kern.link_get("atkq0").index
    subprocess.run(["ip", "link", "set", "atkq0", "name", "atkq9"], check=True)
    kern.veth_create("atkq0", "atkq2", alias="the new uplink of that name")
    kern.link_set_up("atkq0")
    try:
        code, out, _ = cli("check")
        assert code == 9 and "eth0 in sandbox sw is not a link of parent atkq0" in out, out
        assert kern.link_get("eth0", netns="sw").lower == first
        cli.ok("check", "--repair")
        assert kern.link_get("eth0", netns="sw").lower == kern.link_get("atkq0").index
        assert cli("check")[0] == 0
        cli.ok("sandbox", "rm", "sw")
        cli.ok("network", "rm", "wire")
    finally:
        for name in ("atkq0", "atkq9"):
            kern.link_delete(name)


def test_the_hosts_own_address_on_the_parent_is_never_a_sandboxs(cli, kern):
    """The host's address on the parent is in the network's subnet (the usual case: the
    sandboxes join the host's LAN): the first sandbox was given it, a duplicate on the LAN."""
    kern.addr_add(PARENT, "10.88.0.2/24")
    try:
        cli.ok("network", "create", "lan", "-d", "macvlan", "-o", f"parent={PARENT}",
               "--subnet", "10.88.0.0/24")
        cli.ok("sandbox", "create", "sl")
        cli.ok("network", "connect", "lan", "sl")
        addr = json.loads(cli.ok("endpoint", "inspect", "lan/sl"))[0]["ipv4"]
        assert addr == "10.88.0.3/24"
        cli.ok("sandbox", "create", "sl2")
        code, _, err = cli("network", "connect", "lan", "sl2", "--ip", "10.88.0.2")
        assert code == 4, err
        cli.ok("sandbox", "rm", "sl", "sl2")
        cli.ok("network", "rm", "lan")
    finally:
        kern.addr_del(PARENT, "10.88.0.2/24")

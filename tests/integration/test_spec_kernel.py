"""Kernel facts libnetwork-spec.md prescribes (issue 8 §6), read back over netlink and
/proc/sys on the real kernel; each test names its spec section."""

from __future__ import annotations

import json
from pathlib import Path


def _ipv6_off(lab, netns: str, ifname: str) -> bool:
    return lab.ns.read(netns, f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6") == "1"


def _lo(lab, netns: str) -> tuple[bool, bool]:
    """(IPv6 switched off, ::1 present) for lo in NETNS."""
    return _ipv6_off(lab, netns, "lo"), "::1/128" in lab.nk.link_get("lo", netns).addresses


def test_spec_2_an_ipv6_bridge_carries_fe80_1_and_restore_brings_it_back(lab):
    """§2 step 3: "enableIPv6 → … add fe80::1/64, add the v6 gateway/prefix"."""
    lab.cli.ok("network", "create", "v6", "--ipv6", "--subnet", "10.81.0.0/24", "--subnet", "fd00:81::/64")
    lab.cli.ok("network", "create", "v4", "--subnet", "10.82.0.0/24")
    v6, v4 = lab.nk.link_get(lab.bridge("v6")), lab.nk.link_get(lab.bridge("v4"))
    assert {"10.81.0.1/24", "fd00:81::1/64", "fe80::1/64"} <= set(v6.addresses)
    assert "fe80::1/64" not in v4.addresses
    assert lab.cli("check").code == 0
    lab.nk.addr_del(lab.bridge("v6"), "fe80::1/64")
    res = lab.cli("check")
    assert res.code == 9 and "lacks address fe80::1/64" in res.out
    lab.reboot()
    assert lab.cli("restore").code == 0
    assert "fe80::1/64" in lab.nk.link_get(lab.bridge("v6")).addresses
    assert lab.cli("check").code == 0


def test_spec_7_2_lo_has_ipv6_only_while_an_interface_has_it(lab):
    """§7.2: "enable IPv6 on lo if any interface has v6, otherwise disable it"; §8: a new
    sandbox has IPv6 disabled on all interfaces."""
    lab.cli.ok("network", "create", "v4", "--subnet", "10.83.0.0/24")
    lab.cli.ok("network", "create", "v6", "--ipv6", "--subnet", "10.84.0.0/24")
    lab.cli.ok("sandbox", "create", "s")
    assert _lo(lab, "s") == (True, False)
    lab.cli.ok("network", "connect", "v4", "s")
    assert _lo(lab, "s") == (True, False)
    lab.cli.ok("network", "connect", "v6", "s")
    assert _lo(lab, "s") == (False, True)
    assert lab.cli("check").code == 0
    lab.reboot()  # restore re-creates the namespace (lo off) and re-plumbs the v6 endpoint
    assert lab.cli("restore").code == 0
    assert _lo(lab, "s") == (False, True)
    assert lab.cli("check").code == 0
    lab.cli.ok("network", "disconnect", "v6", "s")
    assert _lo(lab, "s") == (True, False)
    assert lab.cli("check").code == 0
    lab.cli.ok("endpoint", "create", "v6", "e6")
    lab.cli.ok("endpoint", "join", "e6", "s")
    assert _lo(lab, "s") == (False, True)
    lab.cli.ok("endpoint", "leave", "e6", "s")
    assert _lo(lab, "s") == (True, False)


def test_spec_7_2_check_repair_puts_lo_ipv6_right(lab):
    lab.cli.ok("network", "create", "v4", "--subnet", "10.85.0.0/24")
    lab.cli.ok("sandbox", "create", "s")
    lab.cli.ok("network", "connect", "v4", "s")
    lab.nk.ipv6_enable("lo", netns="s")
    res = lab.cli("check")
    assert res.code == 9 and "lo has IPv6 on, expected off" in res.out
    assert lab.cli("check", "--repair").code == 0
    assert _lo(lab, "s") == (True, False)


def test_spec_5_the_host_end_of_a_veth_has_txqueuelen_0(lab):
    """§5: "Create the pair in the host namespace; the host end has txqueuelen 0"."""
    lab.cli.ok("network", "create", "n", "--subnet", "10.86.0.0/24")
    lab.cli.ok("sandbox", "create", "s")
    lab.cli.ok("network", "connect", "n", "s")  # peer born inside the sandbox
    lab.cli.ok("endpoint", "create", "n", "parked")  # both ends in the host
    for ref in ("s", "parked"):
        host_end = lab.endpoint(ref)["host_ifname"]
        assert Path(f"/sys/class/net/{host_end}/tx_queue_len").read_text().strip() == "0"


def test_spec_7_2_ifnames_count_per_prefix_in_the_kernel(lab):
    """§7.2: the <prefix><n> counter is per sandbox and per prefix: eth0, then net0."""
    lab.cli.ok("network", "create", "a", "--subnet", "10.87.0.0/24")
    lab.cli.ok("network", "create", "b", "--subnet", "10.88.0.0/24", "-o", "iface_prefix=net")
    lab.cli.ok("sandbox", "create", "s")
    lab.cli.ok("network", "connect", "a", "s")
    lab.cli.ok("network", "connect", "b", "s")
    names = {x.name for x in lab.nk.links("s")}
    assert {"eth0", "net0"} <= names and "net1" not in names
    sb = json.loads(lab.cli.ok("sandbox", "inspect", "s"))[0]
    assert sorted(e["ifname"] for e in sb["endpoints"]) == ["eth0", "net0"]

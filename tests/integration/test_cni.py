"""netctl as a CNI plugin on the real kernel, driven exactly as the spec describes: the
console script exec'd with CNI_* variables and the configuration on stdin (cni_support)."""

from __future__ import annotations

import subprocess
from ipaddress import ip_interface
from pathlib import Path

import pytest
from cni_support import Runtime, conf, netns_add, netns_del, plugin_dir
from netctl_runner import Netctl, kernel_snapshot, left_behind

from netctl.store import parse

CID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"  # podman's shape


@pytest.fixture
def rt(tmp_path, kern):
    runtime = Runtime(tmp_path / "state.toml", plugin_dir(tmp_path / "plugins"))
    before = kernel_snapshot(kern)
    made: list[str] = []
    runtime.netns = lambda name: (made.append(name), netns_add(name))[1]
    yield runtime
    Netctl(runtime.state).teardown()
    for name in made:
        netns_del(name)
    assert left_behind(before, kernel_snapshot(kern)) == []


def state_of(rt):
    return parse(rt.state.read_bytes(), rt.state)


def ip(netns: str, *args: str) -> str:
    return subprocess.run(["ip", "-n", netns, *args], capture_output=True, text=True, check=True).stdout


def test_add_check_del_round_trip_leaves_the_runtime_namespace_as_it_was(rt, kern):
    path = rt.netns("ctr1")
    # what the runtime (or another plugin) put there: netctl must never touch it
    subprocess.run(["ip", "-n", "ctr1", "addr", "add", "127.0.0.9/8", "dev", "lo"], check=True)
    theirs = kernel_snapshot(kern)["ns:ctr1"]
    cfg = conf("cnilab", subnet="10.77.0.0/24", dns={"nameservers": ["10.77.0.1"]})
    res = rt.ok("ADD", cfg, CID, path, "eth0")
    assert res["cniVersion"] == "1.0.0" and res["dns"] == {"nameservers": ["10.77.0.1"]}
    host, inside = res["interfaces"]
    assert inside["name"] == "eth0" and inside["sandbox"] == path
    (addr,) = res["ips"]
    assert addr["interface"] == 1 and addr["gateway"] == "10.77.0.1"
    assert ip_interface(addr["address"]).network == ip_interface("10.77.0.0/24").network
    assert res["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.77.0.1"}]
    link = kern.link_get("eth0", netns="ctr1")
    assert link.mac == inside["mac"] and addr["address"] in link.addresses
    assert kern.link_get(host["name"]).master is not None
    assert "default via 10.77.0.1 dev eth0" in ip("ctr1", "route")
    st = state_of(rt)
    (sb,) = st.sandboxes
    assert sb.name == f"cni-{CID[:12]}" and sb.labels == {"cni.container_id": CID}

    rt.ok("CHECK", {**cfg, "prevResult": res}, CID, path, "eth0")
    assert Netctl(rt.state).run("check").code == 0

    assert rt.ok("DEL", cfg, CID, path, "eth0") is None
    assert rt.ok("DEL", cfg, CID, path, "eth0") is None  # idempotent
    assert kernel_snapshot(kern)["ns:ctr1"] == theirs  # lo's address, nothing of netctl's
    st = state_of(rt)
    assert st.sandboxes == [] and st.endpoints == [] and [n.name for n in st.networks] == ["cnilab"]


def test_check_reports_a_missing_address_and_a_repeated_add_is_the_same_attachment(rt):
    path = rt.netns("ctr2")
    cfg = conf("cnilab", subnet="10.77.1.0/24")
    res = rt.ok("ADD", cfg, CID, path, "eth0")
    assert rt.ok("ADD", cfg, CID, path, "eth0") == res
    subprocess.run(["ip", "-n", "ctr2", "addr", "flush", "dev", "eth0"], check=True)
    code, doc, _ = rt("CHECK", {**cfg, "prevResult": res}, CID, path, "eth0")
    assert code == 1 and doc["code"] == 109 and "lacks address" in doc["msg"]
    code, doc, _ = rt("CHECK", {**cfg, "prevResult": res}, "other", path, "eth0")
    assert doc["code"] == 3
    rt.ok("DEL", cfg, CID, path, "eth0")


def test_del_succeeds_when_the_runtime_removed_the_namespace_first(rt, kern):
    path = rt.netns("ctr3")
    cfg = conf("cnilab", subnet="10.77.2.0/24")
    rt.ok("ADD", cfg, CID, path, "eth0")
    netns_del("ctr3")
    assert rt.ok("DEL", cfg, CID, "", "eth0") is None
    assert rt.ok("DEL", cfg, CID, path, "eth0") is None
    assert state_of(rt).sandboxes == [] and Netctl(rt.state).run("check").code == 0
    # and when the namespace itself is gone: netctl's binding removed behind its back too
    path = rt.netns("ctr3")
    rt.ok("ADD", cfg, CID, path, "eth0")
    netns_del("ctr3")
    netns_del(f"cni-{CID[:12]}")
    assert rt.ok("DEL", cfg, CID, path, "eth0") is None
    assert state_of(rt).sandboxes == [] and state_of(rt).endpoints == []
    assert Netctl(rt.state).run("check").code == 0


def test_a_failed_add_creates_no_network_and_changes_nothing(rt, kern):
    before = kernel_snapshot(kern)
    code, doc, _ = rt("ADD", conf("cnilab", subnet="10.77.3.0/24"), CID, "/run/netns/missing", "eth0")
    assert code == 1 and doc["code"] == 103, doc
    assert kernel_snapshot(kern) == before and not rt.state.exists() or state_of(rt).networks == []
    path = rt.netns("ctr4")
    code, doc, _ = rt("ADD", conf("cnilab", subnet="10.77.3.0/24",
                                  runtimeConfig={"ips": ["10.99.0.5/24"]}), CID, path, "eth0")
    assert code == 1 and doc["code"] in (7, 102, 105), doc
    assert not rt.state.exists() or (state_of(rt).networks, state_of(rt).sandboxes) == ([], [])


def test_a_config_that_differs_from_the_existing_network_is_refused(rt):
    path = rt.netns("ctr5")
    rt.ok("ADD", conf("cnilab", subnet="10.77.4.0/24"), CID, path, "eth0")
    code, doc, _ = rt("ADD", conf("cnilab", subnet="10.77.5.0/24"), "c2", path, "eth1")
    assert code == 1 and doc["code"] == 7 and "subnet 10.77.5.0/24" in doc["msg"]
    status = conf("cnilab", "1.1.0", subnet="10.77.5.0/24")
    code, doc, _ = rt("STATUS", status, plugin="netctl")
    assert doc["code"] == 50
    assert rt.ok("STATUS", conf("cnilab", "1.1.0", subnet="10.77.4.0/24")) is None
    rt.ok("DEL", conf("cnilab"), CID, path, "eth0")


def test_one_container_on_two_networks_and_runtime_config(rt, kern):
    path = rt.netns("ctr6")
    a = rt.ok("ADD", conf("cnia", subnet="10.77.6.0/24"), CID, path, "eth0")
    b = rt.ok("ADD", conf("cnib", subnet="10.77.7.0/24", capabilities={"ips": True, "mac": True},
                          runtimeConfig={"ips": ["10.77.7.50/24"], "mac": "02:00:00:77:07:32"}),
              CID, path, "net1")
    assert b["ips"][0]["address"] == "10.77.7.50/24" and b["interfaces"][1]["mac"] == "02:00:00:77:07:32"
    assert "routes" in a and "routes" not in b  # one default route, elected as netctl does
    assert {x.name for x in kern.links("ctr6")} == {"lo", "eth0", "net1"}
    assert len(state_of(rt).sandboxes) == 1
    rt.ok("DEL", conf("cnia"), CID, path, "eth0")
    assert [s.name for s in state_of(rt).sandboxes] == [f"cni-{CID[:12]}"]  # still on cnib
    rt.ok("DEL", conf("cnib"), CID, path, "net1")
    assert state_of(rt).sandboxes == [] and {x.name for x in kern.links("ctr6")} == {"lo"}


def test_gc_removes_attachments_not_listed(rt):
    cfg = conf("cnilab", "1.1.0", subnet="10.77.8.0/24")
    for n in range(3):
        rt.ok("ADD", cfg, f"gc{n}", rt.netns(f"gc{n}"), "eth0")
    keep = [{"containerID": "gc0", "ifname": "eth0"}, {"containerID": "gc2", "ifname": "eth0"}]
    assert rt.ok("GC", {**cfg, "cni.dev/valid-attachments": keep}) is None
    assert sorted(s.labels["cni.container_id"] for s in state_of(rt).sandboxes) == ["gc0", "gc2"]
    assert Netctl(rt.state).run("check").code == 0
    for n in (0, 2):
        rt.ok("DEL", cfg, f"gc{n}", f"/run/netns/gc{n}", "eth0")


def test_chained_with_the_reference_tuning_plugin(rt, kern):
    """netctl first, Debian's ``tuning`` second: it gets netctl's Result as prevResult and
    passes it on (with its change); DEL runs the chain backwards."""
    path = rt.netns("ctr7")
    cfg = conf("cnilab", subnet="10.77.9.0/24")
    res = rt.ok("ADD", cfg, CID, path, "eth0")
    tuning = {"cniVersion": "1.0.0", "name": "cnilab", "type": "tuning", "mtu": 1280,
              "sysctl": {"net.ipv4.conf.eth0.arp_notify": "1"}, "prevResult": res}
    chained = rt.ok("ADD", tuning, CID, path, "eth0", plugin="tuning")
    assert chained["ips"] == res["ips"] and chained["interfaces"][1]["name"] == "eth0"
    assert kern.link_get("eth0", netns="ctr7").mtu == 1280
    rt.ok("DEL", {**tuning, "prevResult": chained}, CID, path, "eth0", plugin="tuning")
    rt.ok("DEL", {**cfg, "prevResult": chained}, CID, path, "eth0")
    assert state_of(rt).sandboxes == []


def test_32_parallel_adds_and_dels_give_unique_addresses_and_a_clean_check(rt):
    cfg = conf("cnilab", subnet="10.78.0.0/24")
    rt.ok("ADD", cfg, "warm", rt.netns("warm"), "eth0")  # the network exists: 32 pure attachments
    paths = {f"par{n}": rt.netns(f"par{n}") for n in range(32)}
    procs = {cid: rt.start("ADD", cfg, cid, path, "eth0") for cid, path in paths.items()}
    results = {cid: rt.finish(p) for cid, p in procs.items()}
    assert [r for r in results.values() if r[0] != 0] == []
    addrs = [r[1]["ips"][0]["address"] for r in results.values()]
    assert len(set(addrs)) == 32
    assert Netctl(rt.state).run("check").code == 0
    procs = {cid: rt.start("DEL", cfg, cid, path, "eth0") for cid, path in paths.items()}
    assert [(cid, r) for cid, r in ((c, rt.finish(p)) for c, p in procs.items()) if r[0] != 0] == []
    st = state_of(rt)
    assert [s.labels["cni.container_id"] for s in st.sandboxes] == ["warm"]
    assert Netctl(rt.state).run("check").code == 0
    rt.ok("DEL", cfg, "warm", "/run/netns/warm", "eth0")


def test_a_fault_at_every_step_of_an_add_changes_nothing(rt, kern, tmp_path):
    """ADD is one plan (network create, adoption, connect) in one transaction: failing it at
    each traced step, before and after, leaves no state file and the kernel as it was."""
    path = rt.netns("ctr8")
    cfg = conf("cnilab", subnet="10.77.10.0/24")
    snap, trace = kernel_snapshot(kern), tmp_path / "trace"
    code, doc, _ = rt("ADD", cfg, CID, path, "eth0", NETCTL_TRACE=str(trace), NETCTL_FAULT="save")
    assert code == 1 and doc["code"] == 101 and "injected fault" in doc["msg"], doc
    steps = trace.read_text().split()
    steps = steps[: steps.index("save")]
    assert {"bridge-create", "netns-adopt", "veth-create"} <= set(steps), steps
    for step in dict.fromkeys(steps):
        for fault in (step, f"{step}:after"):
            code, doc, _ = rt("ADD", cfg, CID, path, "eth0", NETCTL_FAULT=fault)
            assert code == 1 and doc["code"] == 101, (fault, doc)
            assert not rt.state.exists() or state_of(rt).networks == [], fault
            assert left_behind(snap, kernel_snapshot(kern)) == [], fault
    # the runtime's SIGTERM (its timeout) in the middle: rolled back, "try again later"
    code, doc, _ = rt("ADD", cfg, CID, path, "eth0", NETCTL_FAULT="veth-create:SIGTERM")
    assert code == 1 and doc["code"] == 11 and "interrupted" in doc["msg"], doc
    assert left_behind(snap, kernel_snapshot(kern)) == []
    rt.ok("ADD", cfg, CID, path, "eth0")
    assert left_behind(snap, kernel_snapshot(kern)) != []  # the comparison can fail
    rt.ok("DEL", cfg, CID, path, "eth0")


def test_a_macvlan_result_has_no_empty_host_interface_and_a_null_network_is_refused(rt, kern):
    """A macvlan endpoint has no host end: the Result lists only the container interface
    (a nameless one is no valid Result).  A null network gives a container nothing: error 7,
    nothing adopted, rather than a Result without interface or address."""
    subprocess.run(["ip", "link", "add", "cnipar0", "type", "veth", "peer", "name", "cnipar1"], check=True)
    try:
        n = Netctl(rt.state)
        n.ok("network", "create", "--driver", "macvlan", "-o", "parent=cnipar0",
             "--subnet", "10.77.11.0/24", "cnimv")
        n.ok("network", "create", "--driver", "null", "cninull")
        path = rt.netns("ctr9")
        res = rt.ok("ADD", conf("cnimv"), CID, path, "eth0")
        assert [i["name"] for i in res["interfaces"]] == ["eth0"], res
        assert res["ips"][0]["interface"] == 0 and res["interfaces"][0]["sandbox"] == path
        rt.ok("CHECK", {**conf("cnimv"), "prevResult": res}, CID, path, "eth0")
        rt.ok("DEL", conf("cnimv"), CID, path, "eth0")
        code, doc, _ = rt("ADD", conf("cninull"), CID, path, "eth0")
        assert (code, doc["code"]) == (1, 7) and "driver null" in doc["msg"], doc
        assert state_of(rt).sandboxes == [] and {x.name for x in kern.links("ctr9")} == {"lo"}
        n.ok("network", "rm", "cnimv", "cninull")
    finally:
        subprocess.run(["ip", "link", "del", "cnipar0"], check=True)


def test_an_add_killed_before_its_save_is_undone_by_del_or_by_the_next_add(rt, kern):
    """Runtimes SIGKILL a plugin that runs past their timeout, then call DEL (or ADD again).
    Nothing was saved, so the container is unknown; what the killed ADD left (its bind mount
    of CNI_NETNS, /etc/netns/NAME, marked links in the container) used to stay: DEL said
    success with the namespace pinned, and every later ADD was refused (104)."""
    path = rt.netns("ctr10")
    cfg = conf("cnilab", subnet="10.77.12.0/24")
    rt.ok("ADD", cfg, "warm", rt.netns("warm10"), "eth0")  # the network (its bridge) exists
    rt.ok("DEL", cfg, "warm", "/run/netns/warm10", "eth0")
    snap = kernel_snapshot(kern)
    for step, retry in (("netns-files", "DEL"), ("route-add", "DEL"), ("veth-create", "ADD"),
                        ("addr4", "ADD")):
        code, _, _ = rt("ADD", cfg, CID, path, "eth0", NETCTL_FAULT=f"{step}:kill")
        assert code == -9, step
        assert left_behind(snap, kernel_snapshot(kern)) != [], step  # the comparison can fail
        if retry == "ADD":
            res = rt.ok("ADD", cfg, CID, path, "eth0")
            assert [i["name"] for i in res["interfaces"]][1:] == ["eth0"]
        assert rt.ok("DEL", cfg, CID, path, "eth0") is None
        assert left_behind(snap, kernel_snapshot(kern)) == [], step
        assert state_of(rt).sandboxes == []
    assert Netctl(rt.state).run("check").code == 0
    # the runtime's own namespace that happens to have netctl's name is no leftover: kept
    own = rt.netns(f"cni-{CID[:12]}")
    code, _, _ = rt("ADD", cfg, CID, own, "eth0", NETCTL_FAULT="addr4:kill")
    assert code == -9
    rt.ok("ADD", cfg, CID, own, "eth0")
    rt.ok("DEL", cfg, CID, own, "eth0")
    assert rt.ok("DEL", cfg, CID, own, "eth0") is None and Path(own).exists()


def test_cni_ifname_taken_in_the_container_is_a_conflict_naming_it(rt, kern):
    path = rt.netns("ctr11")
    subprocess.run(["ip", "-n", "ctr11", "link", "add", "eth0", "type", "veth", "peer", "name", "theirs"],
                   check=True)
    theirs = kernel_snapshot(kern)["ns:ctr11"]
    cfg = conf("cnilab", subnet="10.77.13.0/24")
    for ifname in ("eth0", "lo"):
        code, doc, _ = rt("ADD", cfg, CID, path, ifname)
        assert (code, doc["code"]) == (1, 104) and f"CNI_IFNAME {ifname} already exists" in doc["msg"], doc
        assert kernel_snapshot(kern)["ns:ctr11"] == theirs
        assert not rt.state.exists() or state_of(rt).sandboxes == []
    res = rt.ok("ADD", cfg, CID, path, "net1")
    assert rt.ok("ADD", cfg, CID, path, "net1") == res  # its own interface is no conflict
    rt.ok("DEL", cfg, CID, path, "net1")
    assert kernel_snapshot(kern)["ns:ctr11"] == theirs


def test_a_del_under_another_state_file_leaves_this_states_container_alone(rt, kern, tmp_path):
    """Two conflists with two state files for one container: a DEL (or ADD) under state B
    finds no container of B's, and the namespace bound under netctl's name is A's live
    sandbox (its eth0 is A's), no leftover of a killed ADD of B's to undo."""
    path = rt.netns("ctr12")
    cfg = conf("cnilab", subnet="10.77.14.0/24")
    rt.ok("ADD", cfg, CID, path, "eth0")
    other = Runtime(tmp_path / "b.toml", rt.plugins)
    bcfg = conf("cnib", subnet="10.77.15.0/24")
    assert other.ok("DEL", bcfg, CID, path, "eth0") is None
    code, doc, _ = other("ADD", bcfg, CID, path, "eth0")
    assert code == 1 and doc["code"] == 104, doc
    assert Path(f"/run/netns/cni-{CID[:12]}").exists() and Netctl(rt.state).run("check").code == 0
    rt.ok("DEL", cfg, CID, path, "eth0")
    Netctl(other.state).teardown()


def test_runtime_config_ips_with_another_prefix_are_refused(rt, kern):
    path = rt.netns("ctr13")
    cfg = conf("cnilab", subnet="10.77.16.0/24")
    for ips in (["10.77.16.5/16"], ["10.77.16.5/33"]):  # the first was given as 10.77.16.5/24
        code, doc, _ = rt("ADD", {**cfg, "runtimeConfig": {"ips": ips}}, CID, path, "eth0")
        assert (code, doc["code"]) == (1, 7), doc
        assert {x.name for x in kern.links("ctr13")} == {"lo"}
    for ips in (["10.77.16.5/24"], ["10.77.16.6"]):
        res = rt.ok("ADD", {**cfg, "runtimeConfig": {"ips": ips}}, CID, path, "eth0")
        assert res["ips"][0]["address"] == ips[0].split("/")[0] + "/24"
        rt.ok("DEL", cfg, CID, path, "eth0")

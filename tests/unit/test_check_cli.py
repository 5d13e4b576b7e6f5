"""check / check --repair / gc / restore over the fake kernel, breaking it behind netctl's back."""

from __future__ import annotations

import json
import tomllib

import pytest

GONE = "f" * 64  # an owner ID no object has
OTHER_STATE = "0123456789abcdef"  # another state file's identity


def mine(cli, oid: str = GONE) -> str:
    """The mark this state gives its objects (here: one it does not have)."""
    return f"netctl:{tomllib.loads(cli.state.read_text())['state_id']}:{oid}"


def ep(cli, ref):
    return json.loads(cli.ok("endpoint", "inspect", ref))[0]


@pytest.fixture
def lab(cli):
    cli.ok("network", "create", "demo", "--subnet", "10.9.0.0/24")
    cli.ok("sandbox", "create", "web")
    cli.ok("sandbox", "create", "db")
    cli.ok("network", "connect", "demo", "web")
    cli.ok("network", "connect", "demo", "db")
    cli.ok("endpoint", "create", "demo", "spare")
    return cli


def _kernel_view(cli):
    k = cli.kernel()
    # host ends and bridges get random MACs; parked ends carry the endpoint's
    out = {"host": sorted((x.name, "" if x.master else x.mac, x.master, x.addresses, x.up)
                          for x in k.links() if x.kind != "bridge")}
    for ns in k.netns_list():
        out[ns] = sorted((x.name, x.mac, x.addresses, x.up, x.alias) for x in k.links(netns=ns))
        out[ns + " routes"] = sorted((r.dst, r.gateway, r.dev) for r in k.routes(netns=ns))
    return out


def test_a_fresh_system_checks_clean(lab):
    res = lab("check")
    assert (res.code, res.out) == (0, "")


def test_deleted_veth_is_found_then_repaired_with_the_same_names_mac_and_address(lab):
    before = ep(lab, "web")
    lab.kernel().link_delete(before["host_ifname"])
    res = lab("check")
    assert res.code == 9
    assert f"drift: endpoint web (demo): host veth {before['host_ifname']} missing\n" in res.out
    assert "drift: sandbox web: default route via 10.9.0.1 dev eth0 missing\n" in res.out
    res = lab("check", "--repair")
    assert res.code == 0, res.err
    assert f"repaired: endpoint web (demo): host veth {before['host_ifname']} missing\n" in res.out
    assert lab("check").code == 0
    assert ep(lab, "web") == before
    inside = lab.kernel().link_get("eth0", netns="web")
    assert inside.mac == before["mac"] and before["ipv4"] in inside.addresses and inside.up
    host = lab.kernel().link_get(before["host_ifname"])
    assert host.up and host.master == json.loads(lab.ok("network", "inspect", "demo"))[0]["bridge"]


def test_json_format_lists_findings(lab):
    lab.kernel().link_delete(ep(lab, "spare")["sandbox_ifname"])
    res = lab("check", "--format", "json")
    rows = json.loads(res.out)
    assert res.code == 9 and [r["phase"] for r in rows] == ["endpoint", "endpoint"]
    assert all(r["subject"] == "endpoint spare (demo)" and r["repaired"] is False for r in rows)


def test_a_stale_sandbox_is_dropped_by_gc_with_its_endpoint_and_address(lab):
    host = ep(lab, "db")["host_ifname"]
    lab.kernel().netns_delete("db")
    before = lab.state_bytes()
    assert lab.ok("gc", "--dry-run") == "db\n"
    assert lab.state_bytes() == before
    assert lab.ok("gc") == "db\n"
    assert lab("sandbox", "inspect", "db").code == 3 and lab("endpoint", "inspect", "db").code == 3
    assert lab.kernel().link_get(host) is None
    assert not (lab.etc / "db").exists()
    lab.ok("sandbox", "create", "db2")
    lab.ok("network", "connect", "demo", "db2")
    assert ep(lab, "db2")["ipv4"] == "10.9.0.3/24"  # the dropped endpoint's address is free again
    assert lab.ok("gc") == ""


def test_check_repair_drops_stale_sandboxes_like_gc(lab):
    lab.kernel().netns_delete("db")
    assert lab("check").out == "drift: sandbox db: namespace /run/netns/db missing\n"
    res = lab("check", "--repair")
    assert res.code == 0 and "repaired: sandbox db" in res.out
    assert "db" not in lab.ok("sandbox", "ls", "-q").split()
    assert lab("check").code == 0


def test_bridge_repair_readdresses_and_replugs(lab):
    k = lab.kernel()
    bridge = json.loads(lab.ok("network", "inspect", "demo"))[0]["bridge"]
    k.link_delete(bridge)
    res = lab("check")
    assert res.code == 9 and f"drift: network demo: bridge {bridge} missing" in res.out
    assert lab("check", "--repair").code == 0
    k = lab.kernel()
    assert "10.9.0.1/24" in k.link_get(bridge).addresses and k.link_get(bridge).up
    assert all(k.link_get(ep(lab, n)["host_ifname"]).master == bridge for n in ("web", "db", "spare"))
    assert lab("check").code == 0


def test_orphans_are_removed_and_foreign_links_and_namespaces_survive(lab):
    k = lab.kernel()
    k.add_link("vethdead123", kind="veth", alias=mine(lab))
    k.add_link("br-dead12345", kind="bridge", alias=mine(lab))
    k.add_link("foreign0", kind="bridge")
    k.add_link("vethforeign", kind="veth", alias="not ours")
    k.add_link("vethold1234", kind="veth", alias=f"netctl:{GONE}")  # old mark: no state named
    k.add_link("vethother12", kind="veth", alias=f"netctl:{OTHER_STATE}:{GONE}")
    k.netns_create("leftover", alias=mine(lab))
    k.netns_create("theirs")
    k.netns_create("other", alias=f"netctl:{OTHER_STATE}:{GONE}")
    k.netns_create("old", alias=f"netctl:{GONE}")
    res = lab("check")
    assert res.code == 9
    assert set(res.out.splitlines()) == {
        "drift: namespace leftover: left over (owner not in state)",
        "drift: link br-dead12345: left over bridge (owner not in state)",
        "drift: link vethdead123: left over veth (owner not in state)",
    }
    assert lab("check", "--repair").code == 0
    k = lab.kernel()
    assert k.link_get("vethdead123") is None and k.link_get("br-dead12345") is None
    assert k.link_get("foreign0") and k.link_get("vethforeign")
    assert k.link_get("vethold1234") and k.link_get("vethother12")
    assert k.netns_list() == ["db", "old", "other", "theirs", "web"]


def test_files_out_of_date_are_rewritten(lab):
    (lab.etc / "web" / "hosts").write_text("garbage\n")
    res = lab("check")
    assert res.out == "drift: sandbox web: /etc/netns/web/hosts out of date\n" and res.code == 9
    assert lab("check", "--repair").code == 0
    assert "\tdb db.demo" in (lab.etc / "web" / "hosts").read_text()


def test_repair_moves_a_drifted_default_route_back(lab):
    lab.ok("network", "create", "other", "--subnet", "10.8.0.0/24")
    lab.ok("network", "connect", "other", "web", "--priority", "5")
    k = lab.kernel()
    k.route_del("default", gateway="10.8.0.1", netns="web")
    k.route_add("default", gateway="10.9.0.1", netns="web")
    res = lab("check")
    assert res.code == 9 and "unexpected default route via 10.9.0.1 dev eth0" in res.out
    assert lab("check", "--repair").code == 0
    defaults = [(r.gateway, r.dev) for r in lab.kernel().routes(netns="web") if r.dst == "default"]
    assert defaults == [("10.8.0.1", "eth1")]


def test_restore_after_a_reboot_recreates_everything_then_changes_nothing(lab):
    lab.ok("network", "create", "other", "--subnet", "10.8.0.0/24")
    lab.ok("endpoint", "create", "other", "later")
    lab.ok("endpoint", "join", "later", "web")  # a moved (not born-inside) interface: eth1
    before_state, before_kernel = lab.state_bytes(), _kernel_view(lab)
    hosts = (lab.etc / "web" / "hosts").read_text()
    lab.kernel_file.write_text("")  # the reboot: an empty kernel
    (lab.etc / "web" / "hosts").unlink()
    assert lab("check").code == 9
    res = lab("restore")
    assert res.code == 0, res.err
    assert "restored: sandbox web: namespace /run/netns/web missing" in res.out
    assert _kernel_view(lab) == before_kernel
    assert lab.state_bytes() == before_state
    assert (lab.etc / "web" / "hosts").read_text() == hosts
    kernel_bytes = lab.kernel_file.read_bytes()
    res = lab("restore")
    assert (res.code, res.out) == (0, "")
    assert lab.kernel_file.read_bytes() == kernel_bytes and lab.state_bytes() == before_state


def test_restore_reports_what_it_cannot_fix(lab):
    host = ep(lab, "web")["host_ifname"]
    lab.kernel_file.write_text("")
    lab.kernel().add_link(host, kind="dummy")  # someone else's link took the veth's name
    res = lab("restore")
    assert res.code == 9
    assert f"drift: endpoint web (demo): host veth {host} is not this endpoint's" in res.out
    assert "could not repair endpoint web (demo)" in res.err
    assert lab.kernel().link_get(host).kind == "dummy"
    assert lab("check").code == 9


def test_next_connect_tolerates_a_killed_connects_leftover(lab):
    k = lab.kernel()
    lab.ok("network", "create", "other", "--subnet", "10.8.0.0/24")
    bridge = json.loads(lab.ok("network", "inspect", "other"))[0]["bridge"]
    # what SIGKILL after the veth and its address were made, before the save, leaves behind
    k.veth_create("vethkilled1", "eth1", alias=mine(lab), master=bridge, peer_netns="web")
    k.addr_add("eth1", "10.8.0.2/24", netns="web")
    k.link_set_up("eth1", netns="web")
    lab.ok("network", "connect", "other", "web")
    assert ep(lab, "other/web")["ipv4"] == "10.8.0.2/24" and ep(lab, "other/web")["ifname"] == "eth1"
    assert lab.kernel().link_get("vethkilled1") is None
    assert lab("check").code == 0


def test_sandbox_create_replaces_a_leftover_namespace_but_refuses_a_foreign_one(lab):
    k = lab.kernel()
    k.netns_create("half", alias=mine(lab))
    k.netns_create("theirs")
    assert lab.ok("sandbox", "create", "half") == "half\n"
    assert lab.kernel().link_get("lo", netns="half").owner == json.loads(
        lab.ok("sandbox", "inspect", "half"))[0]["id"]
    res = lab("sandbox", "create", "theirs")
    assert res.code == 4 and "not netctl's" in res.err
    assert "theirs" in lab.kernel().netns_list()


def test_network_create_removes_a_killed_creates_bridge_that_blocks_its_subnet(lab):
    k = lab.kernel()
    k.bridge_create("br-killed00000", mac="02:42:00:00:00:01", alias=mine(lab))
    k.addr_add("br-killed00000", "10.7.0.1/24")
    k.link_set_up("br-killed00000")
    k.add_link("theirs0", kind="bridge", addresses=("10.6.0.1/24",))
    lab.ok("network", "create", "again", "--subnet", "10.7.0.0/24")
    assert lab.kernel().link_get("br-killed00000") is None
    res = lab("network", "create", "blocked", "--subnet", "10.6.0.0/24")
    assert res.code == 4 and "theirs0" in res.err
    assert lab.kernel().link_get("theirs0") is not None


def test_join_after_a_killed_join_takes_the_interface_back_first(lab):
    spare = ep(lab, "spare")
    lab.ok("sandbox", "create", "solo")
    k = lab.kernel()  # a join killed after its move: the state still says parked
    k.link_move(spare["sandbox_ifname"], src=None, dst="solo", new_name="eth0")
    assert "parked veth" in lab("check").out
    lab.ok("endpoint", "join", "spare", "solo")
    assert ep(lab, "spare")["ifname"] == "eth0"
    assert lab("check").code == 0


# --- several state files, old marks, and links a killed run never marked (service/intents.py) ---

def _journal(cli, *links, sid: str | None = None):
    """What a run killed between a create and its mark leaves beside the state file."""
    sid = sid or tomllib.loads(cli.state.read_text())["state_id"]
    path = cli.state.with_name(cli.state.name + ".intent")
    path.write_text(json.dumps({"state_id": sid, "links": [list(x) for x in links]}))
    return path


def test_links_a_killed_run_never_marked_are_reported_then_marked_and_removed(lab):
    lab.ok("network", "create", "other", "--subnet", "10.8.0.0/24")
    bridge = json.loads(lab.ok("network", "inspect", "other"))[0]["bridge"]
    k, mark = lab.kernel(), mine(lab, "9" * 64)
    k.veth_create("vethkilled1", "eth1", alias=None, master=bridge, peer_netns="web")
    journal = _journal(lab, (None, "vethkilled1", mark), ("web", "eth1", mark))
    res = lab("check")
    assert res.code == 9 and set(res.out.splitlines()) == {
        "drift: link vethkilled1: left over veth (owner not in state)",
        "drift: link eth1 in sandbox web: left over (owner not in state)"}
    assert lab.kernel().link_get("eth1", netns="web").alias is None and journal.exists()  # report only
    lab.ok("network", "connect", "other", "web")  # the unmarked eth1 no longer blocks it
    assert ep(lab, "other/web")["ifname"] == "eth1" and not journal.exists()
    assert lab.kernel().link_get("vethkilled1") is None  # went with its peer, marked then cleared
    assert lab("check").code == 0


def test_check_repair_removes_a_parked_pair_a_killed_run_never_marked(lab):
    mark = mine(lab, "9" * 64)
    lab.kernel().veth_create("vethkilled1", "vethkilled2", alias=None)
    _journal(lab, (None, "vethkilled1", mark), (None, "vethkilled2", mark))
    assert "link vethkilled2: left over veth" in lab("check").out
    assert lab("check", "--repair").code == 0 and lab("check").code == 0
    assert lab.kernel().link_get("vethkilled1") is None and lab.kernel().link_get("vethkilled2") is None


def test_the_journal_never_claims_a_marked_link_or_one_outside_this_states_sandboxes(lab):
    k, mark = lab.kernel(), mine(lab, "9" * 64)
    k.netns_create("theirs")
    k.veth_create("veththeirs0", "eth0", alias=None, peer_netns="theirs")
    k.add_link("vethmarked1", kind="veth", alias="someone's")
    k.add_link("uplink0", addresses=("192.0.2.10/24",))  # the machine's: a tampered journal
    k.add_link("br-used", kind="bridge", addresses=("192.0.2.20/24",))  # names them in vain
    _journal(lab, ("theirs", "eth0", mark), (None, "vethmarked1", mark), (None, "vethabsent1", mark),
             (None, "uplink0", mark), (None, "br-used", mark))
    assert lab("check").code == 0
    lab.ok("sandbox", "create", "more")
    k = lab.kernel()
    assert k.link_get("eth0", netns="theirs").alias is None and k.link_get("vethmarked1").alias == "someone's"
    assert k.link_get("uplink0").alias is None and k.link_get("br-used").alias is None
    assert lab("check", "--repair").code == 0 and k.link_get("eth0", netns="theirs") is not None


def test_a_killed_first_command_leaves_an_identity_the_next_one_adopts(cli):
    sid = "0123456789abcdef"  # a brand-new state's first `sandbox create`, killed before its save
    cli.kernel().netns_create("half", alias=f"netctl:{sid}:{'9' * 64}")
    _journal(cli, sid=sid)
    res = cli("check")
    assert res.code == 9 and res.out == "drift: namespace half: left over (owner not in state)\n"
    cli.ok("sandbox", "create", "half")  # recognised as this state's leftover: replaced
    assert tomllib.loads(cli.state.read_text())["state_id"] == sid
    assert cli("check").code == 0


def test_a_schema_1_state_keeps_its_objects_and_gains_an_identity(lab):
    import tomli_w

    data = tomllib.loads(lab.state.read_text())
    del data["state_id"]
    lab.state.write_text(tomli_w.dumps({**data, "schema": 1}))
    k = lab.kernel()  # every object carries the old mark, netctl:<object id>
    for ns in (None, *k.netns_list()):
        for link in k.links(netns=ns):
            if link.owner:
                k.link_set_alias(link.name, f"netctl:{link.owner}", netns=ns)
    k.add_link("vetholdgone", kind="veth", alias=f"netctl:{GONE}")  # an old-format leftover
    assert lab("check").code == 0
    lab.ok("sandbox", "create", "fresh")
    lab.ok("network", "connect", "demo", "fresh")
    saved = tomllib.loads(lab.state.read_text())
    assert saved["schema"] == 2 and len(saved["state_id"]) == 16
    fresh = json.loads(lab.ok("sandbox", "inspect", "fresh"))[0]["id"]
    assert lab.kernel().link_get("lo", netns="fresh").alias == f"netctl:{saved['state_id']}:{fresh}"
    lab.ok("network", "disconnect", "demo", "web")  # old-marked objects are still its own
    lab.ok("sandbox", "rm", "web")
    assert "web" not in lab.kernel().netns_list()
    assert lab("check", "--repair").code == 0 and lab("check").code == 0
    assert lab.kernel().link_get("vetholdgone") is not None  # not provably ours: kept


def test_a_state_id_that_is_not_16_hex_is_refused(cli):
    cli.state.write_bytes(b'schema = 2\nstate_id = "x:y"\n')
    res = cli("network", "ls")
    assert res.code == 8 and "state_id" in res.err
    assert cli.state.read_bytes() == b'schema = 2\nstate_id = "x:y"\n'

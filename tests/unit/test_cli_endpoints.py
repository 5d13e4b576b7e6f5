"""Endpoints, sandboxes, join/leave and connect over the fake kernel."""

from __future__ import annotations

import json

import pytest


def ep_json(cli, ref):
    return json.loads(cli.ok("endpoint", "inspect", ref))[0]


@pytest.fixture
def lab(cli):
    cli.ok("network", "create", "front", "--subnet", "10.1.0.0/24")
    cli.ok("network", "create", "back", "--subnet", "10.2.0.0/24")
    cli.ok("sandbox", "create", "web")
    cli.ok("sandbox", "create", "db", "--hostname", "database.lan")
    return cli


def test_endpoint_create_allocates_address_mac_and_parks_a_veth(lab):
    lab.ok("endpoint", "create", "front", "e1")
    ep = ep_json(lab, "e1")
    assert ep["ipv4"] == "10.1.0.2/24" and ep["mac"] == "02:42:0a:01:00:02"
    k = lab.kernel()
    host, park = k.link_get(ep["host_ifname"]), k.link_get(ep["sandbox_ifname"])
    assert host.master == json.loads(lab.ok("network", "inspect", "front"))[0]["bridge"]
    assert host.up and not park.up and host.owner == ep["id"]
    assert ep["host_ifname"].startswith("veth") and len(ep["host_ifname"]) == 11


def test_join_names_eth_n_and_leave_brings_it_back(lab):
    lab.ok("endpoint", "create", "front", "e1")
    lab.ok("endpoint", "join", "e1", "web")
    ep = ep_json(lab, "e1")
    k = lab.kernel()
    inside = k.link_get("eth0", netns="web")
    assert inside and inside.up and inside.mac == ep["mac"] and "10.1.0.2/24" in inside.addresses
    assert [(r.gateway, r.dev) for r in k.routes(netns="web") if r.dst == "default"] == [("10.1.0.1", "eth0")]
    lab.ok("endpoint", "leave", "e1", "web")
    k = lab.kernel()
    assert k.link_get("eth0", netns="web") is None
    assert k.link_get(ep["sandbox_ifname"]) is not None
    lab.ok("endpoint", "join", "e1", "web")
    assert ep_json(lab, "e1")["ifname"] == "eth1"  # the counter only goes up


def test_gateway_goes_to_the_highest_priority_and_is_reelected_on_leave(lab):
    lab.ok("network", "connect", "front", "web")
    lab.ok("network", "connect", "back", "web", "--priority", "5")
    defaults = lambda: [(r.gateway, r.dev) for r in lab.kernel().routes(netns="web") if r.dst == "default"]
    assert defaults() == [("10.2.0.1", "eth1")]
    lab.ok("network", "disconnect", "back", "web")
    assert defaults() == [("10.1.0.1", "eth0")]


def test_one_sandbox_per_endpoint(lab):
    lab.ok("endpoint", "create", "front", "e1")
    lab.ok("endpoint", "join", "e1", "web")
    before = lab.state_bytes()
    res = lab("endpoint", "join", "e1", "db")
    assert res.code == 4 and "web" in res.err
    assert lab.state_bytes() == before


def test_rm_refuses_joined_endpoint_unless_forced(lab):
    lab.ok("endpoint", "create", "front", "e1")
    lab.ok("endpoint", "join", "e1", "web")
    host = ep_json(lab, "e1")["host_ifname"]
    assert lab("endpoint", "rm", "e1").code == 4
    assert lab.ok("endpoint", "rm", "-f", "e1") == "e1\n"
    assert lab.kernel().link_get(host) is None
    assert lab.kernel().link_get("eth0", netns="web") is None


def test_connect_is_idempotent_and_disconnect_removes_everything(lab):
    lab.ok("network", "connect", "front", "web")
    before = lab.state_bytes()
    lab.ok("network", "connect", "front", "web")
    assert lab.state_bytes() == before
    ep = ep_json(lab, "web")
    assert ep["ifname"] == "eth0" and ep["sandbox"] == "web"
    lab.ok("network", "disconnect", "front", "web")
    assert lab.kernel().link_get(ep["host_ifname"]) is None
    assert json.loads(lab.ok("endpoint", "ls", "--format", "json")) == []
    assert lab("network", "disconnect", "front", "web").code == 3
    assert lab("network", "disconnect", "-f", "front", "web").code == 0


@pytest.mark.parametrize("extra", [("--alias", "api"), ("--priority", "5"),
                                   ("--link-local-ip", "169.254.7.7"), ("--ip", "10.1.0.99")])
def test_connect_again_asking_for_more_is_a_conflict_not_a_silent_success(lab, extra):
    """The repeat used to exit 0 having dropped --alias, --priority and --link-local-ip."""
    lab.ok("network", "connect", "front", "web")
    before = lab.state_bytes()
    res = lab("network", "connect", "front", "web", *extra)
    assert res.code == 4 and "already exists" in res.err, res
    assert lab.state_bytes() == before
    lab.ok("network", "disconnect", "front", "web")
    lab.ok("network", "connect", "front", "web", *extra)
    lab.ok("network", "connect", "front", "web", *extra)  # the same request again: idempotent
    lab.ok("network", "connect", "front", "web")  # and asking nothing asks nothing


def test_same_name_on_two_networks_needs_network_slash_name(lab):
    lab.ok("endpoint", "create", "front", "app")
    lab.ok("endpoint", "create", "back", "app")
    res = lab("endpoint", "inspect", "app")
    assert res.code == 2 and "front/app" in res.err
    assert ep_json(lab, "back/app")["ipv4"] == "10.2.0.2/24"


def test_explicit_ip_and_mac_and_conflicts(lab):
    lab.ok("endpoint", "create", "front", "e1", "--ip", "10.1.0.50", "--mac", "02:AA:BB:CC:DD:EE")
    ep = ep_json(lab, "e1")
    assert ep["ipv4"] == "10.1.0.50/24" and ep["mac"] == "02:aa:bb:cc:dd:ee"
    assert lab("endpoint", "create", "front", "e2", "--ip", "10.1.0.50").code == 4
    assert lab("endpoint", "create", "front", "e2", "--ip", "10.9.0.5").code == 2
    assert lab("endpoint", "create", "front", "e1").code == 4


def test_small_subnet_exhausts_with_code_5(cli):
    cli.ok("network", "create", "tiny", "--subnet", "10.5.0.0/30")
    cli.ok("endpoint", "create", "tiny", "a")
    res = cli("endpoint", "create", "tiny", "b")
    assert res.code == 5 and res.err.count("\n") == 1


def test_hosts_file_lists_peers_on_shared_networks(lab):
    lab.ok("sandbox", "create", "loner")
    lab.ok("network", "connect", "front", "web", "--alias", "www")
    lab.ok("network", "connect", "front", "db")
    lab.ok("network", "connect", "back", "loner")
    web_hosts = (lab.etc / "web" / "hosts").read_text()
    assert "127.0.0.1\tlocalhost" in web_hosts
    assert "10.1.0.2\tweb" in web_hosts
    assert "10.1.0.3\tdb db.front database.lan database.lan.front" in web_hosts
    assert "loner" not in web_hosts
    db_hosts = (lab.etc / "db" / "hosts").read_text()
    assert "10.1.0.3\tdatabase.lan database" in db_hosts
    assert "10.1.0.2\tweb web.front www www.front" in db_hosts


def test_sandbox_rm_removes_endpoints_namespace_and_files(lab):
    lab.ok("network", "connect", "front", "web")
    host = ep_json(lab, "web")["host_ifname"]
    assert (lab.etc / "web" / "hosts").exists()
    assert lab.ok("sandbox", "rm", "web") == "web\n"
    k = lab.kernel()
    assert not k.netns_exists("web") and k.link_get(host) is None
    assert not (lab.etc / "web").exists()
    assert lab("sandbox", "rm", "web").code == 3 and lab("sandbox", "rm", "-f", "web").code == 0


def test_sandbox_refuses_a_foreign_namespace(cli):
    cli.kernel().netns_create("theirs")
    res = cli("sandbox", "create", "theirs")
    assert res.code == 4
    assert cli.kernel().netns_exists("theirs")


@pytest.mark.parametrize("args", [
    ["sandbox", "create", "../etc"],
    ["sandbox", "create", "x", "--hostname", "bad_host!"],
    ["sandbox", "create", "x", "--dns", "not-an-ip"],
    ["sandbox", "create", "x", "--add-host", "noip"],
    ["endpoint", "create", "front", "e", "--mac", "01:00:00:00:00:01"],
    ["endpoint", "create", "front", "e", "--ip6", "10.0.0.1"],
    ["endpoint", "create", "front", "e", "--link-local-ip", "10.0.0.1"],
])
def test_bad_input_exits_2_and_changes_nothing(lab, args):
    before = lab.state_bytes()
    res = lab(*args)
    assert res.code == 2 and res.err.count("\n") == 1, res.err
    assert lab.state_bytes() == before


def test_ls_q_prints_what_every_endpoint_command_accepts(lab):
    """issue 8 §6: the same name on two networks; each printed line finds exactly one."""
    lab.ok("endpoint", "create", "front", "app")
    lab.ok("endpoint", "create", "back", "app")
    refs = lab.ok("endpoint", "ls", "-q").split()
    assert refs == ["front/app", "back/app"]
    assert lab.ok("endpoint", "inspect", "-q", *refs).split() == refs
    assert [e["network"] for e in json.loads(lab.ok("endpoint", "inspect", *refs))] == ["front", "back"]
    assert lab.ok("endpoint", "ls", "-q", "--network", "back") == "back/app\n"
    for ref in refs:
        assert lab("endpoint", "exists", ref).code == 0
    lab.ok("endpoint", "join", refs[1], "web")
    lab.ok("endpoint", "leave", refs[1], "web")
    lab.ok("endpoint", "rm", *refs)
    assert lab.ok("endpoint", "ls", "-q") == ""
